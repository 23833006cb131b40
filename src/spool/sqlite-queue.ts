/**
 * spool/sqlite-queue — the SQLite side of `QueueStore`: claiming due recipients,
 * recording attempt outcomes, start-up recovery and operator queue operations.
 *
 * Every state change is a guarded UPDATE (`WHERE state IN (...)`) following the one
 * declaration of states.ts (`TRANSITIONS`; test/recipient-states.test.ts checks each guard
 * against it), so a final recipient never changes again and a late outcome applies only to
 * a recipient still `sending`.
 *
 * What an outcome or an operator delete means (counters, suppressions, webhook events) is
 * written in the same transaction (the rules, through spool/sqlite-notify.ts); the
 * dispatcher is woken after the commit.
 *
 * Outcomes and hand-backs (`requeue`) go through one group commit (spool/group-commit.ts):
 * the writes of jobs that finish close together share a transaction and its fsync, and
 * each caller's promise settles after that commit, with its own count. A batch that fails
 * writes nothing and rejects every caller in it. The queue is FIFO, so a hand-back never
 * overtakes an outcome submitted before it (a shutdown cannot requeue delivered mail).
 *
 * Claims are leased (spool/types-leases.ts): a claimed row records the node, the claim's
 * token (spool/claims.ts) and `lease_until`. Outcomes and hand-backs apply only where node
 * and token still match, so a claim lost to another node never overwrites that node's
 * outcome; a claim takes back other nodes' expired claims first; start-up recovery takes
 * this node's own claims and expired ones, never another node's live claim.
 */
import type { Db } from './db.js';
import type { Statement } from 'better-sqlite3';
import { asRecipientId, type QueueId, type RecipientId } from '../util/ids.js';
import type { RecipientState } from './states.js';
import { QUEUE_OP_STATES, TRANSITIONS, transition } from './states.js';
import type { EventType } from './types-events.js';
import { SqliteChanges } from './sqlite-changes.js';
import type { QueueEntry, QueueOp, QueueSelector, QueueShapeRow, QueueStore, QueueTarget, RecipientOutcome, RemoteQueueChange } from './types-queue.js';
import { assertNever } from '../util/errors.js';
import type { SqliteNotify } from './sqlite-notify.js';
import { GroupCommit, type GroupCommitOptions } from './group-commit.js';
import type { ClaimTokens } from './claims.js';
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

