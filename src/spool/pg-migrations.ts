/**
 * spool/pg-migrations — the PostgreSQL backend's schema, one numbered step at a time, its
 * own list (the SQLite schema is spool/migrations.ts). `schema_migrations` records each step
 * applied; every step runs in a transaction of its own, and the whole run holds an advisory
 * lock, so nodes starting together apply each step once, in order. A step is never edited
 * once released; an older program refuses a newer schema (MTA_ERR_DB_SCHEMA) instead of
 * writing to it.
 */
import { MtaError } from '../util/errors.js';
import type { PgPool } from './pg-pool.js';
import { PG_ACCOUNTS_MIGRATION } from './pg-schema-accounts.js';
import { PG_CLUSTER_MIGRATION } from './pg-schema-cluster.js';

export interface PgMigration { name: string; sql: string }

export const PG_MIGRATIONS: readonly PgMigration[] = [
  {
    name: 'nodes',
    // The cluster's members: who claims (leases carry the node id) and whether it is alive.
    sql: `
    CREATE TABLE nodes (
      node_id      TEXT PRIMARY KEY,
      started_at   BIGINT NOT NULL,  -- ms since epoch, like every time in the spool
      heartbeat_at BIGINT NOT NULL
    )`,
  },
  {
    name: 'queue',
    // Messages, their bodies as chunked bytea (spool/chunks.ts), recipients with the lease a
    // claim takes (node, expiry, token: types-leases.ts), and the append-only event history.
    sql: `
    CREATE TABLE messages (
      id          TEXT PRIMARY KEY,
      received_at BIGINT NOT NULL,
      sender      TEXT NOT NULL,
      auth_user   TEXT,
      client_ip   TEXT,
      helo        TEXT,
      message_id  TEXT NOT NULL,
      size        BIGINT NOT NULL,
      lane        TEXT NOT NULL CHECK (lane IN ('trigger','batch')),
      tag         TEXT,
      subject     TEXT,
      task_id     TEXT,             -- the batch task the message belongs to
      return_path TEXT              -- the envelope MAIL FROM when not sender (a task's VERP address)
    );
    CREATE TABLE message_chunks (
      message_id TEXT NOT NULL REFERENCES messages(id) ON DELETE CASCADE,
      seq        INTEGER NOT NULL,
      data       BYTEA NOT NULL,
      PRIMARY KEY (message_id, seq)
    );
    CREATE TABLE recipients (
      id               BIGSERIAL PRIMARY KEY,
      message_id       TEXT NOT NULL REFERENCES messages(id) ON DELETE CASCADE,
      rcpt             TEXT NOT NULL,
      domain           TEXT NOT NULL,
      lane             TEXT NOT NULL CHECK (lane IN ('trigger','batch')),
      state            TEXT NOT NULL CHECK (state IN ('queued','sending','deferred','held','delivered','failed','suppressed','expired')),
      attempts         INTEGER NOT NULL DEFAULT 0,
      next_attempt_at  BIGINT NOT NULL,
      last_reply       TEXT,
      last_attempt_at  BIGINT,
      updated_at       BIGINT NOT NULL,
      claimed_by       TEXT,      -- the claim's node, token and lease end (types-leases.ts, spool/claims.ts)
      claim_token      BIGINT,
      lease_until      BIGINT
    );
    CREATE INDEX recipients_due ON recipients (state, lane, next_attempt_at);
    CREATE INDEX recipients_message ON recipients (message_id);
    CREATE INDEX recipients_lease ON recipients (lease_until) WHERE state = 'sending';
    CREATE TABLE events (
      id           BIGSERIAL PRIMARY KEY,
      at           BIGINT NOT NULL,
      message_id   TEXT,
      recipient_id BIGINT,
      type         TEXT NOT NULL,
      detail       JSONB NOT NULL DEFAULT '{}'
    );
    CREATE INDEX events_message ON events (message_id, id);
    CREATE INDEX events_recipient ON events (recipient_id, id)`,
  },
  PG_ACCOUNTS_MIGRATION, // step 4, after the core ports' step 3 (spool/pg-schema-accounts.ts)
  PG_CLUSTER_MIGRATION, // step 5: node heartbeats and job leases (spool/pg-schema-cluster.ts)
];

/** The advisory lock key the migration run holds ("mta" "migr" as two int4s). */
export const MIGRATION_LOCK: readonly [number, number] = [0x6d7461, 0x6d696772];

/** Applies the steps the database lacks; the number of steps applied by this call. */
export async function migratePg(pool: PgPool, migrations: readonly PgMigration[] = PG_MIGRATIONS): Promise<number> {
  const client = await pool.connect();
  let applied = 0;
  try {
    // Session-level: held across the steps' transactions, released below or when the connection dies.
    await client.query('SELECT pg_advisory_lock($1, $2)', [...MIGRATION_LOCK]);
    try {
      await client.query(`CREATE TABLE IF NOT EXISTS schema_migrations (
        version    INTEGER PRIMARY KEY,
        name       TEXT NOT NULL,
        applied_at TIMESTAMPTZ NOT NULL DEFAULT now()
      )`);
      const { rows } = await client.query<{ v: number | null }>('SELECT max(version) AS v FROM schema_migrations');
      const current = rows[0]?.v ?? 0;
      if (current > migrations.length) {
        throw new MtaError('MTA_ERR_DB_SCHEMA', `PostgreSQL schema version ${current} is newer than this program (${migrations.length}); upgrade mta on this node`);
      }
      for (let v = current + 1; v <= migrations.length; v++) {
        const step = migrations[v - 1]!;
        await client.query('BEGIN');
        try {
          await client.query(step.sql);
          await client.query('INSERT INTO schema_migrations (version, name) VALUES ($1, $2)', [v, step.name]);
          await client.query('COMMIT');
        } catch (e) {
          await client.query('ROLLBACK').catch(() => undefined);
          throw e;
        }
        applied++;
      }
    } finally {
      await client.query('SELECT pg_advisory_unlock($1, $2)', [...MIGRATION_LOCK]).catch(() => undefined);
    }
  } finally {
    client.release();
  }
  return applied;
}
