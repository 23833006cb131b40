/**
 * spool/pg-idempotency — the send API's Idempotency-Key records on PostgreSQL (the first
 * response to a key per account, kept 24 hours; the first writer wins on every node), and
 * the health probe: a write in a transaction that is rolled back. `saveIn` writes inside
 * intake's transaction, so a message and the record promising it commit together.
 */
import type { PgPool } from './pg-pool.js';
import { inTransaction, type PgTx } from './pg-tx.js';
import type { IdempotencyRecord } from './types-idempotency.js';

/** How long the probe waits for a lock another connection holds before it reports the database busy. */
const PROBE_LOCK_MS = 250;

export class PgIdempotency {
  constructor(private readonly pool: PgPool) {}

  async getIdempotency(account: string, key: string, notBefore: number): Promise<IdempotencyRecord | undefined> {
    const { rows: [r] } = await this.pool.query<{ account: string; key: string; fingerprint: string; status: number; response: string; created_at: string }>(
      'SELECT * FROM api_idempotency WHERE account = $1 AND key = $2 AND created_at >= $3', [account, key, notBefore]);
    return r ? { account: r.account, key: r.key, fingerprint: r.fingerprint, status: r.status, response: r.response, createdAt: Number(r.created_at) } : undefined;
  }

  async saveIdempotency(rec: IdempotencyRecord, expireBefore: number): Promise<boolean> {
    return inTransaction(this.pool, (tx) => this.saveIn(tx, rec, expireBefore));
  }

  /** Expires old records, then keeps `rec` unless a live one holds the key (first response wins). */
  async saveIn(tx: PgTx, rec: IdempotencyRecord, expireBefore: number): Promise<boolean> {
    await tx.query('DELETE FROM api_idempotency WHERE created_at < $1', [expireBefore]);
    const r = await tx.query(`INSERT INTO api_idempotency (account, key, fingerprint, status, response, created_at) VALUES ($1, $2, $3, $4, $5, $6)
                              ON CONFLICT DO NOTHING`, [rec.account, rec.key, rec.fingerprint, rec.status, rec.response, rec.createdAt]);
    return (r.rowCount ?? 0) > 0;
  }

  async probeWritable(): Promise<void> {
    const rollback = new Error('rollback');
    await inTransaction(this.pool, async (tx) => {
      await tx.query(`SET LOCAL lock_timeout = ${PROBE_LOCK_MS}`);
      await tx.query(`INSERT INTO api_idempotency (account, key, fingerprint, status, response, created_at) VALUES ('', 'healthz-probe', '', 0, '', 0)
                      ON CONFLICT DO NOTHING`);
      throw rollback;
    }).catch((e: unknown) => { if (e !== rollback) throw e; });
  }
}
