/**
 * spool/pg-schema-accounts — the PostgreSQL migration step of the "accounts" aggregates
 * (issue 19): domains and their checks, senders, tags, templates, lists and members, batch
 * tasks, egress counters, MTA-STS policies, TLS reporting, console users and sessions,
 * tracking hits. The tables mirror SQLite's (spool/migrations.ts) so a port answers the
 * same on both backends:
 * - times are BIGINT milliseconds; flags are BOOLEAN;
 * - every text column that is ordered or compared by range (names, addresses, ids, cursors)
 *   is COLLATE "C": SQLite compares bytes, and a database made with another locale would
 *   otherwise list and page in another order;
 * - JSON stays TEXT where SQLite keeps JSON text (list columns and member variables, task
 *   content, MTA-STS mx): jsonb would reorder an object's keys, and callers see that order.
 * It must never be edited once released; a change is a new step.
 */
import type { PgMigration } from './pg-migrations.js';

export const PG_ACCOUNTS_MIGRATION: PgMigration = {
  name: 'accounts',
  sql: `
    CREATE TABLE domains (
      name                  TEXT COLLATE "C" PRIMARY KEY,
      dkim_selector         TEXT NOT NULL,
      dkim_algorithm        TEXT NOT NULL CHECK (dkim_algorithm IN ('rsa','ed25519')),
      dkim_private_key      TEXT NOT NULL,
      dkim_public_key       TEXT NOT NULL,
      ownership_token       TEXT NOT NULL,
      status                TEXT NOT NULL DEFAULT 'unverified',
      created_at            BIGINT NOT NULL,
      checked_at            BIGINT,
      next_dkim_selector    TEXT,
      next_dkim_private_key TEXT,
      next_dkim_public_key  TEXT
    );
    CREATE TABLE domain_checks (
      domain     TEXT COLLATE "C" NOT NULL REFERENCES domains(name) ON DELETE CASCADE,
      name       TEXT COLLATE "C" NOT NULL,
      status     TEXT NOT NULL CHECK (status IN ('ok','missing','mismatch','error','skipped')),
      expected   TEXT,
      found      TEXT,
      detail     TEXT,
      checked_at BIGINT NOT NULL,
      PRIMARY KEY (domain, name)
    );
    CREATE INDEX IF NOT EXISTS events_domain ON events (id) WHERE message_id IS NULL AND type LIKE 'domain.%';
    CREATE TABLE senders (
      address       TEXT COLLATE "C" PRIMARY KEY,
      domain        TEXT COLLATE "C" NOT NULL REFERENCES domains(name),
      type          TEXT NOT NULL CHECK (type IN ('trigger','batch')),
      reply_to      TEXT,
      reply_to_state       TEXT CHECK (reply_to_state IN ('pending','verified')),
      reply_to_nonce       TEXT,
      reply_to_sent_at     BIGINT,
      reply_to_expires_at  BIGINT,
      reply_to_verified_at BIGINT,
      password_hash TEXT,
      disabled      BOOLEAN NOT NULL DEFAULT false,
      created_at    BIGINT NOT NULL
    );
    CREATE INDEX senders_domain ON senders (domain);
    CREATE TABLE reply_to_sends (
      nonce      TEXT PRIMARY KEY,
      sender     TEXT COLLATE "C" NOT NULL,
      address    TEXT NOT NULL,
      sent_at    BIGINT NOT NULL,
      expires_at BIGINT NOT NULL,
      used_at    BIGINT
    );
    CREATE INDEX reply_to_sends_sender ON reply_to_sends (sender, sent_at);
    CREATE INDEX reply_to_sends_address ON reply_to_sends (lower(address), sent_at);
    CREATE TABLE tags (
      name        TEXT COLLATE "C" PRIMARY KEY,
      description TEXT NOT NULL DEFAULT '',
      created_at  BIGINT NOT NULL
    );
    CREATE TABLE templates (
      name          TEXT COLLATE "C" PRIMARY KEY,
      subject       TEXT NOT NULL,
      from_name     TEXT,
      html          TEXT NOT NULL,
      text          TEXT,
      state         TEXT NOT NULL CHECK (state IN ('draft','approved','rejected')),
      reject_reason TEXT,
      created_at    BIGINT NOT NULL,
      updated_at    BIGINT NOT NULL
    );
    CREATE TABLE lists (
      id          BIGSERIAL PRIMARY KEY,
      name        TEXT COLLATE "C" NOT NULL UNIQUE,
      alias       TEXT COLLATE "C" NOT NULL UNIQUE,
      description TEXT,
      columns     TEXT NOT NULL DEFAULT '[]',
      created_at  BIGINT NOT NULL
    );
    CREATE TABLE list_members (
      list_id    BIGINT NOT NULL REFERENCES lists(id) ON DELETE CASCADE,
      address    TEXT COLLATE "C" NOT NULL,
      variables  TEXT NOT NULL DEFAULT '{}',
      updated_at BIGINT NOT NULL,
      import_id  TEXT,
      PRIMARY KEY (list_id, address)
    );
    CREATE TABLE tasks (
      id                     TEXT COLLATE "C" PRIMARY KEY,
      kind                   TEXT NOT NULL CHECK (kind IN ('template','alias')),
      list                   TEXT NOT NULL,
      template               TEXT,
      content                TEXT,
      source_id              TEXT,
      sender                 TEXT NOT NULL,
      tag                    TEXT,
      address_type           TEXT NOT NULL DEFAULT 'sender' CHECK (address_type IN ('sender','random')),
      tracking               BOOLEAN NOT NULL DEFAULT false,
      unsubscribe            BOOLEAN NOT NULL DEFAULT false,
      state                  TEXT NOT NULL CHECK (state IN ('queued','sending','paused','paused_quota','done','cancelled')),
      pause_reason           TEXT,
      resume_at              BIGINT,
      cursor                 TEXT COLLATE "C",
      exhausted              BOOLEAN NOT NULL DEFAULT false,
      list_size              INTEGER,
      requested              INTEGER NOT NULL DEFAULT 0,
      suppressed             INTEGER NOT NULL DEFAULT 0,
      invalid                INTEGER NOT NULL DEFAULT 0,
      delivered              INTEGER NOT NULL DEFAULT 0,
      failed                 INTEGER NOT NULL DEFAULT 0,
      bounced_invalid        INTEGER NOT NULL DEFAULT 0,
      bounced_after_delivery INTEGER NOT NULL DEFAULT 0,
      created_at             BIGINT NOT NULL,
      updated_at             BIGINT NOT NULL,
      finished_at            BIGINT
    );
    CREATE INDEX tasks_state ON tasks (state);
    CREATE INDEX tasks_source ON tasks (source_id) WHERE source_id IS NOT NULL;
    -- IF NOT EXISTS: indexes on the core tables, which the core step may make too.
    CREATE INDEX IF NOT EXISTS messages_task ON messages (task_id) WHERE task_id IS NOT NULL;
    CREATE INDEX IF NOT EXISTS messages_message_id ON messages (message_id);
    CREATE TABLE egress_daily (
      day      TEXT COLLATE "C" NOT NULL,
      source   TEXT COLLATE "C" NOT NULL,
      provider TEXT COLLATE "C" NOT NULL,
      sent     INTEGER NOT NULL DEFAULT 0,
      deferred INTEGER NOT NULL DEFAULT 0,
      blocked  INTEGER NOT NULL DEFAULT 0,
      PRIMARY KEY (day, source, provider)
    );
    CREATE TABLE mta_sts_policies (
      domain     TEXT PRIMARY KEY,
      id         TEXT NOT NULL,
      mode       TEXT NOT NULL,
      mx         TEXT NOT NULL,
      max_age    BIGINT NOT NULL,
      fetched_at BIGINT NOT NULL,
      expires_at BIGINT NOT NULL
    );
    CREATE INDEX mta_sts_policies_expiry ON mta_sts_policies (expires_at);
    CREATE TABLE tls_rpt_counts (
      domain TEXT COLLATE "C" NOT NULL,
      day    TEXT COLLATE "C" NOT NULL,
      policy TEXT COLLATE "C" NOT NULL,
      result TEXT COLLATE "C" NOT NULL,
      mx     TEXT COLLATE "C" NOT NULL,
      ip     TEXT COLLATE "C" NOT NULL,
      count  BIGINT NOT NULL,
      PRIMARY KEY (domain, day, policy, result, mx, ip)
    );
    CREATE INDEX tls_rpt_counts_day ON tls_rpt_counts (day);
    CREATE TABLE tls_rpt_reports (
      domain     TEXT COLLATE "C" NOT NULL,
      day        TEXT COLLATE "C" NOT NULL,
      node       TEXT NOT NULL,
      claimed_at BIGINT NOT NULL,
      sent_at    BIGINT,
      error      TEXT,
      PRIMARY KEY (domain, day)
    );
    CREATE TABLE console_users (
      name                TEXT COLLATE "C" PRIMARY KEY,
      role                TEXT NOT NULL CHECK (role IN ('admin', 'operator', 'viewer')),
      password_hash       TEXT NOT NULL,
      created_at          BIGINT NOT NULL,
      password_changed_at BIGINT NOT NULL
    );
    -- "user" is a reserved word in PostgreSQL: the session's user is user_name here.
    CREATE TABLE console_sessions (
      id_hash      TEXT PRIMARY KEY,
      user_name    TEXT COLLATE "C" NOT NULL REFERENCES console_users (name) ON DELETE CASCADE,
      created_at   BIGINT NOT NULL,
      last_seen_at BIGINT NOT NULL
    );
    CREATE INDEX console_sessions_user ON console_sessions (user_name);
    CREATE TABLE tracking_hits (
      id           BIGSERIAL PRIMARY KEY,
      at           BIGINT NOT NULL,
      kind         TEXT NOT NULL,
      queue_id     TEXT NOT NULL,
      recipient_id BIGINT NOT NULL,
      link         INTEGER,
      url          TEXT,
      ip           TEXT,
      user_agent   TEXT,
      method       TEXT NOT NULL,
      class        TEXT NOT NULL,
      reason       TEXT,
      first        BOOLEAN NOT NULL DEFAULT false
    );
    CREATE INDEX tracking_hits_rcpt ON tracking_hits (recipient_id, kind, at);
    CREATE INDEX tracking_hits_queue ON tracking_hits (queue_id);
    CREATE INDEX tracking_hits_at ON tracking_hits (at)`,
};
