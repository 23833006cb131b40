/**
 * delivery/precedence — login codes before a campaign, at the only place both compete: the
 * event loop. On a busy machine a campaign keeps the loop saturated (every delivery
 * connection's replies, outcomes, the next message), and a trigger message's few steps
 * (read and sign, MAIL…DATA, the final reply) each wait behind a turn of that work.
 *
 * While any trigger job is being worked on (from the moment a worker takes it to the moment
 * it has its outcome), a batch job waits before it starts: the batch transactions already
 * under way finish, no new one begins, and the loop's turns shorten for the login code. The
 * wait is bounded (`delivery.trigger_precedence`, 50 ms by default; 0 turns it off), so a
 * steady stream of login codes slows a campaign, never stops it. Measured in
 * bench/RESULTS.md: the login code's median 4–4.7 → 3.0 ms, its p99 after the start 20–23
 * → 15–18 ms, for 2–3% of the campaign's rate.
 */
export class TriggerPrecedence {
  private triggers = 0;
  private readonly waiters = new Set<() => void>();

  constructor(private maxWaitMs: number) {}

  reload(maxWaitMs: number): void { this.maxWaitMs = maxWaitMs; }

  /** Batch jobs waiting now (status and tests). */
  get waiting(): number { return this.waiters.size; }

  /** A trigger job is being worked on; `done` must be called once when it has its outcome. */
  enter(): () => void {
    this.triggers++;
    let left = false;
    return () => {
      if (left) return;
      left = true;
      if (--this.triggers === 0) this.release();
    };
  }

  /**
   * Before a batch job starts: undefined when it may start at once (no trigger job in
   * flight, or precedence off), which costs the caller no await; else a promise that
   * settles when the last trigger job is done or after the bound, whichever is first.
   */
  batchMayStart(): Promise<void> | undefined {
    if (this.triggers === 0 || this.maxWaitMs <= 0) return undefined;
    return new Promise<void>((resolve) => {
      const go = (): void => { clearTimeout(timer); this.waiters.delete(go); resolve(); };
      const timer = setTimeout(go, this.maxWaitMs);
      this.waiters.add(go);
    });
  }

  /** Lets every waiting batch job go (the last trigger job done, or delivery stopping). */
  release(): void {
    for (const go of [...this.waiters]) go();
  }
}
