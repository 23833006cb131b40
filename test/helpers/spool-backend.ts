/**
 * spool-backend — the one door through which tests reach the SQLite backend behind a
 * store (to set up states no store method makes, or to look at rows and diagnostics no
 * method returns). Tests that use it are tied to the SQLite backend;
 * test/store-boundary.test.ts lists them. New tests should use store methods instead.
 */
import Database from 'better-sqlite3';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { DB_FILE, type Db } from '../../src/spool/db.js';
import { openStore } from '../../src/spool/index.js';
import { SqliteStore } from '../../src/spool/sqlite-store.js';
import type { Store } from '../../src/spool/types.js';
import type { Storage, StoreFactory } from '../store/suite.js';
import { tempDir } from './daemon.js';

/** The SQLite store behind a store opened by openStore (which wraps it) or SqliteStore.open. */
export function sqliteBackend(store: Store): SqliteStore {
  // openStore's error-mapping proxy keeps the prototype, so instanceof sees through it.
  if (store instanceof SqliteStore) return store;
  throw new Error('this store is not the SQLite backend');
}

/** The SQLite connection of that store. */
export function sqliteDb(store: Store): Db {
  return SqliteStore.connectionOf(sqliteBackend(store));
}

// ---- the conformance suite's SQLite factory (test/store/suite.ts) ----

/** A data dir of its own per storage; stores on it share the database file, as nodes share PostgreSQL. */
export const sqliteFactory: StoreFactory = {
  name: 'sqlite',
  fresh(): Storage {
    const dataDir = tempDir('mta-store-suite-');
    return {
      open: (nodeId) => openStore({ dataDir, timeZone: 'UTC', spool: { commitWindowMs: 0, maxCommitBatch: 64, writerThread: false }, storage: { nodeId } }),
      fillDisk(store) {
        // No page beyond the ones the file has: the next write that needs one fails as a full disk does.
        const db = sqliteDb(store);
        const max = db.pragma('max_page_count', { simple: true }) as number;
        db.pragma(`max_page_count = ${db.pragma('page_count', { simple: true }) as number}`);
        return () => { db.pragma(`max_page_count = ${max}`); };
      },
      holdWriteLock(store) {
        // Another writer holds the lock; `store` fails at once instead of waiting out busy_timeout.
        const db = sqliteDb(store);
        const timeout = db.pragma('busy_timeout', { simple: true }) as number;
        db.pragma('busy_timeout = 0');
        const other = new Database(join(dataDir, DB_FILE));
        other.exec('BEGIN IMMEDIATE');
        return () => { other.exec('ROLLBACK'); other.close(); db.pragma(`busy_timeout = ${timeout}`); };
      },
      failOutcome(store, reply) {
        const db = sqliteDb(store);
        db.exec(`CREATE TEMP TRIGGER suite_fail_outcome BEFORE UPDATE ON recipients WHEN NEW.last_reply = '${reply.replace(/'/g, "''")}'
                 BEGIN SELECT RAISE(ABORT, 'the backend refused the write'); END`);
        return () => { db.exec('DROP TRIGGER suite_fail_outcome'); };
      },
      remove: () => rmSync(dataDir, { recursive: true, force: true }),
    };
  },
};
