/**
 * tasks/tasks — batch tasks (发送任务, DirectMail's BatchSendMail): a recipient list, an
 * approved template and a batch sender, with tag, address type, tracking and
 * unsubscribe options. Shared by `mta task ...` and the admin API. Creation checks
 * everything a task needs up front, each failure one precise coded error; the task then
 * waits in `queued` until the expander (tasks/expander.ts) starts it.
 *
 * Pause, resume and cancel are compare-and-set state changes (tasks/states.ts). Cancel
 * also deletes the task's recipients still waiting, through the queue's own delete (so
 * each gets its one final `deleted` event); recipients on the wire finish their attempt.
 */
import type { Config } from '../config/config.js';
import type { Store } from '../spool/types.js';
import type { QueueOp, QueueTarget } from '../spool/types-queue.js';
import type { SenderRecord } from '../spool/types-senders.js';
import type { AddressType, TaskKind, TaskRecord, TaskState, TaskStore } from '../spool/types-tasks.js';
import { variablesOf } from '../templates/templates.js';
import { Tags, validTagName } from '../templates/tags.js';
import { senderRefusal } from '../submission/policy.js';
import { REPLIES } from '../mail/replies.js';
import { canonicalAddress } from '../util/address.js';
import { MtaError } from '../util/errors.js';
import { checkDisplayName } from '../intake/identity.js';
import { newTaskId, parseTaskId, type TaskId } from '../util/ids.js';
import { isFinished, shownState, transition } from './states.js';

export interface CreateTaskInput {
  list: string;
  template: string;
  from: string;
  tag?: string | undefined;
  addressType?: AddressType | undefined;
  tracking?: boolean | undefined;
  unsubscribe?: boolean | undefined;
}

/** The running scheduler, when there is one: it pulls a cancelled task's recipients out of memory first. */
export interface TaskQueueControl { control(op: QueueOp, target: QueueTarget): Promise<number> }

export class Tasks {
  constructor(
    private readonly store: Store,
    private readonly config: () => Config,
    private readonly controller: () => TaskQueueControl | undefined = () => undefined,
    private readonly now: () => number = Date.now,
  ) {}

  async create(input: CreateTaskInput): Promise<TaskRecord> {
    const config = this.config();
    const list = await this.store.getList(input.list);
    if (!list) throw new MtaError('MTA_ERR_NOT_FOUND', `no list named ${input.list}`, 'list');
    const tpl = await this.store.getTemplate(input.template);
    if (!tpl) throw new MtaError('MTA_ERR_NOT_FOUND', `no template ${input.template}`, 'template');
    const sender = await this.sender(input.from);
    if (config.templates.requireApproval && tpl.state !== 'approved') {
      throw new MtaError('MTA_ERR_TEMPLATE_STATE', `template ${tpl.name} is ${tpl.state}; only approved templates send (templates.require_approval)`, 'template');
    }
    checkDisplayName(tpl.fromName, 'from_name', sender.address, 'MTA_ERR_TASK');
    const missing = variablesOf(tpl.subject, tpl.html, tpl.text).filter((v) => v !== 'EAddr' && !list.columns.includes(v));
    if (missing.length) {
      throw new MtaError('MTA_ERR_TEMPLATE_VAR', `template ${tpl.name} uses variables that list ${list.name} lacks: ${missing.join(', ')}`, 'template');
    }
    const tag = input.tag === undefined || input.tag === '' ? null : input.tag;
    if (tag !== null) {
      if (!validTagName(tag)) throw new MtaError('MTA_ERR_INVALID', `tag "${tag}" is not valid: 1-64 letters, digits, _ - .`, 'tag');
      if (await new Tags(this.store, this.now).admit(tag, config.tags.autoCreate)) {
        throw new MtaError('MTA_ERR_NOT_FOUND', `no tag ${tag} (add it with "mta tag add ${tag}", or set [tags] auto_create = true)`, 'tag');
      }
    }
    if (input.tracking && !config.public.baseUrl) {
      throw new MtaError('MTA_ERR_TASK', 'tracking needs a tracking host: set [public] base_url (a domain\'s tracking CNAME points at it)', 'tracking');
    }
    if (input.unsubscribe && !config.public.baseUrl) {
      throw new MtaError('MTA_ERR_TASK', 'unsubscribe links need [public] base_url (the https address of the public endpoint)', 'unsubscribe');
    }
    const at = this.now();
    const task: TaskRecord = {
      id: newTaskId(at), kind: 'template', list: list.name, template: tpl.name,
      // A missing text body stays null: it is generated per member from the filled HTML
      // (templates.fillTemplate), as `template render` does; html-to-text would mangle placeholders.
      content: { subject: tpl.subject, fromName: tpl.fromName, html: tpl.html, text: tpl.text },
      sourceId: null, sender: sender.address, tag, addressType: input.addressType ?? 'sender', tracking: input.tracking ?? false,
      unsubscribe: input.unsubscribe ?? false, state: 'queued', pauseReason: null, resumeAt: null, cursor: null, exhausted: false,
      listSize: null, requested: 0, suppressed: 0, invalid: 0, delivered: 0, failed: 0, bouncedInvalid: 0, bouncedAfterDelivery: 0,
      createdAt: at, updatedAt: at, finishedAt: null,
    };
    await this.store.addTask(task);
    return task;
  }

