/**
 * spool/group-commit — many messages, one fsync. Messages whose DATA ends within one
 * commit window (`spool.commit_window`; by default adaptive, below) are written in a single
 * transaction; each caller's promise settles only after that transaction returned,
 * so the SMTP 250 can never precede the commit.
 *
 * Without a configured window the batch adapts to load: an idle spool commits in the
 * same turn (no added latency), but when the previous commit ended less than BUSY_MS ago
 * the batch waits BUSY_WINDOW_MS on a timer, which on a busy event loop means until the
 * next turn has read what the other clients sent meanwhile. One fsync then carries a
 * whole turn of messages (20 sessions: ~14 instead of ~3), which frees the loop for the
 * rest of the work; the measured cost is nil (accept latency fell; bench/RESULTS.md).
 *
 * Intake uses one instance (messages) and the delivery queue another (attempt outcomes and
 * hand-backs, spool/sqlite-queue.ts); each adapts to its own load.
 *
 * The writer may be asynchronous (the spool's writer thread, spool/writer.ts): then one
 * batch is in flight at a time, and what arrives while it commits waits for it and goes
 * in the next batch. That is the classic group commit: the fsync's own duration gathers
 * the next batch, and the event loop never waits for the disk.
 *
 * Every committed batch is published on the diagnostics channel `mta:spool:commit` as
 * { name, size, ms } (name: which instance; ms: time spent in the write, fsync included).
 * Publishing costs nothing while nobody subscribes; the benchmark's probe does (bench/probe.ts).
 */
import { channel } from 'node:diagnostics_channel';
import { performance } from 'node:perf_hooks';

export interface CommitSample { name: string; size: number; ms: number }
export const commitChannel = channel('mta:spool:commit');

interface Pending<T> { item: T; resolve: () => void; reject: (e: unknown) => void }

export interface GroupCommitOptions {
  /** which writes these are ('intake', 'outcomes'), for the commit channel */
  name: string;
  windowMs: number;
  maxBatch: number;
}

/** A commit this recent (ms) means the spool is busy ... */
export const BUSY_MS = 50;
/** ... and the next batch then waits this long for company (ms). */
export const BUSY_WINDOW_MS = 2;

export class GroupCommit<T> {
  private pending: Pending<T>[] = [];
  private scheduled = false;
  /** when the last commit ended and how long it took (performance.now() ms) */
  private lastEnd = -Infinity;
  private lastMs = 0;
  /** the asynchronous write now running, if any */
  private inFlight: Promise<void> | undefined;
  /** Sizes of recent batches, for metrics and the benchmark. */
  readonly batchSizes: number[] = [];

  constructor(
    private readonly writeBatch: (items: readonly T[]) => void | Promise<void>,
    private readonly opts: GroupCommitOptions,
    private readonly afterCommit: (items: readonly T[]) => void = () => {},
  ) {}

  submit(item: T): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.pending.push({ item, resolve, reject });
      if (this.pending.length >= this.opts.maxBatch) this.flush();
      else this.schedule();
    });
  }

  private schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    const run = (): void => { this.scheduled = false; this.flush(); };
    if (this.opts.windowMs > 0) setTimeout(run, this.opts.windowMs);
    // Also with an asynchronous writer: measured, the commit alone gathered ~9 messages, the
    // window ~17, and the fewer commits saved CPU (bench/RESULTS.md).
    else if (performance.now() - this.lastEnd < BUSY_MS) setTimeout(run, BUSY_WINDOW_MS);
    else setImmediate(run);
  }

  /**
   * Writes everything pending now (the timer, a full batch, shutdown). With an
   * asynchronous writer it starts one batch and returns; that batch's end starts the next.
   */
  flush(): void {
    while (this.pending.length > 0 && !this.inFlight) {
      const batch = this.pending.splice(0, this.opts.maxBatch);
      const items = batch.map((p) => p.item);
      const started = performance.now();
      let running: void | Promise<void>;
      try {
        running = this.writeBatch(items);
      } catch (e) {
        this.failed(batch, started, e);
        continue;
      }
      if (!(running instanceof Promise)) {
        this.committed(batch, items, started);
        continue;
      }
      this.inFlight = running.then(
        () => this.committed(batch, items, started),
        (e: unknown) => this.failed(batch, started, e),
      ).finally(() => {
        this.inFlight = undefined;
        this.flush();
      });
    }
  }

  /** Resolves once nothing is pending or being written (shutdown). */
  async drain(): Promise<void> {
    this.flush();
    while (this.inFlight) {
      await this.inFlight;
      this.flush();
    }
  }

  private failed(batch: readonly Pending<T>[], started: number, e: unknown): void {
    this.lastEnd = performance.now();
    this.lastMs = this.lastEnd - started;
    for (const p of batch) p.reject(e);
  }

  private committed(batch: readonly Pending<T>[], items: readonly T[], started: number): void {
    this.lastEnd = performance.now();
    this.lastMs = this.lastEnd - started;
    if (this.batchSizes.length >= 1000) this.batchSizes.shift();
    this.batchSizes.push(batch.length);
    if (commitChannel.hasSubscribers) commitChannel.publish({ name: this.opts.name, size: batch.length, ms: this.lastMs } satisfies CommitSample);
    try { this.afterCommit(items); } catch { /* observers must not undo a commit */ }
    for (const p of batch) p.resolve();
  }

  get backlog(): number { return this.pending.length; }

}
