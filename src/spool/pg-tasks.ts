/**
 * spool/pg-tasks — batch tasks on PostgreSQL (contract: types-tasks.ts), answered as
 * SQLite's (sqlite-tasks.ts). A chunk's messages, the task's new cursor and its counters are
 * written in ONE transaction, and only if the task is still `sending` at the cursor the chunk
 * was read after; the task's row is locked for that check, so two nodes expanding one task
 * cannot both commit a chunk after the same cursor. The accepted mail's counters are the
 * rules' effects, written in that transaction through the effects port (spool/pg-facts.ts):
 * a chunk with messages and no port is refused whole.
 *
 * Must never: write a task message outside that transaction, or count an outcome twice
 * (`countTaskOutcome` is for the effects port's `task-count` applier, final outcomes only).
 */
import { MtaError } from '../util/errors.js';
import type { QueueId, TaskId } from '../util/ids.js';
import { effectsOf, isUniqueViolation, num, numOrNull, type PgEffectsPort } from './pg-facts.js';
import { insertMessages } from './pg-message-rows.js';
import type { PgPool } from './pg-pool.js';
import { inTransaction, type PgTx } from './pg-tx.js';
import type { TaskCounter } from './types-effects.js';
import type { AliasTaskRequest, IncomingMessage } from './types-queue.js';
import type { TaskChunk, TaskContent, TaskFilter, TaskRecord, TaskState, TaskStateChange, TaskStore } from './types-tasks.js';

const COLUMNS = `id, kind, list, template, content, source_id, sender, tag, address_type, tracking, unsubscribe, state, pause_reason, resume_at,
                 cursor, exhausted, list_size, requested, suppressed, invalid, delivered, failed, bounced_invalid, bounced_after_delivery,
                 created_at, updated_at, finished_at`;

function params(t: TaskRecord): unknown[] {
  return [t.id, t.kind, t.list, t.template, t.content ? JSON.stringify(t.content) : null, t.sourceId, t.sender, t.tag, t.addressType, t.tracking,
    t.unsubscribe, t.state, t.pauseReason, t.resumeAt, t.cursor, t.exhausted, t.listSize, t.requested, t.suppressed, t.invalid, t.delivered,
    t.failed, t.bouncedInvalid, t.bouncedAfterDelivery, t.createdAt, t.updatedAt, t.finishedAt];
}

const INSERT = `INSERT INTO tasks (${COLUMNS}) VALUES (${Array.from({ length: 27 }, (_, i) => `$${i + 1}`).join(', ')})`;

function toTask(r: Record<string, unknown>): TaskRecord {
  return {
    id: r['id'] as TaskId, kind: r['kind'] as TaskRecord['kind'], list: r['list'] as string, template: r['template'] as string | null,
    content: r['content'] ? (JSON.parse(r['content'] as string) as TaskContent) : null, sourceId: r['source_id'] as QueueId | null,
    sender: r['sender'] as string, tag: r['tag'] as string | null, addressType: r['address_type'] as TaskRecord['addressType'],
    tracking: r['tracking'] === true, unsubscribe: r['unsubscribe'] === true, state: r['state'] as TaskState,
    pauseReason: r['pause_reason'] as string | null, resumeAt: numOrNull(r['resume_at']), cursor: r['cursor'] as string | null,
    exhausted: r['exhausted'] === true, listSize: r['list_size'] as number | null, requested: r['requested'] as number,
    suppressed: r['suppressed'] as number, invalid: r['invalid'] as number, delivered: r['delivered'] as number, failed: r['failed'] as number,
    bouncedInvalid: r['bounced_invalid'] as number, bouncedAfterDelivery: r['bounced_after_delivery'] as number,
    createdAt: num(r['created_at']), updatedAt: num(r['updated_at']), finishedAt: numOrNull(r['finished_at']),
  };
}

const COUNTER_COLUMN: Record<TaskCounter, string> = {
  delivered: 'delivered', failed: 'failed', invalid: 'bounced_invalid', bounced_after_delivery: 'bounced_after_delivery',
};

/** The effects port's `task-count` applier: a final outcome of one of the task's recipients, inside the transaction recording it. */
export async function countTaskOutcome(client: PgTx, taskId: string, counter: TaskCounter): Promise<void> {
  const col = COUNTER_COLUMN[counter];
  await client.query(`UPDATE tasks SET ${col} = ${col} + 1 WHERE id = $1`, [taskId]);
}

/** A task's state in the caller's transaction (the effects port asks it for an operator's delete of a task's recipient). */
export async function taskStateIn(tx: PgTx, taskId: string): Promise<string | undefined> {
  return (await tx.query<{ state: string }>('SELECT state FROM tasks WHERE id = $1', [taskId])).rows[0]?.state;
}

/** The statistics purge keeps a message `m` that is the source of an alias task not finished yet (its expansion reads the body). */
export const KEEP_TASK_SOURCES = "NOT EXISTS (SELECT 1 FROM tasks t WHERE t.source_id = m.id AND t.state NOT IN ('done','cancelled'))";

/** Intake's, inside its transaction: the task a message to a list alias starts (the 250 promises the expansion). */
export async function addAliasTask(client: PgTx, m: IncomingMessage, a: AliasTaskRequest): Promise<void> {
  await client.query(INSERT, params({
    id: a.id, kind: 'alias', list: a.list, template: null, content: null, sourceId: m.id, sender: m.sender, tag: m.tag,
    addressType: 'sender', tracking: false, unsubscribe: false, state: 'queued', pauseReason: null, resumeAt: null, cursor: null,
    exhausted: false, listSize: null, requested: 0, suppressed: 0, invalid: 0, delivered: 0, failed: 0, bouncedInvalid: 0, bouncedAfterDelivery: 0,
    createdAt: m.receivedAt, updatedAt: m.receivedAt, finishedAt: null,
  }));
}

