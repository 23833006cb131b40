/**
 * mta template create|edit|show|list|approve|reject|render|remove — mail templates,
 * through templates/templates.ts (as for the admin API). Bodies are read from files.
 */
import { readFileSync } from 'node:fs';
import { Command } from 'commander';
import { withContext } from '../context.js';
import { Templates, variablesOf } from '../../templates/templates.js';
import { print, printJson, printList } from '../output.js';
import type { TemplateRecord } from '../../spool/types-templates.js';
import { MtaError } from '../../util/errors.js';
import type { Config } from '../../config/config.js';
import type { Store } from '../../spool/index.js';

function view(t: TemplateRecord): Record<string, unknown> {
  return {
    name: t.name, subject: t.subject, from_name: t.fromName, state: t.state, reject_reason: t.rejectReason,
    variables: variablesOf(t.subject, t.html, t.text), html: t.html, text: t.text,
    created: new Date(t.createdAt).toISOString(), updated: new Date(t.updatedAt).toISOString(),
  };
}

function readBody(file: string, field: string): string {
  try { return readFileSync(file, 'utf8'); } catch (e) {
    throw new MtaError('MTA_ERR_INVALID', `${field}: cannot read ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, field);
  }
}

function parseVars(json: string | undefined): Record<string, string> {
  if (json === undefined) return {};
  let v: unknown;
  try { v = JSON.parse(json); } catch { throw new MtaError('MTA_ERR_INVALID', '--vars: not valid JSON', 'vars'); }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new MtaError('MTA_ERR_INVALID', '--vars: must be a JSON object such as {"UserName":"Ann"}', 'vars');
  return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, typeof x === 'string' ? x : JSON.stringify(x)]));
}

const service = (config: Config, store: Store): Templates => new Templates(store, () => config.templates);

interface BodyOpts { subject?: string; html?: string; text?: string | false; fromName?: string; noText?: boolean; json?: boolean }

export function templateCommand(): Command {
  const cmd = new Command('template').description('mail templates: subject, sender name, HTML and text bodies with {Variable} placeholders');
  cmd.command('create <name>').description('create a template (a draft until approved)')
    .requiredOption('--subject <subject>', 'subject, may use {Variable}')
    .requiredOption('--html <file>', 'HTML body file')
    .option('--text <file>', 'text body file (default: generated from the HTML)')
    .option('--from-name <name>', 'sender display name')
    .option('--json', 'JSON output')
    .action(async (name: string, o: BodyOpts, c: Command) => withContext(c, async ({ config, store }) => {
      const t = await service(config, store).create(name, {
        subject: o.subject!, html: readBody(o.html!, 'html'), text: o.text ? readBody(o.text, 'text') : null, fromName: o.fromName ?? null,
      });
      if (o.json) return printJson(view(t));
      print(`created template ${t.name} (draft; variables: ${variablesOf(t.subject, t.html, t.text).join(', ') || 'none'})`);
    }));
  cmd.command('edit <name>').description('change a template; an approved template returns to draft')
    .option('--subject <subject>', 'subject')
    .option('--html <file>', 'HTML body file')
    .option('--text <file>', 'text body file')
    .option('--no-text', 'remove the text body (generate it from the HTML)')
    .option('--from-name <name>', 'sender display name')
    .option('--json', 'JSON output')
    .action(async (name: string, o: BodyOpts, c: Command) => withContext(c, async ({ config, store }) => {
      const t = await service(config, store).edit(name, {
        subject: o.subject, fromName: o.fromName, html: o.html ? readBody(o.html, 'html') : undefined,
        text: o.text === false ? null : typeof o.text === 'string' ? readBody(o.text, 'text') : undefined,
      });
      if (o.json) return printJson(view(t));
      print(`updated template ${t.name} (${t.state})`);
    }));
  cmd.command('show <name>').description('show a template').option('--json', 'JSON output')
    .action(async (name: string, o: { json?: boolean }, c: Command) => withContext(c, async ({ config, store }) => {
      const v = view(await service(config, store).get(name));
      if (o.json) return printJson(v);
      print([
        `name:      ${String(v['name'])}`, `state:     ${String(v['state'])}${v['reject_reason'] ? ` (${String(v['reject_reason'])})` : ''}`,
        `subject:   ${String(v['subject'])}`, `from name: ${String(v['from_name'] ?? '')}`,
        `variables: ${(v['variables'] as string[]).join(', ') || 'none'}`, `updated:   ${String(v['updated'])}`,
        '', '--- html', String(v['html']), '', `--- text${v['text'] === null ? ' (generated from the HTML)' : ''}`, String(v['text'] ?? ''),
      ].join('\n'));
    }));
  cmd.command('list').description('list templates').option('--json', 'JSON output')
    .action(async (o: { json?: boolean }, c: Command) => withContext(c, async ({ config, store }) => {
      const rows = (await service(config, store).list()).map((t) => {
        const { html: _h, text: _t, ...rest } = view(t);
        return rest;
      });
      printList(rows, ['name', 'state', 'subject', 'from_name', 'updated'], o.json, 'no templates');
    }));
  cmd.command('approve <name>').description('approve a draft (refused when it has malformed placeholders)').option('--json', 'JSON output')
    .action(async (name: string, o: { json?: boolean }, c: Command) => withContext(c, async ({ config, store }) => {
      const t = await service(config, store).approve(name);
      if (o.json) return printJson(view(t));
      print(`approved template ${t.name}`);
    }));
  cmd.command('reject <name>').description('reject a template with a reason').requiredOption('--reason <reason>', 'why').option('--json', 'JSON output')
    .action(async (name: string, o: { reason: string; json?: boolean }, c: Command) => withContext(c, async ({ config, store }) => {
      const t = await service(config, store).reject(name, o.reason);
      if (o.json) return printJson(view(t));
      print(`rejected template ${t.name}: ${t.rejectReason ?? ''}`);
    }));
  cmd.command('render <name>').description('print the exact MIME message for the given variables')
    .option('--vars <json>', 'variables as a JSON object, e.g. {"UserName":"Ann"}')
    .option('--from <address>', 'From address (default noreply@<hostname>)')
    .option('--to <address>', 'To address')
    .option('--json', 'JSON output: subject, html, text and mime')
    .action(async (name: string, o: { vars?: string; from?: string; to?: string; json?: boolean }, c: Command) => withContext(c, async ({ config, store }) => {
      const r = await service(config, store).render(name, parseVars(o.vars), { from: o.from ?? `noreply@${config.hostname}`, to: o.to });
      if (o.json) return printJson({ subject: r.subject, from_name: r.fromName, html: r.html, text: r.text, text_generated: r.textGenerated, mime: r.mime });
      process.stdout.write(r.mime.endsWith('\n') ? r.mime : `${r.mime}\r\n`);
    }));
  cmd.command('remove <name>').description('remove a template')
    .action(async (name: string, _o: unknown, c: Command) => withContext(c, async ({ config, store }) => {
      await service(config, store).remove(name);
      print(`removed template ${name}`);
    }));
  return cmd;
}
