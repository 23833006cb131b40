/**
 * spool/pg-quota — the PostgreSQL side of `QuotaStore`, shared by every node, so quotas and
 * reputation hold for the cluster, not per node. Usage is read from stats_daily (requests
 * per sending domain, counted in the intake commit); spam bounces are counted by
 * spool/pg-effects.ts in the outcome's transaction. The reputation row is written
 * compare-and-set with its history (two nodes rolling the day: one wins, the other reads
 * again); a `quota.reached` mark is taken once per period by whichever node gets there first.
 */
import type { PgEffects } from './pg-effects.js';
import type { PgPool } from './pg-pool.js';
import { inTransaction } from './pg-tx.js';
import type { DailyFigures, QuotaReachedMark, ReputationChange, ReputationRecord } from './types-quota.js';

interface RepRow { domain: string; level: number; day: string; banned_until: string | null; ban_reason: string | null; updated_at: string }

export class PgQuota {
  /** Unique human opens of a domain's mail of a day (the tracking port plugs it in: pg-store.ts plugTracking); 0 without it. */
  humanOpens: ((domain: string, day: string) => Promise<number>) | undefined;

  constructor(private readonly pool: PgPool, private readonly effects: PgEffects) {}

  async quotaUsage(domain: string, day: string, monthFrom: string, monthTo: string): Promise<{ day: number; month: number }> {
    const { rows } = await this.pool.query<{ day: number; month: number }>(
      `SELECT coalesce(sum(requests) FILTER (WHERE day = $2), 0)::float8 AS day, coalesce(sum(requests), 0)::float8 AS month
       FROM stats_daily WHERE ((day >= $3 AND day <= $4) OR day = $2) AND domain = $1`, [domain, day, monthFrom, monthTo]);
    return rows[0]!;
  }

  async dailyFigures(domain: string, day: string): Promise<DailyFigures> {
    // A late bounce for an invalid address was not really a delivery: the reputation reads it as invalid.
    const { rows } = await this.pool.query<Omit<DailyFigures, 'opens'>>(
      `SELECT coalesce(sum(requests), 0)::float8 AS volume, coalesce(sum(delivered - late_invalid), 0)::float8 AS delivered,
              coalesce(sum(failed), 0)::float8 AS failed, coalesce(sum(invalid + late_invalid), 0)::float8 AS invalid,
              coalesce(sum(expired), 0)::float8 AS expired, coalesce(sum(complaints), 0)::float8 AS complaints,
              coalesce((SELECT spam_bounces FROM quota_daily q WHERE q.day = $1 AND q.domain = $2), 0)::float8 AS "spamBounces"
       FROM stats_daily WHERE day = $1 AND domain = $2`, [day, domain]);
    return { ...rows[0]!, opens: (await this.humanOpens?.(domain, day)) ?? 0 };
  }

  async domainsActiveOn(day: string): Promise<string[]> {
    const { rows } = await this.pool.query<{ domain: string }>('SELECT domain FROM stats_daily WHERE day = $1 AND requests > 0 GROUP BY domain ORDER BY domain COLLATE "C"', [day]);
    return rows.map((r) => r.domain);
  }

  async getReputation(domain: string): Promise<ReputationRecord | undefined> {
    const { rows: [r] } = await this.pool.query<RepRow>('SELECT * FROM reputation WHERE domain = $1', [domain]);
    return r ? {
      domain: r.domain, level: r.level, day: r.day, bannedUntil: r.banned_until === null ? null : Number(r.banned_until), banReason: r.ban_reason,
      updatedAt: Number(r.updated_at),
    } : undefined;
  }

  async saveReputation(next: ReputationRecord, prev: ReputationRecord | undefined, changes: readonly ReputationChange[]): Promise<boolean> {
    return inTransaction(this.pool, async (tx) => {
      const row = [next.domain, next.level, next.day, next.bannedUntil, next.banReason, next.updatedAt];
      const r = prev
        ? await tx.query(`UPDATE reputation SET level = $2, day = $3, banned_until = $4, ban_reason = $5, updated_at = $6
                          WHERE domain = $1 AND level = $7 AND day = $8 AND banned_until IS NOT DISTINCT FROM $9 AND updated_at = $10`,
        [...row, prev.level, prev.day, prev.bannedUntil, prev.updatedAt])
        : await tx.query(`INSERT INTO reputation (domain, level, day, banned_until, ban_reason, updated_at) VALUES ($1, $2, $3, $4, $5, $6)
                          ON CONFLICT DO NOTHING`, row);
      if (r.rowCount === 0) return false;
      for (const c of changes) {
        await tx.query('INSERT INTO reputation_history (domain, at, from_level, to_level, change, reason) VALUES ($1, $2, $3, $4, $5, $6)',
          [c.domain, c.at, c.fromLevel, c.toLevel, c.change, c.reason]);
      }
      return true;
    });
  }

  async listReputationHistory(domain: string, limit: number): Promise<ReputationChange[]> {
    const { rows } = await this.pool.query<{ domain: string; at: string; from_level: number; to_level: number; change: ReputationChange['change']; reason: string }>(
      'SELECT * FROM reputation_history WHERE domain = $1 ORDER BY id DESC LIMIT $2', [domain, Math.min(Math.max(limit, 1), 1000)]);
    return rows.map((r) => ({ domain: r.domain, at: Number(r.at), fromLevel: r.from_level, toLevel: r.to_level, change: r.change, reason: r.reason }));
  }

  async markQuotaReached(m: QuotaReachedMark): Promise<boolean> {
    const fresh = await inTransaction(this.pool, async (tx) => {
      const r = await tx.query('INSERT INTO quota_reached (domain, which, period, at) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING', [m.domain, m.which, m.period, m.at]);
      if (r.rowCount === 0) return false;
      const e = { at: m.at, type: 'quota.reached', domain: m.domain, detail: m.detail };
      await tx.query('INSERT INTO events (at, message_id, recipient_id, type, detail) VALUES ($1, NULL, NULL, $2, $3)', [e.at, e.type, JSON.stringify({ domain: e.domain, ...e.detail })]);
      await this.effects.domainEvent(tx, e);
      return true;
    });
    if (fresh) this.effects.signal();
    return fresh;
  }
}
