/**
 * spool-backend — the one door through which tests reach the SQLite backend behind a
 * store (to set up states no store method makes, or to look at rows and diagnostics no
 * method returns). Tests that use it are tied to the SQLite backend;
 * test/store-boundary.test.ts lists them. New tests should use store methods instead.
 */
import type { Db } from '../../src/spool/db.js';
import { SqliteStore } from '../../src/spool/sqlite-store.js';
import type { Store } from '../../src/spool/types.js';

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
