/**
 * delivery/dkim-pool — DKIM signing on worker threads. Under load the event loop is the
 * daemon's bottleneck, and mailauth's JavaScript canonicalization (plus the stream plumbing
 * around it) is a tenth of its time; a pool of threads takes that off the loop. The main
 * thread hands over a message it already holds in memory and gets back the finished
 * "DKIM-Signature: ..." field; the signing itself is dkim.ts's, run by dkim-thread.ts.
 *
 * Threads start on first use, so a daemon that never signs never starts one. Requests go
 * to the least busy thread. A thread that dies (or cannot start) fails only its own
 * requests, with a DkimError like any other signing failure (the caller then sends
 * unsigned, as before), and its slot starts a fresh thread on the next request.
 *
 * Idle threads are unref()'d so they never keep a process alive; a thread with requests in
 * flight is ref()'d, as crypto work on libuv's pool is, or a process whose only pending
 * work is a signature would exit with the promise unsettled.
 *
 * Every request goes to its thread at once, with its job's lane: the thread signs one at a
 * time, trigger requests first (dkim-thread.ts), so a login code is not signed behind the
 * campaign messages handed over before it. A thread signs about 2,800 2 KB messages a second
 * with RSA-2048 (0.35 ms each, the RSA operation included); more threads
 * (`delivery.dkim_threads`) use more cores. What bounds the requests a thread holds is
 * unchanged: each delivery connection waits for one signature at a time.
 *
 * close() stops the threads and rejects what they had in flight; the pool stays usable
 * and a later sign() starts threads again (a closed pool is a cold pool, not a broken one).
 */
import { Worker } from 'node:worker_threads';
import { DkimError, type DkimKey } from './dkim.js';
import { threadExecArgv } from '../util/threads.js';
import { startThread } from '../util/assets.js';
import type { Lane } from '../spool/types-queue.js';
import type { DkimSignReply, DkimSignRequest } from './dkim-thread.js';

interface Pending { resolve(signature: string): void; reject(err: DkimError): void }
interface Thread { worker: Worker; pending: Map<number, Pending> }

export class DkimPool {
  private readonly slots: (Thread | undefined)[];
  private nextId = 1;

  constructor(readonly threads: number) {
    if (!Number.isInteger(threads) || threads < 1) throw new RangeError(`a DKIM pool needs at least one thread (got ${threads})`);
    this.slots = Array.from({ length: threads }, () => undefined);
  }

  /** Threads running now (for tests and status; they start on demand). */
  get running(): number { return this.slots.filter((t) => t !== undefined).length; }

  /**
   * The complete "DKIM-Signature: ..." field for `message` (the whole raw message, CRLF
   * line ends), as dkimSignature gives it. Failures reject with a DkimError carrying the
   * same message text dkimSignature would have thrown. `lane` is the job's: the thread
   * signs trigger requests before the batch ones waiting there.
   */
  sign(message: Buffer, key: DkimKey, lane: Lane, now: Date = new Date()): Promise<string> {
    let thread: Thread;
    try {
      thread = this.pick();
    } catch (e) {
      return Promise.reject(new DkimError(`DKIM signing thread could not start: ${(e as Error).message}`, { cause: e }));
    }
    const id = this.nextId++;
    return new Promise<string>((resolve, reject) => {
      thread.pending.set(id, { resolve, reject });
      if (thread.pending.size === 1) thread.worker.ref();
      // One copy into a buffer of its own, which is then moved, not cloned: cloning a
      // Buffer copies its whole backing ArrayBuffer (8 KB of Node's pool for a small one),
      // and moving the caller's own buffer would detach it under them.
      const bytes = new Uint8Array(message);
      const req: DkimSignRequest = { id, message: bytes, key, now: now.getTime(), lane };
      try {
        thread.worker.postMessage(req, [bytes.buffer]);
      } catch (e) {
        this.done(thread, id);
        reject(new DkimError(`DKIM signing request could not be sent: ${(e as Error).message}`, { cause: e }));
      }
    });
  }

  /** Stops every thread; their requests in flight reject. sign() may be called again after. */
  async close(): Promise<void> {
    const threads = this.slots.filter((t): t is Thread => t !== undefined);
    await Promise.all(threads.map((t) => this.retire(t, 'DKIM signing pool closed')));
  }

  /** The least busy slot: an idle running thread first, then a new thread, then the least loaded. */
  private pick(): Thread {
    let best = 0;
    let bestLoad = Infinity;
    this.slots.forEach((t, i) => {
      const load = t ? t.pending.size : 0.5;
      if (load < bestLoad) { best = i; bestLoad = load; }
    });
    return this.slots[best] ?? this.start(best);
  }

  private start(slot: number): Thread {
    const worker = startThread('dkim-thread', { execArgv: threadExecArgv() });
    worker.unref();
    const thread: Thread = { worker, pending: new Map() };
    this.slots[slot] = thread;
    worker.on('message', (reply: DkimSignReply) => {
      const p = thread.pending.get(reply.id);
      if (!p) return;
      this.done(thread, reply.id);
      if ('error' in reply) p.reject(new DkimError(reply.error.message));
      else p.resolve(reply.signature);
    });
    // 'error' (an exception the thread did not catch, or a module that failed to load) is
    // followed by 'exit'; retiring twice is harmless.
    worker.on('error', (err) => { void this.retire(thread, `DKIM signing thread failed: ${err.message}`, err); });
    worker.on('messageerror', (err) => { void this.retire(thread, `DKIM signing thread sent an unreadable reply: ${err.message}`, err); });
    worker.on('exit', (code) => { void this.retire(thread, `DKIM signing thread exited (code ${code})`); });
    return thread;
  }

  private done(thread: Thread, id: number): void {
    thread.pending.delete(id);
    if (thread.pending.size === 0) thread.worker.unref();
  }

  /** Takes a thread out of service: its slot is free for a new one and its requests fail. */
  private async retire(thread: Thread, reason: string, cause?: unknown): Promise<void> {
    const i = this.slots.indexOf(thread);
    if (i >= 0) this.slots[i] = undefined;
    const pending = [...thread.pending.values()];
    thread.pending.clear();
    thread.worker.unref();
    for (const p of pending) p.reject(new DkimError(reason, cause === undefined ? undefined : { cause }));
    // Never rejects: it is called from event handlers, and a thread that will not stop
    // cleanly is unref()'d and out of the pool either way.
    await thread.worker.terminate().catch(() => undefined);
  }
}
