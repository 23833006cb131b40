/**
 * mta list create|import|show|export|list|remove — recipient lists (lists/). `import`
 * streams a CSV or TXT file into the list, shows progress on a terminal and ends with a
 * report (imported, updated, duplicates, invalid rows with line, value and reason).
 */
import { Command, Option } from 'commander';
import { withContext } from '../context.js';
import { print, printJson, printList, table } from '../output.js';
import { iso } from '../../admin/context.js';
import { Lists } from '../../lists/lists.js';
import { importFile, type EncodingOption } from '../../lists/import.js';
import { formatListReport, importOutcome } from '../import-report.js';
import { writeListCsv } from '../../lists/export.js';
import type { ListMember, ListRecord } from '../../spool/types-lists.js';
import { MtaError } from '../../util/errors.js';

function listView(l: ListRecord): Record<string, unknown> {
  return { name: l.name, alias: l.alias, description: l.description, members: l.members, variables: l.columns, created: iso(l.createdAt) };
}

/** rows/s progress on stderr, at most 4 times a second; only on a terminal. */
function progress(): { tick: (rows: number) => void; done: () => void } {
  if (!process.stderr.isTTY) return { tick: () => undefined, done: () => undefined };
  const start = Date.now();
  let last = 0;
  let shown = false;
  return {
    tick: (rows) => {
      const now = Date.now();
      if (now - last < 250) return;
      last = now;
      const rate = Math.round(rows / Math.max((now - start) / 1000, 0.001));
      process.stderr.write(`\rimporting: ${rows.toLocaleString('en')} rows, ${rate.toLocaleString('en')} rows/s   `);
      shown = true;
    },
    done: () => { if (shown) process.stderr.write('\n'); },
  };
}

export function listCommand(): Command {
  const cmd = new Command('list').description('recipient lists for batch mail (收件人列表)');
  cmd.command('create <name>').description('create a list with its alias address')
    .requiredOption('--alias <address>', 'the address that stands for the whole list (unique)')
    .option('--description <text>', 'what the list is for')
    .option('--json', 'JSON output')
    .action(async (name: string, o: { alias: string; description?: string; json?: boolean }, c: Command) => withContext(c, async ({ store }) => {
      const l = await new Lists(store).create({ name, alias: o.alias, description: o.description });
      if (o.json) return printJson(listView(l));
      print(`created list ${l.name} (alias ${l.alias})`);
    }));
  cmd.command('import <name> <file>').description('import members from a CSV or TXT file; the header row names the variables (EAddr required)')
    .addOption(new Option('--encoding <encoding>', 'file encoding: utf8, gbk, or auto (a BOM or valid UTF-8, else GBK)').choices(['utf8', 'gbk', 'auto']).default('auto'))
    .option('--strict', 'refuse the whole file on the first invalid row (nothing is imported)')
    .option('--json', 'JSON output (every invalid row)')
    .action(async (name: string, file: string, o: { encoding: EncodingOption; strict?: boolean; json?: boolean }, c: Command) => withContext(c, async ({ store }) => {
      const p = progress();
      let report;
      try {
        report = await importFile(store, name, file, { encoding: o.encoding, strict: o.strict ?? false, onProgress: p.tick });
      } finally {
        p.done();
      }
      if (o.json) printJson(report); else if (!report.refused) print(formatListReport(report));
      importOutcome(report, 'rows');
    }));
  cmd.command('show <name>').description('a list, its member count and variables')
    .option('--members <n>', 'also show the first N members', (v) => { const n = Number(v); if (!Number.isInteger(n) || n < 0) throw new Error('--members takes a whole number'); return n; }, 0)
    .option('--json', 'JSON output')
    .action(async (name: string, o: { members: number; json?: boolean }, c: Command) => withContext(c, async ({ store }) => {
      const lists = new Lists(store);
      const l = await lists.get(name);
      const members = o.members > 0 ? await lists.members(name, { limit: o.members }) : [];
      if (o.json) return printJson({ ...listView(l), ...(o.members > 0 ? { first_members: members.map((m) => ({ EAddr: m.address, ...m.variables })) } : {}) });
      print(table([listView(l)].map((v) => ({ ...v, variables: l.columns.join(', ') || '-', description: l.description ?? '-' })),
        ['name', 'alias', 'members', 'variables', 'created', 'description']));
      // Null-prototype rows: a column named `toString` or `constructor` must not read an inherited method.
      const rows = members.map((m) => Object.assign(Object.create(null) as Record<string, string>, { EAddr: m.address }, m.variables));
      if (members.length) print(`\n${table(rows, ['EAddr', ...l.columns], ['EAddr', ...l.columns])}`);
    }));
  cmd.command('export <name>').description('write the members as CSV to stdout: EAddr and the variable columns')
    .action(async (name: string, _o: unknown, c: Command) => withContext(c, async ({ store }) => { await writeListCsv(store, name, process.stdout); }));
  cmd.addCommand(memberCommand());
  cmd.command('list').description('all recipient lists')
    .option('--json', 'JSON output')
    .action(async (o: { json?: boolean }, c: Command) => withContext(c, async ({ store }) => {
      const rows = (await new Lists(store).list()).map(listView);
      printList(o.json ? rows : rows.map((r) => ({ ...r, variables: (r['variables'] as string[]).join(', ') || '-' })),
        ['name', 'alias', 'members', 'variables', 'created'], o.json, 'no recipient lists');
    }));
  cmd.command('remove <name>').description('remove a list and its members')
    .action(async (name: string, _o: unknown, c: Command) => withContext(c, async ({ store }) => {
      await new Lists(store).remove(name);
      print(`removed list ${name}`);
    }));
  return cmd;
}

