/**
 * spool/sqlite-stats — the SQLite side of `StatsStore`: daily counters, send details,
 * recipients refused at submission (their `rejected` event rows) and the retention purge.
 *
 * Counters are kept by UPSERT inside the transactions that accept mail and record
 * outcomes, so a query reads at most (days × domains × senders × tags) small rows and
 * never scans events. Every count lands on the day the message was *received* (in the
 * configured `timezone`; as
 * DirectMail's statistics count by creation time), so a day's rates compare like with like:
 * requests = delivered + failed + invalid + expired + cancelled (recipients of a task the
 * operator cancelled) + still waiting.
 *
 * The purge works in small transactions and yields between them, so delivery never waits
 * long for it.
 */
import type { Statement } from 'better-sqlite3';
import type { Db } from './db.js';
import type { SpoolEvent } from './types-events.js';
import type { AddressMatch, PurgeResult, Rejection, RejectionFilter, SendDetail, SendDetailFilter, StatsGroup, StatsQuery, StatsRow } from './types-stats.js';
import type { RecipientState } from './states.js';
import { asRecipientId, type QueueId, type RecipientId } from '../util/ids.js';
import { SqliteRcptStats } from './sqlite-rcpt-stats.js';
import { cursorRow, rowCursor } from './sqlite-cursor.js';
import type { StatsCounter, StatsKey } from './types-effects.js';

export type { StatsCounter, StatsKey } from './types-effects.js';

const COUNTERS: readonly StatsCounter[] = ['requests', 'delivered', 'failed', 'invalid', 'deferred', 'expired', 'cancelled', 'complaints', 'late_bounces', 'late_invalid'];
const GROUP_COLUMN: Record<StatsGroup, string> = { day: 'day', domain: 'domain', sender: 'sender', tag: 'tag' };
const PURGE_BATCH = 500;

/** One address condition: `= ? COLLATE NOCASE`, or a LIKE (case-insensitive for ASCII, `\\` escapes). */
function matchAddress(where: string[], args: (string | number)[], column: string, m: AddressMatch | undefined): void {
  if (m === undefined) return;
  if ('exact' in m) { where.push(`${column} = ? COLLATE NOCASE`); args.push(m.exact); } else { where.push(`${column} LIKE ? ESCAPE '\\'`); args.push(m.like); }
}

export class SqliteStats {
  private readonly st: Record<string, Statement>;
  private readonly bumps: Record<StatsCounter, Statement>;
  /** the same outcomes per recipient domain */
  readonly rcpt: SqliteRcptStats;

  constructor(private readonly db: Db) {
    const p = (sql: string): Statement => db.prepare(sql);
    this.rcpt = new SqliteRcptStats(db);
    this.bumps = Object.fromEntries(COUNTERS.map((c) => [c, p(`
      INSERT INTO stats_daily (day, domain, sender, tag, ${c}) VALUES (?, ?, ?, ?, ?)
      ON CONFLICT (day, domain, sender, tag) DO UPDATE SET ${c} = ${c} + excluded.${c}`)])) as Record<StatsCounter, Statement>;
    this.st = {
      eventsOf: p('SELECT * FROM events WHERE recipient_id = ? ORDER BY id'),
      finishedBefore: p(`SELECT id FROM messages m WHERE received_at < ?
                           AND NOT EXISTS (SELECT 1 FROM recipients r WHERE r.message_id = m.id AND r.state IN ('queued','sending','deferred','held'))
                           AND NOT EXISTS (SELECT 1 FROM tasks t WHERE t.source_id = m.id AND t.state NOT IN ('done','cancelled')) -- an alias task's source
                         LIMIT ${PURGE_BATCH}`),
      delEvents: p('DELETE FROM events WHERE message_id = ?'),
      delMessage: p('DELETE FROM messages WHERE id = ?'),
      delDomainEvents: p('DELETE FROM events WHERE message_id IS NULL AND at < ?'),
      delOutbox: p(`DELETE FROM webhook_outbox WHERE id IN (SELECT id FROM webhook_outbox WHERE state IN ('delivered','dead') AND updated_at < ? LIMIT ${PURGE_BATCH * 10})`),
      delAttempts: p(`DELETE FROM webhook_attempts WHERE id IN (SELECT id FROM webhook_attempts WHERE at < ? LIMIT ${PURGE_BATCH * 10})`),
      delStats: p('DELETE FROM stats_daily WHERE day < ?'),
    };
  }

  /** Inside the caller's transaction. */
  bump(k: StatsKey, counter: StatsCounter, n = 1): void {
    if (n > 0) this.bumps[counter].run(k.day, k.domain, k.sender, k.tag, n);
  }

  query(q: StatsQuery): StatsRow[] {
    const where = ['day >= ?', 'day <= ?'];
    const args: string[] = [q.fromDay, q.toDay];
    if (q.domain !== undefined) { where.push('domain = ?'); args.push(q.domain.toLowerCase()); }
    if (q.sender !== undefined) { where.push('sender = ?'); args.push(q.sender.toLowerCase()); }
    if (q.tag !== undefined) { where.push('tag = ?'); args.push(q.tag); }
    const col = GROUP_COLUMN[q.by];
    const sums = COUNTERS.map((c) => `SUM(${c}) AS ${c}`).join(', ');
    return this.db.prepare(`SELECT ${col} AS key, ${sums} FROM stats_daily WHERE ${where.join(' AND ')} GROUP BY ${col} ORDER BY ${col}`)
      .all(...args) as StatsRow[];
  }

