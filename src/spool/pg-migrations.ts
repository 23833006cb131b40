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
import { PG_THROTTLES_MIGRATION } from './pg-schema-throttles.js';

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
  {
    name: 'core',
    // What an outcome commits with (spool/pg-effects.ts) and the ports beside it: suppression,
    // webhooks with their outbox (leased like recipients) and attempt log, the daily counters
    // (per sender and per recipient domain), idempotency records, quotas and reputation. The
    // same tables as SQLite's (spool/migrations.ts), so the rules read the same facts.
    sql: `
    ALTER TABLE recipients ADD COLUMN deferred_event_at BIGINT;  -- the last reported deferral (the rules' throttle)
    CREATE INDEX recipients_ready ON recipients (lane, next_attempt_at) WHERE state IN ('queued','deferred');
    CREATE INDEX messages_received ON messages (received_at);
    CREATE INDEX events_type ON events (type, at);
    -- Byte order ("C"), as SQLite's: the listing pages by (address, scope) on this index, whatever the database's locale.
    CREATE TABLE suppressions (
      address    TEXT COLLATE "C" NOT NULL,
      scope      TEXT COLLATE "C" NOT NULL DEFAULT '',  -- '' = every sender; else a sender domain
      reason     TEXT NOT NULL,
      source     TEXT NOT NULL CHECK (source IN ('bounce','complaint','unsubscribe','manual')),
      created_at BIGINT NOT NULL,
      PRIMARY KEY (address, scope)
    );
    -- Identity: ids are never reused, deleted ones included (as SQLite's webhook_ids keeps).
    CREATE TABLE webhooks (
      id         BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
      url        TEXT NOT NULL,
      sender     TEXT,
      events     TEXT NOT NULL DEFAULT '*',
      format     TEXT NOT NULL DEFAULT 'json' CHECK (format IN ('json','form')),
      secret     TEXT NOT NULL,
      created_at BIGINT NOT NULL,
      disabled   BOOLEAN NOT NULL DEFAULT FALSE
    );
    CREATE INDEX webhooks_sender ON webhooks (sender);
    CREATE TABLE webhook_outbox (
      id              BIGSERIAL PRIMARY KEY,
      webhook_id      BIGINT NOT NULL REFERENCES webhooks(id) ON DELETE CASCADE,
      event           TEXT NOT NULL,
      payload         TEXT NOT NULL,
      created_at      BIGINT NOT NULL,
      next_attempt_at BIGINT NOT NULL,
      claimed_until   BIGINT,
      claimed_by      TEXT,
      claim_token     BIGINT,
      attempts        INTEGER NOT NULL DEFAULT 0,
      state           TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('pending','delivered','failed','dead')),
      last_status     TEXT,
      updated_at      BIGINT NOT NULL
    );
    CREATE INDEX webhook_outbox_due ON webhook_outbox (next_attempt_at) WHERE state IN ('pending','failed');
    CREATE INDEX webhook_outbox_hook ON webhook_outbox (webhook_id, state);
    CREATE INDEX webhook_outbox_done ON webhook_outbox (updated_at) WHERE state IN ('delivered','dead');
    CREATE TABLE webhook_attempts (
      id          BIGSERIAL PRIMARY KEY,
      webhook_id  BIGINT NOT NULL REFERENCES webhooks(id) ON DELETE CASCADE,
      outbox_id   BIGINT,
      event       TEXT NOT NULL,
      at          BIGINT NOT NULL,
      status      INTEGER,
      error       TEXT,
      duration_ms INTEGER NOT NULL
    );
    CREATE INDEX webhook_attempts_hook ON webhook_attempts (webhook_id, id);
    CREATE INDEX webhook_attempts_at ON webhook_attempts (at);
    CREATE TABLE stats_daily (
      day TEXT NOT NULL, domain TEXT NOT NULL, sender TEXT NOT NULL, tag TEXT NOT NULL DEFAULT '',
      requests BIGINT NOT NULL DEFAULT 0, delivered BIGINT NOT NULL DEFAULT 0, failed BIGINT NOT NULL DEFAULT 0,
      invalid BIGINT NOT NULL DEFAULT 0, deferred BIGINT NOT NULL DEFAULT 0, expired BIGINT NOT NULL DEFAULT 0,
      cancelled BIGINT NOT NULL DEFAULT 0, complaints BIGINT NOT NULL DEFAULT 0, late_bounces BIGINT NOT NULL DEFAULT 0,
      late_invalid BIGINT NOT NULL DEFAULT 0,
      PRIMARY KEY (day, domain, sender, tag)
    );
    CREATE TABLE stats_rcpt_daily (
      day TEXT NOT NULL, domain TEXT NOT NULL, rcpt_domain TEXT NOT NULL,
      requests BIGINT NOT NULL DEFAULT 0, delivered BIGINT NOT NULL DEFAULT 0, failed BIGINT NOT NULL DEFAULT 0,
      invalid BIGINT NOT NULL DEFAULT 0, deferred BIGINT NOT NULL DEFAULT 0, expired BIGINT NOT NULL DEFAULT 0,
      cancelled BIGINT NOT NULL DEFAULT 0,
      PRIMARY KEY (day, rcpt_domain, domain)
    );
    CREATE TABLE stats_rcpt_failed (
      day TEXT NOT NULL, domain TEXT NOT NULL, rcpt_domain TEXT NOT NULL, category TEXT NOT NULL, n BIGINT NOT NULL DEFAULT 0,
      PRIMARY KEY (day, rcpt_domain, domain, category)
    );
    CREATE TABLE stats_rcpt_latency (
      day TEXT NOT NULL, domain TEXT NOT NULL, rcpt_domain TEXT NOT NULL, bucket INTEGER NOT NULL, n BIGINT NOT NULL DEFAULT 0,
      PRIMARY KEY (day, rcpt_domain, domain, bucket)
    );
    CREATE TABLE api_idempotency (
      account     TEXT NOT NULL,
      key         TEXT NOT NULL,
      fingerprint TEXT NOT NULL,
      status      INTEGER NOT NULL,
      response    TEXT NOT NULL,
      created_at  BIGINT NOT NULL,
      PRIMARY KEY (account, key)
    );
    CREATE INDEX api_idempotency_age ON api_idempotency (created_at);
    CREATE TABLE quota_daily (
      day TEXT NOT NULL, domain TEXT NOT NULL, spam_bounces BIGINT NOT NULL DEFAULT 0,
      PRIMARY KEY (day, domain)
    );
    CREATE TABLE quota_reached (
      domain TEXT NOT NULL,
      which  TEXT NOT NULL CHECK (which IN ('daily','monthly')),
      period TEXT NOT NULL,
      at     BIGINT NOT NULL,
      PRIMARY KEY (domain, which, period)
    );
    CREATE TABLE reputation (
      domain       TEXT PRIMARY KEY,
      level        INTEGER NOT NULL,
      day          TEXT NOT NULL,
      banned_until BIGINT,
      ban_reason   TEXT,
      updated_at   BIGINT NOT NULL
    );
    CREATE TABLE reputation_history (
      id         BIGSERIAL PRIMARY KEY,
      domain     TEXT NOT NULL,
      at         BIGINT NOT NULL,
      from_level INTEGER NOT NULL,
      to_level   INTEGER NOT NULL,
      change     TEXT NOT NULL CHECK (change IN ('up','down','ban','set')),
      reason     TEXT NOT NULL
    );
    CREATE INDEX reputation_history_domain ON reputation_history (domain, id)`,
  },
  PG_ACCOUNTS_MIGRATION, // step 4, after the core ports' step 3 (spool/pg-schema-accounts.ts)
  PG_CLUSTER_MIGRATION, // step 5: node heartbeats and job leases (spool/pg-schema-cluster.ts)
  PG_THROTTLES_MIGRATION, // step 6: cluster-wide connection slots and pace rows (spool/pg-schema-throttles.ts)
];

/** The advisory lock key the migration run holds ("mta" "migr" as two int4s). */
export const MIGRATION_LOCK: readonly [number, number] = [0x6d7461, 0x6d696772];

/** Applies the steps the database lacks; the number of steps applied by this call. */
export async function migratePg(pool: PgPool, migrations: readonly PgMigration[] = PG_MIGRATIONS): Promise<number> {
  const client = await pool.connect();
  let applied = 0;
  // A server going away fails the statement; its 'error' event must not crash the process.
  let lost: Error | undefined;
  const onError = (e: Error): void => { lost = e; };
  client.on('error', onError);
  try {
    // Another node migrating holds the lock as long as its steps take, and a step's DDL waits
    // for the running nodes' transactions: neither is a stall, so this session waits without
    // the pool's lock_timeout (restored below before the connection goes back to the pool).
    await client.query('SET lock_timeout = 0');
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
      await client.query('RESET lock_timeout').catch(() => undefined);
    }
  } finally {
    client.removeListener('error', onError);
    client.release(lost);
  }
  return applied;
}
