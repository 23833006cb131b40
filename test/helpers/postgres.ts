/**
 * postgres — a real, throwaway PostgreSQL cluster for tests: `initdb` into a temp dir, the
 * server on a free loopback TCP port with its socket dir inside that temp dir, fsync and
 * synchronous_commit on (what production runs with), one database per test file or suite
 * (`createDatabase`). The cluster is stopped and its dir removed at teardown, also when the
 * test fails, and at process exit as a last resort. It must never touch a cluster it did not
 * make, and never skip silently: without PostgreSQL's binaries (Debian package `postgresql`)
 * `startPostgres` throws saying so, which fails the test.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { openStoreAsync } from '../../src/spool/index.js';
import { createRules } from '../../src/events/effects.js';
import { PgEffects } from '../../src/spool/pg-effects.js';
import { PgIdempotency } from '../../src/spool/pg-idempotency.js';
import { PgIntake } from '../../src/spool/pg-intake.js';
import type { PgPool } from '../../src/spool/pg-pool.js';
import { PgWebhooks } from '../../src/spool/pg-webhooks.js';

import type { Storage, StoreFactory } from '../store/suite.js';
import { freePort } from './sink.js';

export interface PgCluster {
  host: string;
  port: number;
  /** A connection URL for `database` on this cluster. */
  url(database: string): string;
  /** A fresh, empty database; its URL. */
  createDatabase(name?: string): Promise<string>;
  /** Stops the server (fast shutdown: connections are ended), keeping its data: PostgreSQL down. */
  pause(): void;
  /** Starts the paused server again on the same port. */
  resume(): void;
  /** Stops the server and removes its dir (idempotent). */
  stop(): void;
}

/** The bin dir of the newest installed PostgreSQL (`PG_BIN` overrides), or a reason why there is none. */
export function postgresBin(): { bin: string } | { missing: string } {
  const env = process.env['PG_BIN'];
  if (env) return existsSync(join(env, 'initdb')) ? { bin: env } : { missing: `PG_BIN=${env} has no initdb` };
  const root = '/usr/lib/postgresql';
  const versions = existsSync(root) ? readdirSync(root).filter((v) => existsSync(join(root, v, 'bin', 'initdb'))) : [];
  if (versions.length === 0) return { missing: `no PostgreSQL server binaries under ${root}/<version>/bin: install the Debian package "postgresql" (.ci/run does), or set PG_BIN` };
  versions.sort((a, b) => Number(b) - Number(a));
  return { bin: join(root, versions[0]!, 'bin') };
}

/** initdb and the server refuse root: as root, run them as the `postgres` user. */
function asServerUser(): { prefix: string[]; uid: number; gid: number } | undefined {
  if (process.getuid?.() !== 0) return undefined;
  const ids = spawnSync('id', ['-u', 'postgres'], { encoding: 'utf8' });
  const gids = spawnSync('id', ['-g', 'postgres'], { encoding: 'utf8' });
  if (ids.status !== 0) throw new Error('running as root, and there is no "postgres" user to run PostgreSQL as (initdb refuses root)');
  return { prefix: ['runuser', '-u', 'postgres', '--'], uid: Number(ids.stdout.trim()), gid: Number(gids.stdout.trim()) };
}

let counter = 0;

/**
 * Starts a cluster; `teardown` (a tap `t.teardown`) gets its stop. Throws, with the reason,
 * when PostgreSQL is not installed or does not start.
 */
export async function startPostgres(teardown?: (fn: () => void) => void): Promise<PgCluster> {
  const found = postgresBin();
  if ('missing' in found) throw new Error(`cannot start a test PostgreSQL: ${found.missing}`);
  const user = asServerUser();
  const dir = mkdtempSync(join(tmpdir(), 'mta-pg-'));
  if (user) chownSync(dir, user.uid, user.gid);
  const data = join(dir, 'data');
  const log = join(dir, 'server.log');
  const run = (cmd: string, args: string[]): void => {
    const argv = [...(user?.prefix ?? []), join(found.bin, cmd), ...args];
    execFileSync(argv[0]!, argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'], cwd: dir });
  };
  let stopped = false;
  const stop = (): void => {
    if (stopped) return;
    stopped = true;
    process.removeListener('exit', stop);
    // immediate: the data is thrown away, so no checkpoint is worth waiting for.
    if (existsSync(join(data, 'postmaster.pid'))) {
      try { run('pg_ctl', ['stop', '-D', data, '-m', 'immediate', '-w']); } catch { /* already gone */ }
    }
    rmSync(dir, { recursive: true, force: true });
  };
  process.on('exit', stop);
  teardown?.(stop);
  try {
    run('initdb', ['-D', data, '-U', 'postgres', '--auth=trust', '-E', 'UTF8', '--locale=C']);
    const port = await freePort();
    const opts = `-c listen_addresses=127.0.0.1 -p ${port} -k ${dir} -c fsync=on -c synchronous_commit=on -c max_connections=100`;
    run('pg_ctl', ['start', '-D', data, '-l', log, '-w', '-t', '60', '-o', opts]);
    const url = (database: string): string => `postgres://postgres@127.0.0.1:${port}/${database}`;
    return {
      host: '127.0.0.1', port, url, stop,
      pause: () => run('pg_ctl', ['stop', '-D', data, '-m', 'fast', '-w']),
      resume: () => run('pg_ctl', ['start', '-D', data, '-l', log, '-w', '-t', '60', '-o', opts]),
      async createDatabase(name = `mta_test_${process.pid}_${++counter}`) {
        const admin = new pg.Client({ connectionString: url('postgres') });
        await admin.connect();
        try { await admin.query(`CREATE DATABASE "${name}"`); } finally { await admin.end(); }
        return url(name);
      },
    };
  } catch (e) {
    const out = (e as { stderr?: Buffer }).stderr?.toString() ?? '';
    const serverLog = existsSync(log) ? readFileSync(log, 'utf8').slice(-2000) : '';
    stop();
    throw new Error(`cannot start a test PostgreSQL: ${(e as Error).message}\n${out}${serverLog}`);
  }
}

// ---- the conformance suite's PostgreSQL factory (test/store/suite.ts) ----

/**
 * One cluster per test file, started by the first storage that needs it. tap is loaded here,
 * not at the top: scripts that only start a cluster (the soak, the bench) must not start a
 * TAP run, whose 30 s timeout would report a failure in the middle of their output.
 */
let shared: Promise<PgCluster> | undefined;
function sharedCluster(): Promise<PgCluster> {
  shared ??= import('tap').then(({ default: t }) => startPostgres((stop) => t.teardown(stop)));
  return shared;
}

/** Runs `sql` on its own connection to `url` (the factory's hooks: DDL the store does not know of). */
async function onDatabase(url: string, sql: string): Promise<void> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try { await c.query(sql); } finally { await c.end(); }
}

