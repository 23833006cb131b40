/**
 * spool/sqlite-rcpt-stats — counters per recipient domain (tables of migration 13): per
 * day of receipt (configured timezone), sender domain and recipient domain, the same
 * counters as stats_daily, final failures per category, and a delivery-latency histogram
 * in the fixed buckets of stats/latency.ts. Bumped by sqlite-effects.ts inside the
 * transactions that accept mail and record outcomes; a query reads these small rows and
 * never scans events or recipients.
 */
import type { Statement } from 'better-sqlite3';
import type { Db } from './db.js';
import type { RcptStatsQuery, RcptStatsRow } from './types-stats.js';
import type { StatsCounter, StatsKey } from './sqlite-stats.js';
import { latencyBucket } from '../stats/latency.js';

const COUNTERS: readonly StatsCounter[] = ['requests', 'delivered', 'failed', 'invalid', 'deferred', 'expired', 'cancelled'];

export class SqliteRcptStats {
  private readonly bumps: Record<StatsCounter, Statement>;
  private readonly st: Record<string, Statement>;

  constructor(private readonly db: Db) {
    const p = (sql: string): Statement => db.prepare(sql);
    this.bumps = Object.fromEntries(COUNTERS.map((c) => [c, p(`
      INSERT INTO stats_rcpt_daily (day, domain, rcpt_domain, ${c}) VALUES (?, ?, ?, ?)
      ON CONFLICT (day, rcpt_domain, domain) DO UPDATE SET ${c} = ${c} + excluded.${c}`)])) as Record<StatsCounter, Statement>;
    this.st = {
      failed: p(`INSERT INTO stats_rcpt_failed (day, domain, rcpt_domain, category, n) VALUES (?, ?, ?, ?, 1)
                 ON CONFLICT (day, rcpt_domain, domain, category) DO UPDATE SET n = n + 1`),
      latency: p(`INSERT INTO stats_rcpt_latency (day, domain, rcpt_domain, bucket, n) VALUES (?, ?, ?, ?, 1)
                  ON CONFLICT (day, rcpt_domain, domain, bucket) DO UPDATE SET n = n + 1`),
      del: p('DELETE FROM stats_rcpt_daily WHERE day < ?'),
      delFailed: p('DELETE FROM stats_rcpt_failed WHERE day < ?'),
      delLatency: p('DELETE FROM stats_rcpt_latency WHERE day < ?'),
    };
  }

  /** Inside the caller's transaction. */
  bump(k: StatsKey, rcptDomain: string, counter: StatsCounter, n = 1): void {
    if (n > 0) this.bumps[counter].run(k.day, k.domain, rcptDomain, n);
  }

  /** A final failure (failed, invalid, expired, deleted) under its category. */
  failure(k: StatsKey, rcptDomain: string, category: string): void { this.st['failed']!.run(k.day, k.domain, rcptDomain, category); }

  /** A delivery that took `ms` from receipt. */
  latency(k: StatsKey, rcptDomain: string, ms: number): void { this.st['latency']!.run(k.day, k.domain, rcptDomain, latencyBucket(ms)); }

  /** One row per day and recipient domain, with its categories and latency histogram. */
  query(q: RcptStatsQuery): RcptStatsRow[] {
    const where = 'day >= ? AND day <= ?' + (q.domain === undefined ? '' : ' AND domain = ?');
    const args = q.domain === undefined ? [q.fromDay, q.toDay] : [q.fromDay, q.toDay, q.domain.toLowerCase()];
    const sums = COUNTERS.map((c) => `SUM(${c}) AS ${c}`).join(', ');
    const rows = this.db.prepare(`SELECT day, rcpt_domain, ${sums} FROM stats_rcpt_daily WHERE ${where}
                                  GROUP BY day, rcpt_domain ORDER BY day, rcpt_domain`).all(...args) as Omit<RcptStatsRow, 'categories' | 'latency'>[];
    const out = new Map(rows.map((r) => [`${r.day} ${r.rcpt_domain}`, { ...r, categories: {} as Record<string, number>, latency: new Map<number, number>() }]));
    const parts = (table: string, col: string): { day: string; rcpt_domain: string; k: string | number; n: number }[] =>
      this.db.prepare(`SELECT day, rcpt_domain, ${col} AS k, SUM(n) AS n FROM ${table} WHERE ${where} GROUP BY day, rcpt_domain, ${col}`)
        .all(...args) as { day: string; rcpt_domain: string; k: string | number; n: number }[];
    for (const c of parts('stats_rcpt_failed', 'category')) {
      const r = out.get(`${c.day} ${c.rcpt_domain}`);
      if (r) r.categories[String(c.k)] = c.n;
    }
    for (const b of parts('stats_rcpt_latency', 'bucket')) out.get(`${b.day} ${b.rcpt_domain}`)?.latency.set(Number(b.k), b.n);
    return [...out.values()];
  }

  /** Retention: rows of days before `beforeDay`. */
  purge(beforeDay: string): number {
    return this.st['del']!.run(beforeDay).changes + this.st['delFailed']!.run(beforeDay).changes + this.st['delLatency']!.run(beforeDay).changes;
  }
}
