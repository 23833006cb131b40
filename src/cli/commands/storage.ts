/**
 * mta storage migrate --to postgres — copies this node's SQLite spool (data_dir) into an empty
 * PostgreSQL database and checks every table's row count before committing (spool/migrate-to-pg.ts):
 * the way from one machine to a cluster. The target is `--url`, `--url-file` (the URL in a
 * file, so the password stays out of the shell history) or the config's `[storage]
 * postgres_url(_file)`. Progress goes to stderr, the summary to stdout (`--json`).
 *
 * Must never: run beside a daemon on the same data dir (the copy takes its lock), write into a
 * database that holds data, or print the URL's password.
 */
import { Command, Option } from 'commander';
import { readFileSync } from 'node:fs';
import { configPathOf } from '../context.js';
import { loadConfig, type Config } from '../../config/config.js';
import { migrateToPg, type MigrateSummary } from '../../spool/index.js';
import { MtaError } from '../../util/errors.js';
import { print, printJson } from '../output.js';

interface MigrateFlags { to: string; url?: string; urlFile?: string; dryRun?: boolean; json?: boolean }

/** The target URL: one of the flags, else the config's; refused when none or both flags are given. */
function targetUrl(o: MigrateFlags, config: Config): string {
  if (o.url !== undefined && o.urlFile !== undefined) throw new MtaError('MTA_ERR_INVALID', '--url and --url-file are both given: keep one');
  let url = o.url;
  if (o.urlFile !== undefined) {
    try { url = readFileSync(o.urlFile, 'utf8').trim(); } catch (e) { throw new MtaError('MTA_ERR_INVALID', `--url-file: cannot read ${o.urlFile}: ${(e as Error).message}`); }
  }
  url ??= config.storage.postgres?.url;
  if (url === undefined) throw new MtaError('MTA_ERR_INVALID', 'no PostgreSQL to copy to: give --url or --url-file, or set [storage] postgres_url or postgres_url_file in the config');
  if (!/^postgres(ql)?:\/\/\S+$/.test(url)) throw new MtaError('MTA_ERR_INVALID', `${o.urlFile !== undefined ? `${o.urlFile} must hold` : 'the PostgreSQL URL must be'} one URL such as "postgres://mta:secret@db.example.com:5432/mta"`);
  return url;
}

const rows = (n: number): string => `${n} row${n === 1 ? '' : 's'}`;

function report(s: MigrateSummary): void {
  const width = Math.max(...s.tables.map((t) => t.table.length));
  print(`${s.dry_run ? 'would copy' : 'copied'} ${s.source} to ${s.target}`);
  for (const t of s.tables) {
    const where = t.pg_table === null ? 'no PostgreSQL table (nothing to copy)' : s.dry_run ? rows(t.rows) : `${rows(t.rows)}, ${t.copied ?? 0} in PostgreSQL`;
    print(`  ${t.table.padEnd(width)}  ${where}`);
  }
  for (const q of s.sequences) print(`  ${q.table}.${q.column} ids continue after ${q.last}`);
  print(s.dry_run ? `${rows(s.rows)} would be copied; nothing was written` : `${rows(s.rows)} copied, counts verified: point every node's [storage] at this database (backend = "postgres")`);
}

export function storageCommand(): Command {
  const storage = new Command('storage').description('move the store between backends');
  storage.addCommand(new Command('migrate')
    .description('copy this node\'s SQLite spool (data_dir) into an empty PostgreSQL database, in one transaction, and check every table\'s row count before committing; '
      + 'refused while the daemon runs on the data dir, into a database that holds data, or when PostgreSQL\'s schema lacks a table or column that has data')
    .addOption(new Option('--to <backend>', 'the backend to copy to').choices(['postgres']).makeOptionMandatory())
    .option('--url <url>', 'the PostgreSQL database (default: [storage] postgres_url or postgres_url_file)')
    .option('--url-file <file>', 'a file holding the URL (keeps the password out of the shell history)')
    .option('--dry-run', 'say what would be copied; write nothing')
    .option('--json', 'print the summary as JSON')
    .action(async (o: MigrateFlags, c: Command) => {
      const config = loadConfig({ path: configPathOf(c) });
      const url = targetUrl(o, config);
      // one line per table and whole percent: a million rows make a hundred lines, not a thousand
      let last = '';
      const summary = await migrateToPg({
        dataDir: config.dataDir, url, dryRun: o.dryRun ?? false,
        progress: ({ table, copied, rows }) => {
          const pct = Math.floor((copied / rows) * 100);
          if (`${table} ${pct}` === last) return;
          last = `${table} ${pct}`;
          process.stderr.write(`mta: ${table}: ${copied}/${rows} rows (${pct}%)\n`);
        },
      });
      if (o.json) return printJson(summary);
      report(summary);
    }));
  return storage;
}
