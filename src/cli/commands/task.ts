/**
 * mta task create|list|show|pause|resume|cancel — batch tasks (发送任务), through the
 * running daemon's admin API so a cancel also pulls recipients out of the scheduler's
 * memory; with no daemon answering, on the spool directly (tasks/tasks.ts either way), and
 * the daemon starts a queued task when it next runs.
 */
import { Command, Option } from 'commander';
import { configPathOf } from '../context.js';
import { print, printJson, table } from '../output.js';
import { callAdmin, type AdminReply } from '../admin-client.js';
import { loadConfig } from '../../config/config.js';
import { openStoreAsync } from '../../spool/index.js';
import { Tasks, taskView } from '../../tasks/tasks.js';
import { TASK_STATES, type TaskState } from '../../spool/types-tasks.js';
import { MtaError } from '../../util/errors.js';

type Method = 'GET' | 'POST';

/** The daemon's answer, or the same answer computed on the spool when no daemon runs. */
async function call(c: Command, method: Method, path: string, body: unknown, offline: (tasks: Tasks) => Promise<unknown>): Promise<AdminReply> {
  const config = loadConfig({ path: configPathOf(c) });
  const reply = await callAdmin(config, method, path, body);
  if (reply) return reply;
  const store = await openStoreAsync(config);
  try {
    const r = (await offline(new Tasks(store, () => config))) as AdminReply;
    if (method === 'POST') process.stderr.write('mta: daemon not running; changed the spool directly (the daemon acts on it when it starts)\n');
    return r;
  } finally {
    await store.close();
  }
}

const LIST_COLUMNS = ['id', 'list', 'template', 'address_type', 'tag', 'state_shown', 'requested', 'delivered', 'failed', 'invalid', 'created_at'];
const LIST_HEADERS = ['ID', 'LIST', 'TEMPLATE', 'ADDRESS TYPE', 'TAG', 'STATE', 'REQUESTED', 'DELIVERED', 'FAILED', 'INVALID', 'CREATED'];

function listRow(v: AdminReply): Record<string, unknown> {
  return { ...v, template: v['template'] ?? `(alias mail ${String(v['source_id'])})` };
}

function showText(v: AdminReply): string {
  const rows: [string, unknown][] = [
    ['id', v['id']], ['kind', v['kind']], ['list', v['list']],
    v['kind'] === 'alias' ? ['source message', v['source_id']] : ['template', v['template']],
    ['sender', v['sender']], ['tag', v['tag'] ?? '-'], ['address type', v['address_type']],
    ['tracking', v['tracking'] ? `on (${String(v['tracking_note'])})` : 'off'], ['unsubscribe', v['unsubscribe'] ? 'on' : 'off'],
    ['state', v['state_shown']],
    ...(v['pause_reason'] ? [['pause reason', v['pause_reason']] as [string, unknown]] : []),
    ...(v['resume_at'] ? [['resumes at', v['resume_at']] as [string, unknown]] : []),
    ['progress', `${String(v['progress'])} members expanded${v['exhausted'] ? ' (list done)' : ''}`],
    ['requested', v['requested']], ['delivered', v['delivered']], ['failed', v['failed']], ['invalid', v['invalid']],
    ['suppressed', v['suppressed']], ['waiting', v['waiting']], ['deferred', v['deferred'] ?? '-'], ['held', v['held'] ?? '-'],
    ['bounced after delivery', v['bounced_after_delivery'] ?? 0],
    ['created', v['created_at']], ['finished', v['finished_at'] ?? '-'],
  ];
  // A FIELD/VALUE table, as every other `show` prints.
  return table(rows.map(([k, val]) => ({ k, v: val })), ['k', 'v'], ['FIELD', 'VALUE']);
}

