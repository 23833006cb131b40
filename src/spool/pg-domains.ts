/**
 * spool/pg-domains — sending domains on PostgreSQL (contract: types-domains.ts): the domain
 * rows with their DKIM keys, the DNS self-checker's results and status, the domain events,
 * and the DKIM key waiting during a rotation; the same answers as SQLite's (sqlite-store.ts,
 * sqlite-domains.ts). A check run's domain events mean webhook outbox rows, written in the
 * run's transaction through the effects port (spool/pg-facts.ts); a run with events and no
 * port is refused whole. It must never decide a domain's status (src/dns does).
 */
import { MtaError } from '../util/errors.js';
import { effectsOf, isUniqueViolation, num, numOrNull, type PgEffectsPort } from './pg-facts.js';
import type { PgPool } from './pg-pool.js';
import { inTransaction, type PgTx } from './pg-tx.js';
import type { DomainCheckRecord, DomainEvent, DomainRecord, DomainStatus, DomainStore } from './types-domains.js';

type NextKey = { selector: string; privateKey: string; publicKey: string };

function toDomain(r: Record<string, unknown>): DomainRecord {
  return {
    name: r['name'] as string, dkimSelector: r['dkim_selector'] as string, dkimAlgorithm: r['dkim_algorithm'] as DomainRecord['dkimAlgorithm'],
    dkimPrivateKey: r['dkim_private_key'] as string, dkimPublicKey: r['dkim_public_key'] as string, ownershipToken: r['ownership_token'] as string,
    status: r['status'] as string, createdAt: num(r['created_at']), checkedAt: numOrNull(r['checked_at']),
    nextDkim: r['next_dkim_selector'] ? {
      selector: r['next_dkim_selector'] as string, privateKey: r['next_dkim_private_key'] as string, publicKey: r['next_dkim_public_key'] as string,
    } : null,
  };
}

export class PgDomains implements DomainStore {
  constructor(private readonly pool: PgPool, private readonly effects?: PgEffectsPort) {}

