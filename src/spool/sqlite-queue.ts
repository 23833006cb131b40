/**
 * spool/sqlite-queue — the SQLite side of `QueueStore`: claiming due recipients,
 * recording attempt outcomes, start-up recovery and operator queue operations.
 *
 * Every state change goes through states.ts `transition()` semantics expressed as
 * guarded UPDATEs (`WHERE state IN (...)`), so a recipient that an operator deleted while
 * its delivery was in flight is never resurrected by the late outcome.
 *
 * Statistics and webhook events for an outcome or an operator delete are written in the
 * same transaction (spool/sqlite-notify.ts); the dispatcher is woken after the commit.
 *
 * Outcomes and hand-backs (`requeue`) go through one group commit (spool/group-commit.ts):
 * the writes of jobs that finish close together share a transaction and its fsync, and
 * each caller's promise settles after that commit, with its own count. A batch that fails
 * writes nothing and rejects every caller in it. The queue is FIFO, so a hand-back never
 * overtakes an outcome submitted before it (a shutdown cannot requeue delivered mail).
 */
import type { Db } from './db.js';
import type { Statement } from 'better-sqlite3';
import { asRecipientId, type QueueId, type RecipientId } from '../util/ids.js';
import type { RecipientState } from './states.js';
import { QUEUE_OP_STATES, transition } from './states.js';
import type { EventType } from './types-events.js';
import type { QueueEntry, QueueOp, QueueSelector, QueueShapeRow, QueueStore, QueueTarget, RecipientOutcome } from './types-queue.js';
import { assertNever } from '../util/errors.js';
import type { SqliteNotify } from './sqlite-notify.js';
import { GroupCommit, type GroupCommitOptions } from './group-commit.js';
import { rowCursor } from './sqlite-cursor.js';

/** One caller's write in the outcome group commit; `applied` is its count once committed. */
export type QueueWrite =
  | { kind: 'outcomes'; outcomes: readonly RecipientOutcome[]; applied: number }
  | { kind: 'requeue'; ids: readonly RecipientId[]; nextAttemptAt: number; at: number; reason: string | undefined; applied: number };

export interface ClaimRequest { now: number; limit: number; triggerOnly?: boolean }

/** The writer thread's side of the queue (spool/writer.ts); absent, the writes run here. */
export interface QueueOffThread {
  write(batch: readonly QueueWrite[]): Promise<number[]>;
  claim(req: ClaimRequest): Promise<QueueEntry[]>;
}

export interface RecipientRow {
  id: number; message_id: string; sender: string; rcpt: string; domain: string; state: RecipientState; lane: 'trigger' | 'batch';
  attempts: number; next_attempt_at: number; last_reply: string | null; received_at: number; size: number;
  task_id: string | null; return_path: string | null;
}

export const RECIPIENT_SELECT = `SELECT r.*, m.sender, m.received_at, m.size, m.task_id, m.return_path FROM recipients r JOIN messages m ON m.id = r.message_id`;

export function toEntry(r: RecipientRow): QueueEntry {
  return {
    recipientId: asRecipientId(r.id), queueId: r.message_id as QueueId, sender: r.sender, rcpt: r.rcpt,
    domain: r.domain, state: r.state, attempts: r.attempts, nextAttemptAt: r.next_attempt_at,
    lastReply: r.last_reply, receivedAt: r.received_at, size: r.size, lane: r.lane,
    ...(r.task_id ? { taskId: r.task_id } : {}), ...(r.return_path ? { returnPath: r.return_path } : {}), cursor: rowCursor(r.id),
  };
}

/** Which states an operator op acts on, the state it leads to and the event it writes. */
const OPS: Record<Exclude<QueueOp, 'flush'>, { from: readonly RecipientState[]; to: RecipientState; event: EventType }> = {
  hold: { from: QUEUE_OP_STATES.hold, to: 'held', event: 'held' },
  release: { from: QUEUE_OP_STATES.release, to: 'queued', event: 'released' },
  delete: { from: QUEUE_OP_STATES.delete, to: 'failed', event: 'deleted' },
};

