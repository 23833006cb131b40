/** mta queue list|show — what is in the spool and what happened to it. */
import { Command } from 'commander';
import { withContext } from '../context.js';
import { print, printJson, printList, table } from '../output.js';
import { parseStateFilter, RECIPIENT_STATES } from '../../spool/states.js';
import { parseQueueId } from '../../util/ids.js';
import { MtaError } from '../../util/errors.js';

export function queueCommand(): Command {
  const cmd = new Command('queue').description('inspect the mail queue');
  cmd.command('list').description('list recipients in the queue, one line each')
    .option('--state <state>', `only this state (${RECIPIENT_STATES.join(', ')})`)
    .option('--domain <domain>', 'only this recipient domain')
    .option('--limit <n>', 'at most this many', (v) => { const n = Number(v); if (!Number.isInteger(n) || n < 1) throw new Error('--limit takes a positive whole number'); return n; }, 1000)
    .option('--json', 'JSON output')
    .action(async (o: { state?: string; domain?: string; limit: number; json?: boolean }, c: Command) => {
      const state = o.state === undefined ? undefined : parseStateFilter(o.state);
      if (o.state !== undefined && !state) throw new MtaError('MTA_ERR_INVALID', `--state must be one of ${RECIPIENT_STATES.join(', ')}`, 'state');
      await withContext(c, async ({ store }) => {
        const rows = await store.listQueue({ state, domain: o.domain, limit: o.limit });
        printList(rows.map((r) => ({
          queue_id: r.queueId, state: r.state, sender: r.sender, rcpt: r.rcpt, size: r.size, attempts: r.attempts,
          received: r.receivedAt, next_attempt: r.nextAttemptAt, last_reply: r.lastReply,
        })), ['queue_id', 'state', 'sender', 'rcpt', 'size', 'attempts', 'received', 'last_reply'], o.json, 'the queue is empty');
      });
    });
  cmd.command('show <id>').description('show one message: envelope, headers, recipients and their history')
    .option('--json', 'JSON output')
    .action(async (idText: string, o: { json?: boolean }, c: Command) => {
      const id = parseQueueId(idText);
      if (!id) throw new MtaError('MTA_ERR_INVALID', `"${idText}" is not a queue id`, 'id');
      await withContext(c, async ({ store }) => {
        const m = await store.getMessage(id);
        if (!m) throw new MtaError('MTA_ERR_NOT_FOUND', `no message ${id} in the queue`, 'id');
        let headerText = '';
        for await (const chunk of store.readBody(id)) {
          headerText += chunk.toString('latin1');
          const end = headerText.indexOf('\r\n\r\n');
          if (end >= 0) { headerText = headerText.slice(0, end); break; }
          if (headerText.length > 1024 * 1024) break;
        }
        if (o.json) return printJson({ ...m, headers: headerText });
        print(table([
          { k: 'queue id', v: m.id }, { k: 'received', v: m.receivedAt }, { k: 'sender', v: m.sender || '<>' },
          { k: 'auth user', v: m.authUser }, { k: 'client', v: `${m.helo ?? '-'} [${m.clientIp ?? '-'}]` },
          { k: 'message-id', v: m.messageId }, { k: 'subject', v: m.subject }, { k: 'size', v: m.size },
          { k: 'lane', v: m.lane }, { k: 'tag', v: m.tag },
        ], ['k', 'v'], ['FIELD', 'VALUE']));
        print('\nHeaders:\n' + headerText.replace(/\r\n/g, '\n'));
        print('\nRecipients:\n' + table(m.recipients.map((r) => ({ rcpt: r.rcpt, state: r.state, attempts: r.attempts, next: r.nextAttemptAt, last_reply: r.lastReply })),
          ['rcpt', 'state', 'attempts', 'next', 'last_reply']));
        print('\nEvents:\n' + table(m.events.map((e) => ({ at: e.at, type: e.type, rcpt: m.recipients.find((r) => r.recipientId === e.recipientId)?.rcpt, detail: JSON.stringify(e.detail) })),
          ['at', 'type', 'rcpt', 'detail']));
      });
    });
  return cmd;
}
