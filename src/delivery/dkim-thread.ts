/**
 * delivery/dkim-thread — the worker_threads entry behind DkimPool (dkim-pool.ts). It only
 * runs dkimSignature (dkim.ts) on a message the main thread already holds in memory, so
 * mailauth's canonicalization and the stream plumbing around it cost this thread's time,
 * not the event loop's. The signing logic stays in dkim.ts; this file is the message
 * protocol and nothing else. dkim.ts's parsed-key cache is module state, so each thread
 * keeps its own and parses a domain's key once per thread.
 */
import { parentPort } from 'node:worker_threads';
import { dkimSignature, type DkimKey } from './dkim.js';

export interface DkimSignRequest {
  id: number;
  /** the whole raw message (CRLF line ends), as stored in the spool */
  message: Uint8Array;
  key: DkimKey;
  /** signing time, ms since the epoch: the main thread's clock decides t= */
  now: number;
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
    return { id: req.id, signature: await dkimSignature([message], req.key, { now: new Date(req.now) }) };
  } catch (err) {
    return { id: req.id, error: { message: err instanceof Error ? err.message : String(err) } };
  }
}

const port = parentPort;
if (!port) throw new Error('dkim-thread.js runs only as a worker thread (see dkim-pool.ts)');
port.on('message', (req: DkimSignRequest) => {
  void handle(req).then((reply) => port.postMessage(reply));
});
