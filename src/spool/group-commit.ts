/**
 * spool/group-commit — many messages, one fsync. Messages whose DATA ends within one
 * commit window (default: the same turn of the event loop) are written in a single
 * transaction; each caller's promise settles only after that transaction returned,
 * so the SMTP 250 can never precede the commit.
 */

interface Pending<T> { item: T; resolve: () => void; reject: (e: unknown) => void }

export interface GroupCommitOptions {
  windowMs: number;
  maxBatch: number;
}

export class GroupCommit<T> {
  private pending: Pending<T>[] = [];
  private scheduled = false;
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
    else setImmediate(run);
  }

  /** Writes everything pending now; used by the timer and on shutdown. */
  flush(): void {
    while (this.pending.length > 0) {
      const batch = this.pending.splice(0, this.opts.maxBatch);
      const items = batch.map((p) => p.item);
      try {
        this.writeBatch(items);
      } catch (e) {
        for (const p of batch) p.reject(e);
        continue;
      }
      if (this.batchSizes.length >= 1000) this.batchSizes.shift();
      this.batchSizes.push(batch.length);
      try { this.afterCommit(items); } catch { /* observers must not undo a commit */ }
      for (const p of batch) p.resolve();
    }
  }

  get backlog(): number { return this.pending.length; }
}
