/**
 * mta queue flush|retry|hold|release|delete — operator control of one message, or of every
 * recipient a selector names (--domain, --sender, --task, --state; all given must match),
 * like postsuper. Sent to the running daemon's admin API so it acts at once (a flush
 * starts delivery now, a hold also pulls recipients out of the scheduler's memory); with
 * no daemon answering, the spool is changed directly and the command says so.
 * A delete by selector is confirmed first: a prompt on a terminal, `--yes` in scripts;
 * with neither it is refused and nothing changes.
 */
import { Command } from 'commander';
import { configPathOf } from '../context.js';
import { print, printJson } from '../output.js';
import { callAdmin, type AdminReply } from '../admin-client.js';
import { canAsk, confirm } from '../prompt.js';
import { MtaError } from '../../util/errors.js';
import { loadConfig, type Config } from '../../config/config.js';
import { openStoreAsync, type Store } from '../../spool/index.js';
import type { QueueSelector, QueueTarget } from '../../spool/types-queue.js';
import {
  countAffected, describeSelector, queueIdTarget, runQueueCommand, selectorOf, type QueueCommand,
} from '../../admin/queue-ops.js';

const DONE: Record<QueueCommand, string> = { flush: 'flushed', retry: 'retried', hold: 'held', release: 'released', delete: 'deleted' };
/** Why an operation may change nothing: said when it did. */
const NOTHING: Record<QueueCommand, string> = {
  flush: 'nothing was waiting for a later retry',
  retry: 'nothing was waiting for a later retry',
  hold: 'no recipient was queued or deferred',
  release: 'no recipient was held',
  delete: 'no recipient was queued, deferred or held',
};

export function recipients(n: number): string { return `${n} recipient${n === 1 ? '' : 's'}`; }

function describe(cmd: QueueCommand, target: QueueTarget, affected: number): string {
  const of = 'queueId' in target ? ` of ${target.queueId}` : 'select' in target ? ` matching ${describeSelector(target.select)}` : '';
  let line = `${DONE[cmd]} ${recipients(affected)}${of}`;
  if (affected === 0) line += ` (${NOTHING[cmd]})`;
  else if (cmd === 'delete') line += ': they end as failed with a "deleted" event; no bounce is sent';
  return line;
}

async function withSpool<T>(config: Config, fn: (store: Store) => Promise<T>): Promise<T> {
  const store = await openStoreAsync(config);
  try {
    return await fn(store);
  } finally {
    await store.close();
  }
}

/** A bulk delete goes ahead only when confirmed: --yes, or "y" typed on the terminal. */
async function confirmDelete(config: Config, sel: QueueSelector, yes: boolean | undefined): Promise<void> {
  if (yes) return;
  const what = `matching ${describeSelector(sel)}`;
  if (!canAsk()) throw new MtaError('MTA_ERR_CONFIRM', `refusing to delete the recipients ${what} unconfirmed: add --yes (no terminal to ask on)`);
  const n = await withSpool(config, (store) => countAffected(store, 'delete', sel));
  if (n === 0) return;
  if (!(await confirm(`delete ${recipients(n)} ${what}? They end as failed; no bounce is sent.`))) {
    throw new MtaError('MTA_ERR_CONFIRM', 'not confirmed: nothing deleted');
  }
}

/** Through the daemon when one answers; otherwise on the spool, saying so. */
async function control(config: Config, cmd: QueueCommand, target: QueueTarget, body: Record<string, string> | undefined): Promise<AdminReply> {
  const path = 'queueId' in target && cmd !== 'flush' ? `/api/v1/queue/${target.queueId}/${cmd}` : `/api/v1/queue/${cmd}`;
  const reply = await callAdmin(config, 'POST', path, body);
  if (reply) return reply;
  const affected = await withSpool(config, (store) => runQueueCommand(store, undefined, cmd, target));
  process.stderr.write('mta: daemon not running; changed the spool directly\n');
  return { affected, daemon: 'not running' };
}

interface ControlOptions { domain?: string; sender?: string; task?: string; state?: string; yes?: boolean; json?: boolean }

function withSelectorOptions(c: Command): Command {
  return c.option('--domain <domain>', 'only recipients at this domain')
    .option('--sender <address>', 'only mail from this envelope sender (<> for bounces)')
    .option('--task <id>', 'only mail of this batch task')
    .option('--state <state>', 'only recipients in this state (each operation names the states it acts on)');
}

/** The flush/hold/release/delete commands, added to `mta queue`. */
export function addQueueControl(cmd: Command): void {
  const specs: [Exclude<QueueCommand, 'retry'>, string][] = [
    ['flush', 'try waiting mail now: everything, one message, or the recipients a selector names'],
    ['hold', 'hold queued and deferred recipients (one message, or by selector) until released'],
    ['release', 'release held recipients (one message, or by selector): they are queued for delivery now'],
    ['delete', 'delete waiting recipients (one message, or by selector): they end as failed, no bounce is sent'],
  ];
  for (const [name, description] of specs) {
    const sub = withSelectorOptions(cmd.command(`${name} [id]`).description(description));
    if (name === 'delete') sub.option('-y, --yes', 'delete by selector without asking (needed when there is no terminal)');
    sub.option('--json', 'print the API result as JSON')
      .action(async (id: string | undefined, o: ControlOptions, c: Command) => {
        const fields = { domain: o.domain, sender: o.sender, task_id: o.task, state: o.state };
        const sel = selectorOf(name, fields);
        if (id !== undefined && sel) throw new MtaError('MTA_ERR_INVALID', 'give a queue id or selectors (--domain, --sender, --task, --state), not both');
        if (id === undefined && !sel && name !== 'flush') throw new MtaError('MTA_ERR_INVALID', `${name} needs a queue id or at least one of --domain, --sender, --task, --state`);
        const target: QueueTarget = id !== undefined ? queueIdTarget(id) : sel ? { select: sel } : { all: true };
        const config = loadConfig({ path: configPathOf(c) });
        if (name === 'delete' && sel) await confirmDelete(config, sel, o.yes);
        const body = id !== undefined
          ? (name === 'flush' ? { queue_id: id } : undefined)
          : Object.fromEntries(Object.entries(fields).filter((e): e is [string, string] => e[1] !== undefined));
        const reply = await control(config, name, target, body);
        if (o.json) return printJson(reply);
        print(describe(name, target, Number(reply['affected'] ?? 0)));
      });
  }
  cmd.command('retry <id>').description('try one message now, whatever its next retry time')
    .option('--json', 'print the API result as JSON')
    .action(async (id: string, o: { json?: boolean }, c: Command) => {
      const target = queueIdTarget(id);
      const reply = await control(loadConfig({ path: configPathOf(c) }), 'retry', target, undefined);
      if (o.json) return printJson(reply);
      print(describe('retry', target, Number(reply['affected'] ?? 0)));
    });
}
