/**
 * spool/pg-schema-throttles — the PostgreSQL migration step of the throttle port (issue 19,
 * spool/pg-throttles.ts): connection slots as leased rows and pace rows. Mirrors SQLite's
 * step 22 (spool/migrations.ts). The tables are UNLOGGED: a transaction that writes only
 * them writes no WAL, so it commits without waiting for a flush (every other write of ours
 * waits: synchronous_commit is on), which keeps a slot taken per connection and a pace moved
 * per message cheap. What that costs is acceptable for leases: after a crash of the server
 * or a failover the tables start empty, so for one lease the nodes may hold more than a
 * limit (their connections in flight are not counted until they end); nothing of the mail
 * depends on these rows. It must never be edited once released; a change is a new step.
 */
import type { PgMigration } from './pg-migrations.js';

export const PG_THROTTLES_MIGRATION: PgMigration = {
  name: 'throttles',
  sql: `
    CREATE UNLOGGED TABLE throttle_slots (
      key         TEXT COLLATE "C" NOT NULL,
      slot        INTEGER NOT NULL,
      holder      TEXT NOT NULL,
      node_id     TEXT COLLATE "C" NOT NULL,
      lease_until BIGINT NOT NULL,
      PRIMARY KEY (key, slot)
    );
    CREATE INDEX throttle_slots_node ON throttle_slots (node_id);
    CREATE UNLOGGED TABLE throttle_pace (
      key     TEXT COLLATE "C" PRIMARY KEY,
      next_at BIGINT NOT NULL
    )`,
};
