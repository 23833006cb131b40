/**
 * mta domain add|list|show|dns|check|dkim-rotate|remove — sending domains, the DNS records
 * they need, and whether DNS says what it should. The work is done by accounts/domains.ts
 * and accounts/verification.ts (as for the admin API); this file parses and prints.
 */
import { Command, CommanderError, Option } from 'commander';
import { withContext, type CliContext } from '../context.js';
import { Domains, type RecordRow } from '../../accounts/domains.js';
import { DomainVerifier, checkContext } from '../../accounts/verification.js';
import { recordsToPublish, zoneLines, type PublishRecord } from '../../dns/records.js';
import { DnsClient } from '../../dns/client.js';
import { print, printJson, printList, table } from '../output.js';
import type { DomainCheckRecord, DomainRecord } from '../../spool/types-domains.js';
import { createLogger } from '../../util/log.js';
import { quotaLines, quotaReport, standaloneQuota } from '../../quota/report.js';
import { MtaError } from '../../util/errors.js';
import { checkView } from '../../admin/routes/domains.js';

function publicView(d: DomainRecord): Record<string, unknown> {
  return {
    name: d.name, status: d.status, dkim_selector: d.dkimSelector, dkim_algorithm: d.dkimAlgorithm,
    dkim_public_key: d.dkimPublicKey, ownership_token: d.ownershipToken, created_at: new Date(d.createdAt).toISOString(),
    checked_at: d.checkedAt ? new Date(d.checkedAt).toISOString() : null,
    ...(d.nextDkim ? { next_dkim_selector: d.nextDkim.selector } : {}),
  };
}

async function withDns<T>(ctx: CliContext, fn: (dns: DnsClient) => Promise<T>): Promise<T> {
  const dns = new DnsClient({ servers: ctx.config.dns.servers });
  try { return await fn(dns); } finally { dns.close(); }
}

function printRecords(rows: readonly RecordRow[], recs: PublishRecord[]): void {
  const short = rows.map((r) => ({ ...r, value: String(r['value']).length > 60 ? `${String(r['value']).slice(0, 57)}...` : r['value'] }));
  print(table(short, ['type', 'host', 'value', 'purpose', 'status'], ['TYPE', 'HOST', 'VALUE', 'PURPOSE', 'STATUS']));
  for (const r of recs.filter((x) => x.note)) print(`note (${r.purpose}): ${r.note}`);
  print('\nZone-file lines (mta domain dns DOMAIN --zone prints only these):\n' + zoneLines(recs).join('\n'));
}

const CELL = 60;
const short = (v: string): string => (v.length > CELL ? `${v.slice(0, CELL - 3)}...` : v);

/**
 * The checks as a table of short cells (a DKIM key is ~400 characters: shown in full in the
 * EXPECTED and FOUND columns it made 1,000-character lines, twice). A found value equal to
 * the expected one reads "as expected"; a long record still to publish is printed once,
 * as its zone-file line.
 */
function printChecks(d: Pick<DomainRecord, 'name' | 'dkimSelector'>, status: string, checks: DomainCheckRecord[], problems: string[]): void {
  print(table(checks.map((c) => ({
    check: c.name, status: c.status, expected: short(c.expected ?? ''),
    found: c.found !== null && c.found === c.expected ? 'as expected' : short(c.found ?? ''), detail: c.detail ?? '',
  })), ['check', 'status', 'expected', 'found', 'detail'], ['CHECK', 'STATUS', 'EXPECTED', 'FOUND', 'DETAIL']));
  const dkim = checks.find((c) => c.name === 'dkim' && c.status !== 'ok' && c.expected && c.expected.length > CELL);
  if (dkim?.expected) print(`\nDKIM record to publish:\n${zoneLines([{ type: 'TXT', host: `${d.dkimSelector}._domainkey.${d.name}`, value: dkim.expected }]).join('\n')}`);
  print(`\n${d.name}: ${status}${status === 'verified' ? '' : ' (needs ownership, SPF and DKIM ok)'}`);
  for (const p of problems) print(`  - ${p}`);
}

