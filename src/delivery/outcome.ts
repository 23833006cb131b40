/**
 * delivery/outcome — what delivery reports for one recipient after one attempt: the reply,
 * its classification and the attempt's details (scheduler/contract.ts RecipientResult).
 * Must never decide timing (retry, expiry) or write the store: the scheduler turns results
 * into outcomes (scheduler/outcomes.ts).
 */
import type { QueueEntry } from '../spool/types-queue.js';
import type { RecipientResult } from '../scheduler/contract.js';
import { classifyReply, type ReplyClass } from './classify.js';

export interface AttemptContext {
  at: number;
  mx: string | null;
  ip: string | null;
  tls: boolean | null;
  durationMs: number;
  /** the egress source the attempt left from, when egress sources are configured */
  source?: { name: string; address: string } | undefined;
}

/** One recipient's result, given the reply that decides it (`cls`: its classification, when already known). */
export function recipientResult(entry: QueueEntry, reply: string, ctx: AttemptContext, attempted = true, cls: ReplyClass = classifyReply(reply)): RecipientResult {
  const detail: Record<string, unknown> = {
    attempt: entry.attempts + (attempted ? 1 : 0), mx: ctx.mx, ip: ctx.ip, tls: ctx.tls, duration_ms: ctx.durationMs,
    ...(ctx.source ? { source: ctx.source.name, source_ip: ctx.source.address } : {}),
    category: cls.category, status: cls.status, ...(cls.enhanced ? { enhanced: cls.enhanced } : {}),
  };
  return { entry, reply, cls, attempted, at: ctx.at, detail };
}
