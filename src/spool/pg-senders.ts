/**
 * spool/pg-senders — sender accounts on PostgreSQL (contract: types-senders.ts): the rows
 * with their password hash, disabled flag and reply-to with its verification state, and
 * the verification mails sent, answered as SQLite's (sqlite-senders.ts). It must never
 * check a password (accounts/senders.ts) or decide whether a link is valid or a limit
 * reached beyond the guard the caller hands in (accounts/reply-to.ts).
 */
import { MtaError } from '../util/errors.js';
import { isUniqueViolation } from './pg-facts.js';
import type { PgPool } from './pg-pool.js';
import { inTransaction, type PgTx } from './pg-tx.js';
import { replyToColumns, rowToSend, rowToSender } from './sender-rows.js';
import type { ReplyToGuard, ReplyToRecord, ReplyToSend, SenderRecord, SenderStore } from './types-senders.js';

type Queryable = Pick<PgPool, 'query'> | PgTx;

const SET_REPLY_TO = `UPDATE senders SET reply_to = $2, reply_to_state = $3, reply_to_nonce = $4, reply_to_sent_at = $5,
                        reply_to_expires_at = $6, reply_to_verified_at = $7 WHERE address = $1`;

async function setReplyTo(q: Queryable, address: string, r: ReplyToRecord | null): Promise<boolean> {
  const c = replyToColumns(r);
  return ((await q.query(SET_REPLY_TO, [address, c.replyTo, c.state, c.nonce, c.sentAt, c.expiresAt, c.verifiedAt])).rowCount ?? 0) > 0;
}

async function sendTimes(q: Queryable, sender: string, address: string, since: number): Promise<{ sender: number[]; address: number[] }> {
  const col = (rows: { sent_at: string }[]): number[] => rows.map((r) => Number(r.sent_at));
  const bySender = await q.query<{ sent_at: string }>('SELECT sent_at FROM reply_to_sends WHERE sender = $1 AND sent_at > $2 ORDER BY sent_at', [sender, since]);
  // One mailbox whatever the case of its local part: the limit protects the person, not a spelling.
  const toAddress = await q.query<{ sent_at: string }>('SELECT sent_at FROM reply_to_sends WHERE lower(address) = lower($1) AND sent_at > $2 ORDER BY sent_at', [address, since]);
  return { sender: col(bySender.rows), address: col(toAddress.rows) };
}

export class PgSenders implements SenderStore {
  constructor(private readonly pool: PgPool) {}

  async addSender(s: SenderRecord): Promise<void> {
    const c = replyToColumns(s.replyTo);
    try {
      await this.pool.query(
        `INSERT INTO senders (address, domain, type, reply_to, reply_to_state, reply_to_nonce, reply_to_sent_at, reply_to_expires_at,
           reply_to_verified_at, password_hash, disabled, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)`,
        [s.address, s.domain, s.type, c.replyTo, c.state, c.nonce, c.sentAt, c.expiresAt, c.verifiedAt, s.passwordHash, s.disabled, s.createdAt],
      );
    } catch (e) {
      if (isUniqueViolation(e, 'senders_pkey')) throw new MtaError('MTA_ERR_EXISTS', `sender ${s.address} exists already`);
      throw e;
    }
  }

  async getSender(address: string): Promise<SenderRecord | undefined> {
    const { rows: [r] } = await this.pool.query('SELECT * FROM senders WHERE address = $1', [address]);
    return r ? rowToSender(r) : undefined;
  }

  async listSenders(domain?: string): Promise<SenderRecord[]> {
    const { rows } = domain
      ? await this.pool.query('SELECT * FROM senders WHERE domain = $1 ORDER BY address', [domain])
      : await this.pool.query('SELECT * FROM senders ORDER BY address');
    return rows.map(rowToSender);
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

  async setSenderReplyTo(address: string, replyTo: ReplyToRecord | null): Promise<boolean> { return setReplyTo(this.pool, address, replyTo); }

  async startReplyToVerification(s: Omit<ReplyToSend, 'usedAt'>, guard: ReplyToGuard): Promise<boolean> {
    return inTransaction(this.pool, async (c) => {
      // The sender row's lock makes the count and the insert one step for two nodes at once.
      if ((await c.query('SELECT 1 FROM senders WHERE address = $1 FOR UPDATE', [s.sender])).rows.length === 0) {
        throw new MtaError('MTA_ERR_NOT_FOUND', `no sender ${s.sender}`, 'address');
      }
      const times = await sendTimes(c, s.sender, s.address, guard.since);
      if (times.sender.length >= guard.maxPerSender || times.address.length >= guard.maxPerAddress) return false;
      await c.query('INSERT INTO reply_to_sends (nonce, sender, address, sent_at, expires_at) VALUES ($1, $2, $3, $4, $5)', [s.nonce, s.sender, s.address, s.sentAt, s.expiresAt]);
      await setReplyTo(c, s.sender, { address: s.address, state: 'pending', nonce: s.nonce, sentAt: s.sentAt, expiresAt: s.expiresAt });
      return true;
    });
  }

  async replyToSendTimes(sender: string, address: string, since: number): Promise<{ sender: number[]; address: number[] }> {
    return sendTimes(this.pool, sender, address, since);
  }

  async getReplyToSend(nonce: string): Promise<ReplyToSend | undefined> {
    const { rows: [r] } = await this.pool.query('SELECT * FROM reply_to_sends WHERE nonce = $1', [nonce]);
    return r ? rowToSend(r) : undefined;
  }

  async confirmReplyTo(sender: string, nonce: string, now: number): Promise<boolean> {
    return inTransaction(this.pool, async (c) => {
      const done = await c.query(`UPDATE senders SET reply_to_state = 'verified', reply_to_verified_at = $3, reply_to_nonce = NULL, reply_to_sent_at = NULL,
                                    reply_to_expires_at = NULL
                                  WHERE address = $1 AND reply_to_state = 'pending' AND reply_to_nonce = $2 AND reply_to_expires_at >= $3`, [sender, nonce, now]);
      if ((done.rowCount ?? 0) === 0) return false;
      await c.query('UPDATE reply_to_sends SET used_at = $1 WHERE nonce = $2', [now, nonce]);
      return true;
    });
  }

  async pruneReplyToSends(before: number): Promise<number> {
    return (await this.pool.query('DELETE FROM reply_to_sends WHERE sent_at < $1', [before])).rowCount ?? 0;
  }
}
