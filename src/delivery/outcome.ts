/**
 * delivery/outcome — from one reply for one recipient to what happens next: delivered,
 * deferred until when, failed, or expired; whether to suppress the address. This is the
 * only place the delivery retry schedule is read (the formula is util/backoff.ts, shared with
 * webhooks), so retry timing has one definition, and the only
 * place a delivery adds a suppression entry: never for mail from the null sender.
 */
import type { QueueEntry, RecipientOutcome } from '../spool/types-queue.js';
import { classifyReply, type ReplyClass } from './classify.js';
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

export interface AttemptContext {
  at: number;
  mx: string | null;
  ip: string | null;
  tls: boolean | null;
  durationMs: number;
  /** the egress source the attempt left from, when egress sources are configured */
  source?: { name: string; address: string } | undefined;
}

/** The outcome of one attempt for one recipient, given the reply that decides it. */
export function decide(entry: QueueEntry, reply: string, ctx: AttemptContext, p: RetryPolicy, opts: { attempted?: boolean; random?: () => number } = {}): { outcome: RecipientOutcome; cls: ReplyClass } {
  const cls = classifyReply(reply);
  const attempted = opts.attempted ?? true;
  const attempts = entry.attempts + (attempted ? 1 : 0);
  const detail: Record<string, unknown> = {
    attempt: attempts, mx: ctx.mx, ip: ctx.ip, tls: ctx.tls, duration_ms: ctx.durationMs,
    ...(ctx.source ? { source: ctx.source.name, source_ip: ctx.source.address } : {}),
    category: cls.category, status: cls.status, ...(cls.enhanced ? { enhanced: cls.enhanced } : {}),
  };
  const base = { recipientId: entry.recipientId, queueId: entry.queueId, at: ctx.at, reply, attempted, detail };
  if (cls.code >= 200 && cls.code < 300) return { outcome: { ...base, kind: 'delivered' }, cls };
  if (!cls.retry) {
    // Mail from the null sender (our DSNs) never suppresses: its recipient is one of our own
    // senders, and a bounced bounce says nothing about whether people can write to it.
    const suppress = cls.suppress && entry.sender !== '' ? { address: entry.rcpt.toLowerCase(), reason: reply.slice(0, 500) } : undefined;
    return { outcome: { ...base, kind: 'failed', ...(suppress ? { suppress } : {}) }, cls };
  }
  const next = retryAt(Math.max(attempts, 1), ctx.at, entry.receivedAt, deliveryBackoff(p), opts.random);
  if (next === undefined) {
    return { outcome: { ...base, kind: 'expired', detail: { ...detail, lifetime_ms: p.maxQueueLifetimeMs } }, cls };
  }
  return { outcome: { ...base, kind: 'deferred', nextAttemptAt: next, detail: { ...detail, next_attempt_at: next } }, cls };
}
