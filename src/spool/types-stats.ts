/**
 * spool/types-stats — what statistics and send details (src/stats) need from the spool:
 * daily counters, per-recipient-domain counters, send details, refusals and the purge.
 */
import type { RecipientId, QueueId } from '../util/ids.js';
import type { RecipientState } from './states.js';

export interface StatsCounters { requests: number; delivered: number; failed: number; invalid: number; deferred: number; expired: number; cancelled: number }
export type StatsGroup = 'day' | 'domain' | 'sender' | 'tag';

export interface StatsQuery {
  /** 'YYYY-MM-DD' (UTC), both inclusive */
  fromDay: string;
  toDay: string;
  domain?: string | undefined;
  sender?: string | undefined;
  /** '' selects mail without a tag */
  tag?: string | undefined;
  by: StatsGroup;
}

/**
 * Also counted on the day the message was received, apart from the outcomes: `complaints`,
 * feedback reports of type abuse; `late_bounces`, asynchronous bounces of delivered mail,
 * `late_invalid` those for an invalid address (the rules: events/effects.ts).
 */
export interface StatsRow extends StatsCounters { key: string; complaints: number; late_bounces: number; late_invalid: number }

/** Statistics per recipient domain (days inclusive; `domain`: only mail from this sender domain). */
export interface RcptStatsQuery { fromDay: string; toDay: string; domain?: string | undefined }

/** One day and recipient domain: counters, final failures per category, latency histogram (bucket → deliveries). */
export interface RcptStatsRow extends StatsCounters { day: string; rcpt_domain: string; categories: Record<string, number>; latency: Map<number, number> }

/** An address search: one address (any case), or a LIKE pattern (`%@example.org`, `%bob%`). */
export type AddressMatch = { exact: string } | { like: string };

export interface SendDetailFilter {
  /** received_at range, ms, inclusive */
  from: number;
  to: number;
  sender?: AddressMatch | undefined;
  rcpt?: AddressMatch | undefined;
  tag?: string | undefined;
  /** the Message-ID header, without angle brackets */
  messageId?: string | undefined;
  /** only the recipients of this batch task's messages */
  taskId?: string | undefined;
  states?: readonly RecipientState[] | undefined;
  limit: number;
  /** the `cursor` of the last detail of the previous page (newest first), passed back unchanged; one the backend did not make is MTA_ERR_INVALID */
  before?: string | undefined;
}

export interface SendDetail {
  recipientId: RecipientId;
  queueId: QueueId;
  receivedAt: number;
  sender: string;
  rcpt: string;
  tag: string | null;
  messageId: string;
  subject: string | null;
  state: RecipientState;
  attempts: number;
  lastReply: string | null;
  updatedAt: number;
  /** where this detail is in the listing: pass as `before` to continue past it (opaque, made by the backend) */
  cursor: string;
}

/** A recipient refused at submission (559, suppressed): no message exists, only its event. */
export interface Rejection {
  /** where this refusal is in the listing: pass as `before` to continue past it (opaque, made by the backend) */
  cursor: string;
  at: number;
  sender: string;
  rcpt: string;
  reply: string;
}

export interface RejectionFilter {
  from: number;
  to: number;
  sender?: AddressMatch | undefined;
  rcpt?: AddressMatch | undefined;
  limit: number;
  /** the `cursor` of the last refusal of the previous page (newest first), passed back unchanged */
  before?: string | undefined;
}

/** `statsRows`: rows of the daily counters; `rcptStatsRows`: of the per-recipient-domain counters, categories and histograms. */
export interface PurgeResult { messages: number; domainEvents: number; outbox: number; attempts: number; statsRows: number; rcptStatsRows: number }

export interface StatsStore {
  queryStats(q: StatsQuery): Promise<StatsRow[]>;
  queryRcptStats(q: RcptStatsQuery): Promise<RcptStatsRow[]>;
  listSendDetails(f: SendDetailFilter): Promise<SendDetail[]>;
  listRejections(f: RejectionFilter): Promise<Rejection[]>;
  /** Deletes finished messages received before `detailsBefore` (with their events), old logs and old counters. */
  purge(req: { detailsBefore: number; statsBeforeDay: string }): Promise<PurgeResult>;
}
