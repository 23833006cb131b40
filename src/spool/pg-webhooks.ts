/**
 * spool/pg-webhooks — the PostgreSQL side of `WebhookStore`: webhooks, the durable outbox
 * and the attempt log. Outbox rows are written by `insert` inside the transaction that
 * records what they report (spool/pg-effects.ts), so an event exists exactly when its fact
 * does; whoever committed calls `signal()` to wake this node's dispatcher.
 *
 * Any node's dispatcher claims any due row: the claim locks rows `FOR UPDATE SKIP LOCKED`
 * and leases them (node, token, expiry: spool/claims.ts), so two nodes never hold one row;
 * an attempt whose lease was lost and taken meanwhile is logged but does not move the row.
 * Start-up voids this node's own leases only (another node's run out by themselves).
 * Which webhooks hear of what, and the hold-back of a failing one, are the rules'.
 */
import { ClaimTokens } from './claims.js';
import { mappingErrors } from './errors.js';
import type { PgPool } from './pg-pool.js';
import { inTransaction, type PgTx } from './pg-tx.js';
import type { PgWakeups } from './pg-wakeups.js';
import type { EffectRules, WebhookEventName, WebhookFormat, WebhookPayload, WebhookTarget } from './types-effects.js';
import type { OutboxItem, OutboxNext, WebhookAttempt, WebhookListRow, WebhookOutboxState, WebhookRecord } from './types-webhooks.js';

interface HookRow { id: string; url: string; sender: string | null; events: string; format: WebhookFormat; secret: string; created_at: string; disabled: boolean }

/** A stored filter: '*' or a JSON list of event names (anything unreadable hears everything, as on SQLite). */
function eventFilter(stored: string): '*' | WebhookEventName[] {
  if (stored === '*') return '*';
  let list: unknown;
  try { list = JSON.parse(stored); } catch { return '*'; }
  return Array.isArray(list) ? list.filter((x): x is WebhookEventName => typeof x === 'string') : '*';
}

function hookOf(r: HookRow): WebhookRecord {
  return {
    id: Number(r.id), url: r.url, sender: r.sender, events: eventFilter(r.events), format: r.format, secret: r.secret,
    createdAt: Number(r.created_at), disabled: r.disabled,
  };
}

export class PgWebhooks {
  private readonly claims: ClaimTokens;
  private readonly observers = new Set<() => void>();
  /** rows enqueued since the last signal() */
  private enqueued = 0;
  /** tells the other nodes' dispatchers of new rows after the COMMIT (spool/pg-wakeups.ts) */
  wakeups: PgWakeups | undefined;

  constructor(private readonly pool: PgPool, private readonly rules: Pick<EffectRules, 'holdBackUntil'>, nodeId: string) {
    this.claims = new ClaimTokens(nodeId);
  }

  static open(pool: PgPool, rules: Pick<EffectRules, 'holdBackUntil'>, nodeId: string): PgWebhooks {
    return mappingErrors(new PgWebhooks(pool, rules, nodeId));
  }

  // ---- inside another port's transaction ----

  /** Every enabled webhook: the rules' candidates for the events of one transaction (spool/pg-effects.ts filters by sender). */
  async targets(tx: PgTx): Promise<WebhookTarget[]> {
    const { rows } = await tx.query<{ id: string; sender: string | null; events: string }>('SELECT id, sender, events FROM webhooks WHERE NOT disabled ORDER BY id');
    return rows.map((r) => ({ id: Number(r.id), sender: r.sender, events: eventFilter(r.events) }));
  }

  async insert(tx: PgTx, webhookIds: readonly number[], event: WebhookEventName, payload: WebhookPayload, at: number): Promise<void> {
    if (webhookIds.length === 0) return;
    await tx.query(`INSERT INTO webhook_outbox (webhook_id, event, payload, created_at, next_attempt_at, updated_at)
                    SELECT w, $2, $3, $4, $4, $4 FROM unnest($1::bigint[]) AS w`, [webhookIds, event, JSON.stringify(payload), at]);
    this.enqueued += webhookIds.length;
    await this.wakeups?.notifyIn(tx, 'mta_outbox');
  }

  /** After the commit: wakes the dispatcher if anything was enqueued. */
  signal(): void {
    if (this.enqueued === 0) return;
    this.enqueued = 0;
    for (const o of this.observers) {
      try { o(); } catch { /* an observer must not undo a commit */ }
    }
  }

