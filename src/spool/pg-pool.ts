/**
 * spool/pg-pool — the PostgreSQL backend's connection pool (pg driver): every connection
 * runs with synchronous_commit on, so a COMMIT returns only once the WAL is flushed (a
 * `250` is only given after it), and the pool checks that the server really does so. It
 * must never open a connection with durability weakened, and never hide the server's errors
 * (callers map them, spool/pg-errors.ts).
 *
 * Every connection also waits a bounded time for a lock another connection holds
 * (`lock_timeout`): a node whose peer stalls inside a transaction then refuses with 451
 * (55P03, MTA_ERR_SPOOL_BUSY) instead of holding a client's DATA for ever. A transaction left
 * idle that long (a frozen node) is ended by the server, releasing what it locked.
 */
import pg from 'pg';
import { MtaError } from '../util/errors.js';

export interface PgPoolOptions {
  url: string;
  poolSize: number;
  /** how long a statement waits for a lock before failing (ms); config `storage.postgres_lock_timeout` */
  lockTimeoutMs?: number | undefined;
}

/** The lock wait unless configured: long enough for any transaction of ours, short enough for an SMTP client. */
export const DEFAULT_PG_LOCK_TIMEOUT_MS = 10_000;
/** A transaction idle this long is abandoned (its node froze mid-transaction): the server ends it. */
const IDLE_IN_TRANSACTION_MS = 60_000;

export type PgPool = pg.Pool;

/** A pool to `url`; call `checkDurability` before trusting it with mail. */
export function createPgPool(opts: PgPoolOptions): PgPool {
  const pool = new pg.Pool({
    connectionString: opts.url, max: opts.poolSize,
    // a server that does not answer is a temporary refusal (451), not a submission hanging for ever
    connectionTimeoutMillis: 10_000,
    // set at connection start-up, before any statement: no window in which a commit is asynchronous
    options: `-c synchronous_commit=on -c lock_timeout=${opts.lockTimeoutMs ?? DEFAULT_PG_LOCK_TIMEOUT_MS} -c idle_in_transaction_session_timeout=${IDLE_IN_TRANSACTION_MS}`,
    application_name: 'mta',
  });
  // An idle client losing its server (a restart) must not crash the process: the next query reconnects.
  pool.on('error', () => undefined);
  return pool;
}

/** Refuses (MTA_ERR_DB_DURABILITY) a server on which our connections do not commit synchronously. */
export async function checkDurability(pool: PgPool): Promise<void> {
  const { rows } = await pool.query<{ synchronous_commit: string; fsync: string }>('SELECT current_setting(\'synchronous_commit\') AS synchronous_commit, current_setting(\'fsync\') AS fsync');
  const got = rows[0]!;
  if (got.synchronous_commit !== 'on' && got.synchronous_commit !== 'remote_apply' && got.synchronous_commit !== 'remote_write') {
    throw new MtaError('MTA_ERR_DB_DURABILITY', `PostgreSQL runs our connections with synchronous_commit = ${got.synchronous_commit}: a commit could be lost after "250"`);
  }
  if (got.fsync !== 'on') throw new MtaError('MTA_ERR_DB_DURABILITY', 'PostgreSQL runs with fsync = off: a crash of its machine loses committed mail');
}
