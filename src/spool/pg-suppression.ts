/**
 * spool/pg-suppression — the suppression list on PostgreSQL: one row per address and scope
 * ('' = every sender, else a sender domain), shared by every node, so an address added on
 * one node is refused on all of them at their next check. Entries the rules add (a hard
 * bounce, a complaint) are written by spool/pg-effects.ts in the fact's own transaction;
 * a refusal at submission commits with its event and webhook rows.
 */
import type { PgEffects } from './pg-effects.js';
import type { PgPool } from './pg-pool.js';
import { inTransaction } from './pg-tx.js';
import type { RecipientRefusal, SuppressionFilter, SuppressionRecord } from './types-suppression.js';

interface Row { address: string; scope: string; reason: string; source: SuppressionRecord['source']; created_at: string }

function toRecord(r: Row): SuppressionRecord {
  return { address: r.address, scope: r.scope, reason: r.reason, source: r.source, createdAt: Number(r.created_at) };
}

export class PgSuppression {
  constructor(private readonly pool: PgPool, private readonly effects: PgEffects) {}

  async addSuppression(s: SuppressionRecord): Promise<boolean> {
    const r = await this.pool.query(`INSERT INTO suppressions (address, scope, reason, source, created_at) VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING`,
      [s.address, s.scope, s.reason, s.source, s.createdAt]);
    return (r.rowCount ?? 0) > 0;
  }

  async removeSuppression(address: string, scope?: string): Promise<number> {
    const r = await this.pool.query('DELETE FROM suppressions WHERE address = $1 AND ($2::text IS NULL OR scope = $2)', [address, scope ?? null]);
    return r.rowCount ?? 0;
  }

  /** In (address, scope) order, a page at a time (`after`/`afterScope`: the last row seen). */
  async listSuppressions(f: SuppressionFilter): Promise<SuppressionRecord[]> {
    const where: string[] = [];
    const args: unknown[] = [];
    const arg = (v: unknown): string => { args.push(v); return `$${args.length}`; };
    // A NUL cannot be in a PostgreSQL text value, nor in an address: such a search matches nothing.
    if (f.search?.includes('\0')) where.push('FALSE');
    else if (f.search) where.push(`address LIKE ${arg(`%${f.search.replace(/[\\%_]/g, (c) => `\\${c}`)}%`)} ESCAPE '\\'`);
    if (f.after && f.afterScope !== undefined) where.push(`(address, scope) > (${arg(f.after)}, ${arg(f.afterScope)})`);
    else if (f.after) where.push(`address > ${arg(f.after)}`);
    if (f.since !== undefined) where.push(`created_at >= ${arg(f.since)}`);
    if (f.until !== undefined) where.push(`created_at <= ${arg(f.until)}`);
    const limit = arg(Math.min(Math.max(f.limit ?? 1000, 1), 100_000));
    // The columns sort in byte order (migration 3), as SQLite's BINARY: the cursor and the order agree.
    const { rows } = await this.pool.query<Row>(`SELECT * FROM suppressions ${where.length ? `WHERE ${where.join(' AND ')}` : ''}
                                                 ORDER BY address, scope LIMIT ${limit}`, args);
    return rows.map(toRecord);
  }

  async isSuppressed(address: string, senderDomain: string): Promise<SuppressionRecord | undefined> {
    const { rows } = await this.pool.query<Row>(`SELECT * FROM suppressions WHERE address = $1 AND (scope = '' OR scope = $2) LIMIT 1`, [address, senderDomain]);
    return rows[0] ? toRecord(rows[0]) : undefined;
  }

  async recordRefusal(r: RecipientRefusal): Promise<void> {
    await inTransaction(this.pool, (tx) => this.effects.refused(tx, r));
    this.effects.signal();
  }
}
