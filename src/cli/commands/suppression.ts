/**
 * mta suppression add|list|remove|export|import — the invalid-address list. `list` and `export`
 * take a keyword (--search) and a time range on when the entry was added (--since,
 * --until); `export` writes CSV to stdout (suppression/export.ts, shared with the API).
 */
import { Command, Option } from 'commander';
import { importSuppressionFile } from '../../suppression/import.js';
import type { EncodingOption } from '../../lists/encoding.js';
import { formatSuppressionReport, importOutcome } from '../import-report.js';
import { withContext } from '../context.js';
import { Suppression } from '../../suppression/suppression.js';
import { print, printJson, printList } from '../output.js';
import { iso } from '../../admin/context.js';
import { suppressionFilter, writeSuppressionCsv } from '../../suppression/export.js';
import { MtaError } from '../../util/errors.js';

export function suppressionCommand(): Command {
  const cmd = new Command('suppression').description('the suppression (invalid address) list');
  cmd.command('add <address>').description('suppress an address')
    .option('--reason <text>', 'why', 'added by operator')
    .option('--scope <domain>', 'only for mail from this sender domain (default: all)')
    .option('--json', 'JSON output')
    .action(async (address: string, o: { reason: string; scope?: string; json?: boolean }, c: Command) => withContext(c, async ({ store }) => {
      const r = await new Suppression(store).add(address, { reason: o.reason, scope: o.scope, source: 'manual' });
      if (o.json) return printJson({ ...r.record, added: r.added });
      print(r.added ? `suppressed ${r.record.address}` : `${r.record.address} was already suppressed`);
    }));
  cmd.command('list').description('list suppressed addresses')
    .option('--search <text>', 'only addresses containing this text')
    .option('--since <date>', 'only entries added at or after: YYYY-MM-DD or YYYY-MM-DDTHH:MM[:SS][Z]')
    .option('--until <date>', 'only entries added at or before (a bare date means its end)')
    .option('--limit <n>', 'at most this many', (v) => { const n = Number(v); if (!Number.isInteger(n) || n < 1) throw new Error('--limit takes a positive whole number'); return n; }, 1000)
    .option('--json', 'JSON output')
    .action(async (o: { search?: string; since?: string; until?: string; limit: number; json?: boolean }, c: Command) => withContext(c, async ({ store }) => {
      const filter = suppressionFilter(o);
      const rows = await new Suppression(store).list({ ...filter, limit: o.limit });
      printList(rows.map((r) => ({ address: r.address, scope: r.scope || '(all)', source: r.source, reason: r.reason, added: iso(r.createdAt) })),
        ['address', 'scope', 'source', 'reason', 'added'], o.json, 'the suppression list is empty');
    }));
  cmd.command('export').description('write the list as CSV to stdout: address, scope, source, reason, created_at')
    .option('--format <format>', 'csv (the only format)', 'csv')
    .option('--search <text>', 'only addresses containing this text')
    .option('--since <date>', 'only entries added at or after: YYYY-MM-DD or YYYY-MM-DDTHH:MM[:SS][Z]')
    .option('--until <date>', 'only entries added at or before (a bare date means its end)')
    .action(async (o: { format: string; search?: string; since?: string; until?: string }, c: Command) => {
      if (o.format !== 'csv') throw new MtaError('MTA_ERR_INVALID', `--format must be csv (got "${o.format}")`, 'format');
      const filter = suppressionFilter(o);
      await withContext(c, async ({ store }) => { await writeSuppressionCsv(store, filter, process.stdout); });
    });
  cmd.command('import <file>').description('suppress the addresses of a CSV file (the export\'s format, or one address per line); reports every bad line')
    .addOption(new Option('--encoding <encoding>', 'file encoding: utf8, gbk, or auto (valid UTF-8, else valid GBK)').choices(['utf8', 'gbk', 'auto']).default('auto'))
    .option('--json', 'JSON output')
    .action(async (file: string, o: { encoding: EncodingOption; json?: boolean }, c: Command) => withContext(c, async ({ store }) => {
      const report = await importSuppressionFile(store, file, { encoding: o.encoding });
      if (o.json) printJson(report); else print(formatSuppressionReport(report));
      importOutcome(report, 'rows');
    }));
  cmd.command('remove <address>').description('remove an address from the list')
    .option('--scope <domain>', 'only the entry for this sender domain (default: every entry)')
    .action(async (address: string, o: { scope?: string }, c: Command) => withContext(c, async ({ store }) => {
      const n = await new Suppression(store).remove(address, o.scope);
      print(`removed ${n} entr${n === 1 ? 'y' : 'ies'} for ${address}`);
    }));
  return cmd;
}
