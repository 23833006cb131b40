/**
 * delivery/message — what delivery needs to know about a spooled message before sending
 * it: its header block, the From domain (whose DKIM key signs it) and the signature. One
 * read of the spool serves all three: the first chunks give the header block, and the same
 * pass goes on through the signer. The result is kept in a small LRU so a message going to
 * several domains is signed once. A message that fits in one spool chunk (64 KB) also keeps
 * its bytes there, so sending it does not read the spool again; larger ones are streamed
 * from the spool, never held whole. The LRU bounds that memory (256 × 64 KB at most).
 *
 * With a DkimPool, a message of up to THREAD_SIGN_MAX is read whole and signed on a worker
 * thread, keeping canonicalization off the event loop; it is held only until signed. A
 * larger one is streamed through the signer on this thread, as without a pool. Each load
 * carries its job's lane to the pool, which signs trigger mail first (dkim-pool.ts); the
 * lane is the message's own (its sender's kind), so a cached entry serves every job of it.
 *
 * Fresh mail taken in intake's commit (scheduler/fresh.ts) comes with its bytes: `keep` holds
 * those of a message that fits in one spool chunk until its first load, which then reads
 * nothing from the spool. They are the bytes intake committed, joined as the spool joins them
 * (spool/chunks.ts), so the signature and the wire are the same as after a read. What is held
 * is bounded in bytes (KEEP_FRESH_BYTES). When it is full, new mail is not held: the ready set
 * delivers the oldest first, so the held messages are the next to load, and letting them go
 * for newer ones meant that behind a backlog every message was let go before its load. One
 * held longer than KEEP_FRESH_MS (its load went elsewhere: deleted, its destination down) is
 * let go to make room.
 */
import { Readable } from 'node:stream';
import addressparser from 'nodemailer/lib/addressparser';
import type { Logger } from 'pino';
import type { QueueId } from '../util/ids.js';
import type { Store } from '../spool/types.js';
import type { IncomingMessage, Lane, QueueEntry } from '../spool/types-queue.js';
import { dkimSignature, type DkimKey } from './dkim.js';
import type { DkimPool } from './dkim-pool.js';
import { parseTrackHeader, type TrackSetting } from '../tracking/request.js';

/** The header block of a stored message (CRLF separated, without the blank line). */
export async function headerBlock(body: AsyncIterable<Buffer>, max = 1024 * 1024): Promise<string> {
  let text = '';
  for await (const chunk of body) {
    text += chunk.toString('latin1');
    const end = text.indexOf('\r\n\r\n');
    if (end >= 0) return text.slice(0, end);
    if (text.length > max) break;
  }
  return text.replace(/\r\n$/, '');
}

/** The unfolded value of the first header field `name`, or undefined. */
export function headerField(block: string, name: string): string | undefined {
  const re = new RegExp(`^${name}:[ \\t]*((?:.*)(?:\\r\\n[ \\t].*)*)`, 'im');
  const m = re.exec(block);
  return m ? m[1]!.replace(/\r\n(?=[ \t])/g, '').trim() : undefined;
}

export function fromDomainOf(block: string): string | null {
  const from = headerField(block, 'from');
  if (!from) return null;
  const parsed = addressparser(Buffer.from(from, 'latin1').toString('utf8'), { flatten: true });
  const addr = parsed[0]?.address;
  const at = addr?.lastIndexOf('@') ?? -1;
  return addr && at > 0 ? addr.slice(at + 1).toLowerCase() : null;
}

export interface MessageInfo {
  headers: string;
  fromDomain: string | null;
  /** "DKIM-Signature: ...\r\n", or null when the From domain has no key here */
  signature: string | null;
  signError?: string;
  /** the stored message, when it is small enough to keep (one spool chunk) */
  body?: Buffer;
  /**
   * A tracked message (X-Mta-Track): each recipient gets its own copy, rewritten and
   * signed with `dkimKey` at sending (delivery/tracked.ts); `signature` is then null.
   */
  tracking?: TrackSetting;
  dkimKey?: DkimKey;
}

/** Messages up to this size keep their bytes in the cache (the spool's chunk size). */
export const KEEP_BODY_MAX = 64 * 1024;

/**
 * Messages up to this size are signed on a DKIM thread, read into memory whole for it.
 * It bounds what signing holds at once: a message per delivery connection being signed.
 */
export const THREAD_SIGN_MAX = 1024 * 1024;

/**
 * Reads `body` into memory while it stays within `max` bytes. A larger body comes back as
 * an iterable that replays what was read and streams the rest, so it costs no more memory
 * than streaming it did; a read error is replayed too, so the signer reports it as before.
 */