export function domainCommand(): Command {
  const cmd = new Command('domain').description('sending domains: DKIM keys, ownership, the DNS records to publish and their checks');
  cmd.command('add <domain>')
    .description('create a sending domain with a new DKIM key pair and print the DNS records to publish')
    .addOption(new Option('--dkim <algorithm>', 'DKIM key type (default from config: rsa = RSA-2048)').choices(['rsa', 'ed25519']))
    .option('--selector <selector>', 'DKIM selector (default: config domains.dkim_selector, else mtaYYYYMM)')
    .option('--json', 'print the domain as JSON')
    .action(async (name: string, o: { dkim?: 'rsa' | 'ed25519'; selector?: string; json?: boolean }, c: Command) => withContext(c, async (ctx) => {
      const { config, store } = ctx;
      const d = await new Domains(store).add(name, { algorithm: o.dkim ?? config.domains.dkimAlgorithm, selector: o.selector ?? config.domains.dkimSelector });
      // Offline: adding a domain must work without DNS; `mta domain dns` merges with what is published.
      const recs = await withDns(ctx, (dns) => recordsToPublish(d, checkContext(config, dns), { offline: true }));
      if (o.json) return printJson({ ...publicView(d), records: recs });
      print(`Added ${d.name} (DKIM ${d.dkimAlgorithm}, selector ${d.dkimSelector}). Publish these records, then run "mta domain check ${d.name}":\n`);
      printRecords(recs.map((r) => ({ ...r, status: 'unchecked' })), recs);
    }));
  cmd.command('list').description('list sending domains with their status and the last check').option('--json', 'JSON output')
    .action(async (o: { json?: boolean }, c: Command) => withContext(c, async ({ store }) => {
      const rows = [];
      for (const { domain: d, failing } of await new Domains(store).summaries()) {
        rows.push({
          domain: d.name, status: d.status, dkim: `${d.dkimAlgorithm}/${d.dkimSelector}${d.nextDkim ? ` (→ ${d.nextDkim.selector})` : ''}`,
          checked: d.checkedAt ? new Date(d.checkedAt).toISOString() : o.json ? null : 'never', problems: failing.join(', ') || (d.checkedAt ? '-' : 'run mta domain check'),
        });
      }
      printList(rows, ['domain', 'status', 'dkim', 'checked', 'problems'], o.json, 'no domains; add one with "mta domain add DOMAIN"');
    }));
  cmd.command('show <domain>').description('show a domain, its keys, senders and last check results').option('--json', 'JSON output')
    .action(async (name: string, o: { json?: boolean }, c: Command) => withContext(c, async ({ store, config }) => {
      const d = await new Domains(store).get(name);
      const senders = await store.listSenders(d.name);
      const checks = await store.getDomainChecks(d.name);
      const quota = await quotaReport(standaloneQuota(config, store, createLogger('silent')), d.name, Date.now());
      if (o.json) return printJson({ ...publicView(d), senders: senders.map((s) => s.address), checks: checks.map(checkView), quota });
      print(table([{ k: 'domain', v: d.name }, { k: 'status', v: d.status }, { k: 'dkim', v: `${d.dkimAlgorithm}, selector ${d.dkimSelector}` },
        ...(d.nextDkim ? [{ k: 'dkim rotation', v: `waiting for ${d.nextDkim.selector}._domainkey.${d.name} in DNS` }] : []),
        { k: 'senders', v: senders.map((s) => s.address).join(', ') || '-' }, { k: 'created', v: d.createdAt },
        { k: 'checked', v: d.checkedAt ?? 'never' }], ['k', 'v'], ['FIELD', 'VALUE']));
      if (checks.length) { print(''); printChecks(d, d.status, checks, []); }
      print(`\n${quotaLines(quota).join('\n')}`);
      print(`\nRecords to publish: mta domain dns ${d.name}`);
    }));
  cmd.command('dns <domain>').description('print the DNS records to publish, with the status of each from the last check')
    .option('--zone', 'print only BIND zone-file lines, ready to paste')
    .option('--offline', 'do not query DNS (no merge with an existing SPF or DMARC record)')
    .option('--json', 'JSON output')
    .action(async (name: string, o: { zone?: boolean; offline?: boolean; json?: boolean }, c: Command) => withContext(c, async (ctx) => {
      const r = await withDns(ctx, (dns) => new Domains(ctx.store).records(name, checkContext(ctx.config, dns), { offline: !!o.offline }));
      if (o.zone) return print(r.zone.join('\n'));
      if (o.json) return printJson(r.records);
      printRecords(r.records, r.publish);
    }));
  cmd.command('check <domain>').description('query DNS now, store the results and report every check (exit 1 when not verified)')
    .option('--json', 'JSON output')
    .action(async (name: string, o: { json?: boolean }, c: Command) => withContext(c, async (ctx) => {
      const d = await new Domains(ctx.store).get(name);
      const r = await withDns(ctx, (dns) => new DomainVerifier(ctx.config, ctx.store, dns, createLogger('silent')).check(d));
      if (o.json) printJson({ domain: r.domain, status: r.status, previous: r.previous, checks: r.checks.map(checkView), problems: r.problems, ...(r.rotatedFrom ? { rotated_from: r.rotatedFrom } : {}) });
      else {
        if (r.rotatedFrom) print(`DKIM: the new key (selector ${d.nextDkim?.selector}) is published and signs from now on; remove the old record ${r.rotatedFrom}._domainkey.${d.name}\n`);
        printChecks(d, r.status, r.checks, r.problems);
      }
      if (r.status !== 'verified') throw new CommanderError(1, 'mta.domain.unverified', '');
    }));
  cmd.command('dkim-rotate <domain>')
    .description('make a new DKIM key under a new selector; it replaces the current key once its record is seen in DNS')
    .addOption(new Option('--dkim <algorithm>', 'key type of the new key (default: the current one)').choices(['rsa', 'ed25519']))
    .option('--selector <selector>', 'the new selector (default: mtaYYYYMM, or with a suffix when that is the current one)')
    .option('--json', 'JSON output')
    .action(async (name: string, o: { dkim?: 'rsa' | 'ed25519'; selector?: string; json?: boolean }, c: Command) => withContext(c, async ({ store }) => {
      const r = await new Domains(store).rotateDkim(name, { algorithm: o.dkim, selector: o.selector });
      if (o.json) return printJson({ domain: r.domain, current_selector: r.currentSelector, next_selector: r.nextSelector, record: r.record });
      print(`New DKIM key for ${r.domain} under selector ${r.nextSelector}. Mail is still signed with ${r.currentSelector}.`);
      print(`Publish this record; the next check (hourly, or "mta domain check ${r.domain}") switches to the new key once it is visible:\n`);
      print(zoneLines([r.record]).join('\n'));
    }));
  cmd.command('reputation <domain>').description('set the reputation level (0-20) of a domain; ends a ban and is the only way out of level 0')
    .requiredOption('--level <n>', 'the new level', (v) => Number(v))
    .option('--reason <text>', 'recorded in the history', 'set by an operator')
    .option('--json', 'JSON output')
    .action(async (name: string, o: { level: number; reason: string; json?: boolean }, c: Command) => withContext(c, async ({ store, config }) => {
      const d = await new Domains(store).get(name);
      const quota = standaloneQuota(config, store, createLogger('silent'));
      if (!quota.reputation?.enabled()) throw new MtaError('MTA_ERR_STATE', 'reputation is off ([reputation] enabled = false)');
      await quota.reputation.setLevel(d.name, o.level, Date.now(), o.reason);
      const r = await quotaReport(quota, d.name, Date.now());
      if (o.json) return printJson(r);
      print(quotaLines(r).join('\n'));
    }));
  cmd.command('remove <domain>').description('remove a domain (its sender addresses must be removed first)')
    .action(async (name: string, _o: unknown, c: Command) => withContext(c, async ({ store }) => {
      await new Domains(store).remove(name);
      print(`removed ${name}`);
    }));
  return cmd;
}
