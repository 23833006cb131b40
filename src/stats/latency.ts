/**
 * stats/latency — the fixed buckets of the delivery-latency histogram (time from receipt to
 * delivery) and percentiles read from them. Pure: never touches the spool.
 *
 * A percentile is the upper bound of the bucket the ranked delivery falls in, so "p95 =
 * 5000" means 95% of deliveries took at most 5 s (and some in that bucket less). The last
 * bucket has no upper bound: its percentile is reported as the last bound (5 days).
 */

/** Upper bounds (ms, inclusive) of the buckets; bucket LATENCY_BUCKETS_MS.length holds the rest. */
export const LATENCY_BUCKETS_MS: readonly number[] = [
  250, 500, 1_000, 2_000, 5_000, 10_000, 30_000, 60_000, 120_000, 300_000, 600_000,
  1_800_000, 3_600_000, 7_200_000, 21_600_000, 43_200_000, 86_400_000, 172_800_000, 432_000_000,
];

/** The bucket a latency goes in (a negative latency, from a clock step, counts as 0). */
export function latencyBucket(ms: number): number {
  const i = LATENCY_BUCKETS_MS.findIndex((b) => Math.max(ms, 0) <= b);
  return i === -1 ? LATENCY_BUCKETS_MS.length : i;
}

/** The `p` (0..1) percentile of a histogram (bucket index → count); null when it is empty. */
export function percentileOf(histogram: ReadonlyMap<number, number>, p: number): number | null {
  let total = 0;
  for (const n of histogram.values()) total += n;
  if (total === 0) return null;
  // Nearest rank: the smallest latency with at least p of the deliveries at or below it.
  const rank = Math.max(1, Math.ceil(p * total));
  let seen = 0;
  for (const i of [...histogram.keys()].sort((a, b) => a - b)) {
    seen += histogram.get(i)!;
    if (seen >= rank) return LATENCY_BUCKETS_MS[Math.min(i, LATENCY_BUCKETS_MS.length - 1)]!;
  }
  return LATENCY_BUCKETS_MS[LATENCY_BUCKETS_MS.length - 1]!;
}