  async addDomain(d: DomainRecord): Promise<void> {
    try {
      await this.pool.query(
        `INSERT INTO domains (name, dkim_selector, dkim_algorithm, dkim_private_key, dkim_public_key, ownership_token, status, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
        [d.name, d.dkimSelector, d.dkimAlgorithm, d.dkimPrivateKey, d.dkimPublicKey, d.ownershipToken, d.status, d.createdAt],
      );
    } catch (e) {
      if (isUniqueViolation(e, 'domains_pkey')) throw new MtaError('MTA_ERR_EXISTS', `domain ${d.name} exists already`);
      throw e;
    }
  }

  async getDomain(name: string): Promise<DomainRecord | undefined> {
    const { rows: [r] } = await this.pool.query('SELECT * FROM domains WHERE name = $1', [name.toLowerCase()]);
    return r ? toDomain(r) : undefined;
  }

  async listDomains(): Promise<DomainRecord[]> {
    return (await this.pool.query('SELECT * FROM domains ORDER BY name')).rows.map(toDomain);
  }

  async removeDomain(name: string): Promise<boolean> {
    return inTransaction(this.pool, async (c) => {
      // The row locked first: a sender added meanwhile (its foreign key) waits for this decision.
      await c.query('SELECT 1 FROM domains WHERE name = $1 FOR UPDATE', [name]);
      const n = (await c.query<{ n: number }>('SELECT count(*)::int AS n FROM senders WHERE domain = $1', [name])).rows[0]!.n;
      if (n > 0) throw new MtaError('MTA_ERR_IN_USE', `domain ${name} still has ${n} sender address${n > 1 ? 'es' : ''}; remove them first`);
      return ((await c.query('DELETE FROM domains WHERE name = $1', [name])).rowCount ?? 0) > 0;
    });
  }

  async saveDomainChecks(domain: string, checks: readonly DomainCheckRecord[], status: DomainStatus, events: readonly DomainEvent[]): Promise<void> {
    // Refused before anything is written: events without their webhook rows would be lost notices.
    const port = events.length > 0 ? effectsOf(this.effects, 'recording domain events') : undefined;
    const at = checks[0]?.checkedAt ?? Date.now();
    await inTransaction(this.pool, async (c) => {
      await c.query('DELETE FROM domain_checks WHERE domain = $1', [domain]);
      if (checks.length) {
        await c.query(
          `INSERT INTO domain_checks (domain, name, status, expected, found, detail, checked_at)
           SELECT $1, * FROM unnest($2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::bigint[])`,
          [domain, checks.map((k) => k.name), checks.map((k) => k.status), checks.map((k) => k.expected), checks.map((k) => k.found),
            checks.map((k) => k.detail), checks.map((k) => k.checkedAt)],
        );
      }
      await c.query('UPDATE domains SET status = $1, checked_at = $2 WHERE name = $3', [status, at, domain]);
      if (port) await this.recordEvents(c, port, events);
    });
    port?.signal();
  }

  private async recordEvents(c: PgTx, port: PgEffectsPort, events: readonly DomainEvent[]): Promise<void> {
    for (const e of events) {
      await c.query('INSERT INTO events (at, message_id, recipient_id, type, detail) VALUES ($1, NULL, NULL, $2, $3::jsonb)',
        [e.at, e.type, JSON.stringify({ domain: e.domain, ...e.detail })]);
    }
    const directory = await port.directory(c);
    await port.apply(c, events.flatMap((e) => port.rules.domainEvent(e, directory)));
  }

  async getDomainChecks(domain: string): Promise<DomainCheckRecord[]> {
    const { rows } = await this.pool.query('SELECT * FROM domain_checks WHERE domain = $1 ORDER BY name', [domain]);
    return rows.map((r) => ({
      domain: r['domain'] as string, name: r['name'] as DomainCheckRecord['name'], status: r['status'] as DomainCheckRecord['status'],
      expected: r['expected'] as string | null, found: r['found'] as string | null, detail: r['detail'] as string | null, checkedAt: num(r['checked_at']),
    }));
  }

  async listDomainEvents(f: { domain?: string; since?: number; limit?: number }): Promise<DomainEvent[]> {
    const { rows } = await this.pool.query<{ at: string; type: string; detail: { domain: string } & Record<string, unknown> }>(
      `SELECT at, type, detail FROM events WHERE message_id IS NULL AND type LIKE 'domain.%' AND at >= $1 ORDER BY id LIMIT $2`,
      [f.since ?? 0, Math.min(Math.max(f.limit ?? 1000, 1), 100_000)],
    );
    // As SQLite's: the limit counts domain events of every domain, the filter applies after it.
    return rows.map((r) => {
      const { domain, ...detail } = r.detail;
      return { at: num(r.at), type: r.type, domain, detail };
    }).filter((e) => !f.domain || e.domain === f.domain);
  }

  async setNextDkimKey(domain: string, next: NextKey | null): Promise<void> {
    await this.pool.query('UPDATE domains SET next_dkim_selector = $1, next_dkim_private_key = $2, next_dkim_public_key = $3 WHERE name = $4',
      [next?.selector ?? null, next?.privateKey ?? null, next?.publicKey ?? null, domain]);
  }

  async promoteNextDkimKey(domain: string): Promise<string | undefined> {
    return inTransaction(this.pool, async (c) => {
      const { rows: [k] } = await c.query<{ dkim_selector: string; next_dkim_selector: string | null }>(
        'SELECT dkim_selector, next_dkim_selector FROM domains WHERE name = $1 FOR UPDATE', [domain]);
      if (!k?.next_dkim_selector) return undefined;
      await c.query(`UPDATE domains SET dkim_selector = next_dkim_selector, dkim_private_key = next_dkim_private_key, dkim_public_key = next_dkim_public_key,
                     next_dkim_selector = NULL, next_dkim_private_key = NULL, next_dkim_public_key = NULL WHERE name = $1`, [domain]);
      return k.dkim_selector;
    });
  }

}
