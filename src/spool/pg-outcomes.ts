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
import type { PgWakeups } from './pg-wakeups.js';
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
  /** tells the other nodes of an operator's queue operation after its COMMIT (spool/pg-wakeups.ts) */
  wakeups: PgWakeups | undefined;

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
      // In submission order; consecutive jobs' outcomes are applied together (three statements for the run).
      for (let i = 0; i < batch.length;) {
        const w = batch[i]!;
        if (w.kind === 'requeue') { out.push(await this.claims.requeueIn(tx, w.ids, w.nextAttemptAt, w.at, w.reason)); i++; continue; }
        const run: (readonly RecipientOutcome[])[] = [];
        for (; i < batch.length; i++) {
          const r = batch[i]!;
          if (r.kind !== 'outcomes') break;
          run.push(r.outcomes);
        }
        out.push(...await this.applyOutcomes(tx, run));
      }
      return out;
    });
    batch.forEach((w, i) => { w.applied = counts[i]!; });
    // Committed: these claims ended, applied or not (a lost claim is not ours any more either).
    for (const w of batch) this.claims.forget(w.kind === 'outcomes' ? w.outcomes.map((o) => o.recipientId) : w.ids);
  }

  /**
   * Several jobs' outcomes in four statements whatever their number (the row updates, their
   * events, the webhook directory, their facts), since each statement costs a round trip; then
   * what each means, in order. Returns how many applied, per job.
   */
  private async applyOutcomes(tx: PgTx, jobs: readonly (readonly RecipientOutcome[])[]): Promise<number[]> {
    const counts = jobs.map(() => 0);
    // One outcome per recipient: a second one for it would find it no longer 'sending', as before.
    const seen = new Set<RecipientId>();
    const todo: { o: RecipientOutcome; state: string; job: number }[] = [];
    jobs.forEach((outcomes, job) => {
      for (const o of outcomes) {
        const state = transition('sending', o.kind);
        if (state && !seen.has(o.recipientId)) { seen.add(o.recipientId); todo.push({ o, state, job }); }
      }
    });
    if (todo.length === 0) return counts;
    const col = <T>(f: (x: { o: RecipientOutcome; state: string }) => T): T[] => todo.map(f);
    const { rows } = await tx.query<{ id: string }>(
      `UPDATE recipients r SET state = u.state, attempts = r.attempts + u.attempted, next_attempt_at = u.next_at, last_reply = u.reply,
              last_attempt_at = CASE WHEN u.attempted = 1 THEN u.at ELSE r.last_attempt_at END, claimed_by = NULL, claim_token = NULL, lease_until = NULL,
              updated_at = u.at
       FROM unnest($1::bigint[], $2::text[], $3::int[], $4::bigint[], $5::text[], $6::bigint[], $7::bigint[]) AS u(id, state, attempted, next_at, reply, at, token)
       WHERE r.id = u.id AND r.state = 'sending' AND r.claimed_by = $8 AND r.claim_token = u.token
       RETURNING r.id`,
      [col((x) => x.o.recipientId), col((x) => x.state), col((x) => (x.o.attempted ? 1 : 0)), col((x) => x.o.nextAttemptAt ?? x.o.at),
        col((x) => x.o.reply), col((x) => x.o.at), col((x) => this.claims.tokenOf(x.o.recipientId)), this.claims.nodeId]);
    const updated = new Set(rows.map((r) => Number(r.id)));
    const applied = todo.filter((x) => updated.has(x.o.recipientId)).map((x) => { counts[x.job]!++; return x.o; });
    if (applied.length === 0) return counts;
    const ocol = <T>(f: (o: RecipientOutcome) => T): T[] => applied.map(f);
    await tx.query(
      `INSERT INTO events (at, message_id, recipient_id, type, detail)
       SELECT at, message_id, recipient_id, type, detail::jsonb
       FROM unnest($1::bigint[], $2::text[], $3::bigint[], $4::text[], $5::text[]) WITH ORDINALITY AS u(at, message_id, recipient_id, type, detail, n) ORDER BY n`,
      [ocol((o) => o.at), ocol((o) => o.queueId), ocol((o) => o.recipientId), ocol((o) => o.kind), ocol((o) => JSON.stringify({ reply: o.reply, ...o.detail }))]);
    const dir = await this.effects.directory(tx);
    const facts = await this.effects.factsOf(tx, applied.map((o) => o.recipientId));
    for (const o of applied) await this.effects.outcome(tx, o, facts.get(o.recipientId), dir);
    return counts;
  }

  /**
   * The operation on the recipients in its states, announced to the other nodes in the same
   * transaction (so they hear of it after the COMMIT, never of a rolled-back one): recipients
   * another node claimed are 'sending' and waiting in its memory, out of this operation's reach,
   * until that node hands them back and applies the operation itself (scheduler/scheduler.ts).
   * It is announced even when it changed nothing here, which is exactly that case.
   */
  async applyQueueOp(op: QueueOp, target: QueueTarget, now: number, opts: { announce?: boolean } = {}): Promise<number> {
    const announce = async (tx: PgTx): Promise<void> => {
      if (opts.announce !== false) await this.wakeups?.notifyChange(tx, { aggregate: 'queue', op, target });
    };
    const args: unknown[] = [now];
    const where = targetSql(target, args);
    if (op === 'flush') {
      args.push([...QUEUE_OP_STATES.flush]);
      return inTransaction(this.pool, async (tx) => {
        const r = await tx.query(`UPDATE recipients SET next_attempt_at = $1, updated_at = $1
                                  WHERE state = ANY($${args.length}::text[]) AND next_attempt_at > $1 AND ${where}`, args);
        await announce(tx);
        return r.rowCount ?? 0;
      });
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
      await announce(tx);
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
