/**
 * spool/pg-audit — the PostgreSQL side of `AuditStore`: plain reads, and a digest of every
 * row of every table of the schema, read in one REPEATABLE READ snapshot so concurrent
 * writers cannot tear it. Must never write, and must never be on a hot path.
 */
import { LIVENESS_TABLES } from './cluster-rows.js';
import { createHash } from 'node:crypto';
import { asRecipientId, type QueueId } from '../util/ids.js';
import type { PgPool } from './pg-pool.js';
import { inTransaction } from './pg-tx.js';
import type { AuditEvent, OutboxFigures } from './types-audit.js';

export class PgAudit {
  constructor(private readonly pool: PgPool) {}

  async auditMessageIds(): Promise<QueueId[]> {
    const { rows } = await this.pool.query<{ id: QueueId }>('SELECT id FROM messages ORDER BY received_at, id');
    return rows.map((r) => r.id);
  }

  async auditEvents(type: string, limit = 1000): Promise<AuditEvent[]> {
    const { rows } = await this.pool.query<{ id: string; at: string; message_id: string | null; recipient_id: string | null; type: string; detail: Record<string, unknown> }>(
      'SELECT id, at, message_id, recipient_id, type, detail FROM events WHERE type = $1 ORDER BY id LIMIT $2', [type, Math.min(Math.max(limit, 1), 100_000)]);
    return rows.map((e) => ({
      id: Number(e.id), at: Number(e.at), queueId: e.message_id as QueueId | null,
      recipientId: e.recipient_id === null ? null : asRecipientId(Number(e.recipient_id)), type: e.type, detail: e.detail,
    }));
  }

  async auditOutbox(): Promise<OutboxFigures> {
    const { rows } = await this.pool.query<OutboxFigures>(
      `SELECT count(*)::int AS rows, coalesce(sum(attempts), 0)::int AS attempts, count(*) FILTER (WHERE state = 'dead')::int AS dead FROM webhook_outbox`);
    return rows[0]!;
  }

  /** Rows as text, sorted within each table, so the digest depends on content, not on storage order. */
  async auditDigest(): Promise<string> {
    const h = createHash('sha256');
    await inTransaction(this.pool, async (tx) => {
      await tx.query('SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY');
      const { rows: tables } = await tx.query<{ name: string }>(
        `SELECT tablename AS name FROM pg_tables WHERE schemaname = current_schema() ORDER BY tablename COLLATE "C"`);
      for (const { name } of tables) {
        // Heartbeats and job leases change while nothing else does (spool/cluster-rows.ts).
        if (LIVENESS_TABLES.includes(name)) continue;
        const { rows } = await tx.query<{ t: string }>(`SELECT t::text AS t FROM "${name.replace(/"/g, '""')}" t`);
        h.update(`${name}\n${rows.map((r) => r.t).sort().join('\n')}\n`);
      }
    });
    return h.digest('hex');
  }
}
