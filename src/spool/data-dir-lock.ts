/**
 * spool/data-dir-lock — one daemon per data_dir. Two daemons on one spool would both
 * deliver the same mail and remove each other's admin.json, so `mta start` takes an
 * exclusive lock on `<data_dir>/daemon.lock` before it touches anything else there.
 *
 * The lock is SQLite's own file lock (fcntl), held with `locking_mode=EXCLUSIVE` after one
 * write: the kernel drops it when the process dies, even by kill -9, so there is no stale
 * lock to clean up and no check-then-create race (Node has no flock). The holder's pid goes
 * to `<data_dir>/daemon.pid` after the lock is taken, only to name it in the refusal: a
 * locked database cannot be read by the one that is refused.
 *
 * It lives in the spool module because the lock is a SQLite file; the daemon takes it
 * through spool/index.ts.
 *
 * Must never: be taken by CLI commands (they share the spool through WAL), except
 * `mta storage migrate` (spool/migrate-to-pg.ts), which must keep a daemon from starting
 * mid-copy; or delete another holder's pid file.
 */
import Database from 'better-sqlite3';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { MtaError } from '../util/errors.js';
import { createPrivateFile } from '../util/files.js';
import { PID_FILE } from '../config/runtime.js';
import { sqliteOptions } from '../util/assets.js';

export const LOCK_FILE = 'daemon.lock';

export class DataDirLock {
  private constructor(private readonly db: Database.Database, private readonly pidFile: string) {}

  /** Takes the lock at once or throws MTA_ERR_DATA_DIR_IN_USE naming the holder's pid. */
  static acquire(dataDir: string): DataDirLock {
    const path = join(dataDir, LOCK_FILE);
    createPrivateFile(path);
    let db: Database.Database;
    try {
      // timeout 0: a held lock is an answer, not something to wait for.
      db = new Database(path, sqliteOptions(dataDir, { timeout: 0 }));
    } catch (e) {
      throw new MtaError('MTA_ERR_DATA_DIR', `cannot open ${path}: ${(e as Error).message}`);
    }
    try {
      db.pragma('locking_mode = EXCLUSIVE');
      // No journal file beside the lock: it holds one row that nobody reads back.
      db.pragma('journal_mode = MEMORY');
      db.exec('BEGIN EXCLUSIVE');
      db.exec('CREATE TABLE IF NOT EXISTS holder (pid INTEGER NOT NULL, since TEXT NOT NULL); DELETE FROM holder');
      db.prepare('INSERT INTO holder (pid, since) VALUES (?, ?)').run(process.pid, new Date().toISOString());
      db.exec('COMMIT');
    } catch (e) {
      db.close();
      const code = (e as { code?: string }).code ?? '';
      if (code.startsWith('SQLITE_BUSY') || code.startsWith('SQLITE_LOCKED')) {
        const pid = holderPid(join(dataDir, PID_FILE));
        throw new MtaError('MTA_ERR_DATA_DIR_IN_USE', `data_dir ${dataDir} is in use by ${pid ? `pid ${pid}` : 'another process'}`);
      }
      throw new MtaError('MTA_ERR_DATA_DIR', `cannot lock ${path}: ${(e as Error).message}`);
    }
    const pidFile = join(dataDir, PID_FILE);
    writeFileSync(pidFile, `${process.pid}\n`, { mode: 0o600 });
    return new DataDirLock(db, pidFile);
  }

  release(): void {
    if (!this.db.open) return;
    if (holderPid(this.pidFile) === process.pid) rmSync(this.pidFile, { force: true });
    this.db.close();
  }
}

function holderPid(file: string): number | undefined {
  try {
    const n = Number(readFileSync(file, 'utf8').trim());
    return Number.isInteger(n) && n > 0 ? n : undefined;
  } catch {
    return undefined;
  }
}
