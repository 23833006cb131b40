/**
 * spool/sqlite-tasks — the SQLite side of batch tasks: task rows, the chunk commit and the
 * outcome counters.
 *
 * A chunk's messages (each with its one recipient, reception event and `requests`
 * counter, exactly as intake stores mail), the task's new cursor and its counters are
 * written in ONE transaction, and only if the task is still `sending` at the cursor the
 * chunk was read after. So a crash, a pause or a cancel between reading and committing
 * loses the chunk whole (it is read again, or never), and a restart neither duplicates
 * nor skips a member.
 *
 * Must never: write a task message outside that transaction, or count an outcome twice
 * (countOutcome is called by sqlite-effects.ts for final outcomes only, each recipient
 * has exactly one).
 */
import type { Statement } from 'better-sqlite3';
import type { Db } from './db.js';
import type { SqliteNotify } from './sqlite-notify.js';
import type { TaskCounter } from './types-effects.js';
import type { AliasTaskRequest, IncomingMessage } from './types-queue.js';
import type { TaskChunk, TaskContent, TaskFilter, TaskRecord, TaskState, TaskStateChange } from './types-tasks.js';
import type { QueueId, TaskId } from '../util/ids.js';
import { MtaError } from '../util/errors.js';

const CHUNK = 64 * 1024;

export class SqliteTasks {
  private readonly st: Record<string, Statement>;

  constructor(private readonly db: Db, private readonly notify: SqliteNotify) {
    const p = (sql: string): Statement => db.prepare(sql);
    this.st = {
      ins: p(`INSERT INTO tasks (id, kind, list, template, content, source_id, sender, tag, address_type, tracking, unsubscribe, state,
                                 pause_reason, resume_at, cursor, exhausted, list_size, requested, suppressed, invalid, delivered, failed,
                                 bounced_invalid, created_at, updated_at, finished_at)
              VALUES (@id, @kind, @list, @template, @content, @sourceId, @sender, @tag, @addressType, @tracking, @unsubscribe, @state,
                      @pauseReason, @resumeAt, @cursor, @exhausted, @listSize, @requested, @suppressed, @invalid, @delivered, @failed,
                      @bouncedInvalid, @createdAt, @updatedAt, @finishedAt)`),
      get: p('SELECT * FROM tasks WHERE id = ?'),
      head: p('SELECT state, cursor FROM tasks WHERE id = ?'),
      insMessage: p(`INSERT INTO messages (id, received_at, sender, auth_user, client_ip, helo, message_id, size, lane, tag, subject, task_id, return_path)
                     VALUES (@id, @receivedAt, @sender, @authUser, @clientIp, @helo, @messageId, @size, @lane, @tag, @subject, @taskId, @returnPath)`),
      insChunk: p('INSERT INTO message_chunks (message_id, seq, data) VALUES (?, ?, ?)'),
      insRcpt: p(`INSERT INTO recipients (message_id, rcpt, domain, lane, state, next_attempt_at, updated_at)
                  VALUES (?, ?, ?, ?, 'queued', ?, ?)`),
      insEvent: p('INSERT INTO events (at, message_id, recipient_id, type, detail) VALUES (?, ?, ?, ?, ?)'),
      advance: p(`UPDATE tasks SET cursor = @cursor, exhausted = @exhausted, requested = requested + @requested,
                  suppressed = suppressed + @suppressed, invalid = invalid + @invalid, updated_at = @at WHERE id = @id`),
      byAlias: p('SELECT name FROM lists WHERE alias = ?'),
      // Driven from the waiting recipients (CROSS JOIN keeps that order): a task's history may be huge, its waiting part is bounded.
      waiting: p(`SELECT r.state, COUNT(*) AS n FROM recipients r CROSS JOIN messages m ON m.id = r.message_id
                  WHERE r.state IN ('queued','sending','deferred','held') AND m.task_id = ? GROUP BY r.state`),
      delivered: p('UPDATE tasks SET delivered = delivered + 1 WHERE id = ?'),
      failed: p('UPDATE tasks SET failed = failed + 1 WHERE id = ?'),
      invalid: p('UPDATE tasks SET bounced_invalid = bounced_invalid + 1 WHERE id = ?'),
      bounced_after_delivery: p('UPDATE tasks SET bounced_after_delivery = bounced_after_delivery + 1 WHERE id = ?'),
    };
  }

  add(t: TaskRecord): void {
    try {
      this.st['ins']!.run(toRow(t));
    } catch (e) {
      if ((e as { code?: string }).code === 'SQLITE_CONSTRAINT_PRIMARYKEY') throw new MtaError('MTA_ERR_EXISTS', `task ${t.id} exists already`);
      throw e;
    }
  }

  get(id: TaskId): TaskRecord | undefined {
    const r = this.st['get']!.get(id) as Record<string, unknown> | undefined;
    return r ? fromRow(r) : undefined;
  }

  list(f: TaskFilter): TaskRecord[] {
    const where: string[] = [];
    const args: (string | number)[] = [];
    if (f.states?.length) { where.push(`state IN (${f.states.map(() => '?').join(',')})`); args.push(...f.states); }
    if (f.before) { where.push('id < ?'); args.push(f.before); }
    args.push(Math.min(Math.max(f.limit ?? 1000, 1), 10_000));
    const sql = `SELECT * FROM tasks ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY id DESC LIMIT ?`;
    return (this.db.prepare(sql).all(...args) as Record<string, unknown>[]).map(fromRow);
  }