/** How a chunk's fresh mail is told of: to other nodes inside its transaction (NOTIFY), to this node's scheduler after the commit. */
export interface FreshMail {
  inTx(tx: PgTx, ids: readonly QueueId[]): Promise<void>;
  committed(ids: readonly QueueId[]): void;
}

export class PgTasks implements TaskStore {
  /** Set by the composed store (pg-store.ts plugTasks); without it a chunk's mail waits for the schedulers' next scan. */
  freshMail: FreshMail | undefined;

  constructor(private readonly pool: PgPool, private readonly effects?: PgEffectsPort) {}

  async addTask(t: TaskRecord): Promise<void> {
    try {
      await this.pool.query(INSERT, params(t));
    } catch (e) {
      if (isUniqueViolation(e, 'tasks_pkey')) throw new MtaError('MTA_ERR_EXISTS', `task ${t.id} exists already`);
      throw e;
    }
  }

  async getTask(id: TaskId): Promise<TaskRecord | undefined> {
    const { rows: [r] } = await this.pool.query('SELECT * FROM tasks WHERE id = $1', [id]);
    return r ? toTask(r) : undefined;
  }

  async listTasks(f: TaskFilter): Promise<TaskRecord[]> {
    const where: string[] = [];
    const args: unknown[] = [];
    if (f.states?.length) { args.push([...f.states]); where.push(`state = ANY($${args.length}::text[])`); }
    if (f.before) { args.push(f.before); where.push(`id < $${args.length}`); }
    args.push(Math.min(Math.max(f.limit ?? 1000, 1), 10_000));
    const { rows } = await this.pool.query(`SELECT * FROM tasks ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY id DESC LIMIT $${args.length}`, args);
    return rows.map(toTask);
  }

  async setTaskState(id: TaskId, c: TaskStateChange): Promise<boolean> {
    const args: unknown[] = [id, c.from, c.to, c.at];
    const sets = ['state = $3', 'updated_at = $4'];
    const set = (col: string, v: unknown): void => { args.push(v); sets.push(`${col} = $${args.length}`); };
    if (c.pauseReason !== undefined) set('pause_reason', c.pauseReason);
    if (c.resumeAt !== undefined) set('resume_at', c.resumeAt);
    if (c.listSize !== undefined) set('list_size', c.listSize);
    if (c.to === 'done' || c.to === 'cancelled') sets.push('finished_at = $4');
    return (await this.pool.query(`UPDATE tasks SET ${sets.join(', ')} WHERE id = $1 AND state = $2`, args)).rowCount === 1;
  }

  async commitTaskChunk(c: TaskChunk): Promise<boolean> {
    // Refused before anything is written: the accepted mail's counters are part of the chunk.
    const port = c.messages.length > 0 ? effectsOf(this.effects, 'a task chunk with messages') : undefined;
    const ids = c.messages.map((m) => m.id);
    const ok = await inTransaction(this.pool, async (client) => {
      const { rows: [head] } = await client.query<{ state: TaskState; cursor: string | null }>('SELECT state, cursor FROM tasks WHERE id = $1 FOR UPDATE', [c.taskId]);
      if (!head || head.state !== 'sending' || head.cursor !== c.after) return false;
      await insertMessages(client, c.messages, (m, rcpt) => ({ sender: m.sender, rcpt, size: m.size, task_id: m.taskId, ...(m.returnPath ? { return_path: m.returnPath } : {}) }));
      for (const m of c.messages) {
        await port!.apply(client, port!.rules.accepted({ sender: m.sender, receivedAt: m.receivedAt, tag: m.tag, recipients: m.recipients }));
      }
      await client.query(
        `UPDATE tasks SET cursor = $2, exhausted = $3, requested = requested + $4, suppressed = suppressed + $5, invalid = invalid + $6, updated_at = $7
         WHERE id = $1`,
        [c.taskId, c.cursor, c.exhausted, c.messages.reduce((n, m) => n + m.recipients.length, 0), c.suppressed, c.invalid, c.at],
      );
      if (ids.length) await this.freshMail?.inTx(client, ids);
      return true;
    });
    // The scheduler hears of the chunk's mail as of intake's.
    if (ok && ids.length) this.freshMail?.committed(ids);
    return ok;
  }

  async listByAlias(address: string): Promise<string | undefined> {
    const { rows: [r] } = await this.pool.query<{ name: string }>('SELECT name FROM lists WHERE alias = $1', [address.toLowerCase()]);
    return r?.name;
  }

  async waitingOfTask(id: TaskId): Promise<{ queued: number; sending: number; deferred: number; held: number }> {
    const out = { queued: 0, sending: 0, deferred: 0, held: 0 };
    const { rows } = await this.pool.query<{ state: keyof typeof out; n: number }>(
      `SELECT r.state, count(*)::int AS n FROM recipients r JOIN messages m ON m.id = r.message_id
       WHERE r.state IN ('queued','sending','deferred','held') AND m.task_id = $1 GROUP BY r.state`, [id]);
    for (const r of rows) out[r.state] = r.n;
    return out;
  }
}
