/**
 * mta backup DIR — a consistent copy of a live data dir, safe while the daemon runs:
 * DIR/spool.sqlite through SQLite's online backup API (a snapshot of committed
 * transactions, WAL included; copying the files with cp can tear a page or miss the WAL)
 * and DIR/secret.key (without it, unsubscribe links and VERP bounce addresses in mail
 * already sent stop verifying). DIR is created 0700, both files 0600; the copy is opened
 * and integrity-checked before the command says it is done.
 *
 * Must never: write into an existing non-empty DIR, or into the data dir.
 */
import { sqliteOptions } from '../../util/assets.js';
import { Command } from 'commander';
import { chmodSync, copyFileSync, existsSync, mkdirSync, readdirSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import Database from 'better-sqlite3';
import { configPathOf } from '../context.js';
import { loadConfig } from '../../config/config.js';
import { DB_FILE, openDatabase } from '../../spool/db.js';
import { SECRET_FILE } from '../../util/secret.js';
import { MtaError } from '../../util/errors.js';
import { print, printJson } from '../output.js';

function prepareTarget(dir: string): void {
  if (existsSync(dir) && readdirSync(dir).length > 0) throw new MtaError('MTA_ERR_EXISTS', `${dir} exists and is not empty; name a new directory`);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  chmodSync(dir, 0o700);
}

export function backupCommand(): Command {
  return new Command('backup').argument('<dir>', 'new directory for the copy')
    .description('copy the spool (online, consistent, while the daemon runs) and secret.key into DIR (created 0700, files 0600)')
    .option('--json', 'print what was written as JSON')
    .action(async (target: string, o: { json?: boolean }, c: Command) => {
      const config = loadConfig({ path: configPathOf(c) });
      if (!existsSync(join(config.dataDir, DB_FILE))) throw new MtaError('MTA_ERR_DATA_DIR', `${join(config.dataDir, DB_FILE)} does not exist: nothing to back up`);
      const dir = resolve(target);
      prepareTarget(dir);
      const spool = join(dir, DB_FILE);
      const db = openDatabase(config.dataDir);
      try {
        await db.backup(spool);
      } finally {
        db.close();
      }
      chmodSync(spool, 0o600);
      const copy = new Database(spool, sqliteOptions(config.dataDir, { fileMustExist: true }));
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
      if (integrity !== 'ok') throw new MtaError('MTA_ERR_INTERNAL', `the copy ${spool} fails its integrity check: ${String(integrity)}`);
      const files = [spool];
      const secret = join(config.dataDir, SECRET_FILE);
      if (existsSync(secret)) {
        copyFileSync(secret, join(dir, SECRET_FILE));
        chmodSync(join(dir, SECRET_FILE), 0o600);
        files.push(join(dir, SECRET_FILE));
      }
      const result = { dir, files, bytes: statSync(spool).size, integrity: 'ok', schema_version: schema };
      if (o.json) return printJson(result);
      print(`wrote ${files.join(' and ')} (${result.bytes} bytes, integrity ok, schema version ${String(schema)})`);
      if (files.length === 1) print('no secret.key in the data dir yet (the daemon creates it at first start)');
    });
}
