/**
 * spool/types-effects — the contract between the rules (events/effects.ts) and a storage
 * backend: the facts a backend reads inside the transaction that records something, and
 * the effects the rules answer with, which the backend writes in that same transaction.
 *
 * A backend applies effects generically, one applier per kind, and decides nothing: which
 * counters an outcome bumps, which webhooks hear of it, when a deferral is reported again
 * and what a payload holds are the rules'. A new backend (PostgreSQL) writes appliers, not
 * rules. The rules reach a backend only by injection (spool/index.ts `openStore`).
 *
 * Must never: hold anything but plain data and the rules' signatures (no storage, no I/O).
 */
import type { RecipientId } from '../util/ids.js';
import type { WebhookEventName, WebhookPayload } from '../events/payload.js';
import type { DomainEvent } from './types-domains.js';
import type { OutboxNext } from './types-webhooks.js';
import type { RecipientOutcome } from './types-queue.js';
import type { RecipientRefusal, SuppressionRecord } from './types-suppression.js';
import type { AsyncBounce, UnsubscribeRequest } from './types-inbound.js';
import type { FeedbackRecord } from './types-feedback.js';
import type { TrackingHit } from './types-tracking.js';

export type { WebhookEventName, WebhookFormat, WebhookPayload } from '../events/payload.js';

/** The per-day counters of stats_daily and of the per-recipient-domain statistics. */
export type StatsCounter = 'requests' | 'delivered' | 'failed' | 'invalid' | 'deferred' | 'expired' | 'cancelled'
  /** feedback reports of abuse; asynchronous bounces after delivery (late_invalid: for an invalid address) */
  | 'complaints' | 'late_bounces' | 'late_invalid';

/** Where a message's counts go: the day of receipt (configured zone), the sender's domain, the sender, the tag. */
export interface StatsKey { day: string; domain: string; sender: string; tag: string }

/** A batch task's outcome counters, and its bounces after delivery (not outcomes). */
export type TaskCounter = 'delivered' | 'failed' | 'invalid' | 'bounced_after_delivery';

export type Effect =
  /** a per-sender daily counter (stats_daily) */
  | { kind: 'count'; key: StatsKey; counter: StatsCounter; n: number }
  /** the same counter per recipient domain */
  | { kind: 'count-rcpt-domain'; key: StatsKey; rcptDomain: string; counter: StatsCounter; n: number }
  /** a final non-delivery per recipient domain, under its category */
  | { kind: 'failure-category'; key: StatsKey; rcptDomain: string; category: string }
  /** a delivery's time from receipt, per recipient domain */
  | { kind: 'latency'; key: StatsKey; rcptDomain: string; ms: number }
  /** a final outcome of a batch task's recipient, on its task */
  | { kind: 'task-count'; taskId: string; counter: TaskCounter }
  /** a spam bounce of the sending domain (quotas and reputation) */
  | { kind: 'spam-bounce'; key: StatsKey }
  /** one webhook event, queued for each of these webhooks (the outbox) */
  | { kind: 'outbox'; webhookIds: readonly number[]; event: WebhookEventName; payload: WebhookPayload; at: number }
  /** an entry on the suppression list (kept if one is there already) */
  | { kind: 'suppress'; entry: SuppressionRecord }
  /** the deferral throttle: the recipient's latest reported deferral was at `at` */
  | { kind: 'deferral-reported'; recipientId: RecipientId; at: number };

export type EffectKind = Effect['kind'];

/** An enabled webhook that may hear of an event; `events` is its filter. */
export interface WebhookTarget { id: number; sender: string | null; events: '*' | readonly string[] }

/**
 * The enabled webhooks for an event of `sender` (null: an event of no sender, a domain
 * event): at least that sender's own and the account-level ones; the rules choose.
 */
export type WebhookDirectory = (sender: string | null) => readonly WebhookTarget[];

/** What the backend knows of one recipient and its message when something happens to it. */
export interface RecipientFacts {
  recipientId: RecipientId;
  queueId: string;
  rcpt: string;
  /** lower case, as the queue keeps it */
  rcptDomain: string;
  attempts: number;
  /** when its latest deferral was reported; null before the first */
  deferredEventAt: number | null;
  /** the envelope sender; '' for our own DSNs */
  sender: string;
  authUser: string | null;
  /** the Message-ID header */
  messageId: string;
  tag: string | null;
  receivedAt: number;
  taskId: string | null;
  /** only for an operator's delete: whether the recipient's task was cancelled */
  taskCancelled?: boolean;
}

/** The rules, injected into a backend by openStore. */
export interface EffectRules {
  /** Recipients accepted (intake, a task's chunk). */
  accepted(m: { sender: string; receivedAt: number; tag: string | null; recipients: readonly string[] }): Effect[];
  /** An outcome that applied; `f` undefined when the recipient is gone. */
  outcome(o: RecipientOutcome, f: RecipientFacts | undefined, hooks: WebhookDirectory): Effect[];
  /** An operator deleted a waiting recipient. */
  deleted(f: RecipientFacts, at: number, reply: string, hooks: WebhookDirectory): Effect[];
  /** A suppressed recipient refused at submission. */
  refused(r: RecipientRefusal, hooks: WebhookDirectory): Effect[];
  /** A domain event (DNS self-check, quota). */
  domainEvent(e: DomainEvent, hooks: WebhookDirectory): Effect[];
  /** The suppression entry an unsubscribe is; the backend records it, and nothing else when it was there already. */
  unsubscribeEntry(u: UnsubscribeRequest): SuppressionRecord;
  /** A new unsubscribe; `f` undefined when the message has been purged. */
  unsubscribed(u: UnsubscribeRequest, f: RecipientFacts | undefined, hooks: WebhookDirectory): Effect[];
  /** An asynchronous bounce recorded for the recipient. */
  asyncBounce(b: AsyncBounce, f: RecipientFacts, hooks: WebhookDirectory): Effect[];
  /**
   * A feedback report on the recipient (complaint when Feedback-Type is abuse); `alreadySuppressed`: the address was on
   * the list for the sender's domain before (the backend reads it in the transaction).
   */
  complaint(c: FeedbackRecord, f: RecipientFacts, alreadySuppressed: boolean, hooks: WebhookDirectory): Effect[];
  /** A tracking hit was stored (`first`: the recipient's first of its kind); `f` undefined when the message is purged. */
  trackingHit(h: TrackingHit, f: RecipientFacts | undefined, first: boolean, hooks: WebhookDirectory): Effect[];
  /** After a webhook POST: until when the webhook's other waiting events are held back, if at all. */
  holdBackUntil(next: OutboxNext): number | undefined;
}