  onWebhookEnqueued(observer: () => void): () => void {
    this.observers.add(observer);
    return () => this.observers.delete(observer);
  }

  // ---- webhooks ----

  async addWebhook(w: Omit<WebhookRecord, 'id' | 'disabled'>): Promise<WebhookRecord> {
    const { rows } = await this.pool.query<HookRow>(
      `INSERT INTO webhooks (url, sender, events, format, secret, created_at) VALUES ($1, $2, $3, $4, $5, $6) RETURNING *`,
      [w.url, w.sender?.toLowerCase() ?? null, w.events === '*' ? '*' : JSON.stringify(w.events), w.format, w.secret, w.createdAt]);
    return hookOf(rows[0]!);
  }

  async getWebhook(id: number): Promise<WebhookRecord | undefined> {
    const { rows } = await this.pool.query<HookRow>('SELECT * FROM webhooks WHERE id = $1', [id]);
    return rows[0] ? hookOf(rows[0]) : undefined;
  }

  async listWebhooks(): Promise<WebhookListRow[]> {
    const { rows } = await this.pool.query<HookRow & { backlog: number; dead: number }>(
      `SELECT w.*,
              (SELECT count(*)::int FROM webhook_outbox o WHERE o.webhook_id = w.id AND o.state IN ('pending','failed')) AS backlog,
              (SELECT count(*)::int FROM webhook_outbox o WHERE o.webhook_id = w.id AND o.state = 'dead') AS dead
       FROM webhooks w ORDER BY w.id`);
    return rows.map((r) => ({ ...hookOf(r), backlog: r.backlog, dead: r.dead }));
  }

  async removeWebhook(id: number): Promise<{ removed: boolean; dropped: number }> {
    return inTransaction(this.pool, async (tx) => {
      const { rows } = await tx.query<{ n: number }>(`SELECT count(*)::int AS n FROM webhook_outbox WHERE webhook_id = $1 AND state IN ('pending','failed')`, [id]);
      // The outbox and the log go with it (ON DELETE CASCADE).
      const removed = ((await tx.query('DELETE FROM webhooks WHERE id = $1', [id])).rowCount ?? 0) > 0;
      return { removed, dropped: removed ? rows[0]!.n : 0 };
    });
  }

  // ---- the dispatcher's side ----

  async claimWebhookDue(r: { now: number; limit: number; leaseMs: number }): Promise<OutboxItem[]> {
    const token = this.claims.issue();
    const rows = await inTransaction(this.pool, async (tx) => (await tx.query<{
      id: string; webhook_id: string; event: WebhookEventName; payload: string; attempts: number; created_at: string; url: string; secret: string; format: WebhookFormat;
    }>(
      `WITH due AS (SELECT o.id FROM webhook_outbox o JOIN webhooks w ON w.id = o.webhook_id
                    WHERE o.state IN ('pending','failed') AND o.next_attempt_at <= $1 AND (o.claimed_until IS NULL OR o.claimed_until <= $1)
                      AND NOT w.disabled
                    ORDER BY o.next_attempt_at, o.id LIMIT $2 FOR UPDATE OF o SKIP LOCKED),
            up AS (UPDATE webhook_outbox o SET claimed_until = $3, claimed_by = $4, claim_token = $5 FROM due WHERE o.id = due.id RETURNING o.*)
       SELECT up.id, up.webhook_id, up.event, up.payload, up.attempts, up.created_at, w.url, w.secret, w.format
       FROM up JOIN webhooks w ON w.id = up.webhook_id ORDER BY up.next_attempt_at, up.id`,
      [r.now, r.limit, r.now + r.leaseMs, this.claims.nodeId, token])).rows);
    for (const row of rows) this.claims.hold(Number(row.id), token);
    return rows.map((o) => ({
      id: Number(o.id), webhookId: Number(o.webhook_id), url: o.url, secret: o.secret, format: o.format, event: o.event,
      payload: JSON.parse(o.payload) as Record<string, unknown>, attempts: o.attempts, createdAt: Number(o.created_at),
    }));
  }