  private async sender(from: string): Promise<SenderRecord> {
    const address = canonicalAddress(from);
    if (!address) throw new MtaError('MTA_ERR_INVALID', `from: "${from}" is not an address`, 'from');
    const sender = await this.store.getSender(address);
    if (!sender) throw new MtaError('MTA_ERR_NOT_FOUND', `no sender ${address}`, 'from');
    if (sender.type !== 'batch') throw new MtaError('MTA_ERR_TASK', `only batch senders may run tasks: ${address} is a ${sender.type} sender`, 'from');
    const refused = await senderRefusal(this.store, this.config(), sender, address);
    if (refused) {
      const r = REPLIES[refused.reply];
      throw new MtaError('MTA_ERR_TASK', `${address} may not send now: ${r.text}${refused.detail ? `: ${refused.detail}` : ''}`, 'from');
    }
    return sender;
  }

  async get(idText: string): Promise<TaskRecord> {
    const id = parseTaskId(idText);
    if (!id) throw new MtaError('MTA_ERR_INVALID', `${JSON.stringify(idText)} is not a task id`, 'id');
    const t = await this.store.getTask(id);
    if (!t) throw new MtaError('MTA_ERR_NOT_FOUND', `no task ${id}`, 'id');
    return t;
  }

  list(opts: { states?: TaskState[]; limit?: number; before?: string } = {}): Promise<TaskRecord[]> {
    return this.store.listTasks(opts);
  }

  async pause(idText: string): Promise<TaskRecord> {
    return this.change(idText, (t) => ({ to: transition(t.state, 'pause'), pauseReason: 'paused by the operator' }));
  }

  /** A task paused for the quota may be resumed early by the operator. */
  async resume(idText: string): Promise<TaskRecord> {
    const t0 = await this.get(idText);
    const size = t0.listSize === null ? (await this.store.getList(t0.list))?.members ?? 0 : undefined;
    return this.change(idText, (t) => ({ to: transition(t.state, 'resume'), pauseReason: null, resumeAt: null, ...(size !== undefined ? { listSize: size } : {}) }));
  }

  async cancel(idText: string): Promise<{ task: TaskRecord; deleted: number }> {
    const task = await this.change(idText, (t) => ({ to: transition(t.state, 'cancel') }));
    return { task, deleted: await this.deleteWaiting(task.id) };
  }

  /** The cancelled task's waiting recipients end as deleted (also run at start-up, after a crash between the two steps). */
  async deleteWaiting(id: TaskId): Promise<number> {
    const c = this.controller();
    return c ? c.control('delete', { taskId: id }) : this.store.applyQueueOp('delete', { taskId: id }, this.now());
  }

