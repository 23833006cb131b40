/**
 * spool/sqlite-webhooks — the SQLite side of `WebhookStore`: webhooks, the durable outbox
 * and the attempt log. `enqueue` runs inside the caller's transaction (the one recording an
 * outcome or a domain check), so an event exists exactly when what it reports does; the
 * caller calls `signal()` after its commit to wake the dispatcher.
 *
 * Which webhooks get an event, and when a failing one's other events are held back, are
 * the rules' (events/effects.ts, injected): this module lists the candidates (`targets`)
 * and writes the rows it is told to (`insert`).
 *
 * A claimed row keeps its state and gets a lease (`claimed_until`) with the claiming node and
 * the claim's token (spool/claims.ts): a crash leaves it pending, and start-up voids this
 * node's leases (another node's run out by themselves), so nothing claimed is ever lost. An
 * attempt whose lease ran out and was taken meanwhile is logged but does not move the row on.
 *
 * A held-back webhook's other waiting events move to its retry time (no attempt counted),
 * so one dead endpoint cannot fill every dispatcher slot while other webhooks wait.
 */
import type { Statement } from 'better-sqlite3';
import type { Db } from './db.js';
import type { ClaimTokens } from './claims.js';
import type { OutboxItem, OutboxNext, WebhookAttempt, WebhookListRow, WebhookOutboxState, WebhookRecord } from './types-webhooks.js';
import type { EffectRules, WebhookEventName, WebhookFormat, WebhookPayload, WebhookTarget } from './types-effects.js';

interface HookRow { id: number; url: string; sender: string | null; events: string; format: WebhookFormat; secret: string; created_at: number; disabled: number }

function parseFilter(text: string): '*' | WebhookEventName[] {
  if (text === '*') return '*';
  try {
    const v = JSON.parse(text) as unknown;
    return Array.isArray(v) ? (v.filter((x) => typeof x === 'string') as WebhookEventName[]) : '*';
  } catch {
    return '*';
  }
}

function toRecord(r: HookRow): WebhookRecord {
  return {
    id: r.id, url: r.url, sender: r.sender, events: parseFilter(r.events), format: r.format, secret: r.secret,
    createdAt: r.created_at, disabled: r.disabled === 1,
  };
}

export class SqliteWebhooks {
  private readonly st: Record<string, Statement>;
  private readonly observers = new Set<() => void>();
  /** rows enqueued since the last signal() */
  private enqueued = 0;
  /** parsed filters by their stored text: parsing once per outcome would be waste */
  private readonly filters = new Map<string, '*' | WebhookEventName[]>();

