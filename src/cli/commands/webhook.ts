/**
 * mta webhook add|list|remove|test|log — async notifications. Thin: every operation is
 * events/webhooks.ts, which the admin API uses too. They work on the spool directly (the
 * running daemon picks up new webhooks with the next event; `test` sends from here).
 */
import { Command } from 'commander';
import { withContext } from '../context.js';
import { print, printJson, printList, table } from '../output.js';
import { WebhookService, type WebhookView } from '../../events/webhooks.js';
import { SUBSCRIBABLE_EVENTS } from '../../events/payload.js';
import { MtaError } from '../../util/errors.js';

function positive(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new Error('--limit takes a positive whole number');
  return n;
}

/**
 * What came of one attempt. The stored error of an HTTP answer is an excerpt of its body,
 * so a 500 whose body says "ok" must read as a refusal, not as "ok".
 */
function result(a: { status: number | null; error: string | null }): string {
  if (a.status !== null && a.status >= 200 && a.status < 300) return 'accepted';
  if (a.status !== null) return `refused: HTTP ${a.status}${a.error ? ` (body: ${a.error})` : ''}`;
  return `failed: ${a.error ?? 'no answer'}`;
}

function row(w: WebhookView): Record<string, unknown> {
  return { ...w, events: w.events === '*' ? '*' : w.events.join(','), state: w.disabled ? 'disabled' : 'enabled' };
}

export function webhookCommand(): Command {
  const cmd = new Command('webhook').description('async notifications: POST each delivery outcome to your URL, signed');
  cmd.command('add <url>').description('add a webhook (account level, or for one sender address, which then hears only from it)')
    .option('--sender <address>', 'sender level: only this sender\'s mail (and the account-level webhooks stop hearing about it)')
    .option('--events <list>', `comma-separated events to send (default all): ${SUBSCRIBABLE_EVENTS.join(', ')}`)
    .option('--format <format>', 'json (one event per request) or form (DirectMail\'s key=value&... body)', 'json')
    .option('--secret <secret>', 'signing secret (at least 16 characters); default: generated and printed once')
    .option('--json', 'JSON output')
    .action(async (url: string, o: { sender?: string; events?: string; format: string; secret?: string; json?: boolean }, c: Command) =>
      withContext(c, async ({ store, config }) => {
        const r = await new WebhookService(store, () => config).add({ url, sender: o.sender, events: o.events, format: o.format, secret: o.secret });
        if (o.json) return printJson({ ...r.webhook, ...(r.secret ? { secret: r.secret } : {}) });
        print(`added webhook ${r.webhook.id}: ${r.webhook.url} (${r.webhook.scope === 'account' ? 'account level' : `sender ${r.webhook.scope}`}, events ${row(r.webhook)['events']}, ${r.webhook.format})`);
        if (r.secret) print(`secret: ${r.secret}\n(shown once: verify X-Mta-Signature with it; it cannot be displayed again)`);
      }));
  cmd.command('list').description('list webhooks with their undelivered (backlog) and given-up (dead) events')
    .option('--json', 'JSON output')
    .action(async (o: { json?: boolean }, c: Command) => withContext(c, async ({ store, config }) => {
      const rows = await new WebhookService(store, () => config).list();
      if (o.json) return printJson(rows);
      printList(rows.map(row), ['id', 'url', 'scope', 'events', 'format', 'state', 'backlog', 'dead', 'created_at'], false, 'no webhooks (add one with mta webhook add URL)');
    }));
  cmd.command('remove <id>').description('remove a webhook; its undelivered events are dropped')
    .option('--json', 'JSON output')
    .action(async (id: string, o: { json?: boolean }, c: Command) => withContext(c, async ({ store, config }) => {
      const r = await new WebhookService(store, () => config).remove(id);
      if (o.json) return printJson(r);
      print(`removed webhook ${r.id}${r.dropped ? ` (${r.dropped} undelivered event${r.dropped === 1 ? '' : 's'} dropped)` : ''}`);
    }));
  cmd.command('test <id>').description('send a signed "test" event now and show the answer (exit 1 unless it is 2xx)')
    .option('--json', 'JSON output')
    .action(async (id: string, o: { json?: boolean }, c: Command) => withContext(c, async ({ store, config }) => {
      const r = await new WebhookService(store, () => config).test(id);
      if (o.json) printJson(r);
      else print(`webhook ${r.id}: ${r.url} answered ${r.status !== null ? `HTTP ${r.status}` : 'nothing'} in ${r.duration_ms} ms${r.error ? `: ${r.error}` : ''}`);
      if (!r.ok) throw new MtaError('MTA_ERR_WEBHOOK', `webhook ${r.id} did not accept the test event (${r.status !== null ? `HTTP ${r.status}` : r.error ?? 'no answer'})`);
    }));
  cmd.command('log [id]').description('recent delivery attempts (all webhooks, or one), newest first')
    .option('--limit <n>', 'at most this many', positive, 50)
    .option('--json', 'JSON output')
    .action(async (id: string | undefined, o: { limit: number; json?: boolean }, c: Command) => withContext(c, async ({ store, config }) => {
      const rows = await new WebhookService(store, () => config).log({ ...(id !== undefined ? { id } : {}), limit: o.limit });
      if (o.json) return printJson(rows);
      print(rows.length ? table(rows.map((a) => ({ ...a, status: a.status ?? '-', outbox_id: a.outbox_id ?? 'test', result: result(a) })),
        ['at', 'webhook_id', 'event', 'outbox_id', 'status', 'duration_ms', 'result'],
        ['AT', 'WEBHOOK', 'EVENT', 'DELIVERY', 'STATUS', 'MS', 'RESULT']) : 'no attempts yet');
    }));
  return cmd;
}
