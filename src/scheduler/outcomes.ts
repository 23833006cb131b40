/**
 * scheduler/outcomes — from delivery's result for one recipient to what happens next:
 * delivered, deferred until when, failed, or expired; whether to suppress the address. This
 * is the only place the delivery retry schedule is read (the formula is util/backoff.ts,
 * shared with webhooks), so retry timing has one definition, and the only place a delivery
 * adds a suppression entry: never for mail from the null sender.
 *
 * Must never: read a clock, write the store or classify a reply (delivery does that).
 */
import type { RecipientOutcome } from '../spool/types-queue.js';
import type { RecipientResult } from './contract.js';
import { retryAt, type Backoff } from '../util/backoff.js';

export interface RetryPolicy {
  retryScheduleMs: readonly number[];
  retryJitter: number;
  maxQueueLifetimeMs: number;
}

/** The retry formula (util/backoff.ts) on the delivery settings. */
export function deliveryBackoff(p: RetryPolicy): Backoff {
  return { scheduleMs: p.retryScheduleMs, jitter: p.retryJitter, lifetimeMs: p.maxQueueLifetimeMs };
}

/**
 * The outcome of one recipient's result. `notBefore` (a destination remembered as
 * unreachable until then) holds a deferral back to that time, never past the lifetime.
 */
export function outcomeOf(r: RecipientResult, p: RetryPolicy, opts: { notBefore?: number; random?: () => number } = {}): RecipientOutcome {
  const { entry, reply, cls, attempted, at } = r;
  // The result is handed over to the scheduler: its detail becomes the outcome's, uncopied.
  const base = { recipientId: entry.recipientId, queueId: entry.queueId, at, reply, attempted, detail: r.detail };
  if (cls.code >= 200 && cls.code < 300) return { ...base, kind: 'delivered' };
  if (!cls.retry) {
    // Mail from the null sender (our DSNs) never suppresses: its recipient is one of our own
    // senders, and a bounced bounce says nothing about whether people can write to it.
    const suppress = cls.suppress && entry.sender !== '' ? { address: entry.rcpt.toLowerCase(), reason: reply.slice(0, 500) } : undefined;
    return { ...base, kind: 'failed', ...(suppress ? { suppress } : {}) };
  }
  const attempts = entry.attempts + (attempted ? 1 : 0);
  let next = retryAt(Math.max(attempts, 1), at, entry.receivedAt, deliveryBackoff(p), opts.random);
  if (next === undefined) return { ...base, kind: 'expired', detail: { ...base.detail, lifetime_ms: p.maxQueueLifetimeMs } };
  if (opts.notBefore !== undefined && next < opts.notBefore) next = Math.min(opts.notBefore, entry.receivedAt + p.maxQueueLifetimeMs);
  return { ...base, kind: 'deferred', nextAttemptAt: next, detail: { ...base.detail, next_attempt_at: next } };
}
