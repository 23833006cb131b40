/**
 * mta backup DIR — a consistent copy of a live data dir, safe while the daemon runs:
 * DIR/spool.sqlite (spool/backup.ts: online, a snapshot of committed transactions)
 * and DIR/secret.key (without it, unsubscribe links and VERP bounce addresses in mail
 * already sent stop verifying) and DIR/tracking.keys when tracking was used. DIR is created 0700, both files 0600; the copy is opened
 * and integrity-checked before the command says it is done.
 *
 * Must never: write into an existing non-empty DIR, or into the data dir.
 */
import { Command } from 'commander';
import { chmodSync, copyFileSync, existsSync, mkdirSync, readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { configPathOf } from '../context.js';
import { loadConfig } from '../../config/config.js';
import { backupStore, storeFile } from '../../spool/index.js';
import { SECRET_FILE } from '../../util/secret.js';
import { TRACKING_KEYS_FILE } from '../../tracking/keys.js';
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
      const existing = storeFile(config.dataDir);
      if (!existing.exists) throw new MtaError('MTA_ERR_DATA_DIR', `${existing.path} does not exist: nothing to back up`);
      const dir = resolve(target);
      prepareTarget(dir);
      const { file: spool, bytes, schemaVersion: schema } = await backupStore(config.dataDir, dir);
      const files = [spool];
      const secret = join(config.dataDir, SECRET_FILE);
      // tracking.keys: without it, open and click links in mail already sent stop verifying.
      for (const name of [SECRET_FILE, TRACKING_KEYS_FILE]) {
        if (!existsSync(join(config.dataDir, name))) continue;
        copyFileSync(join(config.dataDir, name), join(dir, name));
        chmodSync(join(dir, name), 0o600);
        files.push(join(dir, name));
      }
      const result = { dir, files, bytes, integrity: 'ok', schema_version: schema };
      if (o.json) return printJson(result);
      print(`wrote ${files.join(' and ')} (${result.bytes} bytes, integrity ok, schema version ${String(schema)})`);
      if (!existsSync(secret)) print('no secret.key in the data dir yet (the daemon creates it at first start)');
    });
}
