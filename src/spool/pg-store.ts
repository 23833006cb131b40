/**
 * spool/pg-store — the PostgreSQL backend (issue 19), opened asynchronously: the pool
 * (spool/pg-pool.ts), its durability checked, its schema migrated (spool/pg-migrations.ts),
 * errors mapped to catalogue errors (spool/errors.ts). Of the Store contract's ports only
 * intake commits (spool/pg-intake.ts), claims (spool/pg-claims.ts) and message reads
 * and queue listing (spool/pg-messages.ts) are on PostgreSQL,
 * not yet composed into a Store: `PG_MISSING_PORTS` names what is missing, and openStore
 * refuses the backend with that list. It must never pretend a port exists by answering from somewhere else.
 */
import { mappingErrors } from './errors.js';
import { migratePg } from './pg-migrations.js';
import { checkDurability, createPgPool, type PgPoolOptions, type PgPool } from './pg-pool.js';

/** The Store contract's aggregates (spool/types-*.ts) not (or not wholly) ported to PostgreSQL. */
export const PG_MISSING_PORTS: readonly string[] = [
  'queue and intake', 'leases (claims)', 'effects', 'events and cursors', 'webhooks', 'domains', 'senders', 'suppression',
  'templates', 'lists', 'tasks', 'tags', 'quota', 'stats', 'egress', 'inbound', 'idempotency', 'audit', 'mta-sts',
];

/** What the PostgreSQL backend is so far: a migrated, durable pool. */
export interface PgBackend {
  /** the steps applied by this open (0 when another node had applied them) */
  readonly migrated: number;
  /** Runs a statement on the pool; errors arrive as catalogue errors. */
  query(sql: string, params?: unknown[]): Promise<{ rows: Record<string, unknown>[] }>;
  close(): Promise<void>;
}

/** Connects, checks durability and migrates; a failure closes the pool and rejects with a catalogue error. */
export async function openPgBackend(opts: PgPoolOptions): Promise<PgBackend> {
  const pool: PgPool = createPgPool(opts);
  const backend = mappingErrors({
    async open(): Promise<number> { await checkDurability(pool); return migratePg(pool); },
    async query(sql: string, params: unknown[] = []) { return pool.query(sql, params); },
    async close() { await pool.end(); },
  });
  try {
    const migrated = await backend.open();
    return { migrated, query: (sql, params) => backend.query(sql, params), close: () => backend.close() };
  } catch (e) {
    await pool.end().catch(() => undefined);
    throw e;
  }
}
