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
  /** Sizes of recent batches, for metrics and the benchmark. */
  readonly batchSizes: number[] = [];

  constructor(
    private readonly writeBatch: (items: readonly T[]) => void,
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
    else if (performance.now() - this.lastEnd < BUSY_MS) setTimeout(run, BUSY_WINDOW_MS);
    else setImmediate(run);
  }

  /** Writes everything pending now; used by the timer and on shutdown. */
  flush(): void {
    while (this.pending.length > 0) {
      const batch = this.pending.splice(0, this.opts.maxBatch);
      const items = batch.map((p) => p.item);
      const started = performance.now();
      try {
        this.writeBatch(items);
      } catch (e) {
        for (const p of batch) p.reject(e);
        continue;
      } finally {
        this.lastEnd = performance.now();
        this.lastMs = this.lastEnd - started;
      }
      if (this.batchSizes.length >= 1000) this.batchSizes.shift();
      this.batchSizes.push(batch.length);
      if (commitChannel.hasSubscribers) commitChannel.publish({ name: this.opts.name, size: batch.length, ms: this.lastMs } satisfies CommitSample);
      try { this.afterCommit(items); } catch { /* observers must not undo a commit */ }
      for (const p of batch) p.resolve();
    }
  }

  get backlog(): number { return this.pending.length; }
}
