/**
 * spool/db — opens the SQLite database with the durability the product promises:
 * WAL journal and synchronous=FULL, both read back and asserted (better-sqlite3 is built
 * with WAL synchronous=NORMAL, which can lose committed rows on power failure).
 * Only the spool module uses the handle this returns.
 */
import Database from 'better-sqlite3';
import { join } from 'node:path';
import { MtaError } from '../util/errors.js';
import { sqliteOptions } from '../util/assets.js';
import { assertWritable, createPrivateFile, describeFile, secureDataDir, tightenFile } from '../util/files.js';
import { MIGRATIONS } from './migrations.js';

export type Db = Database.Database;
export const DB_FILE = 'spool.sqlite';

/**
 * SQLite's page cache per connection, KiB. better-sqlite3 builds SQLite with 16 MB (SQLite's
 * own default is 2 MB), and the daemon has two connections (the event loop's and the spool
 * writer thread's), each filling its cache as the spool grows: 32 MB of RSS for little use.
 * In WAL mode a connection's cache is discarded whenever another connection has committed,
 * so the event loop's cache is emptied by every writer commit (hundreds a second under
 * load); the writer's hot pages are the tails of the append-only tables and indexes and the
 * rows it just claimed. Pages not cached are one pread from the kernel's page cache.
 */
export const CACHE_KIB = 4096;

/** How long a statement waits for another connection's write lock before SQLITE_BUSY. */
export const BUSY_TIMEOUT_MS = 5000;

export function openDatabase(dataDir: string, opts: { readonly?: boolean } = {}): Db {
  secureDataDir(dataDir);
  const path = join(dataDir, DB_FILE);
  // The binary hands over the addon it loaded itself; outside the try below, so a failure
  // keeps its own code (MTA_ERR_NATIVE).
  const options = sqliteOptions(dataDir, { readonly: opts.readonly ?? false });
  // Created 0600 before SQLite opens it, so its -wal and -shm are 0600 too (SQLite copies
  // the database's mode); files of older versions (0644) are tightened.
  if (!opts.readonly) {
    // Checked first: a file of another user gets the error that names the owner.
    for (const f of [path, `${path}-wal`, `${path}-shm`]) assertWritable(f);
    createPrivateFile(path);
    tightenFile(`${path}-wal`);
    tightenFile(`${path}-shm`);
  }
  let db: Db;
  try {
    db = new Database(path, options);
  } catch (e) {
    throw new MtaError('MTA_ERR_DATA_DIR', `cannot open ${path} (${describeFile(path)}): ${(e as Error).message}`);
  }
  db.pragma(`busy_timeout = ${BUSY_TIMEOUT_MS}`);
  db.pragma(`cache_size = -${CACHE_KIB}`);
  if (!opts.readonly) {
    const mode = db.pragma('journal_mode = WAL', { simple: true });
    if (String(mode).toLowerCase() !== 'wal') throw new MtaError('MTA_ERR_DB_DURABILITY', `journal_mode is ${mode}, expected wal`);
  }
  db.pragma('synchronous = FULL');
  const sync = db.pragma('synchronous', { simple: true });
  if (sync !== 2) throw new MtaError('MTA_ERR_DB_DURABILITY', `synchronous is ${sync}, expected 2 (FULL)`);
  db.pragma('foreign_keys = ON');
  if (!opts.readonly) migrate(db);
  return db;
}

export function migrate(db: Db): void {
  const current = db.pragma('user_version', { simple: true }) as number;
  if (current > MIGRATIONS.length) {
    throw new MtaError('MTA_ERR_DB_SCHEMA', `database schema version ${current} is newer than this program (${MIGRATIONS.length}); upgrade mta`);
  }
  for (let v = current; v < MIGRATIONS.length; v++) {
    db.transaction(() => {
      db.exec(MIGRATIONS[v]!);
      db.pragma(`user_version = ${v + 1}`);
    }).immediate();
  }
}