/**
 * A selector as SQL conditions on the recipients table named `r` (`r` or `recipients`):
 * the sender and the task are the message's, asked through a correlated EXISTS so the
 * recipients drive the query, not a task's whole history.
 */
export function selectorSql(sel: QueueSelector, r: string): { sql: string; args: (string | number)[] } {
  const where: string[] = [];
  const args: (string | number)[] = [];
  if (sel.domain !== undefined) { where.push(`${r}.domain = ?`); args.push(sel.domain.toLowerCase()); }
  if (sel.states !== undefined) { where.push(`${r}.state IN (${sel.states.map(() => '?').join(',') || 'NULL'})`); args.push(...sel.states); }
  if (sel.sender !== undefined) { where.push(`EXISTS (SELECT 1 FROM messages sm WHERE sm.id = ${r}.message_id AND sm.sender = ? COLLATE NOCASE)`); args.push(sel.sender); }
  if (sel.taskId !== undefined) { where.push(`EXISTS (SELECT 1 FROM messages tm WHERE tm.id = ${r}.message_id AND tm.task_id = ?)`); args.push(sel.taskId); }
  return { sql: where.length ? where.join(' AND ') : '1 = 1', args };
}

function targetSql(t: QueueTarget): { sql: string; args: (string | number)[] } {
  if ('queueId' in t) return { sql: 'message_id = ?', args: [t.queueId] };
  if ('domain' in t) return selectorSql({ domain: t.domain }, 'recipients');
  if ('taskId' in t) return selectorSql({ taskId: t.taskId }, 'recipients');
  if ('select' in t) return selectorSql(t.select, 'recipients');
  return { sql: '1 = 1', args: [] };
}

export class SqliteQueue implements QueueStore {
  private readonly st: Record<string, Statement>;
  private readonly writes: GroupCommit<QueueWrite>;
  offThread: QueueOffThread | undefined;

  constructor(private readonly db: Db, private readonly notify: SqliteNotify, commit: Omit<GroupCommitOptions, 'name'>) {
    this.writes = new GroupCommit<QueueWrite>((batch) => this.writeBatch(batch), { ...commit, name: 'outcomes' }, () => this.notify.signal());
    const p = (sql: string): Statement => db.prepare(sql);
    const due = (lane: string): string => `${RECIPIENT_SELECT}
      WHERE r.state IN ('queued','deferred') AND r.lane = '${lane}' AND r.next_attempt_at <= ?
      ORDER BY r.next_attempt_at LIMIT ?`;
    this.st = {
      dueTrigger: p(due('trigger')),
      dueBatch: p(due('batch')),
      markSending: p(`UPDATE recipients SET state = 'sending', updated_at = ? WHERE id = ? AND state IN ('queued','deferred')`),
      nextDue: p(`SELECT MIN(next_attempt_at) AS t FROM recipients
                  WHERE state IN ('queued','deferred') AND lane = ?`),
      outcome: p(`UPDATE recipients SET state = @state, attempts = attempts + @attempted, next_attempt_at = @next,
                  last_reply = @reply, last_attempt_at = CASE WHEN @attempted = 1 THEN @at ELSE last_attempt_at END,
                  updated_at = @at WHERE id = @id AND state = 'sending'`),
      insEvent: p('INSERT INTO events (at, message_id, recipient_id, type, detail) VALUES (?, ?, ?, ?, ?)'),
      suppress: p(`INSERT OR IGNORE INTO suppressions (address, scope, reason, source, created_at) VALUES (?, '', ?, 'bounce', ?)`),
      requeue: p(`UPDATE recipients SET state = 'queued', next_attempt_at = ?, updated_at = ? WHERE id = ? AND state = 'sending'`),
      messageOf: p('SELECT message_id FROM recipients WHERE id = ?'),
      recoverEvents: p(`INSERT INTO events (at, message_id, recipient_id, type, detail)
                        SELECT ?, message_id, id, 'requeued', ? FROM recipients WHERE state = 'sending'`),
      recover: p(`UPDATE recipients SET state = 'queued', updated_at = ? WHERE state = 'sending'`),
    };
  }