async function readUpTo(body: AsyncIterable<Buffer>, max: number): Promise<{ whole: Buffer } | { stream: AsyncIterable<Buffer> }> {
  const it = body[Symbol.asyncIterator]();
  const chunks: Buffer[] = [];
  let total = 0;
  let failure: { err: unknown } | undefined;
  try {
    while (total <= max) {
      const r = await it.next();
      if (r.done) return { whole: chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, total) };
      chunks.push(r.value);
      total += r.value.length;
    }
  } catch (err) {
    failure = { err };
  }
  return {
    stream: (async function* () {
      let finished = false;
      try {
        yield* chunks.splice(0);
        if (failure) throw failure.err;
        for (let r = await it.next(); !r.done; r = await it.next()) yield r.value;
        finished = true;
      } finally {
        // The signer stopped early (it failed): let the spool reader go.
        if (!finished && !failure) await it.return?.();
      }
    })(),
  };
}

const BLANK_LINE = Buffer.from('\r\n\r\n', 'latin1');

/**
 * Reads a body iterator up to the end of the header block and hands back the header block
 * and an iterable that replays what was read, then continues with the rest: one pass over
 * the spool for both the header and the signature.
 */
async function splitHead(body: AsyncIterable<Buffer>, max = 1024 * 1024): Promise<{ headers: string; rest: AsyncIterable<Buffer>; seen: Buffer[]; done: boolean; readError: () => { err: unknown } | undefined }> {
  const it = body[Symbol.asyncIterator]();
  const seen: Buffer[] = [];
  let total = 0;
  let headers: string | undefined;
  let done = false;
  while (headers === undefined) {
    const r = await it.next();
    if (r.done) { done = true; break; }
    seen.push(r.value);
    // The blank line is searched for in the bytes and only the header block becomes a string:
    // decoding the body too cost a copy of the message per delivery, and a slice of it kept the
    // whole copy alive in the cache (promoted, then left to a major GC; bench/RESULTS.md).
    const from = Math.max(0, total - 3); // a blank line split across two chunks
    total += r.value.length;
    const all = seen.length === 1 ? r.value : Buffer.concat(seen, total);
    const end = all.indexOf(BLANK_LINE, from);
    if (end >= 0) headers = all.toString('latin1', 0, end);
    else if (total > max) break;
  }
  const replay = [...seen];
  // Whether reading the spool failed after the head (not the signer): the caller must not take that for a bad key.
  let readError: { err: unknown } | undefined;
  const rest: AsyncIterable<Buffer> = {
    [Symbol.asyncIterator]: () => ({
      next: async (): Promise<IteratorResult<Buffer>> => {
        const b = replay.shift();
        if (b) return { done: false, value: b };
        if (done) return { done: true, value: undefined };
        let r: IteratorResult<Buffer>;
        try { r = await it.next(); } catch (err) { readError = { err }; throw err; }
        if (r.done) done = true; else seen.push(r.value);
        return r;
      },
      return: async (): Promise<IteratorResult<Buffer>> => { await it.return?.(); return { done: true, value: undefined }; },
    }),
  };
  return { headers: headers ?? Buffer.concat(seen, total).toString('latin1').replace(/\r\n$/, ''), rest, seen, done, readError: () => readError };
}

/** What fresh mail's held bytes may take at most (about 2,000 messages of 2 KB). */
export const KEEP_FRESH_BYTES = 4 * 1024 * 1024;
/** Fresh mail's bytes not loaded after this long are let go when room is needed. */
export const KEEP_FRESH_MS = 30_000;

/** One stored chunk's bytes, as an async iterable (what readBody yields for such a message). */
async function* once(bytes: Buffer): AsyncIterable<Buffer> { yield bytes; }

export class MessageCache {
  private readonly entries = new Map<QueueId, Promise<MessageInfo>>();
  /** fresh mail's bytes until its first load, oldest first, with when each was kept */
  private readonly kept = new Map<QueueId, { bytes: Buffer; at: number }>();
  private keptBytes = 0;

  /**
   * `dkim`: sign on these threads (messages up to THREAD_SIGN_MAX); without it, on the event loop.
   * `fresh`: the bounds of fresh mail's held bytes (tests make them small).
   */
  constructor(private readonly store: Store, private readonly log: Logger, private readonly max = 256, private readonly dkim?: DkimPool,
    private readonly fresh = { bytes: KEEP_FRESH_BYTES, ms: KEEP_FRESH_MS }) {}

  get(id: QueueId, lane: Lane): Promise<MessageInfo> {
    const hit = this.entries.get(id);
    if (hit) {
      // Re-insert: Map order is the LRU order.
      this.entries.delete(id);
      this.entries.set(id, hit);
      return hit;
    }
    const p = this.load(id, lane);
    this.entries.set(id, p);
    p.catch(() => this.entries.delete(id));
    while (this.entries.size > this.max) this.entries.delete(this.entries.keys().next().value!);
    return p;
  }


