/**
 * spool/sqlite-api — the SQLite side of what the admin API keeps: the send API's
 * Idempotency-Key records (the first response to a key, kept 24 hours) and the health
 * probe (a write that is rolled back, proving the database takes writes now).
 */
import type { Statement } from 'better-sqlite3';
import type { Db } from './db.js';
import type { IdempotencyRecord } from './types-idempotency.js';

const PROBE_BUSY_MS = 250;

export class SqliteApi {
  private readonly st: Record<string, Statement>;

  constructor(private readonly db: Db) {
    const p = (sql: string): Statement => db.prepare(sql);
    this.st = {
      get: p('SELECT * FROM api_idempotency WHERE account = ? AND key = ? AND created_at >= ?'),
      expire: p('DELETE FROM api_idempotency WHERE created_at < ?'),
      // Expired records are gone by now (save() expires first): a live one is kept (first response wins).
      put: p(`INSERT OR IGNORE INTO api_idempotency (account, key, fingerprint, status, response, created_at)
              VALUES (@account, @key, @fingerprint, @status, @response, @createdAt)`),
      probe: p(`INSERT INTO api_idempotency (account, key, fingerprint, status, response, created_at)
                VALUES ('', 'healthz-probe', '', 0, '', 0)`),
    };
  }

  get(account: string, key: string, notBefore: number): IdempotencyRecord | undefined {
    const r = this.st['get']!.get(account, key, notBefore) as Record<string, unknown> | undefined;
    return r ? {
      account: r['account'] as string, key: r['key'] as string, fingerprint: r['fingerprint'] as string,
      status: r['status'] as number, response: r['response'] as string, createdAt: r['created_at'] as number,
    } : undefined;
  }

  save(rec: IdempotencyRecord, expireBefore: number): boolean {
    return this.db.transaction(() => {
      this.st['expire']!.run(expireBefore);
      return this.st['put']!.run(rec).changes > 0;
    }).immediate();
  }

  /**
   * Takes the write lock, inserts a row and rolls back. better-sqlite3 waits for a busy
   * lock synchronously (busy_timeout, 5 s), blocking the process: a health probe waits
   * at most PROBE_BUSY_MS instead and reports the lock as the problem.
   */
  probeWritable(): void {
    const rollback = new Error('rollback');
    const prev = this.db.pragma('busy_timeout', { simple: true }) as number;
    this.db.pragma(`busy_timeout = ${PROBE_BUSY_MS}`);
    try {
      this.db.transaction(() => {
        this.st['probe']!.run();
        throw rollback;
      }).immediate();
    } catch (e) {
      if (e !== rollback) throw e;
    } finally {
      this.db.pragma(`busy_timeout = ${prev}`);
    }
  }
}