  sendDetails(f: SendDetailFilter): SendDetail[] {
    const where = ['m.received_at >= ?', 'm.received_at <= ?'];
    const args: (string | number)[] = [f.from, f.to];
    matchAddress(where, args, 'm.sender', f.sender);
    matchAddress(where, args, 'r.rcpt', f.rcpt);
    if (f.messageId !== undefined) { where.push("m.message_id IN (?, '<' || ? || '>')"); args.push(f.messageId, f.messageId); }
    if (f.tag !== undefined) { where.push(f.tag === '' ? 'm.tag IS NULL' : 'm.tag = ?'); if (f.tag !== '') args.push(f.tag); }
    if (f.taskId !== undefined) { where.push('m.task_id = ?'); args.push(f.taskId); }
    if (f.states?.length) { where.push(`r.state IN (${f.states.map(() => '?').join(',')})`); args.push(...f.states); }
    if (f.before !== undefined) { where.push('r.id < ?'); args.push(cursorRow(f.before)); }
    args.push(Math.min(Math.max(f.limit, 1), 10_000));
    const rows = this.db.prepare(`SELECT r.id, r.message_id, r.rcpt, r.state, r.attempts, r.last_reply, r.updated_at,
                                         m.received_at, m.sender, m.tag, m.message_id AS msg_id, m.subject
                                  FROM recipients r JOIN messages m ON m.id = r.message_id
                                  WHERE ${where.join(' AND ')} ORDER BY r.id DESC LIMIT ?`).all(...args) as {
      id: number; message_id: string; rcpt: string; state: RecipientState; attempts: number; last_reply: string | null; updated_at: number;
      received_at: number; sender: string; tag: string | null; msg_id: string; subject: string | null;
    }[];
    return rows.map((r) => ({
      recipientId: asRecipientId(r.id), queueId: r.message_id as QueueId, receivedAt: r.received_at, sender: r.sender, rcpt: r.rcpt,
      tag: r.tag, messageId: r.msg_id, subject: r.subject, state: r.state, attempts: r.attempts, lastReply: r.last_reply, updatedAt: r.updated_at,
      cursor: rowCursor(r.id),
    }));
  }

  rejections(f: RejectionFilter): Rejection[] {
    const where = ["type = 'rejected'", 'message_id IS NULL', 'at >= ?', 'at <= ?'];
    const args: (string | number)[] = [f.from, f.to];
    matchAddress(where, args, "json_extract(detail, '$.sender')", f.sender);
    matchAddress(where, args, "json_extract(detail, '$.rcpt')", f.rcpt);
    if (f.before !== undefined) { where.push('id < ?'); args.push(cursorRow(f.before)); }
    args.push(Math.min(Math.max(f.limit, 1), 10_000));
    const rows = this.db.prepare(`SELECT id, at, detail FROM events WHERE ${where.join(' AND ')} ORDER BY id DESC LIMIT ?`).all(...args) as { id: number; at: number; detail: string }[];
    return rows.map((r) => {
      const d = JSON.parse(r.detail) as { sender?: string; rcpt?: string; reply?: string };
      return { cursor: rowCursor(r.id), at: r.at, sender: d.sender ?? '', rcpt: d.rcpt ?? '', reply: d.reply ?? '' };
    });
  }

  eventsOf(ids: readonly RecipientId[]): SpoolEvent[] {
    const out: SpoolEvent[] = [];
    for (const id of ids) {
      for (const e of this.st['eventsOf']!.all(id) as { id: number; at: number; recipient_id: number; type: string; detail: string }[]) {
        out.push({ id: e.id, at: e.at, recipientId: asRecipientId(e.recipient_id), type: e.type, detail: JSON.parse(e.detail) as Record<string, unknown> });
      }
    }
    return out;
  }

  async purge(req: { detailsBefore: number; statsBeforeDay: string }): Promise<PurgeResult> {
    const out: PurgeResult = { messages: 0, domainEvents: 0, outbox: 0, attempts: 0, statsRows: 0, rcptStatsRows: 0 };
    const yieldNow = (): Promise<void> => new Promise((r) => setImmediate(r));
    for (;;) {
      const n = this.db.transaction(() => {
        const ids = (this.st['finishedBefore']!.all(req.detailsBefore) as { id: string }[]).map((r) => r.id);
        for (const id of ids) {
          this.st['delEvents']!.run(id);
          this.st['delMessage']!.run(id); // chunks and recipients cascade
        }
        return ids.length;
      }).immediate();
      out.messages += n;
      if (n < PURGE_BATCH) break;
      await yieldNow();
    }
    for (;;) {
      const n = this.st['delOutbox']!.run(req.detailsBefore).changes;
      out.outbox += n;
      if (n < PURGE_BATCH * 10) break;
      await yieldNow();
    }
    for (;;) {
      const n = this.st['delAttempts']!.run(req.detailsBefore).changes;
      out.attempts += n;
      if (n < PURGE_BATCH * 10) break;
      await yieldNow();
    }
    out.domainEvents = this.st['delDomainEvents']!.run(req.detailsBefore).changes;
    out.statsRows = this.st['delStats']!.run(req.statsBeforeDay).changes;
    out.rcptStatsRows = this.rcpt.purge(req.statsBeforeDay);
    return out;
  }
}
