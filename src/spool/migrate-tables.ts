/**
 * spool/migrate-tables — what `mta storage migrate --to postgres` copies (spool/migrate-to-pg.ts):
 * every table of the SQLite spool (spool/migrations.ts), in an order that puts each table after
 * the tables its foreign keys point to, each with the key its rows are read in and the columns
 * whose names differ on PostgreSQL. Pure data; it must never touch storage.
 *
 * The columns themselves are not listed: the copier reads them from both live schemas (SQLite's
 * PRAGMA table_info, PostgreSQL's information_schema) and converts each value by its PostgreSQL
 * column's type (0/1 to boolean, integers to BIGINT/INTEGER exactly, BLOB to bytea, JSON text to
 * jsonb or left as text). So a column added on both sides needs no change here, and a column
 * added only to SQLite makes the copy refuse, naming it, instead of dropping its values.
 *
 * A SQLite table added later must get an entry here, in COPY_SEQUENCES or in NOT_COPIED (with
 * why): test/storage-migrate.test.ts fails on a table of the spool that is in none of them.
 */

export interface CopyTable {
  /** the table, on both sides unless `pg` names another */
  readonly table: string;
  readonly pg?: string;
  /** the column(s) rows are read and inserted in: the primary key, so the copy is deterministic */
  readonly orderBy: string;
  /** SQLite column → PostgreSQL column, where the names differ */
  readonly rename?: Readonly<Record<string, string>>;
}

export const COPY_TABLES: readonly CopyTable[] = [
  // the queue: a message before its chunks and recipients (ON DELETE CASCADE keys)
  { table: 'messages', orderBy: 'id' },
  { table: 'message_chunks', orderBy: 'message_id, seq' },
  { table: 'recipients', orderBy: 'id' },
  { table: 'events', orderBy: 'id' },
  // accounts: a domain before its checks and senders
  { table: 'domains', orderBy: 'name' },
  { table: 'domain_checks', orderBy: 'domain, name' },
  { table: 'senders', orderBy: 'address' },
  { table: 'reply_to_sends', orderBy: 'nonce' },
  { table: 'suppressions', orderBy: 'address, scope' },
  // webhooks before their outbox and attempt log
  { table: 'webhooks', orderBy: 'id' },
  { table: 'webhook_outbox', orderBy: 'id' },
  { table: 'webhook_attempts', orderBy: 'id' },
  { table: 'stats_daily', orderBy: 'day, domain, sender, tag' },
  { table: 'stats_rcpt_daily', orderBy: 'day, rcpt_domain, domain' },
  { table: 'stats_rcpt_failed', orderBy: 'day, rcpt_domain, domain, category' },
  { table: 'stats_rcpt_latency', orderBy: 'day, rcpt_domain, domain, bucket' },
  { table: 'api_idempotency', orderBy: 'account, key' },
  { table: 'tags', orderBy: 'name' },
  { table: 'templates', orderBy: 'name' },
  // a list before its members
  { table: 'lists', orderBy: 'id' },
  { table: 'list_members', orderBy: 'list_id, address' },
  { table: 'tasks', orderBy: 'id' },
  { table: 'quota_daily', orderBy: 'day, domain' },
  { table: 'quota_reached', orderBy: 'domain, which, period' },
  { table: 'reputation', orderBy: 'domain' },
  { table: 'reputation_history', orderBy: 'id' },
  { table: 'egress_daily', orderBy: 'day, source, provider' },
  { table: 'mta_sts_policies', orderBy: 'domain' },
  { table: 'tls_rpt_counts', orderBy: 'domain, day, policy, result, mx, ip' },
  { table: 'tls_rpt_reports', orderBy: 'domain, day' },
  // a user before its sessions; "user" is reserved in PostgreSQL (spool/pg-schema-accounts.ts)
  { table: 'console_users', orderBy: 'name' },
  { table: 'console_sessions', orderBy: 'id_hash', rename: { user: 'user_name' } },
  { table: 'tracking_hits', orderBy: 'id' },
];

/**
 * SQLite tables that hold no rows of their own to copy but a floor for an id sequence on
 * PostgreSQL: the highest id ever given out, which must survive the move so no id is reused.
 */
export interface CopySequence {
  readonly table: string;
  /** the floor, one row one column */
  readonly query: string;
  /** the PostgreSQL table and column whose sequence gets it */
  readonly pg: string;
  readonly column: string;
}

export const COPY_SEQUENCES: readonly CopySequence[] = [
  // webhook ids are never reused, deleted ones included (migration 10): the sequence starts past the last one
  { table: 'webhook_ids', query: 'SELECT last FROM webhook_ids', pg: 'webhooks', column: 'id' },
];

/** SQLite tables deliberately not copied, each with why. */
export const NOT_COPIED: Readonly<Record<string, string>> = {
  // SQLite's own bookkeeping (AUTOINCREMENT counters, ANALYZE statistics): no data of ours;
  // the schema version is PRAGMA user_version, not a table.
  sqlite_sequence: 'SQLite bookkeeping (AUTOINCREMENT counters)',
  sqlite_stat1: 'SQLite bookkeeping (ANALYZE statistics)',
  sqlite_stat4: 'SQLite bookkeeping (ANALYZE statistics)',
  // The cluster port's liveness rows (SQLite step 21, spool/sqlite-cluster.ts), state of a running
  // node rather than data: a stopped node copied in would show as a dead cluster member, and its
  // job leases (minutes long) would only hold jobs back. Nodes on PostgreSQL write their own.
  nodes: 'this node\'s heartbeat: nodes on PostgreSQL register themselves when they start',
  job_leases: 'leases of one-at-a-time jobs, minutes long: nodes on PostgreSQL take them anew',
  // The throttle port's rows (SQLite step 22): connections of a stopped node and paces of the past.
  throttle_slots: 'connection slots of a running node, leased: nodes on PostgreSQL take their own',
  throttle_pace: 'when the next message of a pace may start: seconds of meaning, taken anew',
};
