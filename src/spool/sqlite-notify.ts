/**
 * spool/sqlite-notify — what a recorded outcome means for statistics and webhooks, applied
 * inside the transaction that records it (never afterwards, so a crash cannot separate
 * them). Called by sqlite-queue.ts for every outcome that applied and every operator
 * delete, and by sqlite-domains.ts for domain events.
 *
 *   delivered → delivered++          failed, status 2 → invalid++     failed → failed++
 *   expired   → expired++            deleted (operator) → failed++
 *   deferred  → deferred++ and an event for a recipient's first deferral only; after that
 *               an event at most once an hour per recipient (no counter)
 *
 * Mail from the null sender (our own DSNs) is nobody's account: no counters, no events.
 */
import type { Statement } from 'better-sqlite3';
import type { Db } from './db.js';
import type { DomainEvent } from './types-domains.js';
import type { RecipientOutcome } from './types-queue.js';
import type { RecipientRefusal } from './types-suppression.js';
import type { RecipientId } from '../util/ids.js';
import type { SqliteWebhooks } from './sqlite-webhooks.js';
import { type SqliteStats, type StatsCounter, type StatsKey } from './sqlite-stats.js';
import { assertNever } from '../util/errors.js';
import { rcptDomainOf } from './sqlite-rcpt-stats.js';
import { domainPayload, recipientPayload, type DomainEventName, type RecipientEventName } from '../events/payload.js';

/** A recipient that keeps deferring is reported again after this long. */
export const DEFERRED_EVENT_INTERVAL_MS = 60 * 60 * 1000;

interface Meta {
  rcpt: string; attempts: number; deferred_event_at: number | null; queue_id: string;
  sender: string; auth_user: string | null; msg_id: string; tag: string | null; received_at: number; task_id: string | null;
  rcpt_domain: string;
}

export class SqliteNotify {
  private readonly st: Record<string, Statement>;
  /** Counts a spam bounce (status 3) for quotas and reputation (sqlite-quota.ts), in the same transaction. */
  spamBounce: ((k: StatsKey) => void) | undefined;

  /** Counts a final outcome of a batch task's recipient on its task (sqlite-tasks.ts), in the same transaction. */
  taskOutcome: ((taskId: string, counter: StatsCounter) => void) | undefined;

  constructor(db: Db, private readonly hooks: SqliteWebhooks, private readonly stats: SqliteStats) {
    this.st = {
      meta: db.prepare(`SELECT r.rcpt, r.domain AS rcpt_domain, r.attempts, r.deferred_event_at, r.message_id AS queue_id, m.sender, m.auth_user,
                               m.message_id AS msg_id, m.tag, m.received_at, m.task_id
                        FROM recipients r JOIN messages m ON m.id = r.message_id WHERE r.id = ?`),
      // Only an operator's delete asks (not every delivery outcome): was the task cancelled?
      taskState: db.prepare('SELECT state FROM tasks WHERE id = ?'),
      deferredAt: db.prepare('UPDATE recipients SET deferred_event_at = ? WHERE id = ?'),
      insRefusal: db.prepare(`INSERT INTO events (at, message_id, recipient_id, type, detail) VALUES (?, NULL, NULL, 'rejected', ?)`),
    };
  }

  /** Counts accepted recipients (intake's group commit). */
  accepted(sender: string, receivedAt: number, tag: string | null, recipients: readonly string[]): void {
    if (sender === '') return;
    const key = this.stats.keyOf(sender, receivedAt, tag);
    this.stats.bump(key, 'requests', recipients.length);
    const perDomain = new Map<string, number>();
    for (const r of recipients) { const d = rcptDomainOf(r); perDomain.set(d, (perDomain.get(d) ?? 0) + 1); }
    for (const [d, n] of perDomain) this.stats.rcpt.bump(key, d, 'requests', n);
  }

