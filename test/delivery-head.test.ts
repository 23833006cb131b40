// delivery/message.ts's MessageCache reads a stored message's header block (for the From
// domain, X-Mta-Track and the feedback headers) wherever the spool's chunks cut it, and turns
// only the header block into a string: the body stays bytes (issue 23: decoding the whole
// message cost a copy per delivery, and the cached header kept that copy alive). Fresh mail's
// bytes, handed over by intake's commit, serve its first load without a read of the spool.
import t from 'tap';
import pino from 'pino';
import { MessageCache } from '../src/delivery/message.js';
import { bytesPerCall } from './helpers/allocation.js';
import type { Store } from '../src/spool/types.js';
import type { QueueId } from '../src/util/ids.js';
import type { IncomingMessage, QueueEntry } from '../src/spool/types-queue.js';

const HEAD = 'From: App <app@sender.test>\r\nTo: <rcpt@example.test>\r\nSubject: hello\r\nMessage-ID: <1@sender.test>';
const BODY = `${'x'.repeat(70)}\r\n`.repeat(300); // ~21 KB
const RAW = Buffer.from(`${HEAD}\r\n\r\n${BODY}`, 'latin1');

/** A spool holding one message, read back in the chunks `cuts` gives (no signing domain). */
function storeOf(raw: Buffer, cuts: number[]): Store {
  return {
    async *readBody() {
      let at = 0;
      for (const c of [...cuts, raw.length]) { if (c > at) yield raw.subarray(at, c); at = Math.max(at, c); }
    },
    async getDomain() { return undefined; },
  } as unknown as Store;
}

const log = pino({ level: 'silent' });
let n = 0;
const load = (store: Store): ReturnType<MessageCache['get']> => new MessageCache(store, log, 1).get(`q${++n}` as QueueId, 'batch');

t.test('the header block, wherever the chunks cut it', async (t) => {
  const blank = HEAD.length; // where "\r\n\r\n" starts
  const cuts: number[][] = [[], [1], [blank - 1], [blank + 1], [blank + 2], [blank + 3], [blank + 4], [blank + 5], [blank - 1, blank + 1, blank + 3]];
  for (let size = 1; size <= 7; size++) cuts.push(Array.from({ length: Math.ceil(RAW.length / size) }, (_, i) => (i + 1) * size));
  for (const c of cuts) {
    const info = await load(storeOf(RAW, c));
    t.equal(info.headers, HEAD, `cut at ${c.length > 5 ? `every ${c[0]} bytes` : JSON.stringify(c)}`);
    t.equal(info.fromDomain, 'sender.test');
  }
});

t.test('a message without a blank line: all of it, less a final CRLF', async (t) => {
  const raw = Buffer.from(`${HEAD}\r\n`, 'latin1');
  t.equal((await load(storeOf(raw, []))).headers, HEAD);
  t.equal((await load(storeOf(raw, [5, 10, raw.length - 1]))).headers, HEAD);
});

t.test('the body is not turned into a string', async (t) => {
  // What a load allocates must not grow with the body: decoded, a body 19 KB longer would
  // cost 19 KB more per load (the old code: 34,886 bytes for this message, 14,669 for the short one).
  const short = Buffer.from(`${HEAD}\r\n\r\n${BODY.slice(0, 72 * 30)}`, 'latin1');
  const big = await bytesPerCall(() => load(storeOf(RAW, [])), 2000);
  const small = await bytesPerCall(() => load(storeOf(short, [])), 2000);
  t.ok(big - small < (RAW.length - short.length) / 4,
    `${big.toFixed(0)} bytes per load of ${RAW.length} bytes, ${small.toFixed(0)} per load of ${short.length}`);
});

t.test('fresh mail: its bytes serve its first load, for taken messages of one spool chunk, within a bound in bytes', async (t) => {
  const reads: string[] = [];
  const stored = new Map<string, Buffer>();
  const store = {
    async *readBody(id: QueueId) { reads.push(id); yield stored.get(id)!; },
    async getDomain() { return undefined; },
  } as unknown as Store;
  // Room for two messages' bytes; those not loaded within a minute may be let go for newer ones.
  const cache = new MessageCache(store, log, 2, undefined, { bytes: 2 * RAW.length, ms: 60_000 });
  // As intake hands them over: the header block and the body in pieces, the spool joins them into one chunk.
  const fresh = (id: string, raw: Buffer): IncomingMessage => {
    stored.set(id, raw);
    const cut = raw.indexOf('\r\n\r\n') + 4;
    return { id, size: raw.length, chunks: [raw.subarray(0, cut), raw.subarray(cut, cut + 100), raw.subarray(cut + 100)] } as unknown as IncomingMessage;
  };
  const row = (id: string): QueueEntry => ({ queueId: id }) as unknown as QueueEntry;
  const load = async (...ids: string[]): Promise<void> => { for (const id of ids) await cache.get(id as QueueId, 'batch'); };
  const big = Buffer.concat([RAW, Buffer.alloc(64 * 1024, 'y')]);
  cache.keep([row('f1'), row('big')], [fresh('f1', RAW), fresh('big', big), fresh('left', RAW)]);
  t.equal((await cache.get('f1' as QueueId, 'trigger')).headers, HEAD, 'the kept bytes give the header block');
  t.same(reads, [], 'and the spool was not read for it');
  await load('big', 'left');
  t.same(reads, ['big', 'left'], 'a message over one chunk, and one no row was taken of, are read from the spool');
  reads.length = 0;

  const t0 = Date.now();
  cache.keep(['k1', 'k2', 'k3'].map(row), ['k1', 'k2', 'k3'].map((id) => fresh(id, RAW)), t0);
  await load('k1', 'k2', 'k3');
  t.same(reads, ['k3'], 'when the bound is reached, newer mail is not held: the held ones load first, as the ready set delivers the oldest first');
  await load('f1', 'k1'); // both fell out of the LRU (size 2)
  t.same(reads, ['k3', 'f1', 'k1'], 'held bytes serve the first load only');
  reads.length = 0;

  cache.keep(['x1', 'x2'].map(row), ['x1', 'x2'].map((id) => fresh(id, RAW)), t0);
  cache.keep([row('x3')], [fresh('x3', RAW)], t0 + 59_000);
  cache.keep([row('x4')], [fresh('x4', RAW)], t0 + 61_000);
  await load('x1', 'x2', 'x3', 'x4');
  t.same(reads, ['x1', 'x3'], 'held a minute without a load, the oldest is let go for newer mail; within the minute it is not');
});
