/**
 * spool/sqlite-audit — the SQLite side of `AuditStore`: plain reads over the tables, and a
 * digest of every row of every table. Must never write, and must never be on a hot path
 * (the digest reads the whole database).
 */
import { createHash } from 'node:crypto';
import type { Statement } from 'better-sqlite3';
import type { Db } from './db.js';
import type { QueueId } from '../util/ids.js';
import { asRecipientId } from '../util/ids.js';
import type { AuditEvent, OutboxFigures } from './types-audit.js';
import { LIVENESS_TABLES } from './cluster-rows.js';

export class SqliteAudit {
  private readonly st: Record<string, Statement>;

  constructor(private readonly db: Db) {
    this.st = {
      messageIds: db.prepare('SELECT id FROM messages ORDER BY received_at, id'),
      events: db.prepare('SELECT id, at, message_id, recipient_id, type, detail FROM events WHERE type = ? ORDER BY id LIMIT ?'),
      outbox: db.prepare(`SELECT COUNT(*) AS rows, COALESCE(SUM(attempts), 0) AS attempts, COALESCE(SUM(state = 'dead'), 0) AS dead FROM webhook_outbox`),
      tables: db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name"),
    };
  }

  messageIds(): QueueId[] {
    return (this.st['messageIds']!.all() as { id: QueueId }[]).map((r) => r.id);
  }

  events(type: string, limit = 1000): AuditEvent[] {
    const rows = this.st['events']!.all(type, Math.min(Math.max(limit, 1), 100_000)) as { id: number; at: number; message_id: string | null; recipient_id: number | null; type: string; detail: string }[];
    return rows.map((e) => ({
      id: e.id, at: e.at, queueId: e.message_id as QueueId | null, recipientId: e.recipient_id === null ? null : asRecipientId(e.recipient_id),
      type: e.type, detail: JSON.parse(e.detail) as Record<string, unknown>,
    }));
  }

  outbox(): OutboxFigures {
    return this.st['outbox']!.get() as OutboxFigures;
  }

  /** Rows sorted within each table, so the digest depends on content, not on storage order. */
  digest(): string {
    const h = createHash('sha256');
    const cell = (_k: string, v: unknown): unknown => (Buffer.isBuffer(v) ? v.toString('hex') : typeof v === 'bigint' ? String(v) : v);
    this.db.transaction(() => {
      for (const { name } of this.st['tables']!.all() as { name: string }[]) {
        if (LIVENESS_TABLES.includes(name)) continue;
        const rows = this.db.prepare(`SELECT * FROM "${name.replace(/"/g, '""')}"`).raw().all().map((r) => JSON.stringify(r, cell));
        h.update(`${name}\n${rows.sort().join('\n')}\n`);
      }
    })();
    return h.digest('hex');
  }
}