export function taskCommand(): Command {
  const cmd = new Command('task').description('batch tasks: a list, an approved template and a batch sender (发送任务)');
  cmd.command('create').description('create a batch task; the daemon expands the list a chunk at a time')
    .requiredOption('--list <name>', 'recipient list')
    .requiredOption('--template <name>', 'approved template')
    .requiredOption('--from <address>', 'batch sender address')
    .option('--tag <tag>', 'tag for the statistics')
    .addOption(new Option('--address-type <type>', 'envelope sender: the sender address, or a per-recipient VERP address').choices(['sender', 'random']).default('sender'))
    .option('--tracking', 'track opens and clicks of the task\'s mail (needs [public] base_url)')
    .option('--unsubscribe', 'List-Unsubscribe headers and a footer link')
    .option('--json', 'JSON output')
    .action(async (o: { list: string; template: string; from: string; tag?: string; addressType: 'sender' | 'random'; tracking?: boolean; unsubscribe?: boolean; json?: boolean }, c: Command) => {
      const body = { list: o.list, template: o.template, from: o.from, ...(o.tag ? { tag: o.tag } : {}), address_type: o.addressType, tracking: !!o.tracking, unsubscribe: !!o.unsubscribe };
      const v = await call(c, 'POST', '/api/v1/tasks', body, async (t) => taskView(await t.create({
        list: o.list, template: o.template, from: o.from, tag: o.tag, addressType: o.addressType, tracking: !!o.tracking, unsubscribe: !!o.unsubscribe,
      })));
      if (o.json) return printJson(v);
      print(`created task ${String(v['id'])}: list ${o.list}, template ${o.template}, from ${String(v['sender'])} (${String(v['state_shown'])})`);
    });
  cmd.command('list').description('batch tasks, newest first')
    .addOption(new Option('--state <state>', 'only tasks in this state').choices([...TASK_STATES]))
    .option('--limit <n>', 'at most this many', (x) => { const n = Number(x); if (!Number.isInteger(n) || n < 1 || n > 1000) throw new Error('--limit takes 1-1000'); return n; }, 100)
    .option('--json', 'JSON output')
    .action(async (o: { state?: TaskState; limit: number; json?: boolean }, c: Command) => {
      const q = new URLSearchParams({ limit: String(o.limit), ...(o.state ? { state: o.state } : {}) });
      const r = await call(c, 'GET', `/api/v1/tasks?${q.toString()}`, undefined, async (t) => ({
        items: (await t.list({ ...(o.state ? { states: [o.state] } : {}), limit: o.limit })).map((x) => taskView(x)),
      }));
      const items = (r['items'] ?? []) as AdminReply[];
      if (o.json) return printJson(items);
      print(items.length ? table(items.map(listRow), LIST_COLUMNS, LIST_HEADERS) : 'no batch tasks');
    });
  cmd.command('show <id>').description('one task: progress, counts, pause reason and resume time')
    .option('--json', 'JSON output')
    .action(async (id: string, o: { json?: boolean }, c: Command) => {
      const v = await call(c, 'GET', `/api/v1/tasks/${encodeURIComponent(id)}`, undefined, async (t) => { const x = await t.get(id); return taskView(x, await t.waiting(x)); });
      if (o.json) return printJson(v);
      print(showText(v));
    });
  for (const [name, what] of [['pause', 'pause a task: nothing more is expanded'], ['resume', 'resume a paused task'], ['cancel', 'cancel a task and delete its waiting recipients']] as const) {
    cmd.command(`${name} <id>`).description(what)
      .option('--json', 'JSON output')
      .action(async (id: string, o: { json?: boolean }, c: Command) => {
        const v = await call(c, 'POST', `/api/v1/tasks/${encodeURIComponent(id)}/${name}`, undefined, async (t) => {
          if (name === 'pause') return taskView(await t.pause(id));
          if (name === 'resume') return taskView(await t.resume(id));
          const r = await t.cancel(id);
          return { ...taskView(r.task), deleted: r.deleted };
        });
        if (o.json) return printJson(v);
        if (v['id'] === undefined) throw new MtaError('MTA_ERR_INTERNAL', 'unexpected answer');
        const extra = name === 'cancel' ? `; ${String(v['deleted'])} waiting recipient${v['deleted'] === 1 ? '' : 's'} deleted` : '';
        print(`task ${String(v['id'])}: ${String(v['state_shown'])}${extra}`);
      });
  }
  return cmd;
}