  async claimDue(req: ClaimRequest): Promise<QueueEntry[]> {
    return this.offThread ? this.offThread.claim(req) : this.claimDueHere(req);
  }

  claimDueHere(req: ClaimRequest): QueueEntry[] {
    return this.db.transaction(() => {
      const rows = this.st['dueTrigger']!.all(req.now, req.limit) as RecipientRow[];
      if (rows.length < req.limit && !req.triggerOnly) rows.push(...(this.st['dueBatch']!.all(req.now, req.limit - rows.length) as RecipientRow[]));
      const claimed: QueueEntry[] = [];
      for (const r of rows) {
        if (this.st['markSending']!.run(req.now, r.id).changes === 1) claimed.push(toEntry({ ...r, state: 'sending' }));
      }
      return claimed;
    }).immediate();
  }

  async nextDueAt(): Promise<number | undefined> {
    const a = (this.st['nextDue']!.get('trigger') as { t: number | null }).t;
    const b = (this.st['nextDue']!.get('batch') as { t: number | null }).t;
    const t = [a, b].filter((x): x is number => x !== null);
    return t.length ? Math.min(...t) : undefined;
  }

  async recordOutcomes(outcomes: readonly RecipientOutcome[]): Promise<number> {
    const w: QueueWrite = { kind: 'outcomes', outcomes, applied: 0 };
    await this.writes.submit(w);
    return w.applied;
  }

  async requeue(ids: readonly RecipientId[], nextAttemptAt: number, reason?: string): Promise<number> {
    const w: QueueWrite = { kind: 'requeue', ids, nextAttemptAt, at: Date.now(), reason, applied: 0 };
    await this.writes.submit(w);
    return w.applied;
  }

  /** Writes what is pending, and waits for it (shutdown). */
  drain(): Promise<void> { return this.writes.drain(); }

  /** Group commit: one transaction for the batch; a throw rolls all of it back. */
  private writeBatch(batch: readonly QueueWrite[]): void | Promise<void> {
    const set = (counts: readonly number[]): void => batch.forEach((w, i) => { w.applied = counts[i] ?? 0; });
    if (this.offThread) return this.offThread.write(batch).then(set);
    set(this.writeBatchHere(batch));
  }

  /** The batch's transaction, on this connection; the count each write applied. */
  writeBatchHere(batch: readonly QueueWrite[]): number[] {
    return this.db.transaction(() => batch.map((w) => this.apply(w))).immediate();
  }

  private apply(w: QueueWrite): number {
    switch (w.kind) {
      case 'outcomes': return this.applyOutcomes(w.outcomes);
      case 'requeue': return this.applyRequeue(w.ids, w.nextAttemptAt, w.at, w.reason);
      default: return assertNever(w, 'queue write');
    }
  }

  private applyOutcomes(outcomes: readonly RecipientOutcome[]): number {
    let applied = 0;
    for (const o of outcomes) {
      const state = transition('sending', o.kind);
      if (!state) continue;
      const changed = this.st['outcome']!.run({
        id: o.recipientId, state, attempted: o.attempted ? 1 : 0, next: o.nextAttemptAt ?? o.at, reply: o.reply, at: o.at,
      }).changes;
      if (changed !== 1) continue;
      applied++;
      this.st['insEvent']!.run(o.at, o.queueId, o.recipientId, o.kind, JSON.stringify({ reply: o.reply, ...o.detail }));
      if (o.suppress) this.st['suppress']!.run(o.suppress.address, o.suppress.reason, o.at);
      this.notify.outcome(o);
    }
    return applied;
  }

