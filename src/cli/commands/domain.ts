/** mta domain add|list|show|remove — sending domains and the DNS records they need. */
import { Command, Option } from 'commander';
import { withContext } from '../context.js';
import { Domains, recordsFor, zoneLines } from '../../accounts/domains.js';
import { print, printJson, printList, table } from '../output.js';
import type { DomainRecord } from '../../spool/types.js';
import type { Config } from '../../config/config.js';

function publicView(d: DomainRecord): Record<string, unknown> {
  return {
    name: d.name, status: d.status, dkim_selector: d.dkimSelector, dkim_algorithm: d.dkimAlgorithm,
    dkim_public_key: d.dkimPublicKey, ownership_token: d.ownershipToken, created_at: new Date(d.createdAt).toISOString(),
  };
}

function printRecords(d: DomainRecord, config: Config): void {
  const recs = recordsFor(d, { ownershipRecord: config.domains.ownershipRecord, hostname: config.hostname });
  print(table(recs.map((r) => ({ ...r, value: r.value.length > 70 ? `${r.value.slice(0, 67)}...` : r.value })), ['type', 'host', 'value', 'purpose']));
  print('\nZone-file lines:\n' + zoneLines(recs).join('\n'));
}

export function domainCommand(): Command {
  const cmd = new Command('domain').description('sending domains: DKIM keys, ownership and the DNS records to publish');
  cmd.command('add <domain>')
    .description('create a sending domain with a new DKIM key pair and print the DNS records to publish')
    .addOption(new Option('--dkim <algorithm>', 'DKIM key type (default from config: rsa = RSA-2048)').choices(['rsa', 'ed25519']))
    .option('--selector <selector>', 'DKIM selector (default: config domains.dkim_selector, else mtaYYYYMM)')
    .option('--json', 'print the domain as JSON')
    .action(async (name: string, o: { dkim?: 'rsa' | 'ed25519'; selector?: string; json?: boolean }, c: Command) => withContext(c, async ({ config, store }) => {
      const d = await new Domains(store).add(name, { algorithm: o.dkim ?? config.domains.dkimAlgorithm, selector: o.selector ?? config.domains.dkimSelector });
      if (o.json) return printJson({ ...publicView(d), records: recordsFor(d, { ownershipRecord: config.domains.ownershipRecord, hostname: config.hostname }) });
      print(`Added ${d.name} (DKIM ${d.dkimAlgorithm}, selector ${d.dkimSelector}). Publish these records:\n`);
      printRecords(d, config);
    }));
  cmd.command('list').description('list sending domains and their status').option('--json', 'JSON output')
    .action(async (o: { json?: boolean }, c: Command) => withContext(c, async ({ store }) => {
      const ds = await new Domains(store).list();
      printList(ds.map((d) => ({ domain: d.name, status: d.status, dkim: `${d.dkimAlgorithm}/${d.dkimSelector}`, created: d.createdAt })),
        ['domain', 'status', 'dkim', 'created'], o.json, 'no domains; add one with "mta domain add DOMAIN"');
    }));
  cmd.command('show <domain>').description('show a domain, its keys and the DNS records to publish').option('--json', 'JSON output')
    .action(async (name: string, o: { json?: boolean }, c: Command) => withContext(c, async ({ config, store }) => {
      const d = await new Domains(store).get(name);
      const senders = await store.listSenders(d.name);
      if (o.json) return printJson({ ...publicView(d), senders: senders.map((s) => s.address), records: recordsFor(d, { ownershipRecord: config.domains.ownershipRecord, hostname: config.hostname }) });
      print(table([{ k: 'domain', v: d.name }, { k: 'status', v: d.status }, { k: 'dkim', v: `${d.dkimAlgorithm}, selector ${d.dkimSelector}` },
        { k: 'senders', v: senders.map((s) => s.address).join(', ') || '-' }, { k: 'created', v: d.createdAt }], ['k', 'v'], ['FIELD', 'VALUE']));
      print('');
      printRecords(d, config);
    }));
  cmd.command('remove <domain>').description('remove a domain (its sender addresses must be removed first)')
    .action(async (name: string, _o: unknown, c: Command) => withContext(c, async ({ store }) => {
      await new Domains(store).remove(name);
      print(`removed ${name}`);
    }));
  return cmd;
}
