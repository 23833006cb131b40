/**
 * wake-loop — the one wake/refill/timer loop of the daemon's background services (the
 * scheduler refilling its ready set, the webhook dispatcher draining its outbox, the task
 * expander expanding tasks). Each gives it a `pass` (do what is due now) and a `nextDelay`
 * (when to look again unprompted); the loop guarantees:
 *
 *   - wake() is cheap and coalesced: any number of wakes before the next turn of the event
 *     loop run one pass; a wake during a pass runs the pass once more right after it, so no
 *     wake-up is ever lost and passes never overlap;
 *   - after the passes, one timer is armed for `nextDelay()` (undefined: none, something else
 *     will wake the loop), at least `minDelayMs`, unref'd so it never keeps the process alive;
 *   - a pass that throws is reported to `onError`, which says when to try again;
 *   - after stop() nothing new starts; stop() resolves when the pass in progress has ended.
 *
 * Must never: run two passes at once, or arm a timer after stop().
 */

export interface WakeLoopOptions {
  /** what is due now; the loop runs it again at once when woken meanwhile */
  pass: () => Promise<void>;
  /** ms until the next unprompted pass, asked once after the passes; undefined: no timer */
  nextDelay: () => Promise<number | undefined> | number | undefined;
  /** a pass threw: report it and say in how many ms to try again */
  onError: (e: unknown) => number;
  /** the shortest timer (default 5 ms), so a due time in the past cannot spin the loop */
  minDelayMs?: number;
}

export class WakeLoop {
  private active = false;
  private queued = false;
  private again = false;
  private current: Promise<void> | undefined;
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly opts: WakeLoopOptions) {}

  /** Whether a pass is running now. */
  get busy(): boolean { return this.current !== undefined; }

  start(): void {
    this.active = true;
    this.wake();
  }

  /** Runs a pass soon (coalesced); during a pass, once more right after it. */
  wake(): void {
    if (!this.active) return;
    if (this.current) { this.again = true; return; }
    if (this.queued) return;
    this.queued = true;
    setImmediate(() => {
      this.queued = false;
      if (!this.active || this.current) return;
      this.current = this.run().finally(() => {
        this.current = undefined;
        // woken while the next delay was being asked: that wake must still run a pass
        if (this.again) { this.again = false; this.wake(); }
      });
    });
  }

  /** Nothing new starts; resolves when the pass in progress (if any) has ended. */
  async stop(): Promise<void> {
    this.active = false;
    clearTimeout(this.timer);
    this.timer = undefined;
    await this.current;
  }

  private async run(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    let delay: number | undefined;
    try {
      do {
        this.again = false;
        await this.opts.pass();
      } while (this.again && this.active);
      delay = this.active ? await this.opts.nextDelay() : undefined;
    } catch (e) {
      delay = this.opts.onError(e);
    }
    if (!this.active || delay === undefined) return;
    this.timer = setTimeout(() => this.wake(), Math.max(delay, this.opts.minDelayMs ?? 5));
    this.timer.unref();
  }
}
