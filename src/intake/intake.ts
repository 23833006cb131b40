/**
 * intake — turns one SMTP DATA stream into a durable spool entry (Postfix's cleanup).
 *
 *   DATA bytes → DataGuard (smuggling, line length, size) → mailsplit Splitter (intake/splitter.ts: no loop turn per line)
 *     → top-level header policy (identity.ts: From, Sender, Resent-From/-Sender, Reply-To checked; Bcc,
 *       Authentication-Results, ARC-* removed; Received, Message-ID, Date, X-Mta-Tag)
 *     → joined as mailsplit's Joiner does → chunks → Spool.commitIncoming (group commit, fsync) → "queued as"
 *
 * The stages are plain objects called on each chunk as it arrives, not piped streams: four
 * streams and their pipes cost more allocation than a 2 KB message, and being held until the
 * commit's fsync they outlived the scavenges (bench/RESULTS.md, 2026-12-05 23:10).
 *
 * It never answers the client itself: it resolves with an IntakeResult the front-end (the
 * SMTP listener, or the send API with a composed or raw message) turns into a reply. It
 * never commits a message it refused.
 */
import type { Readable } from 'node:stream';
import type { MimeNode } from 'mailsplit';
import { SyncSplitter, type SplitPiece } from './splitter.js';
import { DataGuard, type GuardViolation } from './guard.js';
import { headerValue, messageIdFor, rfc5322Date, receivedHeader } from './headers.js';
import { STRIPPED_HEADERS, checkIdentity, describeIdentityProblem, type IdentityProblem } from './identity.js';
import type { IncomingMessage, Lane, MessageStore } from '../spool/types-queue.js';
import { newQueueId, newTaskId, type QueueId } from '../util/ids.js';
import { metrics } from '../metrics/metrics.js';
import { resolveTracking, trackHeaderValue } from '../tracking/request.js';
import { TRACK_HEADER } from '../tracking/rewrite.js';

export interface IntakeEnvelope {
  sender: string;
  recipients: string[];
  /** lists whose alias address was a recipient: each becomes a batch task in the same commit (tasks/alias.ts) */
  aliasLists?: string[] | undefined;
  authUser: string | null;
  clientIp: string;
  clientHostname: string | null;
  helo: string | null;
  protocol: string;
  lane: Lane;
}

export interface IntakeLimits {
  maxMessageSize: number; maxHeaderSize: number; hostname: string;
  /** The tag policy (submission/policy.ts tagCheck): undefined admits the message's tag, a string refuses it with that detail. */
  checkTag?: ((tag: string) => Promise<string | undefined>) | undefined;
  /** What tracking may ask for (tracking/request.ts): the per-domain defaults and whether a tracking host exists. */
  tracking?: Parameters<typeof resolveTracking>[2];
  /** The send API's Idempotency-Key record for this message, committed with it (admin/idempotency.ts). */
  keyRecord?: ((queueId: QueueId, messageId: string) => NonNullable<IncomingMessage['idempotency']>) | undefined;
}

export type IntakeResult =
  | { ok: true; queueId: QueueId; size: number; messageId: string }
  | { ok: false; reason: GuardViolation | 'header-too-big' | 'bad-mime' | 'identity' | 'tag' | 'tracking' | 'store'; detail: string; identityProblem?: IdentityProblem; error?: unknown };

/** The top-level header block's policy, applied to the root node before it is joined. */
class HeaderPolicy {
  identityProblem: IdentityProblem | undefined;
  messageId = '';
  subject: string | null = null;
  tag: string | null = null;
  trackingProblem: string | undefined;
  private seenRoot = false;

  constructor(private readonly env: IntakeEnvelope, private readonly queueId: QueueId, private readonly limits: IntakeLimits, private readonly now: Date) {}

  apply(node: MimeNode): void {
    if (node.root && !this.seenRoot) {
      this.seenRoot = true;
      const h = node.headers;
      this.identityProblem = checkIdentity(h, this.env.sender);
      for (const name of STRIPPED_HEADERS) h.remove(name);
      const tagLines = h.get('x-mta-tag');
      if (tagLines.length > 0) { this.tag = headerValue(tagLines[0]!); h.remove('x-mta-tag'); }
      // The decision travels with the message as one normalised header (tracking/request.ts).
      const track = resolveTracking(h.get(TRACK_HEADER).map((l) => headerValue(l)), this.env.sender.slice(this.env.sender.lastIndexOf('@') + 1),
        this.limits.tracking);
      h.remove(TRACK_HEADER);
      this.trackingProblem = track.error;
      const trackValue = track.track && trackHeaderValue(track.track);
      if (trackValue) h.add('X-Mta-Track', trackValue, Infinity);
      const subj = h.get('subject');
      this.subject = subj.length > 0 ? headerValue(subj[0]!).slice(0, 998) : null;
      const mid = h.get('message-id');
      if (mid.length > 0 && /^<[^<>\s]+@[^<>\s]+>$/.test(headerValue(mid[0]!))) {
        this.messageId = headerValue(mid[0]!);
      } else {
        if (mid.length > 0) h.remove('message-id');
        this.messageId = messageIdFor(this.queueId, this.limits.hostname);
        h.add('Message-ID', this.messageId, Infinity);
      }
      if (h.get('date').length === 0) h.add('Date', rfc5322Date(this.now), Infinity);
      h.add('Received', receivedHeader({
        helo: this.env.helo, clientHostname: this.env.clientHostname, clientIp: this.env.clientIp,
        hostname: this.limits.hostname, protocol: this.env.protocol, queueId: this.queueId,
        // A list alias's copies carry this header: no "for" naming another recipient.
        recipient: this.env.recipients.length === 1 && !this.env.aliasLists?.length ? this.env.recipients[0] : undefined, date: this.now,
      }), 0);
    }
  }
}

