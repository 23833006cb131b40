/**
 * spool/pg-facts — what the PostgreSQL account ports share: the recipient facts the rules
 * read (types-effects.ts `RecipientFacts`) and the seam to the effects port. A fact these
 * ports record (a domain check's events, a task chunk's accepted mail, an unsubscribe, a
 * bounce, a complaint, a tracking hit) has effects the rules decide (counters,
 * suppressions, webhook outbox rows) that must be written in the same transaction
 * (spool/pg-tx.ts `inTransaction`, so shared counter rows are written last and in one
 * order, by `beforeCommit`); the tables and appliers of those effects belong to the core
 * ports, so a port here is given them as a `PgEffectsPort` — in the composed store,
 * spool/pg-effects.ts `PgEffects` itself. Without one, such a method refuses
 * (MTA_ERR_STORAGE_BACKEND) before writing anything: a fact is never stored without what
 * it means. It must never decide what a fact means.
 */
import { MtaError } from '../util/errors.js';
import { asRecipientId } from '../util/ids.js';
import type { PgTx } from './pg-tx.js';
import type { Effect, EffectRules, RecipientFacts, WebhookDirectory } from './types-effects.js';

/**
 * The effects port as these ports need it (PgEffects answers it): the injected rules, the
 * webhook directory as the transaction `tx` sees it, and the writing of the rules' effects in
 * `tx` (before the caller commits). `signal` runs after the commit: it wakes the webhook dispatcher.
 */
export interface PgEffectsPort {
  readonly rules: EffectRules;
  directory(tx: PgTx): Promise<WebhookDirectory>;
  apply(tx: PgTx, effects: readonly Effect[]): Promise<void>;
  signal(): void;
}

/** The port, or the refusal of a method that records a fact with effects. */
export function effectsOf(port: PgEffectsPort | undefined, what: string): PgEffectsPort {
  if (!port) throw new MtaError('MTA_ERR_STORAGE_BACKEND', `${what} needs the PostgreSQL effects port (counters, suppressions, webhooks), which this store was not given`);
  return port;
}

/** A recipient's facts, for a WHERE on recipients `r` joined to messages `m`. */
export const PG_FACTS_SELECT = `SELECT r.id, r.rcpt, r.domain AS rcpt_domain, r.attempts, r.deferred_event_at,
                                       r.message_id AS queue_id, m.sender, m.auth_user, m.message_id AS msg_id, m.tag, m.received_at, m.task_id
                                FROM recipients r JOIN messages m ON m.id = r.message_id`;

export interface PgFactsRow {
  id: string; rcpt: string; rcpt_domain: string; attempts: number; deferred_event_at: string | null; queue_id: string;
  sender: string; auth_user: string | null; msg_id: string; tag: string | null; received_at: string; task_id: string | null;
}

/** BIGINT columns arrive as strings. */
export function toPgFacts(r: PgFactsRow): RecipientFacts {
  return {
    recipientId: asRecipientId(Number(r.id)), queueId: r.queue_id, rcpt: r.rcpt, rcptDomain: r.rcpt_domain, attempts: r.attempts,
    deferredEventAt: r.deferred_event_at === null ? null : Number(r.deferred_event_at), sender: r.sender, authUser: r.auth_user,
    messageId: r.msg_id, tag: r.tag, receivedAt: Number(r.received_at), taskId: r.task_id,
  };
}

/** The number a BIGINT or count column holds (the driver gives strings for them). */
export function num(v: unknown): number { return Number(v); }

/** A nullable BIGINT column as a number or null. */
export function numOrNull(v: unknown): number | null { return v === null || v === undefined ? null : Number(v); }

/** True when `e` is PostgreSQL's unique violation (23505), optionally of this constraint. */
export function isUniqueViolation(e: unknown, constraint?: string): boolean {
  const err = e as { code?: string; constraint?: string };
  return err.code === '23505' && (constraint === undefined || err.constraint === constraint);
}
