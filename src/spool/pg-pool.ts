/**
 * spool/pg-pool — the PostgreSQL backend's connection pool (pg driver): every connection
 * runs with synchronous_commit on, so a COMMIT returns only once the WAL is flushed (a
 * `250` is only given after it), and the pool checks that the server really does so. It
 * must never open a connection with durability weakened, and never hide the server's errors
 * (callers map them, spool/pg-errors.ts).
 */
import pg from 'pg';
import { MtaError } from '../util/errors.js';

export interface PgPoolOptions { url: string; poolSize: number }

export type PgPool = pg.Pool;

/** A pool to `url`; call `checkDurability` before trusting it with mail. */
export function createPgPool(opts: PgPoolOptions): PgPool {
  const pool = new pg.Pool({
    connectionString: opts.url, max: opts.poolSize,
    // a server that does not answer is a temporary refusal (451), not a submission hanging for ever
    connectionTimeoutMillis: 10_000,
    // set at connection start-up, before any statement: no window in which a commit is asynchronous
    options: '-c synchronous_commit=on',
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
