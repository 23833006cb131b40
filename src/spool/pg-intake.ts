/**
 * spool/pg-intake — intake on PostgreSQL: a message, its body as chunked bytea and its
 * recipients ('queued', each with its reception event) committed group-wise — the messages
 * whose DATA ended together share one transaction and one COMMIT (spool/group-commit.ts),
 * and each caller's promise settles only after that COMMIT (synchronous_commit on,
 * spool/pg-pool.ts), so a `250` never precedes durability. A failed batch stores nothing of
 * any of its messages. What intake commits with a message on SQLite and is not ported yet
 * (alias tasks, idempotency records, statistics) is refused, never dropped.
 */
import { MtaError } from '../util/errors.js';
import { RECIPIENT_STATES, type RecipientState } from './states.js';
import type { QueueId } from '../util/ids.js';
import type { IncomingMessage } from './types-queue.js';
import { mappingErrors } from './errors.js';
import { GroupCommit } from './group-commit.js';
import { insertMessage } from './pg-message-rows.js';
import type { PgPool } from './pg-pool.js';

export interface PgIntakeOptions { windowMs: number; maxBatch: number }

export class PgIntake {
  private readonly group: GroupCommit<IncomingMessage>;

  private constructor(private readonly pool: PgPool, opts: PgIntakeOptions) {
    this.group = new GroupCommit<IncomingMessage>((batch) => this.write(batch), { name: 'intake', windowMs: opts.windowMs, maxBatch: opts.maxBatch });
  }

  /** Intake on `pool` (migrated), its errors catalogue errors. */
  static open(pool: PgPool, opts: PgIntakeOptions): PgIntake {
    return mappingErrors(new PgIntake(pool, opts));
  }

  commitIncoming(msg: IncomingMessage): Promise<void> {
    // Before the batch: a message whose 250 promises more than this port stores is refused whole.
    if (msg.aliasTasks?.length) return Promise.reject(new MtaError('MTA_ERR_STORAGE_BACKEND', 'alias tasks are not ported to PostgreSQL yet'));
    if (msg.idempotency) return Promise.reject(new MtaError('MTA_ERR_STORAGE_BACKEND', 'idempotency records are not ported to PostgreSQL yet'));
    return this.group.submit(msg);
  }

  private async write(batch: readonly IncomingMessage[]): Promise<void> {
    const client = await this.pool.connect();
    try {
      await client.query('BEGIN');
      for (const m of batch) {
        await insertMessage(client, m, (rcpt) => ({ sender: m.sender, rcpt, size: m.size, client_ip: m.clientIp, auth_user: m.authUser }));
      }
      await client.query('COMMIT');
    } catch (e) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw e;
    } finally {
      client.release();
    }
  }

  /** The body, CHUNK bytes at a time, a few chunks per query so memory stays flat. */
  async *readBody(id: QueueId): AsyncIterable<Buffer> {
    for (let seq = 0; ;) {
      const { rows } = await this.pool.query<{ data: Buffer }>('SELECT data FROM message_chunks WHERE message_id = $1 AND seq >= $2 ORDER BY seq LIMIT 16', [id, seq]);
      if (rows.length === 0) return;
      for (const r of rows) { yield r.data; seq++; }
    }
  }

  async countByState(): Promise<Record<RecipientState, number>> {
    const out = Object.fromEntries(RECIPIENT_STATES.map((s) => [s, 0])) as Record<RecipientState, number>;
    const { rows } = await this.pool.query<{ state: RecipientState; n: number }>('SELECT state, count(*)::int AS n FROM recipients GROUP BY state');
    for (const r of rows) out[r.state] = r.n;
    return out;
  }
}
