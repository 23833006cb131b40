/**
 * stats/rcpt-stats — the per-recipient-domain report (`mta stats --by rcpt-domain`, the stats
 * API's `by=rcpt-domain`): one row per day and recipient domain with delivered, deferred,
 * failed (with its categories) and the delivery latency's median and p95, read from the
 * spool's per-domain counters and latency histograms (spool/sqlite-rcpt-stats.ts). Never
 * scans events.
 */
import type { RcptStatsRow, StatsCounters } from '../spool/types-stats.js';
import { percentileOf } from './latency.js';

export interface RcptReportRow extends StatsCounters {
  /** the day of receipt (configured timezone); '' in the total */
  day: string;
  /** the recipient domain; TOTAL in the total */
  key: string;
  delivery_rate: number;
  invalid_rate: number;
  /** final failures (failed, invalid, expired, deleted) per bounce category; 'expired', 'deleted' */
  failed_by_category: Record<string, number>;
  /** upper bound of the latency bucket (ms, receipt to delivery) holding the median / 95th percentile; null without deliveries */
  latency_median_ms: number | null;
  latency_p95_ms: number | null;
}

export interface RcptStatsReport {
  time_zone: string;
  from: string;
  to: string;
  by: 'rcpt-domain';
  filter: { domain?: string };
  rows: RcptReportRow[];
  total: RcptReportRow;
}

type Rated = (key: string, c: StatsCounters) => StatsCounters & { key: string; delivery_rate: number; invalid_rate: number };

function reportRow(day: string, r: RcptStatsRow, rated: Rated): RcptReportRow {
  const sorted = Object.fromEntries(Object.entries(r.categories).sort(([a], [b]) => a.localeCompare(b)));
  return {
    day, ...rated(r.rcpt_domain, r), failed_by_category: sorted,
    latency_median_ms: percentileOf(r.latency, 0.5), latency_p95_ms: percentileOf(r.latency, 0.95),
  };
}

/** Rows as reported, and their total (counters, categories and histograms summed). */
export function rcptReport(rows: readonly RcptStatsRow[], zero: StatsCounters, rated: Rated): { rows: RcptReportRow[]; total: RcptReportRow } {
  const sum: RcptStatsRow = { ...zero, day: '', rcpt_domain: 'TOTAL', categories: {}, latency: new Map() };
  for (const r of rows) {
    for (const k of Object.keys(zero) as (keyof StatsCounters)[]) sum[k] += r[k];
    for (const [c, n] of Object.entries(r.categories)) sum.categories[c] = (sum.categories[c] ?? 0) + n;
    for (const [b, n] of r.latency) sum.latency.set(b, (sum.latency.get(b) ?? 0) + n);
  }
  return { rows: rows.map((r) => reportRow(r.day, r, rated)), total: reportRow('', sum, rated) };
}
