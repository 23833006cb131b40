/**
 * mta queue list|show|cat|summary — what is in the spool and what happened to it (read from
 * the spool directly). `list` is mailq: mail still waiting, newest last, and it says when
 * a limit cut the list; `--all` adds the history. `cat` prints the stored message, like
 * postcat -q. Operator control (flush, hold, ...) is in queue-control.ts.
 */
import { Command } from 'commander';
import { withContext } from '../context.js';
import { eventDetail, print, printJson, table, timeText, type Row } from '../output.js';
import { parseStateFilter, PENDING_STATES, RECIPIENT_STATES } from '../../spool/states.js';
import { MtaError } from '../../util/errors.js';
import { entryView, findMessage, messageView, messageWithHeaders, queueSummary, selectorOf, type QueueSummary } from '../../admin/queue-ops.js';
import { addQueueControl, recipients } from './queue-control.js';

function printSummary(s: QueueSummary): void {
  print(table([s.counts as unknown as Row], [...RECIPIENT_STATES]));
  if (s.domains.length === 0) { print('\nno mail waiting'); return; }
  const flat = (r: QueueSummary['domains'][number]): Row => ({ ...r, ...r.age });
  const total: Row = { domain: 'TOTAL', total: s.waiting, queued: s.counts.queued, sending: s.counts.sending, deferred: s.counts.deferred, held: s.counts.held };
  for (const b of s.buckets) total[b] = s.domains.reduce((n, r) => n + (r.age[b] ?? 0), 0);
  const cols = ['domain', 'total', 'queued', 'sending', 'deferred', 'held', ...s.buckets];
  print('\n' + table([total, ...s.domains.map(flat)], cols, cols.map((c) => (s.buckets.includes(c) ? c : c.toUpperCase()))));
}

export function queueCommand(): Command {
  const cmd = new Command('queue').description('inspect and control the mail queue');
  cmd.command('list').description('list waiting recipients (queued, sending, deferred, held), newest last, like mailq')
    .option('--all', 'also delivered, failed, suppressed and expired recipients (the history)')
    .option('--state <state>', `only this state (${RECIPIENT_STATES.join(', ')})`)
    .option('--domain <domain>', 'only this recipient domain')
    .option('--sender <address>', 'only mail from this envelope sender')
    .option('--task <id>', 'only mail of this batch task')
    .option('--limit <n>', 'at most this many, the newest', (v) => { const n = Number(v); if (!Number.isInteger(n) || n < 1) throw new Error('--limit takes a positive whole number'); return n; }, 1000)
    .option('--json', 'JSON output: { items, total, truncated }')
    .action(async (o: { all?: boolean; state?: string; domain?: string; sender?: string; task?: string; limit: number; json?: boolean }, c: Command) => {
      const state = o.state === undefined ? undefined : parseStateFilter(o.state);
      if (o.state !== undefined && !state) throw new MtaError('MTA_ERR_INVALID', `--state must be one of ${RECIPIENT_STATES.join(', ')}`, 'state');
      // Any state may be listed: the selector is checked as for a flush, then widened.
      const sel = { ...selectorOf('flush', { domain: o.domain, sender: o.sender, task_id: o.task }), states: state ? [state] : o.all ? undefined : PENDING_STATES };
      await withContext(c, async ({ store }) => {
        const rows = await store.listQueue({ ...sel, limit: o.limit, newest: true });
        const total = rows.length < o.limit ? rows.length : await store.countQueue(sel);
        const truncated = total > rows.length;
        // Said on stderr, so a pipe reading stdout still gets only rows.
        if (truncated) process.stderr.write(`mta: showing the newest ${rows.length} of ${recipients(total)}; --limit N shows more\n`);
        const items = rows.map(entryView);
        if (o.json) return printJson({ items, total, truncated });
        if (items.length === 0) return print(o.all || state ? 'nothing matches' : 'the queue is empty: no mail waiting (--all shows delivered and failed mail)');
        print(table(items, ['queue_id', 'state', 'sender', 'rcpt', 'size', 'attempts', 'received_at', 'next_attempt_at', 'last_reply'],
          ['QUEUE_ID', 'STATE', 'SENDER', 'RCPT', 'SIZE', 'ATTEMPTS', 'RECEIVED', 'NEXT_ATTEMPT', 'LAST_REPLY']));
      });
    });
  cmd.command('show <id>').description('show one message: envelope, headers, recipients and their history')
    .option('--json', 'JSON output')
    .action(async (idText: string, o: { json?: boolean }, c: Command) => {
      await withContext(c, async ({ store }) => {
        const { message: m, headers: headerText } = await messageWithHeaders(store, idText);
        if (o.json) return printJson(messageView(m, headerText));
        print(table([
          { k: 'queue id', v: m.id }, { k: 'received', v: m.receivedAt }, { k: 'sender', v: m.sender || '<>' },
          { k: 'auth user', v: m.authUser }, { k: 'client', v: `${m.helo ?? '-'} [${m.clientIp ?? '-'}]` },
          { k: 'message-id', v: m.messageId }, { k: 'subject', v: m.subject }, { k: 'size', v: m.size },
          { k: 'lane', v: m.lane }, { k: 'tag', v: m.tag },
        ], ['k', 'v'], ['FIELD', 'VALUE']));
        print('\nHeaders:\n' + headerText.replace(/\r\n/g, '\n'));
        print('\nRecipients:\n' + table(m.recipients.map((r) => ({ rcpt: r.rcpt, state: r.state, attempts: r.attempts, next: r.nextAttemptAt, last_reply: r.lastReply })),
          ['rcpt', 'state', 'attempts', 'next', 'last_reply']));
        print('\nEvents:\n' + table(m.events.map((e) => ({ at: timeText(e.at), type: e.type, rcpt: m.recipients.find((r) => r.recipientId === e.recipientId)?.rcpt, detail: eventDetail(e.detail) })),
          ['at', 'type', 'rcpt', 'detail'], ['TIME', 'EVENT', 'RCPT', 'DETAILS']));
      });
    });
  cmd.command('cat <id>').description('print the stored message exactly as it will be sent (RFC 5322 headers and body, CRLF), like postcat -q')
    .option('--headers', 'only the header block')
    .action(async (idText: string, o: { headers?: boolean }, c: Command) => withContext(c, async ({ store }) => {
      if (o.headers) {
        const { headers } = await messageWithHeaders(store, idText);
        process.stdout.write(`${headers}\r\n`);
        return;
      }
      const m = await findMessage(store, idText);
      for await (const chunk of store.readBody(m.id)) {
        // Respect the pipe: a large message is not buffered whole in memory.
        if (!process.stdout.write(chunk)) await new Promise((r) => process.stdout.once('drain', r));
      }
    }));
  cmd.command('summary').description('counts by state, then waiting mail per recipient domain and age (like qshape)')
    .option('--json', 'JSON output')
    .action(async (o: { json?: boolean }, c: Command) => withContext(c, async ({ store }) => {
      const s = await queueSummary(store);
      if (o.json) return printJson(s);
      printSummary(s);
    }));
  addQueueControl(cmd);
  return cmd;
}