/** Reads the DATA stream to its end, always, and stores the message if it passes. */
export function receiveMessage(
  source: Readable, env: IntakeEnvelope, limits: IntakeLimits, spool: MessageStore, now = new Date(),
): Promise<IntakeResult> {
  const queueId = newQueueId(now.getTime());
  const guard = new DataGuard(limits.maxMessageSize);
  const policy = new HeaderPolicy(env, queueId, limits, now);
  const chunks: Buffer[] = [];
  let size = 0;
  const keep = (c: Buffer): void => { chunks.push(c); size += c.length; };
  // What mailsplit's Joiner does with each piece, after the policy has seen the root node.
  const splitter = new SyncSplitter({ maxHeadSize: limits.maxHeaderSize }, (piece: SplitPiece) => {
    if (piece.type === 'node') {
      const node = piece as unknown as MimeNode & { getHeaders(): Buffer };
      policy.apply(node);
      keep(node.getHeaders());
    } else if (piece.value?.length) keep(piece.value);
  });
  let parseError: Error | undefined;
  const parse = (step: () => Error | undefined): void => {
    try { parseError = step(); } catch (e) { parseError = e as Error; }
  };

  return new Promise<IntakeResult>((resolve) => {
    let ended = false;
    const finish = async (): Promise<void> => {
      if (ended) return;
      ended = true;
      if (guard.violation) {
        return resolve({ ok: false, reason: guard.violation, detail: describeViolation(guard.violation, limits) });
      }
      if (parseError) {
        const tooBig = (parseError as NodeJS.ErrnoException).code === 'EMAXLEN' && /header/i.test(parseError.message);
        return resolve(tooBig
          ? { ok: false, reason: 'header-too-big', detail: `Header block exceeds ${limits.maxHeaderSize} bytes` }
          : { ok: false, reason: 'bad-mime', detail: `Message structure cannot be parsed: ${parseError.message}` });
      }
      if (policy.identityProblem) {
        const p = policy.identityProblem;
        return resolve({ ok: false, reason: 'identity', detail: describeIdentityProblem(p), identityProblem: p });
      }
      if (policy.trackingProblem) return resolve({ ok: false, reason: 'tracking', detail: policy.trackingProblem });
      if (policy.tag !== null && limits.checkTag) {
        let refused: string | undefined;
        try { refused = await limits.checkTag(policy.tag); } catch (error) {
          return resolve({ ok: false, reason: 'store', detail: (error as Error).message, error });
        }
        if (refused !== undefined) return resolve({ ok: false, reason: 'tag', detail: refused });
      }
      const msg: IncomingMessage = {
        id: queueId, receivedAt: now.getTime(), sender: env.sender, authUser: env.authUser, clientIp: env.clientIp,
        helo: env.helo, messageId: policy.messageId, subject: policy.subject, size, lane: env.lane, tag: policy.tag,
        chunks, recipients: env.recipients,
        ...(env.aliasLists?.length ? { aliasTasks: env.aliasLists.map((list) => ({ id: newTaskId(now.getTime()), list })) } : {}),
        ...(limits.keyRecord ? { idempotency: limits.keyRecord(queueId, policy.messageId) } : {}),
      };
      resolve(commit(spool, msg));
    };
    // Read to its end on every path: the client must finish DATA before it may be answered.
    const onData = (chunk: Buffer): void => {
      if (!guard.scan(chunk) || parseError) return;
      parse(() => splitter.feed(chunk));
    };
    const onError = (e: Error): void => { parseError ??= e; void finish(); };
    source.on('data', onData);
    source.once('end', () => {
      guard.end();
      if (!guard.violation && !parseError) parse(() => splitter.finish());
      // The front-end holds the source until it has answered: without these listeners it no
      // longer holds the splitter and its parsed nodes through the commit's fsync.
      source.removeListener('data', onData).removeListener('error', onError).on('error', ignore);
      void finish();
    });
    source.on('error', onError);
  });
}

function ignore(): void { /* an error after the end of the data changes nothing */ }

/**
 * The commit, outside receiveMessage's closures: while the fsync is awaited only the message
 * is held, not the guard, the splitter and the parsed headers.
 */
async function commit(spool: MessageStore, msg: IncomingMessage): Promise<IntakeResult> {
  try {
    await spool.commitIncoming(msg);
  } catch (error) {
    return { ok: false, reason: 'store', detail: (error as Error).message, error };
  }
  metrics.messageSize.observe(msg.size);
  return { ok: true, queueId: msg.id, size: msg.size, messageId: msg.messageId };
}

export function describeViolation(v: GuardViolation, limits: IntakeLimits): string {
  switch (v) {
    case 'bare-cr': return 'Message contains a bare CR (CR not followed by LF)';
    case 'bare-lf': return 'Message contains a bare LF (LF not preceded by CR)';
    case 'nul': return 'Message contains a NUL byte';
    case 'line-too-long': return 'Message has a line longer than 1000 bytes';
    case 'too-big': return `message exceeds ${limits.maxMessageSize} bytes`;
  }
}
