/**
 * spool/pg-message-rows — writing stored messages on PostgreSQL: their rows, their bodies as
 * chunked bytea (spool/chunks.ts) and their recipients ('queued'), each with its reception
 * event, on the caller's client inside the caller's transaction. Shared by intake
 * (spool/pg-intake.ts, a group commit's batch) and a batch task's chunk (spool/pg-tasks.ts),
 * which store mail the same way. It must never commit, and decides nothing (what a
 * reception means is the rules').
 *
 * Three statements for any number of messages: the pg driver sends one query at a time and
 * waits for its reply, so a round trip per row made a commit's time grow with its batch
 * (bench/RESULTS.md, issue 19's rows: 23–25 ms per intake commit of 9 messages).
 */
import type { PgTx } from './pg-tx.js';
import { rechunk } from './chunks.js';
import type { IncomingMessage } from './types-queue.js';

/** A message as stored: intake's, or a task's with its task and envelope MAIL FROM. */
export interface MessageRows extends IncomingMessage { taskId?: string | null; returnPath?: string | null }

/** Writes `ms` in their order; `detail(m, rcpt)` is each recipient's reception event detail. */
export async function insertMessages<M extends MessageRows>(client: PgTx, ms: readonly M[], detail: (m: M, rcpt: string) => Record<string, unknown>): Promise<void> {
  if (ms.length === 0) return;
  const col = <T>(f: (m: M) => T): T[] => ms.map(f);
  await client.query(
    `INSERT INTO messages (id, received_at, sender, auth_user, client_ip, helo, message_id, size, lane, tag, subject, task_id, return_path)
     SELECT * FROM unnest($1::text[], $2::bigint[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::bigint[],
                          $9::text[], $10::text[], $11::text[], $12::text[], $13::text[])`,
    [col((m) => m.id), col((m) => m.receivedAt), col((m) => m.sender), col((m) => m.authUser), col((m) => m.clientIp), col((m) => m.helo),
      col((m) => m.messageId), col((m) => m.size), col((m) => m.lane), col((m) => m.tag), col((m) => m.subject),
      col((m) => m.taskId ?? null), col((m) => m.returnPath ?? null)],
  );
  const chunk = { id: [] as string[], seq: [] as number[], data: [] as Buffer[] };
  const rcpt = { id: [] as string[], rcpt: [] as string[], domain: [] as string[], lane: [] as string[], at: [] as number[], detail: [] as string[] };
  for (const m of ms) {
    rechunk(m.chunks).forEach((d, seq) => { chunk.id.push(m.id); chunk.seq.push(seq); chunk.data.push(d); });
    for (const r of m.recipients) {
      rcpt.id.push(m.id); rcpt.rcpt.push(r); rcpt.domain.push(r.slice(r.lastIndexOf('@') + 1).toLowerCase());
      rcpt.lane.push(m.lane); rcpt.at.push(m.receivedAt); rcpt.detail.push(JSON.stringify(detail(m, r)));
    }
  }
  await client.query('INSERT INTO message_chunks (message_id, seq, data) SELECT * FROM unnest($1::text[], $2::int[], $3::bytea[])', [chunk.id, chunk.seq, chunk.data]);
  if (rcpt.rcpt.length === 0) return;
  // One statement for every recipient and its reception event, ids drawn in the messages' and recipients' order.
  // x is used twice, so PostgreSQL materialises it: each recipient's id is drawn once, for its row and its event.
  await client.query(
    `WITH x AS (SELECT nextval('recipients_id_seq') AS id, message_id, rcpt, domain, lane, at, detail
                FROM (SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::bigint[], $6::text[])
                        WITH ORDINALITY AS u(message_id, rcpt, domain, lane, at, detail, n) ORDER BY n) o),
     r AS (INSERT INTO recipients (id, message_id, rcpt, domain, lane, state, next_attempt_at, updated_at)
           SELECT id, message_id, rcpt, domain, lane, 'queued', at, at FROM x)
     INSERT INTO events (at, message_id, recipient_id, type, detail)
     SELECT at, message_id, id, 'reception', detail::jsonb FROM x ORDER BY id`,
    [rcpt.id, rcpt.rcpt, rcpt.domain, rcpt.lane, rcpt.at, rcpt.detail],
  );
}