  async nextWebhookDueAt(): Promise<number | undefined> {
    const { rows } = await this.pool.query<{ t: string | null }>(
      `SELECT min(greatest(o.next_attempt_at, coalesce(o.claimed_until, 0))) AS t FROM webhook_outbox o JOIN webhooks w ON w.id = o.webhook_id
       WHERE o.state IN ('pending','failed') AND NOT w.disabled`);
    return rows[0]?.t == null ? undefined : Number(rows[0].t);
  }

  async recordWebhookAttempt(a: Omit<WebhookAttempt, 'id'>, next?: OutboxNext): Promise<void> {
    await inTransaction(this.pool, async (tx) => {
      // Removed while its request was in flight: nothing left to log or move on.
      if ((await tx.query('SELECT 1 FROM webhooks WHERE id = $1', [a.webhookId])).rowCount === 0) return;
      await tx.query(`INSERT INTO webhook_attempts (webhook_id, outbox_id, event, at, status, error, duration_ms) VALUES ($1, $2, $3, $4, $5, $6, $7)`,
        [a.webhookId, a.outboxId, a.event, a.at, a.status, a.error, a.durationMs]);
      if (a.outboxId === null || !next) return;
      const moved = await tx.query(
        `UPDATE webhook_outbox SET state = $1, attempts = attempts + 1, next_attempt_at = $2, claimed_until = NULL, claimed_by = NULL, claim_token = NULL,
                last_status = $3, updated_at = $4 WHERE id = $5 AND claimed_by = $6 AND claim_token = $7`,
        [next.state, next.state === 'failed' ? next.nextAttemptAt : a.at, a.status !== null ? `HTTP ${a.status}` : a.error, a.at,
          a.outboxId, this.claims.nodeId, this.claims.tokenOf(a.outboxId)]);
      const until = this.rules.holdBackUntil(next);
      if (moved.rowCount === 1 && until !== undefined) {
        await tx.query(`UPDATE webhook_outbox SET next_attempt_at = $1
                        WHERE webhook_id = $2 AND id <> $3 AND state IN ('pending','failed') AND next_attempt_at < $1
                          AND (claimed_until IS NULL OR claimed_until <= $4)`, [until, a.webhookId, a.outboxId, a.at]);
      }
    });
    if (a.outboxId !== null && next) this.claims.forget([a.outboxId]);
  }

  async releaseWebhookClaims(ids: readonly number[]): Promise<void> {
    await this.pool.query(`UPDATE webhook_outbox o SET claimed_until = NULL, claimed_by = NULL, claim_token = NULL
                           FROM unnest($1::bigint[], $2::bigint[]) AS g(id, token) WHERE o.id = g.id AND o.claimed_by = $3 AND o.claim_token = g.token`,
    [ids, ids.map((id) => this.claims.tokenOf(id)), this.claims.nodeId]);
    this.claims.forget(ids);
  }

  async recoverWebhookClaims(): Promise<number> {
    const r = await this.pool.query('UPDATE webhook_outbox SET claimed_until = NULL, claimed_by = NULL, claim_token = NULL WHERE claimed_until IS NOT NULL AND claimed_by = $1', [this.claims.nodeId]);
    return r.rowCount ?? 0;
  }

  async listWebhookAttempts(f: { webhookId?: number; limit?: number }): Promise<WebhookAttempt[]> {
    const limit = Math.min(Math.max(f.limit ?? 50, 1), 10_000);
    const { rows } = await this.pool.query<{ id: string; webhook_id: string; outbox_id: string | null; event: string; at: string; status: number | null; error: string | null; duration_ms: number }>(
      'SELECT * FROM webhook_attempts WHERE $1::bigint IS NULL OR webhook_id = $1 ORDER BY id DESC LIMIT $2', [f.webhookId ?? null, limit]);
    return rows.map((r) => ({
      id: Number(r.id), webhookId: Number(r.webhook_id), outboxId: r.outbox_id === null ? null : Number(r.outbox_id), event: r.event, at: Number(r.at),
      status: r.status, error: r.error, durationMs: r.duration_ms,
    }));
  }

  async webhookBacklog(): Promise<Record<WebhookOutboxState, number>> {
    const out: Record<WebhookOutboxState, number> = { pending: 0, delivered: 0, failed: 0, dead: 0 };
    const { rows } = await this.pool.query<{ state: WebhookOutboxState; n: number }>('SELECT state, count(*)::int AS n FROM webhook_outbox GROUP BY state');
    for (const r of rows) out[r.state] = r.n;
    return out;
  }
}
