/**
 * spool/pg-claims — leased claims on PostgreSQL (contract: types-leases.ts): any node
 * claims any due recipient. A claim locks the due rows with `FOR UPDATE SKIP LOCKED`, so
 * nodes claiming at once take disjoint rows without waiting for each other, and marks them
 * 'sending' with the lease (node, token, expiry) in the same transaction. Other nodes'
 * claims whose lease ran out go back to the queue first, each with a `requeued` event.
 * Renewal extends this node's leases; start-up recovery takes back this node's own claims
 * and expired ones, never another node's live claim. It must never hand one row to two
 * claimers, and holds no rules (outcomes and their effects are another port).
 */
import { asRecipientId, type QueueId, type RecipientId } from '../util/ids.js';
import { ClaimTokens } from './claims.js';
import { mappingErrors } from './errors.js';
import type { PgPool } from './pg-pool.js';
import { inTransaction, type PgTx } from './pg-tx.js';
import type { RecipientState } from './states.js';
import type { Lane, QueueEntry } from './types-queue.js';
import { CLAIM_LEASE_MS } from './types-leases.js';

export interface RecipientRow {
  id: string; message_id: string; rcpt: string; domain: string; state: RecipientState; attempts: number; next_attempt_at: string;
  last_reply: string | null; lane: Lane; sender: string; received_at: string; size: string; task_id: string | null; return_path: string | null;
}

/** A recipients row joined with its message (ids and times arrive as strings: BIGINT) as a queue entry. */
export function toEntry(r: RecipientRow): QueueEntry {
  return {
    recipientId: asRecipientId(Number(r.id)), queueId: r.message_id as QueueId, sender: r.sender, rcpt: r.rcpt, domain: r.domain,
    state: r.state, attempts: r.attempts, nextAttemptAt: Number(r.next_attempt_at), lastReply: r.last_reply,
    receivedAt: Number(r.received_at), size: Number(r.size), lane: r.lane,
    ...(r.task_id ? { taskId: r.task_id } : {}), ...(r.return_path ? { returnPath: r.return_path } : {}), cursor: r.id,
  };
}

const DUE = `SELECT id FROM recipients WHERE state IN ('queued','deferred') AND lane = $1 AND next_attempt_at <= $2
             ORDER BY next_attempt_at LIMIT $3 FOR UPDATE SKIP LOCKED`;

export class PgClaims {
  private readonly claims: ClaimTokens;

  constructor(private readonly pool: PgPool, nodeId: string, private readonly leaseMs: number = CLAIM_LEASE_MS) {
    this.claims = new ClaimTokens(nodeId);
  }

  /** Claims on `pool` (migrated) as node `nodeId`, its errors catalogue errors. */
  static open(pool: PgPool, nodeId: string, leaseMs = CLAIM_LEASE_MS): PgClaims {
    return mappingErrors(new PgClaims(pool, nodeId, leaseMs));
  }

  get nodeId(): string { return this.claims.nodeId; }

  /** The token this node holds `id` under (-1: none): the guard of the outcome that ends the claim. */
  tokenOf(id: number): number { return this.claims.tokenOf(id); }

  async claimDue(req: { now: number; limit: number; triggerOnly?: boolean }): Promise<QueueEntry[]> {
    const node = this.nodeId;
    const token = this.claims.issue();
    const entries = await inTransaction(this.pool, async (client) => {
      // Expired claims of other nodes first; a row another claimer has locked is its business (SKIP LOCKED).
      await client.query(
        `WITH old AS (SELECT id, message_id, claimed_by FROM recipients
                      WHERE state = 'sending' AND lease_until <= $1 AND claimed_by IS DISTINCT FROM $2 FOR UPDATE SKIP LOCKED),
              up AS (UPDATE recipients r SET state = 'queued', claimed_by = NULL, claim_token = NULL, lease_until = NULL, updated_at = $1
                     FROM old WHERE r.id = old.id)
         INSERT INTO events (at, message_id, recipient_id, type, detail)
         SELECT $1, message_id, id, 'requeued', jsonb_build_object('reason', 'the claim of node ' || coalesce(claimed_by, '(none)') || ' ran out') FROM old`,
        [req.now, node],
      );
      const ids = (await client.query<{ id: string }>(DUE, ['trigger', req.now, req.limit])).rows.map((r) => r.id);
      if (ids.length < req.limit && !req.triggerOnly) ids.push(...(await client.query<{ id: string }>(DUE, ['batch', req.now, req.limit - ids.length])).rows.map((r) => r.id));
      const { rows } = await client.query<RecipientRow>(
        `WITH up AS (UPDATE recipients SET state = 'sending', claimed_by = $2, claim_token = $3, lease_until = $4, updated_at = $5
                     WHERE id = ANY($1::bigint[]) AND state IN ('queued','deferred') RETURNING *)
         SELECT up.*, m.sender, m.received_at, m.size, m.task_id, m.return_path FROM up JOIN messages m ON m.id = up.message_id
         ORDER BY array_position($1::bigint[], up.id)`,
        [ids, node, token, req.now + this.leaseMs, req.now],
      );
      return rows.map(toEntry);
    });
    // Held from the commit on: the rows are this node's now.
    for (const e of entries) this.claims.hold(e.recipientId, token);
    return entries;
  }

  /** A token for claims made in another port's transaction (intake's fresh mail): `hold` them after its commit. */
  issueToken(): number { return this.claims.issue(); }
  hold(entries: readonly QueueEntry[], token: number): void { for (const e of entries) this.claims.hold(e.recipientId, token); }

