/**
 * spool/sqlite-domains — the SQLite side of the DNS self-checker's storage: the latest
 * result of every check per domain, the domain's overall status, domain events
 * (domain.dns_error, domain.verified) and the DKIM key waiting during a rotation. Domain
 * events are queued for the account-level webhooks in the transaction that records them.
 */
import type { Statement } from 'better-sqlite3';
import type { Db } from './db.js';
import type { DomainCheckRecord, DomainEvent, DomainStatus } from './types-domains.js';
import type { SqliteNotify } from './sqlite-notify.js';

export class SqliteDomains {
  private readonly st: Record<string, Statement>;

  constructor(private readonly db: Db, private readonly notify: SqliteNotify) {
    const p = (sql: string): Statement => db.prepare(sql);
    this.st = {
      delChecks: p('DELETE FROM domain_checks WHERE domain = ?'),
      insCheck: p(`INSERT INTO domain_checks (domain, name, status, expected, found, detail, checked_at)
                   VALUES (@domain, @name, @status, @expected, @found, @detail, @checkedAt)`),
      setStatus: p('UPDATE domains SET status = ?, checked_at = ? WHERE name = ?'),
      checksOf: p('SELECT * FROM domain_checks WHERE domain = ? ORDER BY name'),
      insEvent: p('INSERT INTO events (at, message_id, recipient_id, type, detail) VALUES (?, NULL, NULL, ?, ?)'),
      setNext: p('UPDATE domains SET next_dkim_selector = ?, next_dkim_private_key = ?, next_dkim_public_key = ? WHERE name = ?'),
      getKeys: p('SELECT dkim_selector, next_dkim_selector FROM domains WHERE name = ?'),
      promote: p(`UPDATE domains SET dkim_selector = next_dkim_selector, dkim_private_key = next_dkim_private_key,
                  dkim_public_key = next_dkim_public_key, next_dkim_selector = NULL, next_dkim_private_key = NULL,
                  next_dkim_public_key = NULL WHERE name = ? AND next_dkim_selector IS NOT NULL`),
    };
  }

  save(domain: string, checks: readonly DomainCheckRecord[], status: DomainStatus, events: readonly DomainEvent[]): void {
    const at = checks[0]?.checkedAt ?? Date.now();
    this.db.transaction(() => {
      this.st['delChecks']!.run(domain);
      for (const c of checks) this.st['insCheck']!.run({ ...c, domain });
      this.st['setStatus']!.run(status, at, domain);
      for (const e of events) {
        this.st['insEvent']!.run(e.at, e.type, JSON.stringify({ domain: e.domain, ...e.detail }));
        this.notify.domainEvent(e);
      }
    }).immediate();
    this.notify.signal();
  }

  checks(domain: string): DomainCheckRecord[] {
    return (this.st['checksOf']!.all(domain) as Record<string, unknown>[]).map((r) => ({
      domain: r['domain'] as string, name: r['name'] as DomainCheckRecord['name'], status: r['status'] as DomainCheckRecord['status'],
      expected: r['expected'] as string | null, found: r['found'] as string | null, detail: r['detail'] as string | null,
      checkedAt: r['checked_at'] as number,
    }));
  }

  events(f: { domain?: string; since?: number; limit?: number }): DomainEvent[] {
    const rows = this.db.prepare(`SELECT at, type, detail FROM events WHERE message_id IS NULL AND type LIKE 'domain.%' AND at >= ?
                                  ORDER BY id LIMIT ?`).all(f.since ?? 0, Math.min(Math.max(f.limit ?? 1000, 1), 100_000)) as { at: number; type: string; detail: string }[];
    return rows.map((r) => {
      const { domain, ...detail } = JSON.parse(r.detail) as { domain: string } & Record<string, unknown>;
      return { at: r.at, type: r.type, domain, detail };
    }).filter((e) => !f.domain || e.domain === f.domain);
  }

  setNext(domain: string, next: { selector: string; privateKey: string; publicKey: string } | null): void {
    this.st['setNext']!.run(next?.selector ?? null, next?.privateKey ?? null, next?.publicKey ?? null, domain);
  }

  promote(domain: string): string | undefined {
    return this.db.transaction(() => {
      const k = this.st['getKeys']!.get(domain) as { dkim_selector: string; next_dkim_selector: string | null } | undefined;
      if (!k?.next_dkim_selector) return undefined;
      this.st['promote']!.run(domain);
      return k.dkim_selector;
    }).immediate();
  }
}
