/**
 * spool — the way in to the storage: `openStore(config)` (SQLite, synchronous) and
 * `openStoreAsync(config)` (either backend: PostgreSQL connects and migrates first) are the
 * only ways the rest of the program gets a store, and what it gets is the backend-neutral `Store` contract
 * (spool/types.ts) whose errors are catalogue errors (spool/errors.ts). Nothing outside
 * src/spool may import a backend module (sqlite-*, better-sqlite3) or see its handle;
 * test/store-boundary.test.ts keeps it so. It injects the rules (events/effects.ts) the
 * backend applies inside its transactions.
 */
import type { Config } from '../config/config.js';
import { MtaError } from '../util/errors.js';
import { mappingErrors } from './errors.js';
import { nodeIdOf } from './node-id.js';
import { openPgStore } from './pg-store.js';
import { SqliteStore } from './sqlite-store.js';
import type { Store } from './types.js';
import { createRules } from '../events/effects.js';

export type { Store } from './types.js';
export { DataDirLock } from './data-dir-lock.js';
export { backupStore, storeFile } from './backup.js';
export { migrateToPg, type MigrateSummary } from './migrate-to-pg.js';

/** The store as the daemon holds it: the contract plus the fatal-failure hook. */
export interface OpenStore extends Store {
  /** Called once if the store can no longer write (the writer thread died); the daemon stops. */
  onWriterFailure(cb: (e: Error) => void): void;
}

export interface OpenStoreOptions {
  /** the daemon's hot writes on a thread of their own (`spool.writer_thread`); CLI commands leave it off */
  writerThread?: boolean;
}

/** What opening a store reads of the configuration (`storage` is optional: tools and tests pass the rest alone). */
export type StoreConfig = Pick<Config, 'dataDir' | 'timeZone' | 'spool'> & { storage?: Partial<Config['storage']> };

export function openStore(config: StoreConfig, opts: OpenStoreOptions = {}): OpenStore {
  if (config.storage?.backend === 'postgres') {
    throw new MtaError('MTA_ERR_STORAGE_BACKEND', 'storage.backend = "postgres" is opened asynchronously: this command does not support it yet; use backend = "sqlite"');
  }
  return mappingErrors(SqliteStore.open(config.dataDir, {
    commitWindowMs: config.spool.commitWindowMs, maxCommitBatch: config.spool.maxCommitBatch, writerThread: opts.writerThread ?? false, timeZone: config.timeZone,
    rules: createRules({ timeZone: config.timeZone }),
    nodeId: config.storage?.nodeId,
  }));
}

/** A store on the configured backend; PostgreSQL is connected to, checked for durability and migrated first. */
export async function openStoreAsync(config: StoreConfig, opts: OpenStoreOptions = {}): Promise<OpenStore> {
  if (config.storage?.backend !== 'postgres') return openStore(config, opts);
  const pgConf = config.storage.postgres;
  if (!pgConf) throw new MtaError('MTA_ERR_STORAGE_BACKEND', 'storage.backend = "postgres" needs storage.postgres_url or storage.postgres_url_file');
  // Each node keeps its own data dir (lock, secret): its node-id file names it unless configured.
  const nodeId = nodeIdOf(config.dataDir, config.storage.nodeId);
  return openPgStore({
    url: pgConf.url, poolSize: pgConf.poolSize, lockTimeoutMs: pgConf.lockTimeoutMs, nodeId, timeZone: config.timeZone,
    commitWindowMs: config.spool.commitWindowMs, maxCommitBatch: config.spool.maxCommitBatch, rules: createRules({ timeZone: config.timeZone }),
  });
}