  private applyRequeue(ids: readonly RecipientId[], nextAttemptAt: number, now: number, reason: string | undefined): number {
    let n = 0;
    for (const id of ids) {
      if (this.st['requeue']!.run(nextAttemptAt, now, id).changes !== 1) continue;
      n++;
      if (reason) {
        const mid = (this.st['messageOf']!.get(id) as { message_id: string }).message_id;
        this.st['insEvent']!.run(now, mid, id, 'requeued', JSON.stringify({ reason }));
      }
    }
    return n;
  }

  async recoverSending(now: number, reason: string): Promise<number> {
    return this.db.transaction(() => {
      this.st['recoverEvents']!.run(now, JSON.stringify({ reason }));
      return this.st['recover']!.run(now).changes;
    }).immediate();
  }

  async applyQueueOp(op: QueueOp, target: QueueTarget, now: number): Promise<number> {
    const t = targetSql(target);
    if (op === 'flush') {
      return this.db.prepare(`UPDATE recipients SET next_attempt_at = ?, updated_at = ?
                              WHERE state IN ('queued','deferred') AND next_attempt_at > ? AND ${t.sql}`)
        .run(now, now, now, ...t.args).changes;
    }
    const spec = OPS[op];
    if (!spec) return assertNever(op as never, 'queue op');
    const states = spec.from.map((s) => `'${s}'`).join(',');
    const reply = 'deleted by the operator';
    const detail = JSON.stringify(op === 'delete' ? { reply } : {});
    const changed = this.db.transaction(() => {
      // Deletes are final: each recipient gets its counter and its `deleted` event.
      const deleted = op === 'delete'
        ? (this.db.prepare(`SELECT id FROM recipients WHERE state IN (${states}) AND ${t.sql}`).all(...t.args) as { id: number }[]) : [];
      this.db.prepare(`INSERT INTO events (at, message_id, recipient_id, type, detail)
                       SELECT ?, message_id, id, ?, ? FROM recipients WHERE state IN (${states}) AND ${t.sql}`)
        .run(now, spec.event, detail, ...t.args);
      const lastReply = op === 'delete' ? `, last_reply = '${reply}'` : '';
      const n = this.db.prepare(`UPDATE recipients SET state = ?, next_attempt_at = ?, updated_at = ?${lastReply}
                                 WHERE state IN (${states}) AND ${t.sql}`)
        .run(spec.to, now, now, ...t.args).changes;
      for (const r of deleted) this.notify.deleted(asRecipientId(r.id), now, reply);
      return n;
    }).immediate();
    this.notify.signal();
    return changed;
  }

  async queueShape(now: number, ageBucketsMs: readonly number[]): Promise<QueueShapeRow[]> {
    // bucket i holds ages below ageBucketsMs[i]; the last bucket everything older.
    const cases = ageBucketsMs.map((b, i) => `WHEN ? - m.received_at < ${Math.floor(b)} THEN ${i}`).join(' ');
    const rows = this.db.prepare(`SELECT r.domain, r.state, CASE ${cases} ELSE ${ageBucketsMs.length} END AS bucket, COUNT(*) AS n
                                  FROM recipients r JOIN messages m ON m.id = r.message_id
                                  WHERE r.state IN ('queued','sending','deferred','held')
                                  GROUP BY r.domain, r.state, bucket`)
      .all(...ageBucketsMs.map(() => now)) as { domain: string; state: 'queued' | 'sending' | 'deferred' | 'held'; bucket: number; n: number }[];
    const byDomain = new Map<string, QueueShapeRow>();
    for (const r of rows) {
      let d = byDomain.get(r.domain);
      if (!d) {
        d = { domain: r.domain, total: 0, byState: { queued: 0, sending: 0, deferred: 0, held: 0 }, byAge: new Array<number>(ageBucketsMs.length + 1).fill(0) };
        byDomain.set(r.domain, d);
      }
      d.total += r.n;
      d.byState[r.state] += r.n;
      d.byAge[r.bucket]! += r.n;
    }
    return [...byDomain.values()].sort((a, b) => b.total - a.total || a.domain.localeCompare(b.domain));
  }
}
