/**
 * spool/sqlite-notify — where a recorded fact meets the rules: reads what the spool knows
 * of the recipient, asks the injected rules (events/effects.ts) what the fact means, and
 * applies the answer (sqlite-effects.ts), all inside the transaction that records the fact
 * (never afterwards, so a crash cannot separate them). Called by sqlite-queue.ts for every
 * outcome that applied and every operator delete, by sqlite-domains.ts and sqlite-quota.ts
 * for domain events, by intake and sqlite-tasks.ts for accepted mail, and by
 * sqlite-inbound.ts for unsubscribes and asynchronous bounces.
 *
 * Must never: decide what a fact means (counters, targets, throttles, payloads): that is
 * the rules', so another backend shares them.
 */
import type { Statement } from 'better-sqlite3';
import type { Db } from './db.js';
import type { DomainEvent } from './types-domains.js';
import type { RecipientOutcome } from './types-queue.js';
import type { RecipientRefusal } from './types-suppression.js';
import type { EffectRules, RecipientFacts, WebhookDirectory } from './types-effects.js';
import { asRecipientId, type RecipientId } from '../util/ids.js';
import type { SqliteWebhooks } from './sqlite-webhooks.js';
import type { SqliteStats } from './sqlite-stats.js';
import { SqliteEffects } from './sqlite-effects.js';

/** A recipient's facts, for a WHERE on recipients `r` joined to messages `m`. */
export const FACTS_SELECT = `SELECT r.id, r.rcpt, r.domain AS rcpt_domain, r.attempts, r.deferred_event_at, r.message_id AS queue_id, m.sender,
                                    m.auth_user, m.message_id AS msg_id, m.tag, m.received_at, m.task_id
                             FROM recipients r JOIN messages m ON m.id = r.message_id`;

export interface FactsRow {
  id: number; rcpt: string; rcpt_domain: string; attempts: number; deferred_event_at: number | null; queue_id: string;
  sender: string; auth_user: string | null; msg_id: string; tag: string | null; received_at: number; task_id: string | null;
}

export function toFacts(r: FactsRow): RecipientFacts {
  return {
    recipientId: asRecipientId(r.id), queueId: r.queue_id, rcpt: r.rcpt, rcptDomain: r.rcpt_domain, attempts: r.attempts,
    deferredEventAt: r.deferred_event_at, sender: r.sender, authUser: r.auth_user, messageId: r.msg_id, tag: r.tag,
    receivedAt: r.received_at, taskId: r.task_id,
  };
}

export class SqliteNotify {
  private readonly st: Record<string, Statement>;
  readonly effects: SqliteEffects;
  /** the webhooks the rules choose from */
  readonly directory: WebhookDirectory;

  constructor(db: Db, private readonly hooks: SqliteWebhooks, stats: SqliteStats, readonly rules: EffectRules) {
    this.effects = new SqliteEffects(db, hooks, stats);
    this.directory = (sender) => hooks.targets(sender);
    this.st = {
      facts: db.prepare(`${FACTS_SELECT} WHERE r.id = ?`),
      // Only an operator's delete asks (not every delivery outcome): was the task cancelled?
      taskState: db.prepare('SELECT state FROM tasks WHERE id = ?'),
      insRefusal: db.prepare(`INSERT INTO events (at, message_id, recipient_id, type, detail) VALUES (?, NULL, NULL, 'rejected', ?)`),
    };
  }

  private facts(id: RecipientId): RecipientFacts | undefined {
    const r = this.st['facts']!.get(id) as FactsRow | undefined;
    return r ? toFacts(r) : undefined;
  }

  /** Counts accepted recipients (intake's group commit, a task's chunk). */
  accepted(sender: string, receivedAt: number, tag: string | null, recipients: readonly string[]): void {
    this.effects.apply(this.rules.accepted({ sender, receivedAt, tag, recipients }));
  }

  /** One outcome that applied (the recipient row already carries it). */
  outcome(o: RecipientOutcome): void {
    this.effects.apply(this.rules.outcome(o, this.facts(o.recipientId), this.directory));
  }

  /** An operator deleted a waiting recipient: it ends as failed. */
  deleted(id: RecipientId, at: number, reply: string): void {
    const f = this.facts(id);
    if (!f) return;
    const task = f.taskId ? this.st['taskState']!.get(f.taskId) as { state: string } | undefined : undefined;
    this.effects.apply(this.rules.deleted({ ...f, taskCancelled: task?.state === 'cancelled' }, at, reply, this.directory));
  }

  /** A suppressed recipient refused at submission: its event row and what the rules add (no message, no counters). */
  refused(r: RecipientRefusal): void {
    const s = r.suppression;
    this.st['insRefusal']!.run(r.at, JSON.stringify({ rcpt: r.rcpt, sender: r.sender, reply: r.reply, via: r.via, suppression: { reason: s.reason, source: s.source, scope: s.scope } }));
    this.effects.apply(this.rules.refused(r, this.directory));
  }

  domainEvent(e: DomainEvent): void {
    this.effects.apply(this.rules.domainEvent(e, this.directory));
  }

  /** After the caller's commit: wakes the webhook dispatcher if anything was enqueued. */
  signal(): void { this.hooks.signal(); }
}
