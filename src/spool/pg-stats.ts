/**
 * spool/pg-stats — the PostgreSQL side of `StatsStore`: the daily counters (per sender and
 * per recipient domain; written by spool/pg-effects.ts inside the transactions that accept
 * mail and record outcomes, so a query reads small rows and never scans events), send
 * details and refusals a page at a time with opaque cursors (the row id, newest first), and
 * the retention purge in small transactions so delivery never waits long for it. Every node
 * reads the same rows: the figures are the cluster's.
 */
import { asRecipientId, type QueueId } from '../util/ids.js';
import type { PgPool } from './pg-pool.js';
import { inTransaction } from './pg-tx.js';
import type { RecipientState } from './states.js';
import { cursorRow, rowCursor } from './sqlite-cursor.js';
import type { StatsCounter } from './types-effects.js';
import type { AddressMatch, PurgeResult, RcptStatsQuery, RcptStatsRow, Rejection, RejectionFilter, SendDetail, SendDetailFilter, StatsGroup, StatsQuery, StatsRow } from './types-stats.js';

const COUNTERS: readonly StatsCounter[] = ['requests', 'delivered', 'failed', 'invalid', 'deferred', 'expired', 'cancelled', 'complaints', 'late_bounces', 'late_invalid'];
const RCPT_COUNTERS: readonly StatsCounter[] = ['requests', 'delivered', 'failed', 'invalid', 'deferred', 'expired', 'cancelled'];
const GROUP_COLUMN: Record<StatsGroup, string> = { day: 'day', domain: 'domain', sender: 'sender', tag: 'tag' };
const PURGE_BATCH = 500;

/** `sum(c)::float8 AS c` per counter: a number for the driver (int8 arrives as a string), exact far beyond any count. */
const sums = (cs: readonly StatsCounter[]): string => cs.map((c) => `coalesce(sum(${c}), 0)::float8 AS ${c}`).join(', ');

/** Builds a WHERE with $n placeholders. */
class Where {
  readonly parts: string[] = [];
  readonly args: unknown[] = [];
  arg(v: unknown): string { this.args.push(v); return `$${this.args.length}`; }
  add(sql: string): void { this.parts.push(sql); }
  /** One address: equal ignoring case, or a LIKE pattern (`\\` escapes), case-insensitive as SQLite's. */
  address(column: string, m: AddressMatch | undefined): void {
    if (m === undefined) return;
    this.add('exact' in m ? `lower(${column}) = lower(${this.arg(m.exact)})` : `${column} ILIKE ${this.arg(m.like)} ESCAPE '\\'`);
  }
  get sql(): string { return this.parts.length ? this.parts.join(' AND ') : 'TRUE'; }
}

export class PgStats {
  /**
   * Conditions on messages `m` that keep a finished message from the purge, added by the
   * ports that still need it (the tasks port: a pending alias task's source message).
   */
  readonly purgeKeeps: string[] = [];
  /** Purges of other ports' send details that follow the same retention (the tracking port: opens and clicks). */
  readonly alsoPurge: ((detailsBefore: number) => Promise<unknown>)[] = [];

  constructor(private readonly pool: PgPool) {}

  async queryStats(q: StatsQuery): Promise<StatsRow[]> {
    const w = new Where();
    w.add(`day >= ${w.arg(q.fromDay)}`);
    w.add(`day <= ${w.arg(q.toDay)}`);
    if (q.domain !== undefined) w.add(`domain = ${w.arg(q.domain.toLowerCase())}`);
    if (q.sender !== undefined) w.add(`sender = ${w.arg(q.sender.toLowerCase())}`);
    if (q.tag !== undefined) w.add(`tag = ${w.arg(q.tag)}`);
    const col = GROUP_COLUMN[q.by];
    const { rows } = await this.pool.query<StatsRow>(`SELECT ${col} AS key, ${sums(COUNTERS)} FROM stats_daily WHERE ${w.sql} GROUP BY ${col} ORDER BY ${col} COLLATE "C"`, w.args);
    return rows;
  }

