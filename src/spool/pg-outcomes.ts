/**
 * spool/pg-outcomes — attempt outcomes, hand-backs and operator queue operations on
 * PostgreSQL. Outcomes and hand-backs of jobs that finish close together share one
 * transaction and one COMMIT (spool/group-commit.ts); each caller's promise settles after
 * it with its own count, a failed batch writes nothing and rejects every caller in it, and
 * the queue is FIFO, so a hand-back never overtakes an outcome submitted before it.
 *
 * An outcome applies only to a recipient still 'sending' under this node's latest claim
 * (node and token, spool/pg-claims.ts), so a claim lost to another node never overwrites
 * that node's outcome; it commits with its event and with what the rules say it means
 * (spool/pg-effects.ts). Every state change follows states.ts (`transition`, `TRANSITIONS`).
 */
import { asRecipientId, type RecipientId } from '../util/ids.js';
import { assertNever } from '../util/errors.js';
import { GroupCommit, type GroupCommitOptions } from './group-commit.js';
import type { PgClaims } from './pg-claims.js';
import type { PgEffects } from './pg-effects.js';
import { selectorSql } from './pg-messages.js';
import type { PgPool } from './pg-pool.js';
import { inTransaction, type PgTx } from './pg-tx.js';
import { QUEUE_OP_STATES, TRANSITIONS, transition } from './states.js';
import type { QueueOp, QueueShapeRow, QueueTarget, RecipientOutcome } from './types-queue.js';

type QueueWrite =
  | { kind: 'outcomes'; outcomes: readonly RecipientOutcome[]; applied: number }
  | { kind: 'requeue'; ids: readonly RecipientId[]; nextAttemptAt: number; at: number; reason: string | undefined; applied: number };

/** The recipients a target names, as a condition on `recipients` (`args` grows with its values). */
function targetSql(t: QueueTarget, args: unknown[]): string {
  if ('queueId' in t) { args.push(t.queueId); return `message_id = $${args.length}`; }
  if ('all' in t) return 'TRUE';
  const sel = 'domain' in t ? { domain: t.domain } : 'taskId' in t ? { taskId: t.taskId } : t.select;
  return `id IN (SELECT r.id FROM recipients r JOIN messages m ON m.id = r.message_id WHERE ${selectorSql(sel, args)})`;
}

const OP_EVENT = { hold: 'held', release: 'released', delete: 'deleted' } as const;

export class PgOutcomes {
  private readonly writes: GroupCommit<QueueWrite>;

  constructor(private readonly pool: PgPool, private readonly claims: PgClaims, private readonly effects: PgEffects, commit: Omit<GroupCommitOptions, 'name'>) {
    this.writes = new GroupCommit<QueueWrite>((batch) => this.writeBatch(batch), { ...commit, name: 'outcomes' }, () => this.effects.signal());
  }

  recordOutcomes(outcomes: readonly RecipientOutcome[]): Promise<number> {
    return this.submit({ kind: 'outcomes', outcomes, applied: 0 });
  }

  requeue(ids: readonly RecipientId[], nextAttemptAt: number, reason?: string): Promise<number> {
    return this.submit({ kind: 'requeue', ids, nextAttemptAt, at: Date.now(), reason, applied: 0 });
  }

  /** Into the next batch; its own count once that batch committed. */
  private async submit(w: QueueWrite): Promise<number> {
    await this.writes.submit(w);
    return w.applied;
  }

  /** Writes what is pending, and waits for it (shutdown). */
  drain(): Promise<void> { return this.writes.drain(); }

  private async writeBatch(batch: readonly QueueWrite[]): Promise<void> {
    const counts = await inTransaction(this.pool, async (tx) => {
      const out: number[] = [];
      for (const w of batch) out.push(await this.apply(tx, w));
      return out;
    });
    batch.forEach((w, i) => { w.applied = counts[i]!; });
    // Committed: these claims ended, applied or not (a lost claim is not ours any more either).
    for (const w of batch) this.claims.forget(w.kind === 'outcomes' ? w.outcomes.map((o) => o.recipientId) : w.ids);
  }

  private apply(tx: PgTx, w: QueueWrite): Promise<number> {
    switch (w.kind) {
      case 'outcomes': return this.applyOutcomes(tx, w.outcomes);
      case 'requeue': return this.claims.requeueIn(tx, w.ids, w.nextAttemptAt, w.at, w.reason);
      default: return assertNever(w, 'queue write');
    }
  }