  /** One outcome that applied (the recipient row already carries it). */
  outcome(o: RecipientOutcome): void {
    const m = this.st['meta']!.get(o.recipientId) as Meta | undefined;
    if (!m || m.sender === '') return;
    const key = this.stats.keyOf(m.sender, m.received_at, m.tag);
    let notify = true;
    if (o.kind === 'deferred') {
      const first = m.deferred_event_at === null;
      notify = first || o.at - m.deferred_event_at! >= DEFERRED_EVENT_INTERVAL_MS;
      if (first) this.count(key, m, 'deferred');
      if (notify) this.st['deferredAt']!.run(o.at, o.recipientId);
    } else {
      this.count(key, m, counterOf(o.kind, o.detail['status']));
      if (o.kind === 'delivered') this.stats.rcpt.latency(key, m.rcpt_domain, o.at - m.received_at);
      else this.stats.rcpt.failure(key, m.rcpt_domain, o.kind === 'expired' ? 'expired' : String(o.detail['category'] ?? 'other'));
      if (m.task_id) this.taskOutcome?.(m.task_id, counterOf(o.kind, o.detail['status']));
      if (o.kind === 'failed' && o.detail['status'] === 3) this.spamBounce?.(key);
    }
    if (notify) this.emit(o.kind, m, o.at, o.reply, o.detail['status'], o.detail['category'], o.detail['source']);
  }

  /** An operator deleted a waiting recipient: it ends as failed. */
  deleted(id: RecipientId, at: number, reply: string): void {
    const m = this.st['meta']!.get(id) as Meta | undefined;
    if (!m || m.sender === '') return;
    // A cancelled task's waiting recipients were not failed deliveries: counted apart (delivery rates leave them out).
    const key = this.stats.keyOf(m.sender, m.received_at, m.tag);
    const task = m.task_id ? this.st['taskState']!.get(m.task_id) as { state: string } | undefined : undefined;
    const cancelled = task?.state === 'cancelled';
    this.count(key, m, cancelled ? 'cancelled' : 'failed');
    if (!cancelled) this.stats.rcpt.failure(key, m.rcpt_domain, 'deleted');
    if (m.task_id) this.taskOutcome?.(m.task_id, 'failed');
    this.emit('deleted', m, at, reply, 4, 'deleted');
  }

  /** A suppressed recipient refused at submission: its event row and webhook event (no message, no counters). */
  refused(r: RecipientRefusal): void {
    const s = r.suppression;
    this.st['insRefusal']!.run(r.at, JSON.stringify({ rcpt: r.rcpt, sender: r.sender, reply: r.reply, via: r.via, suppression: { reason: s.reason, source: s.source, scope: s.scope } }));
    const payload = recipientPayload({
      event: 'rejected', queueId: '', messageId: '', authUser: r.authUser, sender: r.sender, rcpt: r.rcpt,
      receivedAt: r.at, at: r.at, reply: r.reply, status: 2, category: 'suppressed', attempts: 0, tag: null, taskId: null,
    });
    this.hooks.enqueue('rejected', payload, r.sender, r.at);
  }

  /** One counter, per sender (stats_daily) and per recipient domain. */
  private count(key: StatsKey, m: Meta, counter: StatsCounter): void {
    this.stats.bump(key, counter);
    this.stats.rcpt.bump(key, m.rcpt_domain, counter);
  }

  /** After the caller's commit: wakes the webhook dispatcher if anything was enqueued. */
  signal(): void { this.hooks.signal(); }

  domainEvent(e: DomainEvent): void {
    if (!isDomainEventName(e.type)) return;
    this.hooks.enqueue(e.type, domainPayload({ type: e.type, domain: e.domain, at: e.at, detail: e.detail }), null, e.at);
  }

  private emit(event: RecipientEventName, m: Meta, at: number, reply: string, status: unknown, category: unknown, source?: unknown): void {
    const payload = recipientPayload({
      event, queueId: m.queue_id, messageId: m.msg_id, authUser: m.auth_user, sender: m.sender, rcpt: m.rcpt,
      receivedAt: m.received_at, at, reply, status, category, attempts: m.attempts, tag: m.tag, taskId: m.task_id, source,
    });
    this.hooks.enqueue(event, payload, m.sender, at);
  }
}

function counterOf(kind: Exclude<RecipientOutcome['kind'], 'deferred'>, status: unknown): StatsCounter {
  switch (kind) {
    case 'delivered': return 'delivered';
    case 'expired': return 'expired';
    case 'failed': return status === 2 ? 'invalid' : 'failed';
    default: return assertNever(kind, 'outcome kind');
  }
}

function isDomainEventName(t: string): t is DomainEventName {
  return t === 'domain.dns_error' || t === 'domain.verified' || t === 'domain.dkim_rotated' || t === 'quota.reached';
}
