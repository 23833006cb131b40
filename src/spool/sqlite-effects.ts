/**
 * spool/sqlite-effects — writes the effects the rules answered with (spool/types-effects.ts),
 * one applier per kind, inside the caller's transaction (the one recording the fact), so
 * a crash never separates a fact from its counters, suppressions and webhook events.
 *
 * Must never: decide anything. Which counter, which webhook, whether to report a deferral
 * is the rules' (events/effects.ts); an applier only writes what it is given.
 */
import type { Statement } from 'better-sqlite3';
import type { Db } from './db.js';
import type { Effect, StatsKey, TaskCounter } from './types-effects.js';
import type { SqliteStats } from './sqlite-stats.js';
import type { SqliteWebhooks } from './sqlite-webhooks.js';
import { assertNever } from '../util/errors.js';

export class SqliteEffects {
  private readonly st: Record<string, Statement>;
  /** A spam bounce for quotas and reputation (sqlite-quota.ts). */
  spamBounce: ((k: StatsKey) => void) | undefined;
  /** A task's outcome counter (sqlite-tasks.ts). */
  taskOutcome: ((taskId: string, counter: TaskCounter) => void) | undefined;

  constructor(db: Db, private readonly hooks: SqliteWebhooks, private readonly stats: SqliteStats) {
    this.st = {
      suppress: db.prepare(`INSERT OR IGNORE INTO suppressions (address, scope, reason, source, created_at)
                            VALUES (@address, @scope, @reason, @source, @createdAt)`),
      deferralReported: db.prepare('UPDATE recipients SET deferred_event_at = ? WHERE id = ?'),
    };
  }

  /** Inside the caller's transaction; a throw rolls the fact back with its effects. */
  apply(effects: readonly Effect[]): void {
    for (const e of effects) this.applyOne(e);
  }

  private applyOne(e: Effect): void {
    switch (e.kind) {
      case 'count': return this.stats.bump(e.key, e.counter, e.n);
      case 'count-rcpt-domain': return this.stats.rcpt.bump(e.key, e.rcptDomain, e.counter, e.n);
      case 'failure-category': return this.stats.rcpt.failure(e.key, e.rcptDomain, e.category);
      case 'latency': return this.stats.rcpt.latency(e.key, e.rcptDomain, e.ms);
      case 'task-count': return this.taskOutcome?.(e.taskId, e.counter);
      case 'spam-bounce': return this.spamBounce?.(e.key);
      case 'outbox': return this.hooks.insert(e.webhookIds, e.event, e.payload, e.at);
      case 'suppress': { this.st['suppress']!.run(e.entry); return; }
      case 'deferral-reported': { this.st['deferralReported']!.run(e.at, e.recipientId); return; }
      default: return assertNever(e, 'effect');
    }
  }
}
