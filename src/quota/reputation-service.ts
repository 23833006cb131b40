/**
 * quota/reputation-service — applies the reputation rules (levels.ts) to each sending
 * domain with a clock: a row per domain (level 1 when first seen), rolled over lazily to
 * the current day of the configured `timezone` — every day that ended is evaluated and its downgrade applied then,
 * "the next day" — while upgrades and bans are decided on today's figures at once, on the
 * schedule (`reputation.schedule`) and whenever a quota check comes near the cap.
 *
 * Must never: keep state in memory (the row and its history are in the spool, written
 * compare-and-set, so concurrent checks cannot apply one change twice).
 * Caveat: a day's figures are read when it is rolled over; outcomes that arrive later for
 * that day's mail no longer change its verdict.
 */
import type { Logger } from 'pino';
import cron, { type ScheduledTask } from 'node-cron';
import type { Config } from '../config/config.js';
import type { DailyFigures, QuotaStore, ReputationChange, ReputationRecord } from '../spool/types-quota.js';
import { DAY_MS, dayBefore, dayIn, dayStartIn, eachDay, nextDayStartIn } from '../util/time.js';
import { MtaError } from '../util/errors.js';
import { ALWAYS_LEAD, ifLeading, type JobGate } from '../util/cluster-jobs.js';
import { capOfLevel, evaluate, holds, describe, MAX_LEVEL, MIN_VOLUME, RULES, START_LEVEL, UPGRADE_SHARE, type Rates, type Verdict } from './levels.js';

export type ReputationStore = Pick<QuotaStore, 'getReputation' | 'saveReputation' | 'dailyFigures' | 'domainsActiveOn' | 'listReputationHistory'>;

/** Days looked back at rollover: older counters may be purged, and idle days change nothing. */
const ROLLOVER_DAYS = 31;

export interface ReputationCap { level: number; cap: number; reason: string }

export interface ReputationView {
  domain: string;
  level: number;
  cap: number;
  banned: { until: number; reason: string } | null;
  today: { day: string; figures: DailyFigures; rates: Rates; upgradeVolume: number; minVolume: number };
  /** what today's figures say: upgrades apply at once, a downgrade tomorrow */
  verdict: Verdict;
  /** every rule with each condition as "rate value op threshold" and whether it holds now */
  rules: { kind: 'up' | 'down' | 'ban'; met: boolean; conditions: { text: string; holds: boolean }[] }[];
  history: ReputationChange[];
}


export class ReputationService {
  private task: ScheduledTask | undefined;
  private running = false;
  /** whether this node runs the scheduled pass (one node of a cluster does: util/cluster-jobs.ts) */
  gate: JobGate = ALWAYS_LEAD;

  constructor(private config: Config, private readonly store: ReputationStore, private readonly log: Logger, private readonly now: () => number = Date.now) {}

  enabled(): boolean { return this.config.reputation.enabled; }

  /** The reputation day of a time: the configured time zone's calendar day. */
  private day(ms: number): string { return dayIn(ms, this.config.timeZone); }

  /** The domain's row for the day of `now`, creating it at level 1 and applying the downgrades of the days that ended. */
  async current(domain: string, now: number): Promise<ReputationRecord> {
    const d = domain.toLowerCase();
    const today = this.day(now);
    for (let tries = 0; tries < 5; tries++) {
      const prev = await this.store.getReputation(d);
      if (prev && prev.day >= today) return prev;
      if (!prev) {
        const fresh: ReputationRecord = { domain: d, level: START_LEVEL, day: today, bannedUntil: null, banReason: null, updatedAt: now };
        if (await this.store.saveReputation(fresh, undefined, [])) return fresh;
        continue;
      }
      let level = prev.level;
      const changes: ReputationChange[] = [];
      const yesterday = dayBefore(today);
      const first = this.day(Math.max(dayStartIn(prev.day, this.config.timeZone), now - ROLLOVER_DAYS * DAY_MS));
      for (const day of first <= yesterday ? eachDay(first, yesterday) : []) {
        const v = evaluate(level, await this.store.dailyFigures(d, day));
        if (v.change !== 'down') continue;
        changes.push({ domain: d, at: now, fromLevel: level, toLevel: v.level, change: 'down', reason: `${day}: ${v.reason}` });
        level = v.level;
      }
      const banned = prev.bannedUntil !== null && prev.bannedUntil > now;
      const next: ReputationRecord = {
        ...prev, level, day: today, bannedUntil: banned ? prev.bannedUntil : null, banReason: banned ? prev.banReason : null, updatedAt: now,
      };
      if (await this.store.saveReputation(next, prev, changes)) {
        for (const c of changes) this.log.warn({ domain: d, from: c.fromLevel, to: c.toLevel, reason: c.reason }, 'reputation downgraded');
        return next;
      }
    }
    throw new MtaError('MTA_ERR_STATE', `reputation of ${d} keeps changing; try again`);
  }