/** How long the store's statements wait for a lock another connection holds (55P03 then: MTA_ERR_SPOOL_BUSY). */
const TEST_LOCK_TIMEOUT_MS = 1000;

/** A database of its own per storage on the file's cluster; stores on it share it, as cluster nodes do. */
export const pgFactory: StoreFactory = {
  name: 'postgres',
  async fresh(): Promise<Storage> {
    const cluster = await sharedCluster();
    const url = await cluster.createDatabase();
    const name = new URL(url).pathname.slice(1);
    return {
      open: (nodeId) => openStoreAsync({
        dataDir: '/nonexistent', timeZone: 'UTC', spool: { commitWindowMs: 0, maxCommitBatch: 64, writerThread: false },
        // the store's connections wait this long for a held lock (holdWriteLock), not the daemon's 10 s
        storage: { nodeId, backend: 'postgres', postgres: { url, poolSize: 4, lockTimeoutMs: TEST_LOCK_TIMEOUT_MS } },
      }),
      async fillDisk() {
        // A tablespace cannot be capped: a trigger on body chunks raises what a full disk raises (53100).
        await onDatabase(url, `CREATE FUNCTION suite_disk_full() RETURNS trigger LANGUAGE plpgsql AS $$
                                 BEGIN RAISE EXCEPTION 'could not extend file: No space left on device' USING ERRCODE = 'disk_full'; END $$;
                               CREATE TRIGGER suite_disk_full BEFORE INSERT ON message_chunks FOR EACH ROW EXECUTE FUNCTION suite_disk_full()`);
        return () => onDatabase(url, 'DROP TRIGGER suite_disk_full ON message_chunks; DROP FUNCTION suite_disk_full()');
      },
      async holdWriteLock() {
        // Another connection holds the tables' write lock in an open transaction; the store's statements give up after lock_timeout.
        const other = new pg.Client({ connectionString: url });
        await other.connect();
        await other.query('BEGIN');
        await other.query('LOCK TABLE recipients, events, webhook_outbox IN EXCLUSIVE MODE');
        return async () => { await other.query('ROLLBACK'); await other.end(); };
      },
      async failOutcome(_store, reply) {
        await onDatabase(url, `CREATE FUNCTION suite_fail_outcome() RETURNS trigger LANGUAGE plpgsql AS $$
                                 BEGIN RAISE EXCEPTION 'the backend refused the write'; END $$;
                               CREATE TRIGGER suite_fail_outcome BEFORE UPDATE ON recipients FOR EACH ROW
                                 WHEN (NEW.last_reply = '${reply.replace(/'/g, "''")}') EXECUTE FUNCTION suite_fail_outcome()`);
        return () => onDatabase(url, 'DROP TRIGGER suite_fail_outcome ON recipients; DROP FUNCTION suite_fail_outcome()');
      },
      async remove() {
        const admin = new pg.Client({ connectionString: cluster.url('postgres') });
        await admin.connect();
        try { await admin.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`); } finally { await admin.end(); }
      },
    };
  },
};

/**
 * PostgreSQL intake on `pool` alone, for the ports' own tests that need mail stored the way
 * the core stores it: the program's rules and an outbox on the same pool.
 */
export function pgIntake(pool: PgPool, nodeId = 'node-a'): PgIntake {
  const rules = createRules({ timeZone: 'UTC' });
  return PgIntake.open(pool, { windowMs: 0, maxBatch: 16 }, { effects: new PgEffects(rules, new PgWebhooks(pool, rules, nodeId)), idempotency: new PgIdempotency(pool) });
}
