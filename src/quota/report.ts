/**
 * quota/report — what `mta domain show` and `GET /api/v1/domains/:name/quota` say about a
 * domain's quota and reputation: limits and usage today and this month, and with
 * reputation on the level, cap, today's volume and the rates behind the next change,
 * each against its threshold. One JSON shape (schema below) for the API, the CLI's
 * `--json`, and the lines the CLI prints.
 */
import { z } from 'zod';
import type { Logger } from 'pino';
import type { Config } from '../config/config.js';
import type { Store } from '../spool/types.js';
import { QuotaService } from './quota.js';
import { ReputationService } from './reputation-service.js';

const limitSchema = z.object({
  limit: z.number().int().nullable().describe('null: unlimited'), used: z.number().int(), left: z.number().int().nullable(),
});
const rate = z.number().nullable().describe('a fraction; null when no outcome is known yet');

export const quotaReportSchema = z.object({
  domain: z.string(),
  daily: limitSchema.extend({
    quota: z.number().int().nullable().describe('[quota] daily for this domain'),
    reputation_cap: z.number().int().nullable().describe('the reputation level\'s cap; null when reputation is off'),
  }),
  monthly: limitSchema,
  reputation: z.object({
    level: z.number().int(), cap: z.number().int(), banned_until: z.string().nullable(), ban_reason: z.string().nullable(),
    today: z.object({
      day: z.string(), volume: z.number().int(), delivered: z.number().int(), failed: z.number().int(), invalid: z.number().int(),
      expired: z.number().int(), spam_bounces: z.number().int(), complaints: z.number().int(), opens: z.number().int(),
      upgrade_volume: z.number().int().describe('volume from which an upgrade is possible (70% of the cap)'),
      min_volume: z.number().int().describe('downgrades and bans need more than this volume'),
    }),
    rates: z.object({ invalid: rate, delivery: rate, spam: rate, complaint: rate, open: rate }),
    next: z.object({ change: z.enum(['up', 'down', 'none']), ban: z.boolean(), level: z.number().int(), reason: z.string() })
      .describe('what today\'s figures say now: an upgrade applies at once, a downgrade tomorrow'),
    rules: z.array(z.object({ kind: z.enum(['up', 'down', 'ban']), met: z.boolean(), conditions: z.array(z.object({ text: z.string(), holds: z.boolean() })) })),
    history: z.array(z.object({ at: z.string(), from_level: z.number().int(), to_level: z.number().int(), change: z.string(), reason: z.string() })),
  }).nullable().describe('null when [reputation] enabled = false'),
});
export type QuotaReportJson = z.infer<typeof quotaReportSchema>;

const iso = (ms: number): string => new Date(ms).toISOString();
const left = (limit: number | null, used: number): number | null => (limit === null ? null : Math.max(0, limit - used));

/** The report, from the daemon's QuotaService or (CLI) one made for the occasion. */
export async function quotaReport(quota: QuotaService, domain: string, now: number): Promise<QuotaReportJson> {
  // Upgrades apply at once: one that is due now is applied before it is shown.
  if (quota.reputation?.enabled()) await quota.reputation.tryUpgrade(domain, now);
  const q = await quota.report(domain, now);
  const rep = quota.reputation?.enabled() ? await quota.reputation.view(domain, now) : undefined;
  return {
    domain: q.domain,
    daily: { limit: q.daily.limit, used: q.daily.used, left: left(q.daily.limit, q.daily.used), quota: q.daily.quota, reputation_cap: q.daily.reputationCap },
    monthly: { limit: q.monthly.limit, used: q.monthly.used, left: left(q.monthly.limit, q.monthly.used) },
    reputation: rep ? {
      level: rep.level, cap: rep.cap, banned_until: rep.banned ? iso(rep.banned.until) : null, ban_reason: rep.banned?.reason ?? null,
      today: {
        day: rep.today.day, volume: rep.today.figures.volume, delivered: rep.today.figures.delivered, failed: rep.today.figures.failed,
        invalid: rep.today.figures.invalid, expired: rep.today.figures.expired, spam_bounces: rep.today.figures.spamBounces,
        complaints: rep.today.figures.complaints, opens: rep.today.figures.opens, upgrade_volume: rep.today.upgradeVolume, min_volume: rep.today.minVolume,
      },
      rates: rep.today.rates,
      next: { change: rep.verdict.change, ban: rep.verdict.ban, level: rep.verdict.level, reason: rep.verdict.reason },
      rules: rep.rules,
      history: rep.history.map((h) => ({ at: iso(h.at), from_level: h.fromLevel, to_level: h.toLevel, change: h.change, reason: h.reason })),
    } : null,
  };
}

/** A QuotaService over a store without a daemon (the CLI). */
export function standaloneQuota(config: Config, store: Store, log: Logger): QuotaService {
  return new QuotaService(() => config, store, new ReputationService(config, store, log));
}

const n = (v: number | null): string => (v === null ? 'unlimited' : v.toLocaleString('en-US'));

/** The lines `mta domain show` prints under its table. */
export function quotaLines(r: QuotaReportJson): string[] {
  const out = [
    `quota today: ${n(r.daily.used)} of ${n(r.daily.limit)}${r.daily.reputation_cap !== null && r.daily.quota !== r.daily.limit ? ` (reputation cap; quota ${n(r.daily.quota)})` : ''}`,
    `quota this month: ${n(r.monthly.used)} of ${n(r.monthly.limit)}`,
  ];
  const p = r.reputation;
  if (!p) return out;
  out.push(`reputation: level ${p.level}, cap ${n(p.cap)} a day${p.banned_until ? `, BANNED until ${p.banned_until}: ${p.ban_reason}` : ''}`);
  const t = p.today;
  out.push(`today (${t.day}): volume ${t.volume}, delivered ${t.delivered}, failed ${t.failed}, invalid ${t.invalid}, expired ${t.expired}, spam bounces ${t.spam_bounces}, complaints ${t.complaints}, opens ${t.opens}`);
  out.push(`  upgrade possible from volume ${t.upgrade_volume}; downgrade and ban need volume > ${t.min_volume}`);
  for (const rule of p.rules) {
    out.push(`  ${rule.kind.padEnd(4)} ${rule.met ? 'MET ' : '    '} ${rule.conditions.map((c) => `${c.text}${c.holds ? ' ✓' : ''}`).join(', ')}`);
  }
  out.push(`next: ${p.next.change === 'up' ? `up to level ${p.next.level} now` : p.next.change === 'down' ? `down to level ${p.next.level} tomorrow` : 'no change'}${p.next.ban ? ', banned for the rest of the day' : ''} (${p.next.reason})`);
  for (const h of p.history) out.push(`  ${h.at} ${h.change} ${h.from_level} → ${h.to_level}: ${h.reason}`);
  return out;
}