  /** Today's cap: 0 while banned or at level 0. */
  async capOf(domain: string, now: number): Promise<ReputationCap> {
    const r = await this.current(domain, now);
    if (r.bannedUntil !== null && r.bannedUntil > now) {
      return { level: r.level, cap: 0, reason: `${r.domain} is banned until ${new Date(r.bannedUntil).toISOString()} (${r.banReason ?? 'reputation'})` };
    }
    if (r.level === 0) return { level: 0, cap: 0, reason: `${r.domain} is at reputation level 0 and may not send until an operator sets a level` };
    const cap = capOfLevel(r.level);
    return { level: r.level, cap, reason: `reputation level ${r.level} allows ${cap} a day` };
  }

  /**
   * Evaluates today's figures now: upgrades (as many levels as the figures carry) and a ban
   * apply at once; a downgrade waits for the day to end. true when the level rose.
   */
  async tryUpgrade(domain: string, now: number): Promise<boolean> {
    const d = domain.toLowerCase();
    let raised = false;
    for (let step = 0; step <= MAX_LEVEL; step++) {
      const prev = await this.current(d, now);
      if (prev.bannedUntil !== null && prev.bannedUntil > now) return raised;
      const v = evaluate(prev.level, await this.store.dailyFigures(d, this.day(now)));
      if (v.ban) {
        const next = { ...prev, bannedUntil: nextDayStartIn(now, this.config.timeZone), banReason: v.reason, updatedAt: now };
        if (await this.store.saveReputation(next, prev, [{ domain: d, at: now, fromLevel: prev.level, toLevel: prev.level, change: 'ban', reason: v.reason }])) {
          this.log.warn({ domain: d, until: next.bannedUntil, reason: v.reason }, 'domain banned for the rest of the day');
          return raised;
        }
        continue;
      }
      if (v.change !== 'up') return raised;
      const next = { ...prev, level: v.level, updatedAt: now };
      if (await this.store.saveReputation(next, prev, [{ domain: d, at: now, fromLevel: prev.level, toLevel: v.level, change: 'up', reason: v.reason }])) {
        this.log.info({ domain: d, from: prev.level, to: v.level, reason: v.reason }, 'reputation upgraded');
        raised = true;
      }
    }
    return raised;
  }

  /** An operator's decision (level 0 lifts only this way); also ends a ban. */
  async setLevel(domain: string, level: number, now: number, reason: string): Promise<ReputationRecord> {
    if (!Number.isInteger(level) || level < 0 || level > MAX_LEVEL) throw new MtaError('MTA_ERR_INVALID', `level must be an integer from 0 to ${MAX_LEVEL}`, 'level');
    for (let tries = 0; tries < 5; tries++) {
      const prev = await this.current(domain, now);
      const next = { ...prev, level, bannedUntil: null, banReason: null, updatedAt: now };
      if (await this.store.saveReputation(next, prev, [{ domain: prev.domain, at: now, fromLevel: prev.level, toLevel: level, change: 'set', reason }])) return next;
    }
    throw new MtaError('MTA_ERR_STATE', `reputation of ${domain} keeps changing; try again`);
  }

  /** One scheduled pass: every domain that sent today or yesterday is rolled over and evaluated. */
  async tick(now = this.now()): Promise<void> {
    if (!this.enabled() || this.running) return;
    this.running = true;
    try {
      const domains = new Set([...await this.store.domainsActiveOn(dayBefore(this.day(now))), ...await this.store.domainsActiveOn(this.day(now))]);
      for (const d of domains) await this.tryUpgrade(d, now);
    } catch (e) {
      this.log.error({ err: (e as Error).message }, 'reputation evaluation failed; the next run tries again');
    } finally {
      this.running = false;
    }
  }

  /** What `mta domain show` prints about the domain's reputation. */
  async view(domain: string, now: number): Promise<ReputationView> {
    const r = await this.current(domain, now);
    const day = this.day(now);
    const figures = await this.store.dailyFigures(r.domain, day);
    const verdict = evaluate(r.level, figures);
    const banned = r.bannedUntil !== null && r.bannedUntil > now ? { until: r.bannedUntil, reason: r.banReason ?? '' } : null;
    return {
      domain: r.domain, level: r.level, cap: banned ? 0 : capOfLevel(r.level), banned,
      today: { day, figures, rates: verdict.rates, upgradeVolume: Math.ceil(capOfLevel(r.level) * UPGRADE_SHARE), minVolume: MIN_VOLUME },
      verdict,
      rules: RULES.map((rule) => {
        const conditions = rule.conditions.map((c) => ({ text: describe(c, verdict.rates), holds: holds(c, verdict.rates) }));
        return { kind: rule.kind, met: conditions.every((c) => c.holds), conditions };
      }),
      history: await this.store.listReputationHistory(r.domain, 10),
    };
  }

  reload(config: Config): void {
    const restart = config.reputation.schedule !== this.config.reputation.schedule || config.reputation.enabled !== this.config.reputation.enabled;
    this.config = config;
    if (restart) { this.stop(); this.start(); }
  }

  start(): void {
    if (!this.enabled()) return;
    this.task = cron.schedule(this.config.reputation.schedule, () => ifLeading(this.gate, 'reputation', () => this.tick()), { name: 'reputation', noOverlap: true, unref: true });
  }

  stop(): void {
    void this.task?.destroy();
    this.task = undefined;
  }
}