/** Which states an operator op acts on and the state it leads to (states.ts), and the event it writes. */
const OPS: Record<Exclude<QueueOp, 'flush'>, { from: readonly RecipientState[]; to: RecipientState; event: EventType }> = {
  hold: { ...TRANSITIONS.hold, event: 'held' },
  release: { ...TRANSITIONS.release, event: 'released' },
  delete: { ...TRANSITIONS.delete, event: 'deleted' },
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

/** States as an SQL list; they come from states.ts, never from input. */
function stateList(states: readonly RecipientState[]): string {
  return states.map((s) => `'${s}'`).join(',');
}

function targetSql(t: QueueTarget): { sql: string; args: (string | number)[] } {
  if ('queueId' in t) return { sql: 'message_id = ?', args: [t.queueId] };
  if ('domain' in t) return selectorSql({ domain: t.domain }, 'recipients');
  if ('taskId' in t) return selectorSql({ taskId: t.taskId }, 'recipients');
  if ('select' in t) return selectorSql(t.select, 'recipients');
  return { sql: '1 = 1', args: [] };
}

export class SqliteQueue implements QueueStore {
  /** queue operations of the other stores on this file (spool/sqlite-changes.ts) */
  readonly changes: SqliteChanges;

  private readonly st: Record<string, Statement>;
  private readonly writes: GroupCommit<QueueWrite>;
  offThread: QueueOffThread | undefined;

  constructor(private readonly db: Db, private readonly notify: SqliteNotify, commit: Omit<GroupCommitOptions, 'name'>,
    private readonly claims: ClaimTokens, private readonly leaseMs: number) {
    this.changes = new SqliteChanges(db.name);
    this.writes = new GroupCommit<QueueWrite>((batch) => this.writeBatch(batch), { ...commit, name: 'outcomes' }, () => this.notify.signal());
    const p = (sql: string): Statement => db.prepare(sql);
    const due = (lane: string): string => `${RECIPIENT_SELECT}
      WHERE r.state IN ('queued','deferred') AND r.lane = '${lane}' AND r.next_attempt_at <= ?
      ORDER BY r.next_attempt_at LIMIT ?`;
    this.st = {
      dueTrigger: p(due('trigger')),
      dueBatch: p(due('batch')),
      markSending: p(`UPDATE recipients SET state = 'sending', claimed_by = @node, claim_token = @token, lease_until = @until, updated_at = @now
                      WHERE id = @id AND state IN ('queued','deferred')`),
      // Other nodes' claims whose lease ran out (the node died or stalled) go back to the queue.
      // Every claim asks, so through the lease index: a range of (usually) nothing, not a scan of all 'sending' rows.
      reclaimEvents: p(`INSERT INTO events (at, message_id, recipient_id, type, detail)
                        SELECT @now, message_id, id, 'requeued', json_object('reason', 'the claim of node ' || coalesce(claimed_by, '(none)') || ' ran out')
                        FROM recipients INDEXED BY recipients_lease WHERE state = 'sending' AND lease_until <= @now AND claimed_by IS NOT @node`),
      reclaim: p(`UPDATE recipients INDEXED BY recipients_lease SET state = 'queued', claimed_by = NULL, claim_token = NULL, lease_until = NULL, updated_at = @now
                  WHERE state = 'sending' AND lease_until <= @now AND claimed_by IS NOT @node`),
      renew: p(`UPDATE recipients SET lease_until = @until WHERE state = 'sending' AND claimed_by = @node`),
      nextDue: p(`SELECT MIN(next_attempt_at) AS t FROM recipients
                  WHERE state IN ('queued','deferred') AND lane = ?`),
      nextLease: p(`SELECT MIN(lease_until) AS t FROM recipients INDEXED BY recipients_lease
                    WHERE state = 'sending' AND lease_until IS NOT NULL AND claimed_by IS NOT ?`),
      outcome: p(`UPDATE recipients SET state = @state, attempts = attempts + @attempted, next_attempt_at = @next,
                  last_reply = @reply, last_attempt_at = CASE WHEN @attempted = 1 THEN @at ELSE last_attempt_at END,
                  claimed_by = NULL, claim_token = NULL, lease_until = NULL,
                  updated_at = @at WHERE id = @id AND state = 'sending' AND claimed_by = @node AND claim_token = @token`),
      insEvent: p('INSERT INTO events (at, message_id, recipient_id, type, detail) VALUES (?, ?, ?, ?, ?)'),
      requeue: p(`UPDATE recipients SET state = 'queued', next_attempt_at = @next, updated_at = @now, claimed_by = NULL, claim_token = NULL, lease_until = NULL
                  WHERE id = @id AND state = 'sending' AND claimed_by = @node AND claim_token = @token`),
      messageOf: p('SELECT message_id FROM recipients WHERE id = ?'),
      recoverEvents: p(`INSERT INTO events (at, message_id, recipient_id, type, detail)
                        SELECT @now, message_id, id, 'requeued', @detail FROM recipients
                        WHERE state = 'sending' AND (claimed_by IS @node OR lease_until <= @now)`),
      recover: p(`UPDATE recipients SET state = 'queued', claimed_by = NULL, claim_token = NULL, lease_until = NULL, updated_at = @now
                  WHERE state = 'sending' AND (claimed_by IS @node OR lease_until <= @now)`),
    };
  }

  async claimDue(req: ClaimRequest): Promise<QueueEntry[]> {
    return this.offThread ? this.offThread.claim(req) : this.claimDueHere(req);
  }

  claimDueHere(req: ClaimRequest): QueueEntry[] {
    const node = this.claims.nodeId;
    const token = this.claims.issue();
    const claimed = this.db.transaction(() => {
      this.st['reclaimEvents']!.run({ now: req.now, node });
      this.st['reclaim']!.run({ now: req.now, node });
      const rows = this.st['dueTrigger']!.all(req.now, req.limit) as RecipientRow[];
      if (rows.length < req.limit && !req.triggerOnly) rows.push(...(this.st['dueBatch']!.all(req.now, req.limit - rows.length) as RecipientRow[]));
      const out: QueueEntry[] = [];
      for (const r of rows) {
        const changed = this.st['markSending']!.run({ id: r.id, node, token, until: req.now + this.leaseMs, now: req.now }).changes;
        if (changed === 1) out.push(toEntry({ ...r, state: 'sending' }));
      }
      return out;
    }).immediate();
    // Held from the commit on: the rows are this node's now.
    for (const e of claimed) this.claims.hold(e.recipientId, token);
    return claimed;
  }

  /**
   * Claims in intake's own transaction (the fresh-mail handoff, FreshTaker): `claim` marks a
   * recipient just inserted 'sending' exactly as claimDueHere does; `hold` after the commit,
   * never inside it (a rollback holds nothing).
   */
  freshClaims(): { claim(id: number, now: number): boolean; hold(entries: readonly QueueEntry[]): void } {
    const token = this.claims.issue();
    const node = this.claims.nodeId;
    return {
      claim: (id, now) => this.st['markSending']!.run({ id, node, token, until: now + this.leaseMs, now }).changes === 1,
      hold: (entries) => { for (const e of entries) this.claims.hold(e.recipientId, token); },
    };
  }

  async nextDueAt(): Promise<number | undefined> {
    const a = (this.st['nextDue']!.get('trigger') as { t: number | null }).t;
    const b = (this.st['nextDue']!.get('batch') as { t: number | null }).t;
    // Another node's claim is work for this one once its lease runs out (the node died): claimDue takes it back then.
    const c = (this.st['nextLease']!.get(this.claims.nodeId) as { t: number | null }).t;
    const t = [a, b, c].filter((x): x is number => x !== null);
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
    const counts = this.db.transaction(() => batch.map((w) => this.apply(w))).immediate();
    // Committed: these claims ended, applied or not (a lost claim is not ours any more either).
    for (const w of batch) this.claims.forget(w.kind === 'outcomes' ? w.outcomes.map((o) => o.recipientId) : w.ids);
    return counts;
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
        node: this.claims.nodeId, token: this.claims.tokenOf(o.recipientId),
      }).changes;
      if (changed !== 1) continue;
      applied++;
      this.st['insEvent']!.run(o.at, o.queueId, o.recipientId, o.kind, JSON.stringify({ reply: o.reply, ...o.detail }));
      this.notify.outcome(o);
    }
    return applied;
  }

  private applyRequeue(ids: readonly RecipientId[], nextAttemptAt: number, now: number, reason: string | undefined): number {
    let n = 0;
    for (const id of ids) {
      const guard = { id, node: this.claims.nodeId, token: this.claims.tokenOf(id) };
      if (this.st['requeue']!.run({ ...guard, next: nextAttemptAt, now }).changes !== 1) continue;
      n++;
      if (reason) {
        const mid = (this.st['messageOf']!.get(id) as { message_id: string }).message_id;
        this.st['insEvent']!.run(now, mid, id, 'requeued', JSON.stringify({ reason }));
      }
    }
    return n;
  }

  async recoverSending(now: number, reason: string): Promise<number> {
    const node = this.claims.nodeId;
    return this.db.transaction(() => {
      this.st['recoverEvents']!.run({ now, node, detail: JSON.stringify({ reason }) });
      return this.st['recover']!.run({ now, node }).changes;
    }).immediate();
  }

  async renewClaims(now: number): Promise<number> {
    return this.st['renew']!.run({ until: now + this.leaseMs, node: this.claims.nodeId }).changes;
  }

  onRemoteQueueChange(observer: (c: RemoteQueueChange) => void): () => void { return this.changes.on(observer); }

  /** The operation, then (unless `announce` is false) the other stores on this file hear of it, as PostgreSQL's nodes do. */
  async applyQueueOp(op: QueueOp, target: QueueTarget, now: number, opts: { announce?: boolean } = {}): Promise<number> {
    const n = this.applyOp(op, target, now);
    if (opts.announce !== false) this.changes.announce({ kind: 'op', op, target });
    return n;
  }

  private applyOp(op: QueueOp, target: QueueTarget, now: number): number {
    const t = targetSql(target);
    if (op === 'flush') {
      return this.db.prepare(`UPDATE recipients SET next_attempt_at = ?, updated_at = ?
                              WHERE state IN (${stateList(QUEUE_OP_STATES.flush)}) AND next_attempt_at > ? AND ${t.sql}`)
        .run(now, now, now, ...t.args).changes;
    }
    const spec = OPS[op];
    if (!spec) return assertNever(op as never, 'queue op');
    const states = stateList(spec.from);
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
