// One storage contract: outside src/spool nothing may reach the SQLite backend. Code gets
// a store from openStore (spool/index.ts) and sees only the Store contract (spool/types*.ts,
// spool/states.ts); it never imports a backend module or better-sqlite3, never touches a
// `.db` handle, writes no SQL and matches no SQLite error code (storage errors arrive as
// catalogue errors, spool/errors.ts). A violation fails naming file:line.
import t from 'tap';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { tsFiles, violations } from './helpers/store-boundary.js';

/**
 * Test files still allowed past the contract, each with why. The SQLite backend's own
 * tests stay here; the others are to move to store methods (issue 16). An entry whose file
 * no longer reaches the backend fails the test, so the list only shrinks.
 */
const TEST_ALLOWLIST: Record<string, string> = {
  'test/spool.test.ts': 'the SQLite backend\'s own test (pragmas, migrations, chunks)',
  'test/spool-writer.test.ts': 'the SQLite backend\'s own test (its writer thread)',
  'test/spool-sync.test.ts': 'the SQLite backend\'s own test: which commits fsync (strace), the connection\'s synchronous after a throttle write',
  'test/store-errors.test.ts': 'the SQLite backend\'s error mapping: makes SQLite full and locked',
  'test/store-boundary.test.ts': 'its samples are violations on purpose',
  'test/helpers/spool-backend.ts': 'the one door from tests to the SQLite backend',
  'test/memory-limits.test.ts': 'reads the page cache every SQLite connection is opened with (PRAGMA cache_size)',
  'test/helpers/postgres.ts': 'the test PostgreSQL, and pgIntake: the core\'s intake alone on a pool, for the PostgreSQL ports\' own tests',
  'test/helpers/fault-world.ts': 'integrity(): PRAGMA integrity_check on the daemon\'s file',
  'test/hardening/db-locked.test.ts': 'holds SQLite\'s write lock from another process',
  'test/hardening/disk-full.test.ts': 'fills the database (max_page_count, SQLITE_FULL)',
  'test/helpers/daemon-main.ts': 'caps the database size for disk-full',
  'test/install.test.ts': 'opens the backup copy as SQLite',
  'test/api.test.ts': 'holds SQLite\'s write lock from another connection for /healthz',
  'test/outcome-batch.test.ts': 'a trigger makes an outcome write fail; counts rows',
  'test/pg-accounts.test.ts': 'the PostgreSQL accounts ports\' own test: composes the pg-<aggregate> classes beside a SQLite store, and counts rows a refused fact must not leave',
  'test/cluster-store.test.ts': 'the cluster port\'s own test: composes PgCluster, PgIntake and PgClaims per node on a real PostgreSQL beside SQLite stores',
  'test/pg-backend.test.ts': 'the PostgreSQL backend\'s own test (migrations, durability, error mapping)',
  'test/pg-claims.test.ts': 'the PostgreSQL claims\' own test (SKIP LOCKED, leases): reads lease columns and events',
  'test/pg-intake.test.ts': 'the PostgreSQL intake\'s own test (group commit, chunked bodies): counts rows',
  'test/storage-migrate.test.ts': 'the SQLite-to-PostgreSQL copy\'s own test: reads the source spool on its own to compare counts and bodies',
  'test/pg-locks.test.ts': 'the PostgreSQL pool\'s lock waits: holds locks from connections of its own and reads the pool\'s settings',
  'test/postgres-helper.test.ts': 'the test PostgreSQL\'s own test: reads the server\'s settings',
  'test/webhook-targets.test.ts': 'a migration test: builds the schema before the webhook_ids rule with rows in it',
};

t.test('the rules catch each kind of reach into the backend', async (t) => {
  const sample = [
    "import Database from 'better-sqlite3';",
    "import { SqliteStore } from '../spool/sqlite-store.js';",
    "import { openDatabase } from '../spool/db.js';",
    'const n = store.db.prepare(x).get();',
    "const q = 'SELECT id FROM messages';",
    "db.exec('UPDATE senders SET disabled = 1');",
    "if (e.code === 'SQLITE_FULL') retry();",
    'const TRANSIENT = /^SQLITE_(BUSY|LOCKED)/;',
  ].join('\n');
  t.same(violations('x.ts', sample).map((v) => v.split(': ')[0]), ['x.ts:1', 'x.ts:2', 'x.ts:3', 'x.ts:4', 'x.ts:5', 'x.ts:6', 'x.ts:7', 'x.ts:8']);
  const fine = [
    "import { openStore } from '../spool/index.js';",
    "import type { Store } from '../spool/types.js';",
    "import type { TaskRecord } from '../spool/types-tasks.js';",
    "import { isFinal } from '../spool/states.js';",
    'if (isRetryable(e)) retry();',
    "export const SQLITE_ADDON_ASSET = 'better_sqlite3.node';",
  ].join('\n');
  t.same(violations('y.ts', fine), [], 'the contract and the addon loader pass');
});

t.test('nothing outside src/spool reaches the SQLite backend', async (t) => {
  const files = tsFiles('src').filter((f) => !f.startsWith(join('src', 'spool') + '/'));
  t.ok(files.length > 50, `scanned ${files.length} files`);
  const found = files.flatMap((f) => violations(f, readFileSync(f, 'utf8')));
  t.same(found, [], found.join('\n'));
});

t.test('tests reach the backend only from the allowlist, and the allowlist has no stale entries', async (t) => {
  const found = new Map<string, string[]>();
  for (const f of tsFiles('test')) {
    const v = violations(f, readFileSync(f, 'utf8'));
    if (v.length) found.set(f.split('\\').join('/'), v);
  }
  const unlisted = [...found].filter(([f]) => !(f in TEST_ALLOWLIST)).flatMap(([, v]) => v);
  t.same(unlisted, [], `use openTestStore (test/helpers/store.ts) and store methods:\n${unlisted.join('\n')}`);
  const stale = Object.keys(TEST_ALLOWLIST).filter((f) => !found.has(f));
  t.same(stale, [], 'these files no longer reach the backend: take them off TEST_ALLOWLIST');
});
