/**
 * delivery/precedence — login codes before a campaign, at the only place both compete: the
 * event loop. On a busy machine a campaign keeps the loop saturated (every delivery
 * connection's replies, outcomes, the next message), and a trigger message's few steps
 * (read and sign, MAIL…DATA, the final reply) each wait behind a turn of that work.
 *
 * While any trigger job is being worked on (from the moment a worker takes it until its
 * message is on the wire), a batch job waits before it starts: the batch transactions already
 * under way finish, no new one begins, and the loop's turns shorten for the login code. Both
 * sides are bounded by `delivery.trigger_precedence` (50 ms by default; 0 turns it off): a
 * batch job never waits longer, and a trigger job stops holding batch jobs back that long
 * after it was taken, so a login code to a receiver slow to greet (or to a host that does not
 * answer) costs a campaign at most that much. A steady stream of login codes slows a
 * campaign, never stops it. A task's expansion asks the same question before each of its
 * render slices (tasks/expander.ts): rendering is batch work on the same loop. Measured in
 * bench/RESULTS.md (2026-12-05, 10:41–12:30 UTC).
 */
export class TriggerPrecedence {
  private triggers = 0;
  private readonly waiters = new Set<() => void>();

  constructor(private maxWaitMs: number) {}

  reload(maxWaitMs: number): void { this.maxWaitMs = maxWaitMs; }

  /** Batch jobs waiting now (status and tests). */
  get waiting(): number { return this.waiters.size; }

  /**
   * A trigger job is being worked on; the function returned ends that (once; later calls do
   * nothing), and so does the bound.
   */
  enter(): () => void {
    if (this.maxWaitMs <= 0) return () => undefined;
    this.triggers++;
    let left = false;
    const leave = (): void => {
      if (left) return;
      left = true;
      clearTimeout(timer);
      if (--this.triggers === 0) this.release();
    };
    const timer = setTimeout(leave, this.maxWaitMs).unref();
    return leave;
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
