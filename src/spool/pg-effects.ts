/**
 * spool/pg-effects — where a fact recorded on PostgreSQL meets the rules: reads what the
 * spool knows of the recipient (its facts) and the webhooks that may hear of it, asks the
 * injected rules (events/effects.ts) what the fact means, and writes the answer — counters,
 * per-recipient-domain statistics, suppressions, outbox rows, the deferral throttle, spam
 * bounces, task counters — inside the transaction (`PgTx`) that records the fact, so a
 * crash never separates them. The PostgreSQL twin of sqlite-notify.ts + sqlite-effects.ts.
 *
 * Task counters and a task's state live with the tasks port (PostgreSQL migration 4):
 * its class plugs them in (`taskOutcome`, `taskState`); until then a fact about a task's
 * recipient is refused (MTA_ERR_STORAGE_BACKEND) rather than committed without them.
 *
 * Must never decide anything (which counter, which webhook, whether to report a deferral):
 * that is the rules'; an applier only writes what it is given.
 */
import { assertNever, MtaError } from '../util/errors.js';
import type { RecipientId } from '../util/ids.js';
import { asRecipientId } from '../util/ids.js';
import { latencyBucket } from '../stats/latency.js';
import type { PgTx } from './pg-tx.js';
import type { PgWebhooks } from './pg-webhooks.js';
import type { DomainEvent } from './types-domains.js';
import type { Effect, EffectRules, RecipientFacts, StatsCounter, TaskCounter, WebhookDirectory, WebhookTarget } from './types-effects.js';
import type { RecipientOutcome } from './types-queue.js';
import type { RecipientRefusal } from './types-suppression.js';

/** Column names the counters are (never input: the rules' typed counters, checked against this list). */
const DAILY: ReadonlySet<StatsCounter> = new Set(['requests', 'delivered', 'failed', 'invalid', 'deferred', 'expired', 'cancelled', 'complaints', 'late_bounces', 'late_invalid']);
const RCPT_DAILY: ReadonlySet<StatsCounter> = new Set(['requests', 'delivered', 'failed', 'invalid', 'deferred', 'expired', 'cancelled']);

function column(set: ReadonlySet<StatsCounter>, c: StatsCounter): string {
  if (!set.has(c)) throw new Error(`no counter column ${c}`);
  return c;
}

/** A recipient's facts, for a WHERE on recipients `r` joined to messages `m`. */
export const PG_FACTS_SELECT = `SELECT r.id, r.rcpt, r.domain AS rcpt_domain, r.attempts, r.deferred_event_at, r.message_id AS queue_id, m.sender,
                                       m.auth_user, m.message_id AS msg_id, m.tag, m.received_at, m.task_id
                                FROM recipients r JOIN messages m ON m.id = r.message_id`;

interface FactsRow {
  id: string; rcpt: string; rcpt_domain: string; attempts: number; deferred_event_at: string | null; queue_id: string;
  sender: string; auth_user: string | null; msg_id: string; tag: string | null; received_at: string; task_id: string | null;
}

export class PgEffects {
  /** A task's outcome counter (the tasks port, migration 4). */
  taskOutcome: ((tx: PgTx, taskId: string, counter: TaskCounter) => Promise<void>) | undefined;
  /** A task's state, asked only for an operator's delete (the tasks port). */
  taskState: ((tx: PgTx, taskId: string) => Promise<string | undefined>) | undefined;

  constructor(readonly rules: EffectRules, private readonly hooks: PgWebhooks) {}

  /** The webhooks the rules choose from, read once per transaction (`directory(sender)` filters them). */
  async directory(tx: PgTx): Promise<WebhookDirectory> {
    const all: readonly WebhookTarget[] = await this.hooks.targets(tx);
    return (sender) => {
      const s = sender?.toLowerCase();
      return all.filter((h) => h.sender === null || h.sender === s);
    };
  }

  async facts(tx: PgTx, id: RecipientId): Promise<RecipientFacts | undefined> {
    const { rows: [r] } = await tx.query<FactsRow>(`${PG_FACTS_SELECT} WHERE r.id = $1`, [id]);
    return r ? {
      recipientId: asRecipientId(Number(r.id)), queueId: r.queue_id, rcpt: r.rcpt, rcptDomain: r.rcpt_domain, attempts: r.attempts,
      deferredEventAt: r.deferred_event_at === null ? null : Number(r.deferred_event_at), sender: r.sender, authUser: r.auth_user,
      messageId: r.msg_id, tag: r.tag, receivedAt: Number(r.received_at), taskId: r.task_id,
    } : undefined;
  }

  /** Recipients accepted (intake, a task's chunk). */
  async accepted(tx: PgTx, m: { sender: string; receivedAt: number; tag: string | null; recipients: readonly string[] }): Promise<void> {
    await this.apply(tx, this.rules.accepted(m));
  }

  /** One outcome that applied (the recipient row already carries it). */
  async outcome(tx: PgTx, o: RecipientOutcome, dir: WebhookDirectory): Promise<void> {
    await this.apply(tx, this.rules.outcome(o, await this.facts(tx, o.recipientId), dir));
  }

