/**
 * spool/sqlite-mtasts — the SQLite side of `MtaStsStore`: one row per recipient domain with
 * its last MTA-STS policy. Must never: decide whether a policy applies (delivery/mta-sts.ts does).
 */
import type { Statement } from 'better-sqlite3';
import type { Db } from './db.js';
import type { MtaStsPolicyRecord } from './types-mtasts.js';

export class SqliteMtaSts {
  private readonly st: Record<string, Statement>;

  constructor(db: Db) {
    this.st = {
      get: db.prepare('SELECT * FROM mta_sts_policies WHERE domain = ?'),
      live: db.prepare('SELECT * FROM mta_sts_policies WHERE expires_at > ? ORDER BY expires_at LIMIT ?'),
      put: db.prepare(`INSERT INTO mta_sts_policies (domain, id, mode, mx, max_age, fetched_at, expires_at)
                       VALUES (@domain, @id, @mode, @mx, @maxAgeS, @fetchedAt, @expiresAt)
                       ON CONFLICT (domain) DO UPDATE SET id = excluded.id, mode = excluded.mode, mx = excluded.mx,
                         max_age = excluded.max_age, fetched_at = excluded.fetched_at, expires_at = excluded.expires_at`),
    };
  }

  get(domain: string): MtaStsPolicyRecord | undefined {
    const r = this.st['get']!.get(domain) as Record<string, unknown> | undefined;
    return r ? row(r) : undefined;
  }

  live(now: number, limit: number): MtaStsPolicyRecord[] {
    return (this.st['live']!.all(now, limit) as Record<string, unknown>[]).map(row);
  }

  put(p: MtaStsPolicyRecord): void { this.st['put']!.run({ ...p, mx: JSON.stringify(p.mx) }); }
}

function row(r: Record<string, unknown>): MtaStsPolicyRecord {
  return {
    domain: String(r['domain']), id: String(r['id']), mode: r['mode'] as MtaStsPolicyRecord['mode'],
    mx: JSON.parse(String(r['mx'])) as string[], maxAgeS: Number(r['max_age']),
    fetchedAt: Number(r['fetched_at']), expiresAt: Number(r['expires_at']),
  };
}