/** `--var Name=Value`, repeatable, into one object (null-prototype: names are the user's). */
function collectVar(v: string, acc: Record<string, string>): Record<string, string> {
  const i = v.indexOf('=');
  if (i <= 0) throw new MtaError('MTA_ERR_INVALID', `--var takes Name=Value, not "${v}"`, 'var');
  acc[v.slice(0, i)] = v.slice(i + 1);
  return acc;
}

function memberCommand(): Command {
  const cmd = new Command('member').description('one member of a list: add, update, remove');
  const vars = (): Record<string, string> => Object.create(null) as Record<string, string>;
  const show = (verb: string, list: string, m: ListMember, json?: boolean): void => {
    if (json) return printJson({ EAddr: m.address, variables: m.variables });
    const v = Object.entries(m.variables).map(([k, x]) => `${k}=${JSON.stringify(x)}`).join(' ');
    print(`${verb} ${m.address} in list ${list}${v ? `: ${v}` : ''}`);
  };
  cmd.command('add <list> <address>').description('add one member (refused when the address is a member already)')
    .option('--var <Name=Value>', 'a variable (repeat for more)', collectVar, vars())
    .option('--json', 'JSON output')
    .action(async (list: string, address: string, o: { var: Record<string, string>; json?: boolean }, c: Command) => withContext(c, async ({ store }) => {
      show('added', list, await new Lists(store).addMember(list, address, o.var), o.json);
    }));
  cmd.command('update <list> <address>').description('change variables of one member (the others stay)')
    .option('--var <Name=Value>', 'a variable (repeat for more)', collectVar, vars())
    .option('--json', 'JSON output')
    .action(async (list: string, address: string, o: { var: Record<string, string>; json?: boolean }, c: Command) => withContext(c, async ({ store }) => {
      show('updated', list, await new Lists(store).updateMember(list, address, o.var), o.json);
    }));
  cmd.command('remove <list> <address>').description('remove one member')
    .action(async (list: string, address: string, _o: unknown, c: Command) => withContext(c, async ({ store }) => {
      await new Lists(store).removeMember(list, address);
      print(`removed ${address} from list ${list}`);
    }));
  return cmd;
}
