/**
 * spool/backup — a consistent copy of the live spool for `mta backup`, safe while the
 * daemon runs: SQLite's online backup API (a snapshot of committed transactions, WAL
 * included; copying the files with cp can tear a page or miss the WAL). The copy is one
 * self-contained 0600 file, opened and integrity-checked before it is reported.
 *
 * Must never: write anywhere but the target directory it is given.
 */
import Database from 'better-sqlite3';
import { chmodSync, existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { sqliteOptions } from '../util/assets.js';
import { MtaError } from '../util/errors.js';
import { DB_FILE, openDatabase } from './db.js';

export interface StoreBackup { file: string; bytes: number; schemaVersion: number }

/** Where `dataDir`'s spool is, and whether it exists yet (a daemon or command opened it once). */
export function storeFile(dataDir: string): { path: string; exists: boolean } {
  const path = join(dataDir, DB_FILE);
  return { path, exists: existsSync(path) };
}

/** Writes the copy of `dataDir`'s spool into the existing directory `dir`. */
export async function backupStore(dataDir: string, dir: string): Promise<StoreBackup> {
  const file = join(dir, DB_FILE);
  const db = openDatabase(dataDir);
  try {
    await db.backup(file);
  } finally {
    db.close();
  }
  chmodSync(file, 0o600);
  const copy = new Database(file, sqliteOptions(dataDir, { fileMustExist: true }));
  let integrity: unknown;
  let schema: unknown;
  try {
    // One self-contained file (no -wal beside it) that a restore just copies back; the
    // daemon turns WAL on again when it opens it.
    copy.pragma('journal_mode = DELETE');
    integrity = copy.pragma('integrity_check', { simple: true });
    schema = copy.pragma('user_version', { simple: true });
  } finally {
    copy.close();
  }
  if (integrity !== 'ok') throw new MtaError('MTA_ERR_INTERNAL', `the copy ${file} fails its integrity check: ${String(integrity)}`);
  return { file, bytes: statSync(file).size, schemaVersion: Number(schema) };
}
