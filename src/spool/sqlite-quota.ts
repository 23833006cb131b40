/**
 * spool/sqlite-quota — the SQLite side of `QuotaStore`. Usage is read from stats_daily
 * (requests per sending domain, bumped in the intake commit), so it is exactly what was
 * acknowledged, survives crashes and needs no counter of its own. Spam bounces are counted
 * here (quota_daily) in the transaction that records the outcome, through the hook
 * sqlite-effects.ts calls. The reputation row is written compare-and-set, with its history.
 */
import type { Statement } from 'better-sqlite3';
import type { Db } from './db.js';
import type { SqliteNotify } from './sqlite-notify.js';
import type { StatsKey } from './sqlite-stats.js';
import type { DailyFigures, QuotaReachedMark, ReputationChange, ReputationRecord } from './types-quota.js';

interface RepRow { domain: string; level: number; day: string; banned_until: number | null; ban_reason: string | null; updated_at: number }

export class SqliteQuota {
  private readonly st: Record<string, Statement>;
  /** unique human opens of a domain's mail of a day (spool/sqlite-tracking.ts) */
  humanOpens: ((domain: string, day: string) => number) | undefined;

  constructor(private readonly db: Db, private readonly notify: SqliteNotify) {
    const p = (sql: string): Statement => db.prepare(sql);
    this.st = {
      usage: p(`SELECT COALESCE(SUM(CASE WHEN day = @day THEN requests END), 0) AS day, COALESCE(SUM(requests), 0) AS month
                FROM stats_daily WHERE ((day >= @from AND day <= @to) OR day = @day) AND domain = @domain`),
      // A late bounce for an invalid address was not really a delivery: the reputation reads it as invalid.
      figures: p(`SELECT COALESCE(SUM(requests), 0) AS volume, COALESCE(SUM(delivered - late_invalid), 0) AS delivered, COALESCE(SUM(failed), 0) AS failed,
                         COALESCE(SUM(invalid + late_invalid), 0) AS invalid, COALESCE(SUM(expired), 0) AS expired, COALESCE(SUM(complaints), 0) AS complaints
                  FROM stats_daily WHERE day = ? AND domain = ?`),
      spam: p('SELECT spam_bounces FROM quota_daily WHERE day = ? AND domain = ?'),
      bumpSpam: p(`INSERT INTO quota_daily (day, domain, spam_bounces) VALUES (?, ?, 1)
                   ON CONFLICT (day, domain) DO UPDATE SET spam_bounces = spam_bounces + 1`),
      active: p('SELECT DISTINCT domain FROM stats_daily WHERE day = ? AND requests > 0 ORDER BY domain'),
      getRep: p('SELECT * FROM reputation WHERE domain = ?'),
      insRep: p(`INSERT OR IGNORE INTO reputation (domain, level, day, banned_until, ban_reason, updated_at)
                 VALUES (@domain, @level, @day, @bannedUntil, @banReason, @updatedAt)`),
      updRep: p(`UPDATE reputation SET level = @level, day = @day, banned_until = @bannedUntil, ban_reason = @banReason, updated_at = @updatedAt
                 WHERE domain = @domain AND level = @pLevel AND day = @pDay AND banned_until IS @pBannedUntil AND updated_at = @pUpdatedAt`),
      insHistory: p(`INSERT INTO reputation_history (domain, at, from_level, to_level, change, reason)
                     VALUES (@domain, @at, @fromLevel, @toLevel, @change, @reason)`),
      history: p('SELECT * FROM reputation_history WHERE domain = ? ORDER BY id DESC LIMIT ?'),
      mark: p('INSERT OR IGNORE INTO quota_reached (domain, which, period, at) VALUES (?, ?, ?, ?)'),
      insEvent: p('INSERT INTO events (at, message_id, recipient_id, type, detail) VALUES (?, NULL, NULL, ?, ?)'),
    };
  }

  usage(domain: string, day: string, from: string, to: string): { day: number; month: number } {
    return this.st['usage']!.get({ domain, day, from, to }) as { day: number; month: number };
  }

  figures(domain: string, day: string): DailyFigures {
    const f = this.st['figures']!.get(day, domain) as Omit<DailyFigures, 'spamBounces' | 'opens'>;
    const spam = (this.st['spam']!.get(day, domain) as { spam_bounces: number } | undefined)?.spam_bounces ?? 0;
    return { ...f, spamBounces: spam, opens: this.humanOpens?.(domain, day) ?? 0 };
  }

  /** Inside the caller's transaction (sqlite-effects.ts). */
  spamBounce(k: StatsKey): void {
    this.st['bumpSpam']!.run(k.day, k.domain);
  }

  activeOn(day: string): string[] {
    return (this.st['active']!.all(day) as { domain: string }[]).map((r) => r.domain);
  }

  get(domain: string): ReputationRecord | undefined {
    const r = this.st['getRep']!.get(domain) as RepRow | undefined;
    return r ? { domain: r.domain, level: r.level, day: r.day, bannedUntil: r.banned_until, banReason: r.ban_reason, updatedAt: r.updated_at } : undefined;
  }

  save(next: ReputationRecord, prev: ReputationRecord | undefined, changes: readonly ReputationChange[]): boolean {
    return this.db.transaction(() => {
      const n = prev
        ? this.st['updRep']!.run({ ...next, pLevel: prev.level, pDay: prev.day, pBannedUntil: prev.bannedUntil, pUpdatedAt: prev.updatedAt }).changes
        : this.st['insRep']!.run(next).changes;
      if (n === 0) return false;
      for (const c of changes) this.st['insHistory']!.run(c);
      return true;
    }).immediate();
  }

  history(domain: string, limit: number): ReputationChange[] {
    return (this.st['history']!.all(domain, Math.min(Math.max(limit, 1), 1000)) as Record<string, unknown>[]).map((r) => ({
      domain: r['domain'] as string, at: r['at'] as number, fromLevel: r['from_level'] as number, toLevel: r['to_level'] as number,
      change: r['change'] as ReputationChange['change'], reason: r['reason'] as string,
    }));
  }

  markReached(m: QuotaReachedMark): boolean {
    const fresh = this.db.transaction(() => {
      if (this.st['mark']!.run(m.domain, m.which, m.period, m.at).changes === 0) return false;
      const e = { at: m.at, type: 'quota.reached', domain: m.domain, detail: m.detail };
      this.st['insEvent']!.run(e.at, e.type, JSON.stringify({ domain: e.domain, ...e.detail }));
      this.notify.domainEvent(e);
      return true;
    }).immediate();
    if (fresh) this.notify.signal();
    return fresh;
  }
}
