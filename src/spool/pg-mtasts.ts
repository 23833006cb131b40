/**
 * spool/pg-mtasts — MTA-STS policies on PostgreSQL (contract: types-mtasts.ts), answered as
 * SQLite's (sqlite-mtasts.ts): one row per recipient domain with its last policy, shared by
 * every node. It must never decide whether a policy applies (delivery/mta-sts.ts does).
 */
import { num } from './pg-facts.js';
import type { PgPool } from './pg-pool.js';
import type { MtaStsPolicyRecord, MtaStsStore } from './types-mtasts.js';

function toPolicy(r: Record<string, unknown>): MtaStsPolicyRecord {
  return {
    domain: String(r['domain']), id: String(r['id']), mode: r['mode'] as MtaStsPolicyRecord['mode'], mx: JSON.parse(String(r['mx'])) as string[],
    maxAgeS: num(r['max_age']), fetchedAt: num(r['fetched_at']), expiresAt: num(r['expires_at']),
  };
}

export class PgMtaSts implements MtaStsStore {
  constructor(private readonly pool: PgPool) {}

  async mtaStsPolicy(domain: string): Promise<MtaStsPolicyRecord | undefined> {
    const { rows: [r] } = await this.pool.query('SELECT * FROM mta_sts_policies WHERE domain = $1', [domain]);
    return r ? toPolicy(r) : undefined;
  }

  async saveMtaStsPolicy(p: MtaStsPolicyRecord): Promise<void> {
    await this.pool.query(
      `INSERT INTO mta_sts_policies (domain, id, mode, mx, max_age, fetched_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7)
       ON CONFLICT (domain) DO UPDATE SET id = excluded.id, mode = excluded.mode, mx = excluded.mx, max_age = excluded.max_age,
         fetched_at = excluded.fetched_at, expires_at = excluded.expires_at`,
      [p.domain, p.id, p.mode, JSON.stringify(p.mx), p.maxAgeS, p.fetchedAt, p.expiresAt],
    );
  }

  async liveMtaStsPolicies(now: number, limit: number): Promise<MtaStsPolicyRecord[]> {
    const { rows } = await this.pool.query('SELECT * FROM mta_sts_policies WHERE expires_at > $1 ORDER BY expires_at LIMIT $2', [now, limit]);
    return rows.map(toPolicy);
  }
}