  constructor(private readonly db: Db, private readonly rules: Pick<EffectRules, 'holdBackUntil'>, private readonly claims: ClaimTokens) {
    const p = (sql: string): Statement => db.prepare(sql);
    this.st = {
      // The next id after the highest ever given out, deleted ones included (migration: webhook_ids).
      insHook: p(`INSERT INTO webhooks (id, url, sender, events, format, secret, created_at)
                  VALUES ((SELECT max(last, coalesce((SELECT max(id) FROM webhooks), 0)) + 1 FROM webhook_ids), ?, ?, ?, ?, ?, ?)`),
      getHook: p('SELECT * FROM webhooks WHERE id = ?'),
      listHooks: p(`SELECT w.*,
                      (SELECT COUNT(*) FROM webhook_outbox o WHERE o.webhook_id = w.id AND o.state IN ('pending','failed')) AS backlog,
                      (SELECT COUNT(*) FROM webhook_outbox o WHERE o.webhook_id = w.id AND o.state = 'dead') AS dead
                    FROM webhooks w ORDER BY w.id`),
      backlogOf: p(`SELECT COUNT(*) AS n FROM webhook_outbox WHERE webhook_id = ? AND state IN ('pending','failed')`),
      delHook: p('DELETE FROM webhooks WHERE id = ?'),
      senderTargets: p(`SELECT id, sender, events FROM webhooks WHERE disabled = 0 AND (sender IS NULL OR sender = ?)`),
      accountTargets: p(`SELECT id, sender, events FROM webhooks WHERE disabled = 0 AND sender IS NULL`),
      insOutbox: p(`INSERT INTO webhook_outbox (webhook_id, event, payload, created_at, next_attempt_at, updated_at) VALUES (?, ?, ?, ?, ?, ?)`),
      due: p(`SELECT o.id, o.webhook_id, o.event, o.payload, o.attempts, o.created_at, w.url, w.secret, w.format
              FROM webhook_outbox o JOIN webhooks w ON w.id = o.webhook_id
              WHERE o.state IN ('pending','failed') AND o.next_attempt_at <= ? AND (o.claimed_until IS NULL OR o.claimed_until <= ?)
                AND w.disabled = 0
              ORDER BY o.next_attempt_at, o.id LIMIT ?`),
      lease: p('UPDATE webhook_outbox SET claimed_until = @until, claimed_by = @node, claim_token = @token WHERE id = @id'),
      nextDue: p(`SELECT MIN(MAX(o.next_attempt_at, COALESCE(o.claimed_until, 0))) AS t
                  FROM webhook_outbox o JOIN webhooks w ON w.id = o.webhook_id
                  WHERE o.state IN ('pending','failed') AND w.disabled = 0`),
      insAttempt: p(`INSERT INTO webhook_attempts (webhook_id, outbox_id, event, at, status, error, duration_ms)
                     VALUES (@webhookId, @outboxId, @event, @at, @status, @error, @durationMs)`),
      moveOn: p(`UPDATE webhook_outbox SET state = @state, attempts = attempts + 1, next_attempt_at = @next,
                 claimed_until = NULL, claimed_by = NULL, claim_token = NULL,
                 last_status = @last, updated_at = @at WHERE id = @id AND claimed_by = @node AND claim_token = @token`),
      holdBack: p(`UPDATE webhook_outbox SET next_attempt_at = @next
                   WHERE webhook_id = @hook AND id != @id AND state IN ('pending','failed') AND next_attempt_at < @next
                     AND (claimed_until IS NULL OR claimed_until <= @at)`),
      release: p(`UPDATE webhook_outbox SET claimed_until = NULL, claimed_by = NULL, claim_token = NULL
                  WHERE id = @id AND claimed_by = @node AND claim_token = @token`),
      // Rows of before leases (no node) count as this node's: a single node left them.
      recover: p(`UPDATE webhook_outbox SET claimed_until = NULL, claimed_by = NULL, claim_token = NULL
                  WHERE claimed_until IS NOT NULL AND (claimed_by IS NULL OR claimed_by = ?)`),
      attemptsAll: p('SELECT * FROM webhook_attempts ORDER BY id DESC LIMIT ?'),
      attemptsOf: p('SELECT * FROM webhook_attempts WHERE webhook_id = ? ORDER BY id DESC LIMIT ?'),
      backlog: p('SELECT state, COUNT(*) AS n FROM webhook_outbox GROUP BY state'),
    };
  }

  // ---- enqueueing, inside the caller's transaction ----

  private filterOf(text: string): '*' | WebhookEventName[] {
    let f = this.filters.get(text);
    if (!f) { f = parseFilter(text); if (this.filters.size < 1000) this.filters.set(text, f); }
    return f;
  }

  /** The enabled webhooks that may hear of an event of `sender`: its own and the account-level ones (null: those only). */
  targets(sender: string | null): WebhookTarget[] {
    const rows = (sender === null ? this.st['accountTargets']!.all() : this.st['senderTargets']!.all(sender.toLowerCase())) as
      { id: number; sender: string | null; events: string }[];
    return rows.map((r) => ({ id: r.id, sender: r.sender, events: this.filterOf(r.events) }));
  }

  /** Queues `payload` for each of these webhooks, inside the caller's transaction. */
  insert(webhookIds: readonly number[], event: WebhookEventName, payload: WebhookPayload, at: number): void {
    const json = JSON.stringify(payload);
    for (const id of webhookIds) this.st['insOutbox']!.run(id, event, json, at, at, at);
    this.enqueued += webhookIds.length;
  }

  /** The writer thread's count, handed over with its reply (spool/writer.ts). */
  takeEnqueued(): number { const n = this.enqueued; this.enqueued = 0; return n; }
  noteEnqueued(n: number): void { this.enqueued += n; }

  /** After the commit: wakes the dispatcher if anything was enqueued. */
  signal(): void {
    if (this.enqueued === 0) return;
    this.enqueued = 0;
    for (const o of this.observers) {
      try { o(); } catch { /* an observer must not undo a commit */ }
    }
  }

  onEnqueued(observer: () => void): () => void {
    this.observers.add(observer);
    return () => this.observers.delete(observer);
  }

  // ---- webhooks ----

  add(w: Omit<WebhookRecord, 'id' | 'disabled'>): WebhookRecord {
    const events = w.events === '*' ? '*' : JSON.stringify(w.events);
    const id = Number(this.st['insHook']!.run(w.url, w.sender?.toLowerCase() ?? null, events, w.format, w.secret, w.createdAt).lastInsertRowid);
    return this.get(id)!;
  }

