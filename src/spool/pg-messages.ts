/**
 * spool/pg-messages — reading a message back on PostgreSQL: its envelope, its recipients
 * as queue entries and its event history (the send details a node shows, whichever node
 * took the message in), and the history of given recipients. Reads only; it must never
 * write, and holds no rules.
 */
import { asRecipientId, type QueueId, type RecipientId } from '../util/ids.js';
import { mappingErrors } from './errors.js';
import { toEntry, type RecipientRow } from './pg-claims.js';
import type { PgPool } from './pg-pool.js';
import type { SpoolEvent } from './types-events.js';
import type { Lane, MessageDetail } from './types-queue.js';

interface EventRow { id: string; at: string; recipient_id: string | null; type: string; detail: Record<string, unknown> }

function toEvent(e: EventRow): SpoolEvent {
  return { id: Number(e.id), at: Number(e.at), recipientId: e.recipient_id === null ? null : asRecipientId(Number(e.recipient_id)), type: e.type, detail: e.detail };
}

export class PgMessages {
  private constructor(private readonly pool: PgPool) {}

  static open(pool: PgPool): PgMessages { return mappingErrors(new PgMessages(pool)); }

  async getMessage(id: QueueId): Promise<MessageDetail | undefined> {
    const { rows: [m] } = await this.pool.query<Record<string, string | null>>('SELECT * FROM messages WHERE id = $1', [id]);
    if (!m) return undefined;
    const rcpts = await this.pool.query<RecipientRow>(
      `SELECT r.*, m.sender, m.received_at, m.size, m.task_id, m.return_path FROM recipients r JOIN messages m ON m.id = r.message_id
       WHERE r.message_id = $1 ORDER BY r.id`, [id]);
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