  /** One row per day and recipient domain, with its failure categories and latency histogram. */
  async queryRcptStats(q: RcptStatsQuery): Promise<RcptStatsRow[]> {
    const w = new Where();
    w.add(`day >= ${w.arg(q.fromDay)}`);
    w.add(`day <= ${w.arg(q.toDay)}`);
    if (q.domain !== undefined) w.add(`domain = ${w.arg(q.domain.toLowerCase())}`);
    const { rows } = await this.pool.query<Omit<RcptStatsRow, 'categories' | 'latency'>>(
      `SELECT day, rcpt_domain, ${sums(RCPT_COUNTERS)} FROM stats_rcpt_daily WHERE ${w.sql} GROUP BY day, rcpt_domain ORDER BY day, rcpt_domain COLLATE "C"`, w.args);
    const out = new Map(rows.map((r) => [`${r.day} ${r.rcpt_domain}`, { ...r, categories: {} as Record<string, number>, latency: new Map<number, number>() }]));
    const parts = async (table: string, col: string): Promise<{ day: string; rcpt_domain: string; k: string | number; n: number }[]> =>
      (await this.pool.query<{ day: string; rcpt_domain: string; k: string | number; n: number }>(
        `SELECT day, rcpt_domain, ${col} AS k, sum(n)::float8 AS n FROM ${table} WHERE ${w.sql} GROUP BY day, rcpt_domain, ${col}`, w.args)).rows;
    for (const c of await parts('stats_rcpt_failed', 'category')) {
      const r = out.get(`${c.day} ${c.rcpt_domain}`);
      if (r) r.categories[String(c.k)] = c.n;
    }
    for (const b of await parts('stats_rcpt_latency', 'bucket')) out.get(`${b.day} ${b.rcpt_domain}`)?.latency.set(Number(b.k), b.n);
    return [...out.values()];
  }

  async listSendDetails(f: SendDetailFilter): Promise<SendDetail[]> {
    const w = new Where();
    w.add(`m.received_at >= ${w.arg(f.from)}`);
    w.add(`m.received_at <= ${w.arg(f.to)}`);
    w.address('m.sender', f.sender);
    w.address('r.rcpt', f.rcpt);
    if (f.messageId !== undefined) { const id = w.arg(f.messageId); w.add(`m.message_id IN (${id}, '<' || ${id} || '>')`); }
    if (f.tag !== undefined) w.add(f.tag === '' ? 'm.tag IS NULL' : `m.tag = ${w.arg(f.tag)}`);
    if (f.states?.length) w.add(`r.state = ANY(${w.arg([...f.states])}::text[])`);
    if (f.before !== undefined) w.add(`r.id < ${w.arg(cursorRow(f.before))}`);
    const limit = w.arg(Math.min(Math.max(f.limit, 1), 10_000));
    const { rows } = await this.pool.query<{
      id: string; message_id: string; rcpt: string; state: RecipientState; attempts: number; last_reply: string | null; updated_at: string;
      received_at: string; sender: string; tag: string | null; msg_id: string; subject: string | null;
    }>(`SELECT r.id, r.message_id, r.rcpt, r.state, r.attempts, r.last_reply, r.updated_at, m.received_at, m.sender, m.tag, m.message_id AS msg_id, m.subject
        FROM recipients r JOIN messages m ON m.id = r.message_id WHERE ${w.sql} ORDER BY r.id DESC LIMIT ${limit}`, w.args);
    return rows.map((r) => ({
      recipientId: asRecipientId(Number(r.id)), queueId: r.message_id as QueueId, receivedAt: Number(r.received_at), sender: r.sender, rcpt: r.rcpt,
      tag: r.tag, messageId: r.msg_id, subject: r.subject, state: r.state, attempts: r.attempts, lastReply: r.last_reply, updatedAt: Number(r.updated_at),
      cursor: rowCursor(Number(r.id)),
    }));
  }