  get(id: number): WebhookRecord | undefined {
    const r = this.st['getHook']!.get(id) as HookRow | undefined;
    return r ? toRecord(r) : undefined;
  }

  list(): WebhookListRow[] {
    return (this.st['listHooks']!.all() as (HookRow & { backlog: number; dead: number })[])
      .map((r) => ({ ...toRecord(r), backlog: r.backlog, dead: r.dead }));
  }

  remove(id: number): { removed: boolean; dropped: number } {
    return this.db.transaction(() => {
      const dropped = (this.st['backlogOf']!.get(id) as { n: number }).n;
      // The outbox and the log go with it (ON DELETE CASCADE).
      const removed = this.st['delHook']!.run(id).changes > 0;
      return { removed, dropped: removed ? dropped : 0 };
    }).immediate();
  }

  // ---- the dispatcher's side ----

  claim(now: number, limit: number, leaseMs: number): OutboxItem[] {
    const token = this.claims.issue();
    const rows = this.db.transaction(() => {
      const due = this.st['due']!.all(now, now, limit) as {
        id: number; webhook_id: number; event: WebhookEventName; payload: string; attempts: number; created_at: number;
        url: string; secret: string; format: WebhookFormat;
      }[];
      for (const r of due) this.st['lease']!.run({ until: now + leaseMs, node: this.claims.nodeId, token, id: r.id });
      return due;
    }).immediate();
    for (const r of rows) this.claims.hold(r.id, token);
    return rows.map((r) => ({
      id: r.id, webhookId: r.webhook_id, url: r.url, secret: r.secret, format: r.format, event: r.event,
      payload: JSON.parse(r.payload) as Record<string, unknown>, attempts: r.attempts, createdAt: r.created_at,
    }));
  }

  /** The guard of a write that ends this store's claim on outbox row `id`. */
  private held(id: number): { id: number; node: string; token: number } {
    return { id, node: this.claims.nodeId, token: this.claims.tokenOf(id) };
  }

  nextDueAt(): number | undefined {
    return (this.st['nextDue']!.get() as { t: number | null }).t ?? undefined;
  }

  record(a: Omit<WebhookAttempt, 'id'>, next?: OutboxNext): void {
    this.db.transaction(() => {
      // Removed while its request was in flight: nothing left to log or move on.
      if (!this.st['getHook']!.get(a.webhookId)) return;
      this.st['insAttempt']!.run(a);
      if (a.outboxId === null || !next) return;
      const last = a.status !== null ? `HTTP ${a.status}` : a.error;
      const moved = this.st['moveOn']!.run({
        ...this.held(a.outboxId), state: next.state, next: next.state === 'failed' ? next.nextAttemptAt : a.at, last, at: a.at,
      }).changes;
      const until = this.rules.holdBackUntil(next);
      if (moved === 1 && until !== undefined) this.st['holdBack']!.run({ hook: a.webhookId, id: a.outboxId, next: until, at: a.at });
    }).immediate();
    if (a.outboxId !== null && next) this.claims.forget([a.outboxId]);
  }

  release(ids: readonly number[]): void {
    this.db.transaction(() => { for (const id of ids) this.st['release']!.run(this.held(id)); }).immediate();
    this.claims.forget(ids);
  }

  recover(): number {
    return this.st['recover']!.run(this.claims.nodeId).changes;
  }

  attempts(f: { webhookId?: number; limit?: number }): WebhookAttempt[] {
    const limit = Math.min(Math.max(f.limit ?? 50, 1), 10_000);
    const rows = (f.webhookId !== undefined ? this.st['attemptsOf']!.all(f.webhookId, limit) : this.st['attemptsAll']!.all(limit)) as {
      id: number; webhook_id: number; outbox_id: number | null; event: string; at: number; status: number | null; error: string | null; duration_ms: number;
    }[];
    return rows.map((r) => ({
      id: r.id, webhookId: r.webhook_id, outboxId: r.outbox_id, event: r.event, at: r.at, status: r.status, error: r.error, durationMs: r.duration_ms,
    }));
  }

  backlog(): Record<WebhookOutboxState, number> {
    const out: Record<WebhookOutboxState, number> = { pending: 0, delivered: 0, failed: 0, dead: 0 };
    for (const r of this.st['backlog']!.all() as { state: WebhookOutboxState; n: number }[]) out[r.state] = r.n;
    return out;
  }
}
