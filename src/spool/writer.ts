/**
 * spool/writer — the spool's hot writes on a thread of their own (`spool.writer_thread`).
 *
 * Three writes happen for every message: intake's commit (or a task's chunk), the
 * scheduler's claim (part of intake's commit when the scheduler has room, spool/fresh.ts)
 * and the delivery outcome; and a delivery worker takes and gives back a connection slot
 * (when the main connection would wait for the lock, spool/sqlite-throttles.ts). Each is a
 * transaction ending in an fsync, and better-sqlite3 runs them synchronously, so on the
 * event loop they stopped everything else for their length (a fifth of the loop in the
 * benchmark profile, bench/RESULTS.md). Here they run in a worker
 * thread with its own connection to the same database file, executing the very same code
 * (spool/writer-thread.ts builds a SqliteStore there and calls its writer side). The event
 * loop keeps reading SMTP while the disk works; reads stay on the main connection, which
 * WAL lets run beside the writer.
 *
 * The promise of each call settles after the worker's COMMIT returned, so a 250 still
 * follows the fsync. A failed write comes back as an Error with the SQLite code it had
 * (SQLITE_FULL stays SQLITE_FULL for the submission policy). If the thread itself dies,
 * every waiting and later call fails with MTA_ERR_SPOOL_WRITER and `onFailure` tells the
 * daemon, which stops: a spool that cannot write must not accept mail.
 */
import { Worker } from 'node:worker_threads';
import { MtaError } from '../util/errors.js';
import { threadExecArgv } from '../util/threads.js';
import { startThread } from '../util/assets.js';
import type { IncomingMessage, LaneCounts, QueueEntry } from './types-queue.js';
import type { ClaimRequest, QueueWrite } from './sqlite-queue.js';
import type { TaskChunk } from './types-tasks.js';
import type { ThrottleCall } from './sqlite-throttles.js';

export type WriterRequest =
  | { id: number; op: 'intake'; batch: readonly IncomingMessage[]; granted: LaneCounts }
  | { id: number; op: 'queue'; batch: readonly QueueWrite[] }
  | { id: number; op: 'claim'; req: ClaimRequest }
  | { id: number; op: 'taskChunk'; chunk: TaskChunk }
  | { id: number; op: 'throttle'; call: ThrottleCall }
  | { id: number; op: 'close' };

export interface WriterErrorShape { name: string; message: string; code?: string }
export type WriterReply =
  | { id: number; ok: true; result: unknown; enqueued: number }
  | { id: number; ok: false; error: WriterErrorShape; enqueued: number };

/** What an error thrown in the worker looks like again on this side. */
export function revive(e: WriterErrorShape): Error {
  if (e.name === 'MtaError' && e.code) return new MtaError(e.code as ConstructorParameters<typeof MtaError>[0], e.message);
  return Object.assign(new Error(e.message), { name: e.name, ...(e.code ? { code: e.code } : {}) });
}

type Call = WriterRequest extends infer R ? (R extends unknown ? Omit<R, 'id'> : never) : never;
interface Waiter { resolve: (v: unknown) => void; reject: (e: Error) => void }

export interface WriterThreadOptions {
  dataDir: string;
  /** the calendar of the statistics counters the worker's transactions bump */
  timeZone?: string | undefined;
  /** the node the worker's claims are made under (the opening store's) */
  nodeId: string;
  /** webhook outbox rows the worker's transaction wrote (the dispatcher is woken after the commit) */
  onEnqueued: (n: number) => void;
  onFailure?: (e: Error) => void;
}

export class WriterThread {
  private readonly worker: Worker;
  private readonly waiting = new Map<number, Waiter>();
  private nextId = 1;
  private dead: Error | undefined;
  private closing = false;
  private readonly exited: Promise<void>;
  onFailure: ((e: Error) => void) | undefined;

  constructor(private readonly opts: WriterThreadOptions) {
    this.onFailure = opts.onFailure;
    this.worker = startThread('writer-thread', { workerData: { dataDir: opts.dataDir, timeZone: opts.timeZone, nodeId: opts.nodeId }, execArgv: threadExecArgv() });
    this.worker.on('message', (r: WriterReply) => this.settle(r));
    this.worker.on('error', (e) => this.fail(e));
    this.exited = new Promise((resolve) => this.worker.once('exit', (code) => {
      if (!this.closing || code !== 0) this.fail(new Error(`exited with code ${code}`));
      resolve();
    }));
  }

  /** Intake's transaction; resolves with the recipients it claimed for the scheduler (`granted` per lane, spool/fresh.ts). */
  intake(batch: readonly IncomingMessage[], granted: LaneCounts): Promise<QueueEntry[]> { return this.call({ op: 'intake', batch, granted }) as Promise<QueueEntry[]>; }
  queue(batch: readonly QueueWrite[]): Promise<number[]> { return this.call({ op: 'queue', batch }) as Promise<number[]>; }
  claim(req: ClaimRequest): Promise<QueueEntry[]> { return this.call({ op: 'claim', req }) as Promise<QueueEntry[]>; }
  taskChunk(chunk: TaskChunk): Promise<boolean> { return this.call({ op: 'taskChunk', chunk }) as Promise<boolean>; }
  /** A connection slot or pace write (spool/sqlite-throttles.ts): taken off the event loop too. */
  throttle(call: ThrottleCall): Promise<unknown> { return this.call({ op: 'throttle', call }); }

  /** Closes the worker's connection after every write sent before. */
  async close(): Promise<void> {
    if (!this.dead && !this.closing) {
      const done = this.call({ op: 'close' });
      this.closing = true;
      await done.catch(() => undefined);
    }
    this.closing = true;
    await this.exited;
  }

  private call(c: Call): Promise<unknown> {
    if (this.dead) return Promise.reject(this.stopped(this.dead));
    if (this.closing) return Promise.reject(new MtaError('MTA_ERR_SPOOL_WRITER', 'the spool is closing'));
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.waiting.set(id, { resolve, reject });
      this.worker.postMessage({ ...c, id } as WriterRequest);
    });
  }

  private settle(r: WriterReply): void {
    const w = this.waiting.get(r.id);
    if (!w) return;
    this.waiting.delete(r.id);
    if (r.enqueued > 0) this.opts.onEnqueued(r.enqueued);
    if (r.ok) w.resolve(r.result);
    else w.reject(revive(r.error));
  }

  private stopped(cause: Error): MtaError {
    return new MtaError('MTA_ERR_SPOOL_WRITER', `the spool writer thread has stopped: ${cause.message}`);
  }

  private fail(e: Error): void {
    if (this.dead) return;
    this.dead = e;
    const err = this.stopped(e);
    for (const w of this.waiting.values()) w.reject(err);
    this.waiting.clear();
    if (!this.closing) this.onFailure?.(err);
  }
}