  setState(id: TaskId, c: TaskStateChange): boolean {
    const sets = ['state = @to', 'updated_at = @at'];
    const args: Record<string, unknown> = { id, from: c.from, to: c.to, at: c.at };
    if (c.pauseReason !== undefined) { sets.push('pause_reason = @pauseReason'); args['pauseReason'] = c.pauseReason; }
    if (c.resumeAt !== undefined) { sets.push('resume_at = @resumeAt'); args['resumeAt'] = c.resumeAt; }
    if (c.listSize !== undefined) { sets.push('list_size = @listSize'); args['listSize'] = c.listSize; }
    if (c.to === 'done' || c.to === 'cancelled') sets.push('finished_at = @at');
    return this.db.prepare(`UPDATE tasks SET ${sets.join(', ')} WHERE id = @id AND state = @from`).run(args).changes === 1;
  }

  commitChunk(c: TaskChunk): boolean {
    return this.db.transaction(() => {
      const head = this.st['head']!.get(c.taskId) as { state: TaskState; cursor: string | null } | undefined;
      if (!head || head.state !== 'sending' || head.cursor !== c.after) return false;
      for (const m of c.messages) {
        this.st['insMessage']!.run({
          id: m.id, receivedAt: m.receivedAt, sender: m.sender, authUser: m.authUser, clientIp: m.clientIp, helo: m.helo,
          messageId: m.messageId, size: m.size, lane: m.lane, tag: m.tag, subject: m.subject, taskId: m.taskId, returnPath: m.returnPath,
        });
        const body = m.chunks.length === 1 ? m.chunks[0]! : Buffer.concat(m.chunks);
        for (let off = 0, seq = 0; off === 0 || off < body.length; off += CHUNK) this.st['insChunk']!.run(m.id, seq++, body.subarray(off, off + CHUNK));
        for (const rcpt of m.recipients) {
          const domain = rcpt.slice(rcpt.lastIndexOf('@') + 1).toLowerCase();
          const r = this.st['insRcpt']!.run(m.id, rcpt, domain, m.lane, m.receivedAt, m.receivedAt);
          this.st['insEvent']!.run(m.receivedAt, m.id, r.lastInsertRowid, 'reception',
            JSON.stringify({ sender: m.sender, rcpt, size: m.size, task_id: m.taskId, ...(m.returnPath ? { return_path: m.returnPath } : {}) }));
        }
        this.notify.accepted(m.sender, m.receivedAt, m.tag, m.recipients);
      }
      this.st['advance']!.run({
        id: c.taskId, cursor: c.cursor, exhausted: c.exhausted ? 1 : 0, requested: c.messages.reduce((n, m) => n + m.recipients.length, 0),
        suppressed: c.suppressed, invalid: c.invalid, at: c.at,
      });
      return true;
    }).immediate();
  }

  /** Inside intake's transaction: the task a message to a list alias starts. */
  addAliasTask(m: IncomingMessage, a: AliasTaskRequest): void {
    this.st['ins']!.run(toRow({
      id: a.id, kind: 'alias', list: a.list, template: null, content: null, sourceId: m.id, sender: m.sender, tag: m.tag,
      addressType: 'sender', tracking: false, unsubscribe: false, state: 'queued', pauseReason: null, resumeAt: null, cursor: null,
      exhausted: false, listSize: null, requested: 0, suppressed: 0, invalid: 0, delivered: 0, failed: 0, bouncedInvalid: 0, bouncedAfterDelivery: 0,
      createdAt: m.receivedAt, updatedAt: m.receivedAt, finishedAt: null,
    }));
  }

  listByAlias(address: string): string | undefined {
    return (this.st['byAlias']!.get(address.toLowerCase()) as { name: string } | undefined)?.name;
  }

  waiting(id: TaskId): { queued: number; sending: number; deferred: number; held: number } {
    const out = { queued: 0, sending: 0, deferred: 0, held: 0 };
    for (const r of this.st['waiting']!.all(id) as { state: keyof typeof out; n: number }[]) out[r.state] = r.n;
    return out;
  }

  /** A final outcome of one of the task's recipients (inside the transaction recording it). */
  countOutcome(taskId: string, counter: TaskCounter): void {
    this.st[counter]!.run(taskId);
  }

}

function toRow(t: TaskRecord): Record<string, unknown> {
  return {
    ...t, content: t.content ? JSON.stringify(t.content) : null, tracking: t.tracking ? 1 : 0, unsubscribe: t.unsubscribe ? 1 : 0,
    exhausted: t.exhausted ? 1 : 0,
  };
}

function fromRow(r: Record<string, unknown>): TaskRecord {
  return {
    id: r['id'] as TaskId, kind: r['kind'] as TaskRecord['kind'], list: r['list'] as string, template: r['template'] as string | null,
    content: r['content'] ? (JSON.parse(r['content'] as string) as TaskContent) : null, sourceId: r['source_id'] as QueueId | null,
    sender: r['sender'] as string, tag: r['tag'] as string | null, addressType: r['address_type'] as TaskRecord['addressType'],
    tracking: r['tracking'] === 1, unsubscribe: r['unsubscribe'] === 1, state: r['state'] as TaskState,
    pauseReason: r['pause_reason'] as string | null, resumeAt: r['resume_at'] as number | null, cursor: r['cursor'] as string | null,
    exhausted: r['exhausted'] === 1, listSize: r['list_size'] as number | null, requested: r['requested'] as number,
    suppressed: r['suppressed'] as number, invalid: r['invalid'] as number, delivered: r['delivered'] as number,
    failed: r['failed'] as number, bouncedInvalid: r['bounced_invalid'] as number,
    bouncedAfterDelivery: r['bounced_after_delivery'] as number, createdAt: r['created_at'] as number,
    updatedAt: r['updated_at'] as number, finishedAt: r['finished_at'] as number | null,
  };
}
