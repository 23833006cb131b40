/**
 * mta log — send details: one line per recipient with its result and last reply, newest
 * first, recipients refused at submission (559, suppressed) among them as `rejected`;
 * filtered by time received, sender, recipient (whole address, @domain or part of one),
 * Message-ID, tag, batch task and result; `--events` adds each recipient's history (every attempt with
 * MX, IP and the remote reply). Pages with --limit and the cursor printed at the end.
 * Thin: stats/stats.ts, shared with the API.
 */
import { Command } from 'commander';
import { withContext } from '../context.js';
import { eventDetail, print, printJson, table, timeText } from '../output.js';
import { SEND_RESULTS, StatsService } from '../../stats/stats.js';
import { Suppression, suppressionFacts, suppressionNote } from '../../suppression/suppression.js';

function positive(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new Error('--limit takes a positive whole number');
  return n;
}

function eventLine(e: Record<string, unknown>): string {
  return `    ${timeText(e['at'])}  ${String(e['type']).padEnd(9)} ${eventDetail(e)}`.trimEnd();
}

export function logCommand(): Command {
  return new Command('log').description('send details: recipients with their result and last reply (default: received in the last 24 hours)')
    .option('--from <time>', 'received at or after: YYYY-MM-DD or YYYY-MM-DDTHH:MM[:SS][Z] (UTC unless a zone is given)')
    .option('--to <time>', 'received at or before (a bare date means its end); at most 31 days after --from')
    .option('--sender <address>', 'only mail from this sender: an address, @domain, or any part of an address')
    .option('--rcpt <address>', 'only this recipient: an address, @domain (every address there), or any part of an address')
    .option('--message-id <id>', 'only the message with this Message-ID header (angle brackets optional)')
    .option('--tag <tag>', 'only mail with this tag')
    .option('--task <id>', 'only the mail of this batch task (mta task list)')
    .option('--result <result>', `only ${Object.keys(SEND_RESULTS).join(' | ')}`)
    .option('--events', 'show every recipient\'s attempt history')
    .option('--limit <n>', 'at most this many recipients', positive, 100)
    .option('--cursor <cursor>', 'continue after an earlier page (its next_cursor)')
    .option('--json', 'JSON output: { items, next_cursor }')
    .action(async (o: { from?: string; to?: string; sender?: string; rcpt?: string; messageId?: string; tag?: string; task?: string; result?: string; events?: boolean; limit: number; cursor?: string; json?: boolean }, c: Command) =>
      withContext(c, async ({ store }) => {
        const page = await new StatsService(store).details({ ...o, message_id: o.messageId, task_id: o.task, events: !!o.events });
        // A suppressed recipient is refused (559) before any message exists: say which entry and how to lift it.
        const suppressed = o.rcpt ? await new Suppression(store).entriesOf(o.rcpt) : [];
        if (o.json) return printJson(o.rcpt ? { ...page, suppressions: suppressed.map((r) => ({ address: r.address, ...suppressionFacts(r) })) } : page);
        for (const r of suppressed) print(suppressionNote(r));
        if (page.items.length === 0) { print(`nothing received from ${page.from} to ${page.to} matches`); return; }
        const columns = ['received_at', 'queue_id', 'sender', 'rcpt', 'tag', 'result', 'attempts', 'last_reply'];
        const head = ['RECEIVED', 'QUEUE_ID', 'SENDER', 'RCPT', 'TAG', 'RESULT', 'ATTEMPTS', 'LAST_REPLY'];
        const rows = page.items.map((i) => ({ ...i, received_at: i.received_at.replace(/\.\d+Z$/, 'Z') }));
        if (!o.events) print(table(rows, columns, head));
        else {
          // One aligned line per recipient, its history indented under it.
          const lines = table(rows, columns, head).split('\n');
          print(lines[0]!);
          page.items.forEach((i, n) => {
            print(lines[n + 1]!);
            for (const e of i.events ?? []) print(eventLine(e));
          });
        }
        if (page.next_cursor) print(`(more: add --cursor ${page.next_cursor})`);
      }));
}
