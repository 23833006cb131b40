/**
 * spool/pg-message-rows — writing one stored message on PostgreSQL: its row, its body as
 * chunked bytea (spool/chunks.ts) and its recipients ('queued'), each with its reception
 * event, on the caller's client inside the caller's transaction. Shared by intake
 * (spool/pg-intake.ts) and a batch task's chunk (spool/pg-tasks.ts), which store mail the
 * same way. It must never commit, and decides nothing (what a reception means is the rules').
 */
import type { PgTx } from './pg-tx.js';
import { rechunk } from './chunks.js';
import type { IncomingMessage } from './types-queue.js';

/** A message as stored: intake's, or a task's with its task and envelope MAIL FROM. */
export interface MessageRows extends IncomingMessage { taskId?: string | null; returnPath?: string | null }

/** Writes `m`; `detail(rcpt)` is each recipient's reception event detail. */
export async function insertMessage(client: PgTx, m: MessageRows, detail: (rcpt: string) => Record<string, unknown>): Promise<void> {
  await client.query(
    `INSERT INTO messages (id, received_at, sender, auth_user, client_ip, helo, message_id, size, lane, tag, subject, task_id, return_path)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)`,
    [m.id, m.receivedAt, m.sender, m.authUser, m.clientIp, m.helo, m.messageId, m.size, m.lane, m.tag, m.subject, m.taskId ?? null, m.returnPath ?? null],
  );
  const chunks = rechunk(m.chunks);
  await client.query('INSERT INTO message_chunks (message_id, seq, data) SELECT $1, s - 1, d FROM unnest($2::bytea[]) WITH ORDINALITY AS c(d, s)', [m.id, chunks]);
  const domains = m.recipients.map((r) => r.slice(r.lastIndexOf('@') + 1).toLowerCase());
  const details = m.recipients.map((rcpt) => JSON.stringify(detail(rcpt)));
  // One statement per message for all its recipients and their reception events.
  // x is used twice, so PostgreSQL materialises it: each recipient's id is drawn once, for its row and its event.
  await client.query(
    `WITH x AS (SELECT nextval('recipients_id_seq') AS id, rcpt, domain, detail
                FROM (SELECT * FROM unnest($2::text[], $3::text[], $6::text[]) WITH ORDINALITY AS u(rcpt, domain, detail, n) ORDER BY n) o),
     r AS (INSERT INTO recipients (id, message_id, rcpt, domain, lane, state, next_attempt_at, updated_at)
           SELECT id, $1, rcpt, domain, $4, 'queued', $5, $5 FROM x)
     INSERT INTO events (at, message_id, recipient_id, type, detail)
     SELECT $5, $1, id, 'reception', detail::jsonb FROM x ORDER BY id`,
    [m.id, m.recipients, domains, m.lane, m.receivedAt, details],
  );
}