  async listRejections(f: RejectionFilter): Promise<Rejection[]> {
    const w = new Where();
    w.add("type = 'rejected'");
    w.add('message_id IS NULL');
    w.add(`at >= ${w.arg(f.from)}`);
    w.add(`at <= ${w.arg(f.to)}`);
    w.address("detail->>'sender'", f.sender);
    w.address("detail->>'rcpt'", f.rcpt);
    if (f.before !== undefined) w.add(`id < ${w.arg(cursorRow(f.before))}`);
    const limit = w.arg(Math.min(Math.max(f.limit, 1), 10_000));
    const { rows } = await this.pool.query<{ id: string; at: string; detail: { sender?: string; rcpt?: string; reply?: string } }>(
      `SELECT id, at, detail FROM events WHERE ${w.sql} ORDER BY id DESC LIMIT ${limit}`, w.args);
    return rows.map((r) => ({ cursor: rowCursor(Number(r.id)), at: Number(r.at), sender: r.detail.sender ?? '', rcpt: r.detail.rcpt ?? '', reply: r.detail.reply ?? '' }));
  }

  /** Retention: finished messages received before `detailsBefore` with their history, old outbox rows and attempts, old counters. */
  async purge(req: { detailsBefore: number; statsBeforeDay: string }): Promise<PurgeResult> {
    const out: PurgeResult = { messages: 0, domainEvents: 0, outbox: 0, attempts: 0, statsRows: 0, rcptStatsRows: 0 };
    const keeps = this.purgeKeeps.map((k) => ` AND ${k}`).join('');
    for (;;) {
      const n = await inTransaction(this.pool, async (tx) => {
        const { rows } = await tx.query<{ id: string }>(
          `SELECT id FROM messages m WHERE received_at < $1
             AND NOT EXISTS (SELECT 1 FROM recipients r WHERE r.message_id = m.id AND r.state IN ('queued','sending','deferred','held'))${keeps}
           LIMIT ${PURGE_BATCH}`, [req.detailsBefore]);
        const ids = rows.map((r) => r.id);
        await tx.query('DELETE FROM events WHERE message_id = ANY($1::text[])', [ids]);
        await tx.query('DELETE FROM messages WHERE id = ANY($1::text[])', [ids]); // chunks and recipients cascade
        return ids.length;
      });
      out.messages += n;
      if (n < PURGE_BATCH) break;
    }
    const batched = async (sql: string, arg: unknown): Promise<number> => {
      let total = 0;
      for (;;) {
        const n = (await this.pool.query(sql, [arg])).rowCount ?? 0;
        total += n;
        if (n < PURGE_BATCH * 10) return total;
      }
    };
    out.outbox = await batched(`DELETE FROM webhook_outbox WHERE id IN (SELECT id FROM webhook_outbox WHERE state IN ('delivered','dead') AND updated_at < $1 LIMIT ${PURGE_BATCH * 10})`, req.detailsBefore);
    out.attempts = await batched(`DELETE FROM webhook_attempts WHERE id IN (SELECT id FROM webhook_attempts WHERE at < $1 LIMIT ${PURGE_BATCH * 10})`, req.detailsBefore);
    out.domainEvents = (await this.pool.query('DELETE FROM events WHERE message_id IS NULL AND at < $1', [req.detailsBefore])).rowCount ?? 0;
    out.statsRows = (await this.pool.query('DELETE FROM stats_daily WHERE day < $1', [req.statsBeforeDay])).rowCount ?? 0;
    for (const table of ['stats_rcpt_daily', 'stats_rcpt_failed', 'stats_rcpt_latency']) {
      out.rcptStatsRows += (await this.pool.query(`DELETE FROM ${table} WHERE day < $1`, [req.statsBeforeDay])).rowCount ?? 0;
    }
    for (const purge of this.alsoPurge) await purge(req.detailsBefore);
    return out;
  }
}
