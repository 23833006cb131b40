/**
 * quota/quota — may a sending domain send N more recipients now? The one answer both
 * submission front-ends (SMTP, send API) and batch tasks ask for, and the `quota.reached`
 * event when the answer is no.
 *
 * Limits: `[quota] daily / monthly` with `[[quota.domain]]` overrides (quota/limits.ts),
 * and with `[reputation] enabled` the reputation level's daily cap (quota/reputation.ts):
 * the effective daily limit is the smaller one. Usage is the accepted recipients per
 * sending domain per day and month of the configured `timezone`, read from the spool's daily counters, which intake
 * bumps in the same transaction that commits the message — so usage survives a crash and
 * there is no counter in memory to lose.
 *
 * A message with N recipients is refused whole when the quota cannot take all N; `left`
 * tells a batch task how many it may still expand.
 *
 * Must never: hold usage in memory, or refuse when no limit applies.
 * Caveat: the check and the commit are separate steps, so sessions checking at the same
 * moment may all pass; the overshoot is at most the messages in flight at once (each up to
 * `smtp.max_recipients`).
 */
import type { Config } from '../config/config.js';
import type { QuotaStore } from '../spool/types-quota.js';
import { dayIn } from '../util/time.js';
import { limitsFor, type DomainLimits } from './limits.js';
import type { ReputationService } from './reputation-service.js';

export type QuotaPeriod = 'daily' | 'monthly';

/**
 * `left`: recipients the domain may still send now, counting the `count` just asked about
 * (so `count <= left` whenever ok, and `check(d, 0, now).left` is the room left); Infinity
 * when no limit applies. `reason`: why the daily limit is lower than the quota (the
 * reputation cap, or a ban).
 */
export type QuotaVerdict =
  | { ok: true; left: number }
  | { ok: false; which: QuotaPeriod; limit: number; used: number; reason?: string };

export interface QuotaUsage { day: number; month: number }

export interface QuotaReport {
  domain: string;
  daily: { limit: number | null; used: number; quota: number | null; reputationCap: number | null };
  monthly: { limit: number | null; used: number };
}

/** 'YYYY-MM' of a time in zone `tz`, and the first and last day strings of its month (stats_daily days compare as text). */
export function monthOf(now: number, tz = 'UTC'): { period: string; from: string; to: string } {
  const period = dayIn(now, tz).slice(0, 7);
  return { period, from: `${period}-01`, to: `${period}-31` };
}

export class QuotaService {
  constructor(
    private config: () => Config,
    private readonly store: Pick<QuotaStore, 'quotaUsage' | 'markQuotaReached'>,
    readonly reputation?: ReputationService,
  ) {}

  /** Usage of a domain on the day and month of `now` (in the configured time zone). */
  async usage(domain: string, now: number): Promise<QuotaUsage> {
    const tz = this.config().timeZone;
    const m = monthOf(now, tz);
    return this.store.quotaUsage(domain.toLowerCase(), dayIn(now, tz), m.from, m.to);
  }

  /** The quota limits (null = unlimited) and, with reputation on, the domain's cap today. */
  private async limits(domain: string, now: number): Promise<DomainLimits & { cap: number | null; reason?: string }> {
    const l = limitsFor(this.config().quota, domain);
    const cap = this.reputation?.enabled() ? await this.reputation.capOf(domain, now) : undefined;
    return { ...l, cap: cap?.cap ?? null, ...(cap?.reason ? { reason: cap.reason } : {}) };
  }

  async check(domain: string, count: number, now: number): Promise<QuotaVerdict> {
    const d = domain.toLowerCase();
    let l = await this.limits(d, now);
    if (l.daily === null && l.monthly === null && l.cap === null) return { ok: true, left: Infinity };
    const used = await this.usage(d, now);
    // Upgrades apply at once: a domain that qualifies is raised before it is refused.
    if (l.cap !== null && this.reputation && used.day + count >= l.cap * 0.7) {
      if (await this.reputation.tryUpgrade(d, now)) l = await this.limits(d, now);
    }
    const daily = minLimit(l.daily, l.cap);
    const capBinds = l.cap !== null && (l.daily === null || l.cap < l.daily);
    if (daily !== null && used.day + count > daily) {
      return { ok: false, which: 'daily', limit: daily, used: used.day, ...(capBinds ? { reason: l.reason ?? `reputation cap ${daily}` } : {}) };
    }
    if (l.monthly !== null && used.month + count > l.monthly) return { ok: false, which: 'monthly', limit: l.monthly, used: used.month };
    const left = Math.min(daily === null ? Infinity : daily - used.day, l.monthly === null ? Infinity : l.monthly - used.month);
    return { ok: true, left };
  }

  /**
   * Emits `quota.reached` for the domain, at most once per day ('daily', configured timezone) or month
   * ('monthly'). The event carries the limit, the committed usage and, when given, the
   * recipients that were asked for and refused (`requested`).
   */
  async reached(domain: string, which: QuotaPeriod, now: number, requested?: number): Promise<void> {
    const d = domain.toLowerCase();
    const tz = this.config().timeZone;
    const period = which === 'daily' ? dayIn(now, tz) : monthOf(now, tz).period;
    const l = await this.limits(d, now);
    const used = await this.usage(d, now);
    const limit = which === 'daily' ? minLimit(l.daily, l.cap) : l.monthly;
    await this.store.markQuotaReached({
      domain: d, which, period, at: now,
      detail: {
        which, period, limit, used: which === 'daily' ? used.day : used.month, ...(requested !== undefined ? { requested } : {}),
        ...(which === 'daily' && l.reason ? { reason: l.reason } : {}),
      },
    });
  }

  /** What `mta domain show` prints. */
  async report(domain: string, now: number): Promise<QuotaReport> {
    const d = domain.toLowerCase();
    const l = await this.limits(d, now);
    const used = await this.usage(d, now);
    return {
      domain: d,
      daily: { limit: minLimit(l.daily, l.cap), used: used.day, quota: l.daily, reputationCap: l.cap },
      monthly: { limit: l.monthly, used: used.month },
    };
  }
}

function minLimit(a: number | null, b: number | null): number | null {
  if (a === null) return b;
  if (b === null) return a;
  return Math.min(a, b);
}
