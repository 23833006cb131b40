/**
 * spool/types-quota — what quotas and reputation (src/quota) need from the spool: usage per
 * sending domain (from the daily counters intake bumps), a domain's daily figures for the
 * reputation rules, the reputation row with its history, and the once-per-period
 * `quota.reached` mark.
 */

/** One sending domain's figures for one UTC day (of receipt, as the statistics count). */
export interface DailyFigures {
  /** accepted recipients: the seed's "actual send volume" */
  volume: number;
  delivered: number;
  /** permanent failures other than invalid addresses (spam bounces included) */
  failed: number;
  /** failures with DirectMail status 2 (unknown user, invalid address) */
  invalid: number;
  expired: number;
  /** failures with DirectMail status 3 (rejected as spam) */
  spamBounces: number;
  /** not recorded yet: always 0 (see quota/levels.ts) */
  complaints: number;
  /** recipients with a human open (machine opens by proxies do not count; src/tracking) */
  opens: number;
}

export interface ReputationRecord {
  domain: string;
  /** 1..20; 0 = banned until an operator sets a level */
  level: number;
  /** the UTC day this row is current for */
  day: string;
  bannedUntil: number | null;
  banReason: string | null;
  updatedAt: number;
}

export type ReputationChangeKind = 'up' | 'down' | 'ban' | 'set';

export interface ReputationChange {
  domain: string;
  at: number;
  fromLevel: number;
  toLevel: number;
  change: ReputationChangeKind;
  reason: string;
}

export interface QuotaReachedMark {
  domain: string;
  which: 'daily' | 'monthly';
  /** 'YYYY-MM-DD' or 'YYYY-MM' */
  period: string;
  at: number;
  detail: Record<string, unknown>;
}

export interface QuotaStore {
  /** Accepted recipients of a sending domain on `day` and from `monthFrom` to `monthTo` (days, included). */
  quotaUsage(domain: string, day: string, monthFrom: string, monthTo: string): Promise<{ day: number; month: number }>;
  dailyFigures(domain: string, day: string): Promise<DailyFigures>;
  /** Sending domains with accepted mail on `day`. */
  domainsActiveOn(day: string): Promise<string[]>;
  getReputation(domain: string): Promise<ReputationRecord | undefined>;
  /**
   * Writes `next` only if the stored row still equals `prev` (undefined: no row yet), with
   * its history in the same transaction. false: someone else changed it first; read again.
   */
  saveReputation(next: ReputationRecord, prev: ReputationRecord | undefined, changes: readonly ReputationChange[]): Promise<boolean>;
  listReputationHistory(domain: string, limit: number): Promise<ReputationChange[]>;
  /** Records the mark and queues `quota.reached` for the account webhooks; false when this period had it already. */
  markQuotaReached(m: QuotaReachedMark): Promise<boolean>;
}
