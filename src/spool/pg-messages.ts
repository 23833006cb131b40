/**
 * spool/pg-messages — reading a message back on PostgreSQL: its envelope, its recipients
 * as queue entries and its event history (the send details a node shows, whichever node
 * took the message in), the history of given recipients, and the queue listed by selector
 * a page at a time with opaque cursors (the row id, as SQLite's: spool/sqlite-cursor.ts). Reads only; it must never
 * write, and holds no rules.
 */
import { asRecipientId, type QueueId, type RecipientId } from '../util/ids.js';
import { mappingErrors } from './errors.js';
import { toEntry, type RecipientRow } from './pg-claims.js';
import type { PgPool } from './pg-pool.js';
import type { SpoolEvent } from './types-events.js';
import type { Lane, MessageDetail, QueueEntry, QueueFilter, QueueSelector } from './types-queue.js';
import { cursorRow } from './sqlite-cursor.js';

const RECIPIENT_SELECT = 'SELECT r.*, m.sender, m.received_at, m.size, m.task_id, m.return_path FROM recipients r JOIN messages m ON m.id = r.message_id';

/** A selector as conditions on recipients `r` joined with messages `m`; `args` grows with the values ($n placeholders). */
export function selectorSql(sel: QueueSelector, args: unknown[]): string {
  const where: string[] = [];
  const arg = (v: unknown): string => { args.push(v); return `$${args.length}`; };
  if (sel.domain !== undefined) where.push(`r.domain = ${arg(sel.domain.toLowerCase())}`);
  if (sel.states !== undefined) where.push(`r.state = ANY(${arg([...sel.states])}::text[])`);
  if (sel.sender !== undefined) where.push(`lower(m.sender) = lower(${arg(sel.sender)})`);
  if (sel.taskId !== undefined) where.push(`m.task_id = ${arg(sel.taskId)}`);
  return where.length ? where.join(' AND ') : 'TRUE';
}

interface EventRow { id: string; at: string; recipient_id: string | null; type: string; detail: Record<string, unknown> }

function toEvent(e: EventRow): SpoolEvent {
  return { id: Number(e.id), at: Number(e.at), recipientId: e.recipient_id === null ? null : asRecipientId(Number(e.recipient_id)), type: e.type, detail: e.detail };
}

export class PgMessages {
  constructor(private readonly pool: PgPool) {}

  static open(pool: PgPool): PgMessages { return mappingErrors(new PgMessages(pool)); }

  /** Recipients matching the filter in id order, a page at a time (`after`: the last entry's opaque cursor). */
  async listQueue(f: QueueFilter): Promise<QueueEntry[]> {
    const args: unknown[] = [];
    const where = [selectorSql(f, args)];
    if (f.after !== undefined) { args.push(cursorRow(f.after)); where.push(`r.id > $${args.length}`); }
    args.push(Math.min(Math.max(f.limit ?? 1000, 1), 100_000));
    const { rows } = await this.pool.query<RecipientRow>(`${RECIPIENT_SELECT} WHERE ${where.join(' AND ')} ORDER BY r.id ${f.newest ? 'DESC' : ''} LIMIT $${args.length}`, args);
    const entries = rows.map(toEntry);
    return f.newest ? entries.reverse() : entries;
  }

  async countQueue(f: QueueSelector): Promise<number> {
    const args: unknown[] = [];
    const { rows } = await this.pool.query<{ n: number }>(`SELECT count(*)::int AS n FROM recipients r JOIN messages m ON m.id = r.message_id WHERE ${selectorSql(f, args)}`, args);
    return rows[0]!.n;
  }

  async getMessage(id: QueueId): Promise<MessageDetail | undefined> {
    const { rows: [m] } = await this.pool.query<Record<string, string | null>>('SELECT * FROM messages WHERE id = $1', [id]);
    if (!m) return undefined;
    const rcpts = await this.pool.query<RecipientRow>(`${RECIPIENT_SELECT} WHERE r.message_id = $1 ORDER BY r.id`, [id]);
    const events = await this.pool.query<EventRow>('SELECT id, at, recipient_id, type, detail FROM events WHERE message_id = $1 ORDER BY id', [id]);
    return {
      id, receivedAt: Number(m['received_at']), sender: m['sender']!, authUser: m['auth_user'] ?? null, clientIp: m['client_ip'] ?? null,
      helo: m['helo'] ?? null, messageId: m['message_id']!, subject: m['subject'] ?? null, size: Number(m['size']), lane: m['lane'] as Lane,
      tag: m['tag'] ?? null, recipients: rcpts.rows.map(toEntry), events: events.rows.map(toEvent),
    };
  }

  /** The history events of these recipients, oldest first. */
  async eventsOfRecipients(ids: readonly RecipientId[]): Promise<SpoolEvent[]> {
    const { rows } = await this.pool.query<EventRow>('SELECT id, at, recipient_id, type, detail FROM events WHERE recipient_id = ANY($1::bigint[]) ORDER BY id', [ids]);
    return rows.map(toEvent);
  }
}