  /**
   * In intake's transaction (the fresh-mail handoff, spool/fresh.ts): claims the first
   * `granted` recipients of each lane of the messages just inserted, as claimDue would.
   */
  async claimFreshIn(tx: PgTx, messageIds: readonly string[], granted: { trigger: number; batch: number }, token: number, now: number): Promise<QueueEntry[]> {
    const { rows } = await tx.query<RecipientRow>(
      `WITH pick AS (SELECT id, lane, row_number() OVER (PARTITION BY lane ORDER BY id) AS n FROM recipients
                     WHERE message_id = ANY($1::text[]) AND state = 'queued'),
            up AS (UPDATE recipients r SET state = 'sending', claimed_by = $4, claim_token = $5, lease_until = $6, updated_at = $7
                   FROM pick WHERE r.id = pick.id AND r.state IN ('queued','deferred')
                     AND pick.n <= CASE pick.lane WHEN 'trigger' THEN $2::int ELSE $3::int END RETURNING r.*)
       SELECT up.*, m.sender, m.received_at, m.size, m.task_id, m.return_path FROM up JOIN messages m ON m.id = up.message_id ORDER BY up.id`,
      [messageIds, granted.trigger, granted.batch, this.nodeId, token, now + this.leaseMs, now],
    );
    return rows.map(toEntry);
  }

  /**
   * Hands claimed recipients back ('sending' → 'queued', no attempt counted), only those this
   * node still holds under its latest claim: a recipient whose lease ran out and that another
   * node claimed since keeps that node's claim. With `reason`, each gets a `requeued` event.
   * This is the hand-back on its own; the store's goes through the outcomes' group commit
   * (spool/pg-outcomes.ts), so one cannot overtake an outcome submitted before it.
   */
  async requeue(ids: readonly RecipientId[], nextAttemptAt: number, reason?: string): Promise<number> {
    const n = await this.requeueIn(this.pool, ids, nextAttemptAt, Date.now(), reason);
    // After the commit: the claims it ended are no longer held.
    this.claims.forget(ids);
    return n;
  }

  /** The hand-back's statement, in the caller's transaction (the outcomes' group commit, spool/pg-outcomes.ts). */
  async requeueIn(tx: PgTx, ids: readonly RecipientId[], nextAttemptAt: number, now: number, reason: string | undefined): Promise<number> {
    const tokens = ids.map((id) => this.claims.tokenOf(id));
    const { rows } = await tx.query<{ id: string }>(
      `WITH up AS (UPDATE recipients r SET state = 'queued', next_attempt_at = $3, updated_at = $4, claimed_by = NULL, claim_token = NULL, lease_until = NULL
                   FROM unnest($1::bigint[], $2::bigint[]) AS g(id, token)
                   WHERE r.id = g.id AND r.state = 'sending' AND r.claimed_by = $5 AND r.claim_token = g.token RETURNING r.id, r.message_id),
            ev AS (INSERT INTO events (at, message_id, recipient_id, type, detail)
                   SELECT $4, message_id, id, 'requeued', jsonb_build_object('reason', $6::text) FROM up WHERE $6::text IS NOT NULL)
       SELECT id FROM up`,
      [ids, tokens, nextAttemptAt, now, this.nodeId, reason ?? null],
    );
    return rows.length;
  }

  /** Claims that ended (after the commit that ended them, never inside it: a rollback leaves them held). */
  forget(ids: Iterable<number>): void { this.claims.forget(ids); }

  /**
   * When the next queued or deferred recipient falls due (either lane), or another node's claim
   * runs out, whichever is first; undefined when neither. A dead node's claims are this node's
   * work once their lease runs out (claimDue takes them back): without them here a quiet
   * cluster left them until its idle look, up to a minute after the lease.
   */
  async nextDueAt(): Promise<number | undefined> {
    const { rows } = await this.pool.query<{ t: string | null }>(
      `SELECT least((SELECT min(next_attempt_at) FROM recipients WHERE state IN ('queued','deferred')),
                    (SELECT min(lease_until) FROM recipients WHERE state = 'sending' AND claimed_by IS DISTINCT FROM $1)) AS t`, [this.nodeId]);
    return rows[0]?.t == null ? undefined : Number(rows[0].t);
  }

  /**
   * Extends the lease of every recipient this node holds. A row an outcome of this node has
   * locked is skipped (that outcome ends the claim, or the next renewal takes it): waiting for
   * it while holding other rows the outcome needs next could deadlock.
   */
  async renewClaims(now: number): Promise<number> {
    const r = await this.pool.query(
      `UPDATE recipients SET lease_until = $1
       WHERE id IN (SELECT id FROM recipients WHERE state = 'sending' AND claimed_by = $2 FOR UPDATE SKIP LOCKED)`,
      [now + this.leaseMs, this.nodeId]);
    return r.rowCount ?? 0;
  }

  /** Start-up: this node's own claims (it stopped uncleanly) and expired ones back to the queue, each with a `requeued` event. */
  async recoverSending(now: number, reason: string): Promise<number> {
    const r = await this.pool.query(
      `WITH up AS (UPDATE recipients SET state = 'queued', claimed_by = NULL, claim_token = NULL, lease_until = NULL, updated_at = $1
                   WHERE state = 'sending' AND (claimed_by = $2 OR lease_until <= $1) RETURNING id, message_id)
       INSERT INTO events (at, message_id, recipient_id, type, detail) SELECT $1, message_id, id, 'requeued', $3::jsonb FROM up`,
      [now, this.nodeId, JSON.stringify({ reason })],
    );
    return r.rowCount ?? 0;
  }
}