  /** At start-up: a cancel interrupted between its two steps still deletes what waits. */
  async finishCancelled(): Promise<number> {
    let n = 0;
    for (const t of await tasksIn(this.store, ['cancelled'])) {
      if (t.requested - t.delivered - t.failed - t.bouncedInvalid > 0) n += await this.deleteWaiting(t.id);
    }
    return n;
  }

  /** Reads the task, applies the change if it is still in that state; a race with the expander is retried once. */
  private async change(idText: string, next: (t: TaskRecord) => { to: TaskState; pauseReason?: string | null; resumeAt?: number | null; listSize?: number }): Promise<TaskRecord> {
    for (let i = 0; i < 3; i++) {
      const t = await this.get(idText);
      const n = next(t);
      if (await this.store.setTaskState(t.id, { from: t.state, at: this.now(), ...n })) return (await this.store.getTask(t.id))!;
    }
    throw new MtaError('MTA_ERR_TASK_STATE', 'the task changed state meanwhile; try again', 'state');
  }

  /** What `task show` and GET /tasks/:id add: the waiting recipients per state. */
  waiting(t: TaskRecord): Promise<{ queued: number; sending: number; deferred: number; held: number }> {
    return this.store.waitingOfTask(t.id);
  }
}

/** The API's (and `--json`'s) form of a task. */
export function taskView(t: TaskRecord, waiting?: { queued: number; sending: number; deferred: number; held: number }): TaskView {
  const expanded = t.requested + t.suppressed + t.invalid;
  return {
    id: t.id, kind: t.kind, list: t.list, template: t.template, source_id: t.sourceId, sender: t.sender, tag: t.tag,
    address_type: t.addressType, tracking: t.tracking, unsubscribe: t.unsubscribe, state: t.state, state_shown: shownState(t.state),
    pause_reason: t.pauseReason, resume_at: iso(t.resumeAt), list_size: t.listSize, expanded, exhausted: t.exhausted,
    progress: `${expanded} / ${t.listSize ?? '?'}`,
    requested: t.requested, delivered: t.delivered, failed: t.failed, invalid: t.invalid + t.bouncedInvalid, suppressed: t.suppressed,
    waiting: t.requested - t.delivered - t.failed - t.bouncedInvalid, bounced_after_delivery: t.bouncedAfterDelivery,
    ...(waiting ? { deferred: waiting.deferred, held: waiting.held } : {}),
    tracking_note: t.tracking ? 'opens and clicks' : null,
    created_at: iso(t.createdAt)!, updated_at: iso(t.updatedAt)!, finished_at: iso(t.finishedAt),
    finished: isFinished(t.state),
  };
}

export interface TaskView {
  id: string; kind: TaskKind; list: string; template: string | null; source_id: string | null; sender: string; tag: string | null;
  address_type: AddressType; tracking: boolean; unsubscribe: boolean; state: TaskState; state_shown: string;
  pause_reason: string | null; resume_at: string | null; list_size: number | null; expanded: number; exhausted: boolean; progress: string;
  requested: number; delivered: number; failed: number; invalid: number; suppressed: number; waiting: number;
  bounced_after_delivery: number; deferred?: number; held?: number; tracking_note: string | null; created_at: string; updated_at: string; finished_at: string | null; finished: boolean;
}

function iso(ms: number | null): string | null { return ms === null ? null : new Date(ms).toISOString(); }

/** Every task in these states, oldest first, read a page at a time (listTasks pages newest first). */
export async function tasksIn(store: Pick<TaskStore, 'listTasks'>, states: readonly TaskState[]): Promise<TaskRecord[]> {
  const PAGE = 1000;
  const all: TaskRecord[] = [];
  let before: string | undefined;
  for (;;) {
    const page = await store.listTasks({ states, limit: PAGE, before });
    all.push(...page);
    if (page.length < PAGE) return all.reverse();
    before = page[page.length - 1]!.id;
  }
}

/** Tasks that still read their list: removing the list would end them early. */
export const LIVE_TASK_STATES: readonly TaskState[] = ['queued', 'sending', 'paused', 'paused_quota'];
