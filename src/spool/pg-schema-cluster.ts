/**
 * spool/pg-schema-cluster — the PostgreSQL migration step of the cluster port (issue 19,
 * spool/pg-cluster.ts): what a node says at each heartbeat, added to the `nodes` table of
 * step 1, and the one-at-a-time jobs' leases (one row per job). Mirrors SQLite's step 21
 * (spool/migrations.ts); names are COLLATE "C" so listings order as SQLite's bytes do.
 * It must never be edited once released; a change is a new step.
 */
import type { PgMigration } from './pg-migrations.js';

export const PG_CLUSTER_MIGRATION: PgMigration = {
  name: 'cluster',
  sql: `
    ALTER TABLE nodes ADD COLUMN version   TEXT NOT NULL DEFAULT '';
    ALTER TABLE nodes ADD COLUMN hostname  TEXT NOT NULL DEFAULT '';
    ALTER TABLE nodes ADD COLUMN listeners TEXT NOT NULL DEFAULT '[]';  -- JSON array of strings, as SQLite keeps it
    CREATE TABLE job_leases (
      job         TEXT COLLATE "C" PRIMARY KEY,
      node_id     TEXT COLLATE "C" NOT NULL,
      since       BIGINT NOT NULL,          -- when node_id took the job; renewals keep it
      lease_until BIGINT NOT NULL
    )`,
};
