/**
 * spool/pg-tlsrpt — TLS reporting on PostgreSQL (contract: types-tlsrpt.ts), answered as
 * SQLite's (sqlite-tlsrpt.ts): session counts summed by key, and one report row per domain
 * and day that a node claims with one conditional upsert, so among nodes claiming together
 * exactly one wins and a report goes out once. Must never: decide what a report says or when
 * it is sent (delivery/tls-rpt*.ts does).
 */
import { num } from './pg-facts.js';
import type { PgPool } from './pg-pool.js';
import { inTransaction } from './pg-tx.js';
import type { TlsRptCount, TlsRptStore } from './types-tlsrpt.js';

export class PgTlsRpt implements TlsRptStore {
  constructor(private readonly pool: PgPool) {}

  async addTlsRptCounts(rows: readonly TlsRptCount[]): Promise<void> {
    if (rows.length === 0) return;
    const col = <K extends keyof TlsRptCount>(k: K): TlsRptCount[K][] => rows.map((r) => r[k]);
    // Rows with one key summed first: an upsert may touch a row once per statement.
    await this.pool.query(
      `INSERT INTO tls_rpt_counts (domain, day, policy, result, mx, ip, count)
       SELECT domain, day, policy, result, mx, ip, sum(count)
       FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::bigint[]) AS u(domain, day, policy, result, mx, ip, count)
       GROUP BY domain, day, policy, result, mx, ip
       ON CONFLICT (domain, day, policy, result, mx, ip) DO UPDATE SET count = tls_rpt_counts.count + excluded.count`,
      [col('domain'), col('day'), col('policy'), col('result'), col('mx'), col('ip'), col('count')],
    );
  }

  async tlsRptPending(beforeDay: string, limit: number): Promise<{ domain: string; day: string }[]> {
    const { rows } = await this.pool.query<{ domain: string; day: string }>(
      `SELECT DISTINCT c.domain, c.day FROM tls_rpt_counts c LEFT JOIN tls_rpt_reports r ON r.domain = c.domain AND r.day = c.day
       WHERE c.day < $1 AND r.sent_at IS NULL ORDER BY c.day, c.domain LIMIT $2`, [beforeDay, limit]);
    return rows;
  }

  async tlsRptCounts(domain: string, day: string): Promise<TlsRptCount[]> {
    const { rows } = await this.pool.query('SELECT * FROM tls_rpt_counts WHERE domain = $1 AND day = $2 ORDER BY policy, result, mx, ip', [domain, day]);
    return rows.map((r) => ({
      domain: String(r['domain']), day: String(r['day']), policy: String(r['policy']), result: String(r['result']),
      mx: String(r['mx']), ip: String(r['ip']), count: num(r['count']),
    }));
  }

  async claimTlsRptReport(domain: string, day: string, node: string, now: number, staleBefore: number): Promise<boolean> {
    const r = await this.pool.query(
      `INSERT INTO tls_rpt_reports (domain, day, node, claimed_at) VALUES ($1, $2, $3, $4)
       ON CONFLICT (domain, day) DO UPDATE SET node = excluded.node, claimed_at = excluded.claimed_at, error = NULL
       WHERE tls_rpt_reports.sent_at IS NULL AND tls_rpt_reports.claimed_at < $5`,
      [domain, day, node, now, staleBefore],
    );
    return r.rowCount === 1;
  }

  async finishTlsRptReport(domain: string, day: string, outcome: { sentAt: number } | { error: string }): Promise<void> {
    if ('sentAt' in outcome) await this.pool.query('UPDATE tls_rpt_reports SET sent_at = $1, error = NULL WHERE domain = $2 AND day = $3', [outcome.sentAt, domain, day]);
    else await this.pool.query('UPDATE tls_rpt_reports SET error = $1 WHERE domain = $2 AND day = $3', [outcome.error.slice(0, 1000), domain, day]);
  }

  async pruneTlsRpt(beforeDay: string): Promise<number> {
    return inTransaction(this.pool, async (c) => {
      const counts = (await c.query('DELETE FROM tls_rpt_counts WHERE day < $1', [beforeDay])).rowCount ?? 0;
      return counts + ((await c.query('DELETE FROM tls_rpt_reports WHERE day < $1', [beforeDay])).rowCount ?? 0);
    });
  }
}
