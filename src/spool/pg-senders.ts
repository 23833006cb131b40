/**
 * spool/pg-senders — sender accounts on PostgreSQL (contract: types-senders.ts): the rows
 * with their password hash and disabled flag, answered as SQLite's (sqlite-store.ts). It must
 * never check a password (accounts/senders.ts does).
 */
import { MtaError } from '../util/errors.js';
import { isUniqueViolation, num } from './pg-facts.js';
import type { PgPool } from './pg-pool.js';
import type { SenderRecord, SenderStore } from './types-senders.js';

function toSender(r: Record<string, unknown>): SenderRecord {
  return {
    address: r['address'] as string, domain: r['domain'] as string, type: r['type'] as SenderRecord['type'], replyTo: r['reply_to'] as string | null,
    passwordHash: r['password_hash'] as string | null, disabled: r['disabled'] === true, createdAt: num(r['created_at']),
  };
}

export class PgSenders implements SenderStore {
  constructor(private readonly pool: PgPool) {}

  async addSender(s: SenderRecord): Promise<void> {
    try {
      await this.pool.query(
        `INSERT INTO senders (address, domain, type, reply_to, password_hash, disabled, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)`,
        [s.address, s.domain, s.type, s.replyTo, s.passwordHash, s.disabled, s.createdAt],
      );
    } catch (e) {
      if (isUniqueViolation(e, 'senders_pkey')) throw new MtaError('MTA_ERR_EXISTS', `sender ${s.address} exists already`);
      throw e;
    }
  }

  async getSender(address: string): Promise<SenderRecord | undefined> {
    const { rows: [r] } = await this.pool.query('SELECT * FROM senders WHERE address = $1', [address]);
    return r ? toSender(r) : undefined;
  }

  async listSenders(domain?: string): Promise<SenderRecord[]> {
    const { rows } = domain
      ? await this.pool.query('SELECT * FROM senders WHERE domain = $1 ORDER BY address', [domain])
      : await this.pool.query('SELECT * FROM senders ORDER BY address');
    return rows.map(toSender);
  }

  async setSenderPassword(address: string, hash: string | null, expected?: string): Promise<boolean> {
    const r = expected !== undefined
      ? await this.pool.query('UPDATE senders SET password_hash = $1 WHERE address = $2 AND password_hash = $3', [hash, address, expected])
      : await this.pool.query('UPDATE senders SET password_hash = $1 WHERE address = $2', [hash, address]);
    return (r.rowCount ?? 0) > 0;
  }

  async removeSender(address: string): Promise<boolean> {
    return ((await this.pool.query('DELETE FROM senders WHERE address = $1', [address])).rowCount ?? 0) > 0;
  }

  async setSenderDisabled(address: string, disabled: boolean): Promise<boolean> {
    return ((await this.pool.query('UPDATE senders SET disabled = $1 WHERE address = $2', [disabled, address])).rowCount ?? 0) > 0;
  }
}