  /** An operator deleted a waiting recipient: it ends as failed (or cancelled, for a cancelled task's). */
  async deleted(tx: PgTx, id: RecipientId, at: number, reply: string, dir: WebhookDirectory): Promise<void> {
    const f = await this.facts(tx, id);
    if (!f) return;
    const state = f.taskId ? await this.needTasks().taskState(tx, f.taskId) : undefined;
    await this.apply(tx, this.rules.deleted({ ...f, taskCancelled: state === 'cancelled' }, at, reply, dir));
  }

  /** A suppressed recipient refused at submission: its event row and what the rules add. */
  async refused(tx: PgTx, r: RecipientRefusal): Promise<void> {
    const s = r.suppression;
    await tx.query(`INSERT INTO events (at, message_id, recipient_id, type, detail) VALUES ($1, NULL, NULL, 'rejected', $2)`,
      [r.at, JSON.stringify({ rcpt: r.rcpt, sender: r.sender, reply: r.reply, via: r.via, suppression: { reason: s.reason, source: s.source, scope: s.scope } })]);
    await this.apply(tx, this.rules.refused(r, await this.directory(tx)));
  }

  async domainEvent(tx: PgTx, e: DomainEvent): Promise<void> {
    await this.apply(tx, this.rules.domainEvent(e, await this.directory(tx)));
  }

  /** After the caller's commit: wakes the webhook dispatcher if anything was enqueued. */
  signal(): void { this.hooks.signal(); }

  /** Inside the caller's transaction; a throw rolls the fact back with its effects. */
  async apply(tx: PgTx, effects: readonly Effect[]): Promise<void> {
    for (const e of effects) await this.applyOne(tx, e);
  }

  private needTasks(): { taskOutcome: NonNullable<PgEffects['taskOutcome']>; taskState: NonNullable<PgEffects['taskState']> } {
    if (!this.taskOutcome || !this.taskState) throw new MtaError('MTA_ERR_STORAGE_BACKEND', 'batch tasks are not ported to PostgreSQL yet: a task recipient\'s outcome cannot be counted');
    return { taskOutcome: this.taskOutcome, taskState: this.taskState };
  }

  private async applyOne(tx: PgTx, e: Effect): Promise<void> {
    switch (e.kind) {
      case 'count': {
        if (e.n <= 0) return;
        const c = column(DAILY, e.counter);
        await tx.query(`INSERT INTO stats_daily (day, domain, sender, tag, ${c}) VALUES ($1, $2, $3, $4, $5)
                        ON CONFLICT (day, domain, sender, tag) DO UPDATE SET ${c} = stats_daily.${c} + excluded.${c}`, [e.key.day, e.key.domain, e.key.sender, e.key.tag, e.n]);
        return;
      }
      case 'count-rcpt-domain': {
        if (e.n <= 0) return;
        const c = column(RCPT_DAILY, e.counter);
        await tx.query(`INSERT INTO stats_rcpt_daily (day, domain, rcpt_domain, ${c}) VALUES ($1, $2, $3, $4)
                        ON CONFLICT (day, rcpt_domain, domain) DO UPDATE SET ${c} = stats_rcpt_daily.${c} + excluded.${c}`, [e.key.day, e.key.domain, e.rcptDomain, e.n]);
        return;
      }
      case 'failure-category':
        await tx.query(`INSERT INTO stats_rcpt_failed (day, domain, rcpt_domain, category, n) VALUES ($1, $2, $3, $4, 1)
                        ON CONFLICT (day, rcpt_domain, domain, category) DO UPDATE SET n = stats_rcpt_failed.n + 1`, [e.key.day, e.key.domain, e.rcptDomain, e.category]);
        return;
      case 'latency':
        await tx.query(`INSERT INTO stats_rcpt_latency (day, domain, rcpt_domain, bucket, n) VALUES ($1, $2, $3, $4, 1)
                        ON CONFLICT (day, rcpt_domain, domain, bucket) DO UPDATE SET n = stats_rcpt_latency.n + 1`, [e.key.day, e.key.domain, e.rcptDomain, latencyBucket(e.ms)]);
        return;
      case 'task-count': return this.needTasks().taskOutcome(tx, e.taskId, e.counter);
      case 'spam-bounce':
        await tx.query(`INSERT INTO quota_daily (day, domain, spam_bounces) VALUES ($1, $2, 1)
                        ON CONFLICT (day, domain) DO UPDATE SET spam_bounces = quota_daily.spam_bounces + 1`, [e.key.day, e.key.domain]);
        return;
      case 'outbox': return this.hooks.insert(tx, e.webhookIds, e.event, e.payload, e.at);
      case 'suppress':
        await tx.query(`INSERT INTO suppressions (address, scope, reason, source, created_at) VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING`,
          [e.entry.address, e.entry.scope, e.entry.reason, e.entry.source, e.entry.createdAt]);
        return;
      case 'deferral-reported':
        await tx.query('UPDATE recipients SET deferred_event_at = $1 WHERE id = $2', [e.at, e.recipientId]);
        return;
      default: return assertNever(e, 'effect');
    }
  }
}