  /**
   * Holds the bytes of the messages of `rows` (fresh mail, just committed) for their first
   * load: those of one spool chunk, while the bound allows (see the top of this file).
   */
  keep(rows: readonly QueueEntry[], messages: readonly IncomingMessage[], now = Date.now()): void {
    if (rows.length === 0) return;
    const taken = new Set<QueueId>();
    for (const r of rows) taken.add(r.queueId);
    for (const m of messages) {
      if (!taken.has(m.id) || m.size > KEEP_BODY_MAX || this.kept.has(m.id) || this.entries.has(m.id)) continue;
      for (const [id, old] of this.kept) {
        if (this.keptBytes + m.size <= this.fresh.bytes || now - old.at < this.fresh.ms) break;
        this.forget(id, old.bytes);
      }
      if (this.keptBytes + m.size > this.fresh.bytes) return;
      // A copy of its own: intake's pieces may be views of larger buffers, which holding them would keep alive.
      const bytes = Buffer.allocUnsafeSlow(m.size);
      let at = 0;
      for (const c of m.chunks) at += c.copy(bytes, at);
      this.kept.set(m.id, { bytes, at: now });
      this.keptBytes += m.size;
    }
  }

  private forget(id: QueueId, bytes: Buffer): void {
    this.kept.delete(id);
    this.keptBytes -= bytes.length;
  }

  private async load(id: QueueId, lane: Lane): Promise<MessageInfo> {
    const kept = this.kept.get(id);
    if (kept) this.forget(id, kept.bytes);
    const head = await splitHead(kept ? once(kept.bytes) : this.store.readBody(id));
    const { headers } = head;
    const fromDomain = fromDomainOf(headers);
    const domain = fromDomain ? await this.store.getDomain(fromDomain) : undefined;
    const track = headerField(headers, 'x-mta-track');
    if (track !== undefined) {
      // Signed per recipient copy: signing the stored message would be wasted work.
      await head.rest[Symbol.asyncIterator]().return?.();
      const parsed = parseTrackHeader(track);
      return {
        headers, fromDomain, signature: null, tracking: 'error' in parsed ? { opens: false, clicks: false } : parsed,
        ...(domain ? { dkimKey: { domain: domain.name, selector: domain.dkimSelector, algorithm: domain.dkimAlgorithm, privateKeyPem: domain.dkimPrivateKey } } : {}),
      };
    }
    const small = (): Buffer | undefined => {
      // Only a message read to its end in one chunk is kept (the usual transactional mail).
      const only = head.seen[0];
      return head.seen.length === 1 && only && only.length <= KEEP_BODY_MAX ? only : undefined;
    };
    if (!domain) {
      const body = head.done ? small() : undefined;
      return { headers, fromDomain, signature: null, ...(body ? { body } : {}) };
    }
    try {
      const signature = await this.sign(head.rest, {
        domain: domain.name, selector: domain.dkimSelector, algorithm: domain.dkimAlgorithm, privateKeyPem: domain.dkimPrivateKey,
      }, lane);
      const body = small();
      return { headers, fromDomain, signature, ...(body ? { body } : {}) };
    } catch (e) {
      // The spool could not be read (PostgreSQL restarting): the load fails, so the job is tried
      // again later, signed. Taken for a signing failure, the message went out unsigned, and the
      // cache kept it unsigned for its other recipients.
      const read = head.readError();
      if (read) throw read.err;
      // Unsigned mail is still better delivered than lost; the event records why.
      this.log.error({ queue_id: id, domain: domain.name, err: (e as Error).message }, 'DKIM signing failed; sending unsigned');
      return { headers, fromDomain, signature: null, signError: (e as Error).message };
    }
  }

  /** On a DKIM thread when the message fits in THREAD_SIGN_MAX, else streamed through the signer here. */
  async sign(message: AsyncIterable<Buffer>, key: DkimKey, lane: Lane): Promise<string> {
    if (!this.dkim) return dkimSignature(message, key);
    const read = await readUpTo(message, THREAD_SIGN_MAX);
    return 'whole' in read ? this.dkim.sign(read.whole, key, lane) : dkimSignature(read.stream, key);
  }
}

/**
 * The bytes to put on the wire: the signature, `added` (header lines added per transaction,
 * such as the feedback reference; not signed), then the stored message (kept or streamed
 * from the spool).
 */
export function wireBody(store: Store, id: QueueId, info: MessageInfo, added = ''): Readable {
  const head = Buffer.from((info.signature ?? '') + added, 'latin1');
  // A message held in memory goes as one buffer: each chunk is a socket write of its own
  // (nodemailer's DataStream pushes them one by one), and three writes cost more than copying 2 KB.
  if (info.body) return Readable.from(head.length ? Buffer.concat([head, info.body]) : info.body, { objectMode: false });
  return Readable.from((async function* () {
    if (head.length) yield head;
    yield* store.readBody(id);
  })(), { objectMode: false });
}
