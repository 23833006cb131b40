/**
 * quota/limits — the quota limits of one sending domain: its `[[quota.domain]]` entry where
 * one names it, the `[quota]` values otherwise. null means unlimited. Pure.
 */
import type { QuotaConfig, QuotaLimits } from '../config/config.js';

export type DomainLimits = QuotaLimits;

export function limitsFor(q: QuotaConfig, domain: string): DomainLimits {
  const o = q.domains.get(domain.toLowerCase());
  return {
    daily: o?.daily !== undefined ? o.daily : q.daily,
    monthly: o?.monthly !== undefined ? o.monthly : q.monthly,
  };
}
