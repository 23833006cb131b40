/**
 * mta queue list|show|summary — what is in the spool and what happened to it (read from
 * the spool directly); mta queue flush|retry|hold|release|delete — operator control, sent
 * to the running daemon's admin API so it acts at once (a flush starts delivery now, a
 * hold also pulls recipients out of the scheduler's memory). With no daemon answering,
 * the spool is changed directly and the command says so.
 */
import { Command } from 'commander';
import { configPathOf, withContext } from '../context.js';
import { print, printJson, printList, table, type Row } from '../output.js';
import { callAdmin, type AdminReply } from '../admin-client.js';
import { parseStateFilter, RECIPIENT_STATES } from '../../spool/states.js';
import { MtaError } from '../../util/errors.js';
import { loadConfig } from '../../config/config.js';
import { SqliteStore } from '../../spool/sqlite-store.js';
import type { QueueTarget } from '../../spool/types.js';
import { domainTarget, messageWithHeaders, queueIdTarget, queueSummary, runQueueCommand, type QueueCommand, type QueueSummary } from '../../admin/queue-ops.js';

const DONE: Record<QueueCommand, string> = { flush: 'flushed', retry: 'retried', hold: 'held', release: 'released', delete: 'deleted' };
/** Why an operation may change nothing: said when it did. */
const NOTHING: Record<QueueCommand, string> = {
  flush: 'nothing was waiting for a later retry',
  retry: 'nothing was waiting for a later retry',
  hold: 'no recipient was queued or deferred',
  release: 'no recipient was held',
  delete: 'no recipient was queued, deferred or held',
};

function recipients(n: number): string { return `${n} recipient${n === 1 ? '' : 's'}`; }

function describe(cmd: QueueCommand, target: QueueTarget, affected: number): string {
  const of = 'queueId' in target ? ` of ${target.queueId}` : 'domain' in target ? ` for ${target.domain}` : '';
  let line = `${DONE[cmd]} ${recipients(affected)}${of}`;
  if (affected === 0) line += ` (${NOTHING[cmd]})`;
  else if (cmd === 'delete') line += ': they end as failed with a "deleted" event; no bounce is sent';
  return line;
}

/** Through the daemon when one answers; otherwise on the spool, saying so. */
async function control(c: Command, cmd: QueueCommand, target: QueueTarget, json: boolean | undefined): Promise<void> {
  const config = loadConfig({ path: configPathOf(c) });
  const path = cmd === 'flush' ? '/api/v1/queue/flush' : `/api/v1/queue/${'queueId' in target ? target.queueId : ''}/${cmd}`;
  const body = cmd !== 'flush' ? undefined : 'queueId' in target ? { queue_id: target.queueId } : 'domain' in target ? { domain: target.domain } : {};
  let reply: AdminReply | undefined = await callAdmin(config, 'POST', path, body);
  if (!reply) {
    const store = SqliteStore.open(config.dataDir);
    try {
      reply = { affected: await runQueueCommand(store, undefined, cmd, target), daemon: 'not running' };
    } finally {
      await store.close();
    }
    process.stderr.write('mta: daemon not running; changed the spool directly\n');
  }
  if (json) return printJson(reply);
  print(describe(cmd, target, Number(reply['affected'] ?? 0)));
}

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
      await withContext(c, async ({ store }) => {
        const { message: m, headers: headerText } = await messageWithHeaders(store, idText);
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
  cmd.command('summary').description('counts by state, then waiting mail per recipient domain and age (like qshape)')
    .option('--json', 'JSON output')
    .action(async (o: { json?: boolean }, c: Command) => withContext(c, async ({ store }) => {
      const s = await queueSummary(store);
      if (o.json) return printJson(s);
      printSummary(s);
    }));
  cmd.command('flush [id]').description('try waiting mail now: everything, one message, or one recipient domain')
    .option('--domain <domain>', 'only recipients at this domain')
    .option('--json', 'print the API result as JSON')
    .action(async (id: string | undefined, o: { domain?: string; json?: boolean }, c: Command) => {
      if (id !== undefined && o.domain !== undefined) throw new MtaError('MTA_ERR_INVALID', 'give a queue id or --domain, not both');
      const target: QueueTarget = id !== undefined ? queueIdTarget(id) : o.domain !== undefined ? domainTarget(o.domain) : { all: true };
      await control(c, 'flush', target, o.json);
    });
  const perMessage: [Exclude<QueueCommand, 'flush'>, string][] = [
    ['retry', 'try one message now, whatever its next retry time'],
    ['hold', 'hold a message: its queued and deferred recipients wait until released'],
    ['release', 'release a held message: its recipients are queued for delivery now'],
    ['delete', 'delete a message from the queue: its waiting recipients end as failed (no confirmation asked)'],
  ];
  for (const [name, description] of perMessage) {
    cmd.command(`${name} <id>`).description(description)
      .option('--json', 'print the API result as JSON')
      .action(async (id: string, o: { json?: boolean }, c: Command) => control(c, name, queueIdTarget(id), o.json));
  }
  return cmd;
}
