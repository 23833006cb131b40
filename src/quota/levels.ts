/**
 * quota/levels — the reputation table and rules of the seed (seeds/004, 信誉度等级说明),
 * as data and one pure function. No clock, no storage: reputation-service.ts decides when
 * a verdict applies (upgrades at once, downgrades the next day, bans for the rest of the day).
 *
 * Rates are over the recipients whose outcome is known that day (delivered + failed +
 * invalid + expired), so mail still waiting neither helps nor hurts; complaint and open
 * rates are over delivered. With no known outcome there is no rate, and no rule fires.
 * Complaints are the feedback reports of type abuse (ARF, src/feedback) about the day's
 * mail. Opens are recipients with a human open (tracked mail only; machine opens by privacy
 * proxies do not count), so the second upgrade rule (open rate > 50 %) needs tracking.
 *
 *   upgrade (one level, at once) when volume >= 70 % of today's cap and either
 *     invalid < 5 %, delivery > 92 %, spam bounces < 2.5 %, complaints < 0.1 %, or
 *     delivery > 90 %, complaints < 0.1 %, opens > 50 %
 *   downgrade (one level, the next day) when volume > 300 and any of
 *     invalid > 9 %, delivery < 65 %, spam bounces > 5 %, complaints > 0.5 %
 *   ban (the rest of the day) when volume > 300 and invalid > 11 % or spam bounces > 15 %
 *   level 0 (reached by a downgrade from 1): the domain may not send until an operator
 *   sets a level again (the seed: "当信誉度等级降为0，该发信域名将被禁止发送").
 */
import type { DailyFigures } from '../spool/types-quota.js';

/** Daily cap per level; index = level. Level 0 sends nothing. */
export const LEVEL_CAPS: readonly number[] = [
  0, 500, 1000, 2000, 5000, 10_000, 20_000, 40_000, 60_000, 80_000, 100_000,
  150_000, 200_000, 300_000, 400_000, 500_000, 600_000, 700_000, 800_000, 900_000, 1_000_000,
];
export const MAX_LEVEL = LEVEL_CAPS.length - 1;
export const START_LEVEL = 1;

export function capOfLevel(level: number): number {
  return LEVEL_CAPS[Math.max(0, Math.min(MAX_LEVEL, level))]!;
}

export type Rate = 'invalid' | 'delivery' | 'spam' | 'complaint' | 'open';
export type Rates = Record<Rate, number | null>;

export function ratesOf(f: DailyFigures): Rates {
  const known = f.delivered + f.failed + f.invalid + f.expired;
  const over = (n: number, d: number): number | null => (d > 0 ? n / d : null);
  return {
    invalid: over(f.invalid, known), delivery: over(f.delivered, known), spam: over(f.spamBounces, known),
    complaint: over(f.complaints, f.delivered), open: over(f.opens, f.delivered),
  };
}

/** One condition of a rule: `rate op threshold`. */
export interface Condition { rate: Rate; op: '<' | '>'; threshold: number }
export interface Rule { kind: 'up' | 'down' | 'ban'; conditions: readonly Condition[] }

const lt = (rate: Rate, threshold: number): Condition => ({ rate, op: '<', threshold });
const gt = (rate: Rate, threshold: number): Condition => ({ rate, op: '>', threshold });

/** Upgrade rules need all their conditions; downgrade and ban rules are one condition each (any fires). */
export const RULES: readonly Rule[] = [
  { kind: 'up', conditions: [lt('invalid', 0.05), gt('delivery', 0.92), lt('spam', 0.025), lt('complaint', 0.001)] },
  { kind: 'up', conditions: [gt('delivery', 0.90), lt('complaint', 0.001), gt('open', 0.50)] },
  { kind: 'down', conditions: [gt('invalid', 0.09)] },
  { kind: 'down', conditions: [lt('delivery', 0.65)] },
  { kind: 'down', conditions: [gt('spam', 0.05)] },
  { kind: 'down', conditions: [gt('complaint', 0.005)] },
  { kind: 'ban', conditions: [gt('invalid', 0.11)] },
  { kind: 'ban', conditions: [gt('spam', 0.15)] },
];
export const UPGRADE_SHARE = 0.7;
export const MIN_VOLUME = 300;

export function holds(c: Condition, rates: Rates): boolean {
  const v = rates[c.rate];
  if (v === null) return false;
  return c.op === '<' ? v < c.threshold : v > c.threshold;
}

const NAMES: Record<Rate, string> = { invalid: 'invalid-address rate', delivery: 'delivery rate', spam: 'spam-bounce rate', complaint: 'complaint rate', open: 'open rate' };
const pct = (x: number): string => `${Number((x * 100).toFixed(2))}%`;
export function describe(c: Condition, rates: Rates): string {
  const v = rates[c.rate];
  return `${NAMES[c.rate]} ${v === null ? 'n/a' : pct(v)} ${c.op} ${pct(c.threshold)}`;
}

export interface Verdict {
  /** the level the rules ask for: level + 1 (up), level - 1 (down), or level */
  level: number;
  /** a one-day ban is due */
  ban: boolean;
  change: 'up' | 'down' | 'none';
  /** the conditions that decided, or why nothing changes */
  reason: string;
  rates: Rates;
}

/** What a day's figures say for a domain at `level`. Ban and downgrade win over upgrade. */
export function evaluate(level: number, f: DailyFigures): Verdict {
  const rates = ratesOf(f);
  const fired = (kind: Rule['kind']): Rule | undefined => RULES.find((r) => r.kind === kind && r.conditions.every((c) => holds(c, rates)));
  const why = (r: Rule): string => `volume ${f.volume}: ${r.conditions.map((c) => describe(c, rates)).join(', ')}`;
  if (f.volume > MIN_VOLUME) {
    const ban = fired('ban');
    const down = fired('down');
    if (down) return { level: Math.max(0, level - 1), ban: !!ban, change: level > 0 ? 'down' : 'none', reason: why(ban ?? down), rates };
  }
  const cap = capOfLevel(level);
  if (level >= 1 && level < MAX_LEVEL && f.volume >= cap * UPGRADE_SHARE) {
    const up = fired('up');
    if (up) return { level: level + 1, ban: false, change: 'up', reason: why(up), rates };
  }
  return { level, ban: false, change: 'none', reason: f.volume > MIN_VOLUME || f.volume >= cap * UPGRADE_SHARE ? 'no rule met' : `volume ${f.volume} below the thresholds`, rates };
}
