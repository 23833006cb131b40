/**
 * delivery/dkim-thread — the worker_threads entry behind DkimPool (dkim-pool.ts). It only
 * runs dkimSignature (dkim.ts) on a message the main thread already holds in memory, so
 * mailauth's canonicalization and the stream plumbing around it cost this thread's time,
 * not the event loop's. The signing logic stays in dkim.ts; this file is the message
 * protocol and the order requests are signed in. dkim.ts's parsed-key cache is module
 * state, so each thread keeps its own and parses a domain's key once per thread.
 *
 * Requests wait here in a LaneQueue and are signed one at a time, on this thread itself,
 * trigger first. Before each signature every request that has reached the port is taken into
 * the queue (receiveMessageOnPort), so a login code waits for at most the one signature in
 * progress, however many campaign messages were sent before it. The queue lives in this
 * thread, not in the pool, so the thread always has its next request at hand and never waits
 * for the main thread's event loop (which a campaign keeps busy) to send it one.
 *
 * The RSA operation runs here too, not on libuv's pool: with the parsed key cached it costs
 * 0.21 ms, and handing it to the pool cost two more thread hand-overs per message (wake-ups
 * and context switches on two busy cores). Signed here, scenario (a) ran 2.4% faster on
 * average over six pairs, and a campaign beside login codes 6–19% faster (bench/RESULTS.md,
 * 2026-12-05 16:10). Nor does a signature wait for libuv's pool, which file reads and scrypt
 * (a burst of logins) also use.
 *
 * drain() does not yield between requests (each signature is synchronous work and a few
 * promise turns): the thread has nothing else to do, and new requests are taken from the port
 * directly.
 */
import { parentPort, receiveMessageOnPort, type MessagePort } from 'node:worker_threads';
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

// Only the message text crosses back: the pool rebuilds a DkimError from it, so log lines
// and events read the same as when signing on the event loop.
async function handle(req: DkimSignRequest): Promise<DkimSignReply> {
  try {
    // postMessage already copied these bytes into this thread; a view avoids a second copy.
    const message = Buffer.from(req.message.buffer, req.message.byteOffset, req.message.byteLength);
    return { id: req.id, signature: await dkimSignature([message], req.key, { now: new Date(req.now), inline: true }) };
  } catch (err) {
    return { id: req.id, error: { message: err instanceof Error ? err.message : String(err) } };
  }
}

function mainThread(): MessagePort {
  if (!parentPort) throw new Error('dkim-thread.js runs only as a worker thread (see dkim-pool.ts)');
  return parentPort;
}
const port = mainThread();
const waiting = new LaneQueue<DkimSignRequest>();
let signing = false;

/** Every request that has reached the port, into the queue: the next one is chosen among all of them. */
function collect(): void {
  for (let m = receiveMessageOnPort(port); m; m = receiveMessageOnPort(port)) {
    const req = m.message as DkimSignRequest;
    waiting.push(req.lane, req);
  }
}

/** Signs what is waiting, one request at a time, trigger first, until nothing is left. */
async function drain(): Promise<void> {
  signing = true;
  try {
    for (collect(); waiting.size > 0; collect()) port.postMessage(await handle(waiting.take()!));
  } finally {
    signing = false;
  }
}

port.on('message', (req: DkimSignRequest) => {
  waiting.push(req.lane, req);
  if (!signing) void drain();
});
