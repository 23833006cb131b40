/**
 * backoff — when to try something again: the one retry formula of the daemon, used for mail
 * (scheduler/outcomes.ts, on `delivery.retry_schedule`) and for webhooks (events/dispatcher.ts,
 * on `webhooks.retry_schedule`), and by anything else that retries on a schedule.
 *
 * The `attempts`-th failure (1-based) waits the schedule's `attempts`-th step, the last step
 * repeating; each wait is stretched by up to `jitter` (0.2 = up to 20 % longer) so retries
 * that failed together do not come back together. The last try is placed at the end of the
 * lifetime rather than skipped, so a long final step never cuts the lifetime short.
 *
 * Must never: read a clock or schedule a timer; callers pass `now` and act on the answer.
 */

export interface Backoff {
  /** waits after the 1st, 2nd, ... failure; the last one repeats */
  scheduleMs: readonly number[];
  /** each wait is stretched by up to this fraction */
  jitter: number;
  /** how long after `startedAt` trying stops */
  lifetimeMs: number;
}

/** The step waited after the `attempts`-th failure, before jitter. */
export function backoffStep(attempts: number, b: Pick<Backoff, 'scheduleMs'>): number {
  const s = b.scheduleMs;
  if (s.length === 0) throw new Error('backoff: empty schedule');
  return s[Math.min(Math.max(attempts, 1), s.length) - 1]!;
}

/**
 * When to try again after the `attempts`-th failure at `now`, for something first tried (or
 * created) at `startedAt`; undefined when its lifetime is over.
 */
export function retryAt(attempts: number, now: number, startedAt: number, b: Backoff, random: () => number = Math.random): number | undefined {
  const deadline = startedAt + b.lifetimeMs;
  if (now >= deadline) return undefined;
  const delay = Math.round(backoffStep(attempts, b) * (1 + b.jitter * random()));
  return Math.min(now + delay, deadline);
}