  private async applyOutcomes(tx: PgTx, outcomes: readonly RecipientOutcome[]): Promise<number> {
    let applied = 0;
    let dir: Awaited<ReturnType<PgEffects['directory']>> | undefined;
    for (const o of outcomes) {
      const state = transition('sending', o.kind);
      if (!state) continue;
      const r = await tx.query(
        `UPDATE recipients SET state = $2, attempts = attempts + $3, next_attempt_at = $4, last_reply = $5,
                last_attempt_at = CASE WHEN $3 = 1 THEN $6 ELSE last_attempt_at END, claimed_by = NULL, claim_token = NULL, lease_until = NULL,
                updated_at = $6
         WHERE id = $1 AND state = 'sending' AND claimed_by = $7 AND claim_token = $8`,
        [o.recipientId, state, o.attempted ? 1 : 0, o.nextAttemptAt ?? o.at, o.reply, o.at, this.claims.nodeId, this.claims.tokenOf(o.recipientId)]);
      if (r.rowCount !== 1) continue;
      applied++;
      await tx.query('INSERT INTO events (at, message_id, recipient_id, type, detail) VALUES ($1, $2, $3, $4, $5)',
        [o.at, o.queueId, o.recipientId, o.kind, JSON.stringify({ reply: o.reply, ...o.detail })]);
      dir ??= await this.effects.directory(tx);
      await this.effects.outcome(tx, o, dir);
    }
    return applied;
  }

  async applyQueueOp(op: QueueOp, target: QueueTarget, now: number): Promise<number> {
    const args: unknown[] = [now];
    const where = targetSql(target, args);
    if (op === 'flush') {
      args.push([...QUEUE_OP_STATES.flush]);
      const r = await this.pool.query(`UPDATE recipients SET next_attempt_at = $1, updated_at = $1
                                       WHERE state = ANY($${args.length}::text[]) AND next_attempt_at > $1 AND ${where}`, args);
      return r.rowCount ?? 0;
    }
    const spec = TRANSITIONS[op];
    const event = OP_EVENT[op];
    if (!spec || !event) return assertNever(op as never, 'queue op');
    const reply = 'deleted by the operator';
    args.push([...spec.from], spec.to, event, JSON.stringify(op === 'delete' ? { reply } : {}), op === 'delete' ? reply : null);
    const n = args.length;
    const changed = await inTransaction(this.pool, async (tx) => {
      const { rows } = await tx.query<{ id: string }>(
        `WITH up AS (UPDATE recipients SET state = $${n - 3}, next_attempt_at = $1, updated_at = $1, last_reply = coalesce($${n}::text, last_reply)
                     WHERE state = ANY($${n - 4}::text[]) AND ${where} RETURNING id, message_id),
              ev AS (INSERT INTO events (at, message_id, recipient_id, type, detail) SELECT $1, message_id, id, $${n - 2}, $${n - 1}::jsonb FROM up)
         SELECT id FROM up ORDER BY id`, args);
      // Deletes are final: each recipient gets its counters and its webhook event.
      if (op === 'delete' && rows.length) {
        const dir = await this.effects.directory(tx);
        for (const r of rows) await this.effects.deleted(tx, asRecipientId(Number(r.id)), now, reply, dir);
      }
      return rows.length;
    });
    this.effects.signal();
    return changed;
  }

  /** Waiting recipients per domain, by state and by age bucket (bucket i: younger than ageBucketsMs[i]; the last: older), most first. */
  async queueShape(now: number, ageBucketsMs: readonly number[]): Promise<QueueShapeRow[]> {
    const { rows } = await this.pool.query<{ domain: string; total: number; queued: number; sending: number; deferred: number; held: number; by_age: number[] }>(
      // a recipient's bucket is how many bounds its age has reached (bounds ascend)
      `WITH x AS (SELECT r.domain, r.state, (SELECT count(*)::int FROM unnest($2::bigint[]) AS b(lim) WHERE $1 - m.received_at >= lim) AS bucket
                  FROM recipients r JOIN messages m ON m.id = r.message_id WHERE r.state IN ('queued','sending','deferred','held')),
            g AS (SELECT domain, bucket, count(*)::int AS n FROM x GROUP BY domain, bucket),
            s AS (SELECT domain, count(*)::int AS total, count(*) FILTER (WHERE state = 'queued')::int AS queued,
                         count(*) FILTER (WHERE state = 'sending')::int AS sending, count(*) FILTER (WHERE state = 'deferred')::int AS deferred,
                         count(*) FILTER (WHERE state = 'held')::int AS held
                  FROM x GROUP BY domain)
       SELECT s.*, (SELECT array_agg(coalesce(g.n, 0) ORDER BY i) FROM generate_series(0, cardinality($2::bigint[])) AS i
                    LEFT JOIN g ON g.domain = s.domain AND g.bucket = i) AS by_age
       FROM s ORDER BY total DESC, domain COLLATE "C"`,
      [now, ageBucketsMs.map((b) => Math.floor(b))]);
    return rows.map((r) => ({ domain: r.domain, total: r.total, byState: { queued: r.queued, sending: r.sending, deferred: r.deferred, held: r.held }, byAge: r.by_age }));
  }
}
