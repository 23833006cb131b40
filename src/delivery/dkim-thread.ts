/**
 * delivery/dkim-thread — the worker_threads entry behind DkimPool (dkim-pool.ts). It only
 * runs dkimSignature (dkim.ts) on a message the main thread already holds in memory, so
 * mailauth's canonicalization and the stream plumbing around it cost this thread's time,
 * not the event loop's. The signing logic stays in dkim.ts; this file is the message
 * protocol and the order requests are signed in. dkim.ts's parsed-key cache is module
 * state, so each thread keeps its own and parses a domain's key once per thread.
 *
 * Requests wait here in a LaneQueue and a few are signed at once (SIGNING in
 * dkim-pool.ts), on libuv's pool, trigger first. A trigger request that finds the slots taken
 * by a campaign's signatures is signed the moment it arrives, on this thread itself: it waits
 * neither for a slot nor for libuv's pool, which they hold (about a millisecond less for the
 * median login code, bench/RESULTS.md). The queue lives in this thread, not in
 * the pool, so the thread always has its next request at hand and never waits for the main
 * thread's event loop (which a campaign keeps busy) to send it one.
 */
import { parentPort, workerData, type MessagePort } from 'node:worker_threads';
import { dkimSignature, type DkimKey } from './dkim.js';
import { LaneQueue } from './lane-queue.js';
import type { Lane } from '../spool/types-queue.js';

export interface DkimSignRequest {
  id: number;
  /** the whole raw message (CRLF line ends), as stored in the spool */
  message: Uint8Array;
  key: DkimKey;
  /** signing time, ms since the epoch: the main thread's clock decides t= */
  now: number;
  /** the job's lane: trigger requests are signed first */
  lane: Lane;
}

export type DkimSignReply =
  | { id: number; signature: string }
  | { id: number; error: { message: string } };

/** What the pool starts a thread with. */
export interface DkimThreadData { signing: number }

// Only the message text crosses back: the pool rebuilds a DkimError from it, so log lines
// and events read the same as when signing on the event loop.
async function handle(req: DkimSignRequest, inline = false): Promise<DkimSignReply> {
  try {
    // postMessage already copied these bytes into this thread; a view avoids a second copy.
    const message = Buffer.from(req.message.buffer, req.message.byteOffset, req.message.byteLength);
    return { id: req.id, signature: await dkimSignature([message], req.key, { now: new Date(req.now), inline }) };
  } catch (err) {
    return { id: req.id, error: { message: err instanceof Error ? err.message : String(err) } };
  }
}

function mainThread(): MessagePort {
  if (!parentPort) throw new Error('dkim-thread.js runs only as a worker thread (see dkim-pool.ts)');
  return parentPort;
}
const port = mainThread();
const { signing: SIGNING } = workerData as DkimThreadData;
const waiting = new LaneQueue<DkimSignRequest>();
let signing = 0;
/** of `signing`, the batch requests */
let signingBatch = 0;

function next(): void {
  for (let req = signing < SIGNING ? waiting.take() : undefined; req; req = signing < SIGNING ? waiting.take() : undefined) {
    const batch = req.lane === 'batch';
    signing++;
    if (batch) signingBatch++;
    void handle(req).then((reply) => {
      signing--;
      if (batch) signingBatch--;
      port.postMessage(reply);
      next();
    });
  }
}

port.on('message', (req: DkimSignRequest) => {
  // A login code that would wait for a campaign's signatures (every slot taken, some by
  // batch requests) is signed at once, on this thread, not on libuv's pool, which they hold.
  // Trigger requests that fill the slots themselves (a flood of transactional mail) queue as
  // before, so they keep the pool's parallelism.
  if (req.lane === 'trigger' && signing >= SIGNING && signingBatch > 0) {
    void handle(req, true).then((reply) => port.postMessage(reply));
    return;
  }
  waiting.push(req.lane, req);
  next();
});
