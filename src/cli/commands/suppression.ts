/** mta suppression add|list|remove — the invalid-address list. */
import { Command } from 'commander';
import { withContext } from '../context.js';
import { Suppression } from '../../suppression/suppression.js';
import { print, printJson, printList } from '../output.js';

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
    .option('--limit <n>', 'at most this many', (v) => { const n = Number(v); if (!Number.isInteger(n) || n < 1) throw new Error('--limit takes a positive whole number'); return n; }, 1000)
    .option('--json', 'JSON output')
    .action(async (o: { search?: string; limit: number; json?: boolean }, c: Command) => withContext(c, async ({ store }) => {
      const rows = await new Suppression(store).list({ ...(o.search ? { search: o.search } : {}), limit: o.limit });
      printList(rows.map((r) => ({ address: r.address, scope: r.scope || '(all)', source: r.source, reason: r.reason, added: r.createdAt })),
        ['address', 'scope', 'source', 'reason', 'added'], o.json, 'the suppression list is empty');
    }));
  cmd.command('remove <address>').description('remove an address from the list')
    .option('--scope <domain>', 'only the entry for this sender domain (default: every entry)')
    .action(async (address: string, o: { scope?: string }, c: Command) => withContext(c, async ({ store }) => {
      const n = await new Suppression(store).remove(address, o.scope);
      print(`removed ${n} entr${n === 1 ? 'y' : 'ies'} for ${address}`);
    }));
  return cmd;
}
