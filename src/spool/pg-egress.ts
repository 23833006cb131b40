/**
 * spool/pg-egress — egress counters on PostgreSQL (contract: types-egress.ts), answered as
 * SQLite's (sqlite-egress.ts): one row per UTC day, source and provider, bumped by deltas in
 * one statement (deltas for one key summed first: an upsert may touch a row once). Nodes
 * add to the same rows, so the warm-up caps count the cluster's mail. It must never decide
 * anything about caps (delivery/egress.ts does).
 */
import type { PgPool } from './pg-pool.js';
import type { EgressCount, EgressStore } from './types-egress.js';

export class PgEgress implements EgressStore {
  constructor(private readonly pool: PgPool) {}

  async egressCounts(day: string): Promise<EgressCount[]> {
    const { rows } = await this.pool.query<EgressCount>(
      'SELECT day, source, provider, sent, deferred, blocked FROM egress_daily WHERE day = $1 ORDER BY source, provider', [day]);
    return rows;
  }

  async addEgressCounts(deltas: readonly EgressCount[]): Promise<void> {
    if (deltas.length === 0) return;
    await this.pool.query(
      `INSERT INTO egress_daily (day, source, provider, sent, deferred, blocked)
       SELECT day, source, provider, sum(sent), sum(deferred), sum(blocked)
       FROM unnest($1::text[], $2::text[], $3::text[], $4::int[], $5::int[], $6::int[]) AS u(day, source, provider, sent, deferred, blocked)
       GROUP BY day, source, provider
       ON CONFLICT (day, source, provider) DO UPDATE SET sent = egress_daily.sent + excluded.sent,
         deferred = egress_daily.deferred + excluded.deferred, blocked = egress_daily.blocked + excluded.blocked`,
      [deltas.map((d) => d.day), deltas.map((d) => d.source), deltas.map((d) => d.provider), deltas.map((d) => d.sent),
        deltas.map((d) => d.deferred), deltas.map((d) => d.blocked)],
    );
  }
}
