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
 * Trigger mail first (SPEC §4): a thread is given at most IN_FLIGHT requests at a time and
 * the rest wait here in two queues, one per lane, so a login code's signature is the next one
 * a thread takes instead of waiting behind every campaign message already handed to it (a
 * thread starts every request it is given at once and they share its time). What bounds the
 * waiting is unchanged: each delivery connection waits for one signature at a time, so the
 * queues hold at most one message per connection, as the threads' own queues did before.
 *
 * close() stops the threads and rejects what they had in flight or waiting; the pool stays
 * usable and a later sign() starts threads again (a closed pool is a cold pool, not a broken one).
 */
import { Worker } from 'node:worker_threads';
import { DkimError, type DkimKey } from './dkim.js';
import { threadExecArgv } from '../util/threads.js';
import { startThread } from '../util/assets.js';
import type { Lane } from '../spool/types-queue.js';
import type { DkimSignReply, DkimSignRequest } from './dkim-thread.js';

interface Pending { resolve(signature: string): void; reject(err: DkimError): void }
interface Waiting extends Pending { message: Buffer; key: DkimKey; now: number }
interface Thread { worker: Worker; pending: Map<number, Pending> }

/**
 * Requests a thread holds at once. Two keep it busy (one is signed while the reply to the
 * other crosses back, and RSA runs on libuv's pool meanwhile) while a trigger request waits
 * behind at most two batch messages, about 2 ms at 2 KB with RSA-2048.
 */
export const IN_FLIGHT = 2;

/**
 * Trigger requests taken in a row while batch ones wait; then one batch request goes. Batch
 * mail is therefore never held back forever, even by a trigger sender that keeps every
 * thread busy: it gets at least one signature in TRIGGER_RUN + 1.
 */
export const TRIGGER_RUN = 16;

export class DkimPool {
  private readonly slots: (Thread | undefined)[];
  private nextId = 1;
  /** requests no thread has been given yet, by lane */
  private readonly queues: Record<Lane, Waiting[]> = { trigger: [], batch: [] };
  /** trigger requests handed out in a row while batch requests waited (see TRIGGER_RUN) */
  private triggerRun = 0;

  constructor(readonly threads: number) {
    if (!Number.isInteger(threads) || threads < 1) throw new RangeError(`a DKIM pool needs at least one thread (got ${threads})`);
    this.slots = Array.from({ length: threads }, () => undefined);
  }

  /** Threads running now (for tests and status; they start on demand). */
  get running(): number { return this.slots.filter((t) => t !== undefined).length; }

  /**
   * The complete "DKIM-Signature: ..." field for `message` (the whole raw message, CRLF
   * line ends), as dkimSignature gives it. Failures reject with a DkimError carrying the
   * same message text dkimSignature would have thrown. `lane` is the job's: trigger
   * requests are handed to a thread before any waiting batch request.
   */
  sign(message: Buffer, key: DkimKey, lane: Lane, now: Date = new Date()): Promise<string> {
    return new Promise<string>((resolve, reject) => {
      this.queues[lane].push({ message, key, now: now.getTime(), resolve, reject });
      this.dispatch();
    });
  }

  /** Requests waiting for a thread, by lane (for tests and status). */
  get waiting(): Record<Lane, number> { return { trigger: this.queues.trigger.length, batch: this.queues.batch.length }; }

  /** Stops every thread; their requests in flight reject. sign() may be called again after. */
  async close(): Promise<void> {
    const waiting = [...this.queues.trigger.splice(0), ...this.queues.batch.splice(0)];
    for (const w of waiting) w.reject(new DkimError('DKIM signing pool closed'));
    const threads = this.slots.filter((t): t is Thread => t !== undefined);
    await Promise.all(threads.map((t) => this.retire(t, 'DKIM signing pool closed')));
  }

  /** The next request to hand out: trigger first, but one batch request after TRIGGER_RUN triggers in a row. */
  private take(): Waiting | undefined {
    const { trigger, batch } = this.queues;
    if (trigger.length > 0 && (batch.length === 0 || this.triggerRun < TRIGGER_RUN)) {
      this.triggerRun = batch.length > 0 ? this.triggerRun + 1 : 0;
      return trigger.shift();
    }
    this.triggerRun = 0;
    return batch.shift();
  }

  /** Hands waiting requests to threads with room (fewer than IN_FLIGHT), starting threads as needed. */
  private dispatch(): void {
    while (this.queues.trigger.length + this.queues.batch.length > 0) {
      let thread: Thread | undefined;
      try {
        thread = this.pick();
      } catch (e) {
        // No thread can start: every waiting request fails, as a single one always did.
        const err = new DkimError(`DKIM signing thread could not start: ${(e as Error).message}`, { cause: e });
        for (const w of [...this.queues.trigger.splice(0), ...this.queues.batch.splice(0)]) w.reject(err);
        return;
      }
      if (!thread) return;
      this.send(thread, this.take()!);
    }
  }

  private send(thread: Thread, w: Waiting): void {
    const id = this.nextId++;
    thread.pending.set(id, { resolve: w.resolve, reject: w.reject });
    if (thread.pending.size === 1) thread.worker.ref();
    // One copy into a buffer of its own, which is then moved, not cloned: cloning a
    // Buffer copies its whole backing ArrayBuffer (8 KB of Node's pool for a small one),
    // and moving the caller's own buffer would detach it under them.
    const bytes = new Uint8Array(w.message);
    const req: DkimSignRequest = { id, message: bytes, key: w.key, now: w.now };
    try {
      thread.worker.postMessage(req, [bytes.buffer]);
    } catch (e) {
      this.forget(thread, id);
      w.reject(new DkimError(`DKIM signing request could not be sent: ${(e as Error).message}`, { cause: e }));
    }
  }

  /**
   * The least busy slot with room: an idle running thread first, then a new thread, then the
   * least loaded; undefined when every thread holds IN_FLIGHT requests.
   */
  private pick(): Thread | undefined {
    let best = 0;
    let bestLoad = Infinity;
    this.slots.forEach((t, i) => {
      const load = t ? t.pending.size : 0.5;
      if (load < bestLoad) { best = i; bestLoad = load; }
    });
    if (bestLoad >= IN_FLIGHT) return undefined;
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

  /** A request left its thread: the thread has room for the next waiting one. */
  private done(thread: Thread, id: number): void {
    this.forget(thread, id);
    this.dispatch();
  }

  private forget(thread: Thread, id: number): void {
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
    // Requests still waiting go to a fresh thread in the freed slot. A thread that cannot
    // start fails the requests it was given, so this ends when the queues are empty.
    this.dispatch();
    // Never rejects: it is called from event handlers, and a thread that will not stop
    // cleanly is unref()'d and out of the pool either way.
    await thread.worker.terminate().catch(() => undefined);
  }
}
