/**
 * spool/pg-effects — where a fact recorded on PostgreSQL meets the rules: reads what the
 * spool knows of the recipient (its facts) and the webhooks that may hear of it, asks the
 * injected rules (events/effects.ts) what the fact means, and writes the answer — counters,
 * per-recipient-domain statistics, suppressions, outbox rows, the deferral throttle, spam
 * bounces, task counters — inside the transaction (`PgTx`, made by pg-tx.ts inTransaction)
 * that records the fact, so a crash never separates them. The PostgreSQL twin of
 * sqlite-notify.ts + sqlite-effects.ts.
 *
 * Task counters and a task's state live with the tasks port (PostgreSQL migration 4): the
 * composed store plugs them in (`taskOutcome`, `taskState`: pg-store.ts plugTasks); an
 * instance without them (a port's own test) refuses a fact about a task's recipient
 * (MTA_ERR_STORAGE_BACKEND) rather than commit it without them. The accounts ports write
 * their facts' effects through this class too (pg-facts.ts `PgEffectsPort`).
 *
 * Must never decide anything (which counter, which webhook, whether to report a deferral):
 * that is the rules'; an applier only writes what it is given.
 */
import { assertNever, MtaError } from '../util/errors.js';
import type { RecipientId } from '../util/ids.js';
import { latencyBucket } from '../stats/latency.js';
import { PG_FACTS_SELECT, toPgFacts, type PgFactsRow } from './pg-facts.js';
import { beforeCommit, type PgTx } from './pg-tx.js';
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
    const { rows: [r] } = await tx.query<PgFactsRow>(`${PG_FACTS_SELECT} WHERE r.id = $1`, [id]);
    return r ? toPgFacts(r) : undefined;
  }

  /** Recipients accepted (intake, a task's chunk). */
  async accepted(tx: PgTx, m: { sender: string; receivedAt: number; tag: string | null; recipients: readonly string[] }): Promise<void> {
    await this.apply(tx, this.rules.accepted(m));
  }

  /** The facts of several recipients in one query (a batch of outcomes), by recipient id. */
  async factsOf(tx: PgTx, ids: readonly RecipientId[]): Promise<Map<RecipientId, RecipientFacts>> {
    const { rows } = await tx.query<PgFactsRow>(`${PG_FACTS_SELECT} WHERE r.id = ANY($1::bigint[])`, [ids]);
    return new Map(rows.map((r) => { const f = toPgFacts(r); return [f.recipientId, f]; }));
  }

  /** One outcome that applied (the recipient row already carries it), with its recipient's facts as read after it. */
  async outcome(tx: PgTx, o: RecipientOutcome, f: RecipientFacts | undefined, dir: WebhookDirectory): Promise<void> {
    await this.apply(tx, this.rules.outcome(o, f, dir));
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
    if (!this.taskOutcome || !this.taskState) throw new MtaError('MTA_ERR_STORAGE_BACKEND', 'this store was not given the tasks port (PgEffects.taskOutcome): a task recipient\'s outcome cannot be counted');
    return { taskOutcome: this.taskOutcome, taskState: this.taskState };
  }

  /**
   * Counter and suppression rows are shared by every node's commits: they are written last in
   * the transaction (pg-tx.ts `beforeCommit`), summed per row and in one order (table, key,
   * column), so two nodes' transactions never lock them in opposite orders (no deadlock).
   */
  private readonly shared = new WeakMap<PgTx, Map<string, SharedWrite>>();

  private later(tx: PgTx, table: string, keys: readonly unknown[], column: string, w: SharedWrite): void {
    let writes = this.shared.get(tx);
    if (!writes) {
      const fresh = new Map<string, SharedWrite>();
      this.shared.set(tx, fresh);
      beforeCommit(tx, () => this.writeShared(tx, fresh));
      writes = fresh;
    }
    const k = `${table}\u0000${JSON.stringify(keys)}\u0000${column}`;
    const had = writes.get(k);
    if (had) had.n += w.n; // a second suppression of one address adds nothing: its n is not read
    else writes.set(k, w);
  }

  private async writeShared(tx: PgTx, writes: Map<string, SharedWrite>): Promise<void> {
    this.shared.delete(tx);
    for (const k of [...writes.keys()].sort()) {
      const w = writes.get(k)!;
      await tx.query(w.sql, w.args(w.n));
    }
  }

  /** `n` more on one row of a counter table (`keys` its primary key, in `sql`'s order; `n` the last parameter). */
  private bump(tx: PgTx, table: string, keyColumns: string, keys: readonly unknown[], column: string, n: number): void {
    if (n <= 0) return;
    const params = keys.map((_, i) => `$${i + 1}`).join(', ');
    this.later(tx, table, keys, column, {
      sql: `INSERT INTO ${table} (${keyColumns}, ${column}) VALUES (${params}, $${keys.length + 1})
            ON CONFLICT (${keyColumns}) DO UPDATE SET ${column} = ${table}.${column} + excluded.${column}`,
      args: (sum) => [...keys, sum], n,
    });
  }

  private async applyOne(tx: PgTx, e: Effect): Promise<void> {
    switch (e.kind) {
      case 'count': return this.bump(tx, 'stats_daily', 'day, domain, sender, tag', [e.key.day, e.key.domain, e.key.sender, e.key.tag], column(DAILY, e.counter), e.n);
      case 'count-rcpt-domain': return this.bump(tx, 'stats_rcpt_daily', 'day, rcpt_domain, domain', [e.key.day, e.rcptDomain, e.key.domain], column(RCPT_DAILY, e.counter), e.n);
      case 'failure-category': return this.bump(tx, 'stats_rcpt_failed', 'day, rcpt_domain, domain, category', [e.key.day, e.rcptDomain, e.key.domain, e.category], 'n', 1);
      case 'latency': return this.bump(tx, 'stats_rcpt_latency', 'day, rcpt_domain, domain, bucket', [e.key.day, e.rcptDomain, e.key.domain, latencyBucket(e.ms)], 'n', 1);
      case 'spam-bounce': return this.bump(tx, 'quota_daily', 'day, domain', [e.key.day, e.key.domain], 'spam_bounces', 1);
      case 'task-count': return this.needTasks().taskOutcome(tx, e.taskId, e.counter);
      case 'outbox': return this.hooks.insert(tx, e.webhookIds, e.event, e.payload, e.at);
      case 'suppress': {
        const s = e.entry;
        // The first entry for the address and scope is kept, as ON CONFLICT DO NOTHING keeps a stored one.
        this.later(tx, 'suppressions', [s.address, s.scope], '', {
          sql: 'INSERT INTO suppressions (address, scope, reason, source, created_at) VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING',
          args: () => [s.address, s.scope, s.reason, s.source, s.createdAt], n: 1,
        });
        return;
      }
      case 'deferral-reported':
        await tx.query('UPDATE recipients SET deferred_event_at = $1 WHERE id = $2', [e.at, e.recipientId]);
        return;
      default: return assertNever(e, 'effect');
    }
  }
}

/** A write to a row every node may write: its statement, its parameters given the summed `n`. */
interface SharedWrite { sql: string; args(n: number): unknown[]; n: number }
