/**
 * spool/sqlite-senders — the SQLite side of `SenderStore`: table senders (address,
 * type, password hash, disabled flag, reply-to and its verification state) and
 * reply_to_sends (one row per verification mail). Must never: decide whether a link is
 * valid or a limit is reached beyond the guards the caller hands in (accounts/reply-to.ts
 * holds the rules; a guard only makes its check and the write one transaction).
 */
import type { Statement } from 'better-sqlite3';
import type { Db } from './db.js';
import { MtaError } from '../util/errors.js';
import type { ReplyToGuard, ReplyToRecord, ReplyToSend, SenderRecord } from './types-senders.js';
import { replyToColumns, rowToSend, rowToSender } from './sender-rows.js';

type Row = Record<string, unknown>;

export class SqliteSenders {
  private readonly insert: Statement;
  private readonly get: Statement;
  private readonly list: Statement;
  private readonly listOf: Statement;
  private readonly setPassword: Statement;
  private readonly rehashPassword: Statement;
  private readonly del: Statement;
  private readonly setDisabled: Statement;
  private readonly setReplyTo: Statement;
  private readonly insSend: Statement;
  private readonly getSend: Statement;
  private readonly sendsBySender: Statement;
  private readonly sendsToAddress: Statement;
  private readonly verify: Statement;
  private readonly markUsed: Statement;
  private readonly prune: Statement;

  constructor(private readonly db: Db) {
    const p = (sql: string): Statement => db.prepare(sql);
    this.insert = p(`INSERT INTO senders (address, domain, type, reply_to, reply_to_state, reply_to_nonce, reply_to_sent_at, reply_to_expires_at,
                       reply_to_verified_at, password_hash, disabled, created_at)
                     VALUES (@address, @domain, @type, @replyTo, @state, @nonce, @sentAt, @expiresAt, @verifiedAt, @passwordHash, @disabled, @createdAt)`);
    this.get = p('SELECT * FROM senders WHERE address = ?');
    this.list = p('SELECT * FROM senders ORDER BY address');
    this.listOf = p('SELECT * FROM senders WHERE domain = ? ORDER BY address');
    this.setPassword = p('UPDATE senders SET password_hash = ? WHERE address = ?');
    this.rehashPassword = p('UPDATE senders SET password_hash = ? WHERE address = ? AND password_hash = ?');
    this.del = p('DELETE FROM senders WHERE address = ?');
    this.setDisabled = p('UPDATE senders SET disabled = ? WHERE address = ?');
    this.setReplyTo = p(`UPDATE senders SET reply_to = @replyTo, reply_to_state = @state, reply_to_nonce = @nonce, reply_to_sent_at = @sentAt,
                           reply_to_expires_at = @expiresAt, reply_to_verified_at = @verifiedAt WHERE address = @address`);
    this.insSend = p('INSERT INTO reply_to_sends (nonce, sender, address, sent_at, expires_at) VALUES (@nonce, @sender, @address, @sentAt, @expiresAt)');
    this.getSend = p('SELECT * FROM reply_to_sends WHERE nonce = ?');
    this.sendsBySender = p('SELECT sent_at FROM reply_to_sends WHERE sender = ? AND sent_at > ? ORDER BY sent_at');
    // One mailbox whatever the case of its local part: the limit protects the person, not a spelling.
    this.sendsToAddress = p('SELECT sent_at FROM reply_to_sends WHERE address = ? COLLATE NOCASE AND sent_at > ? ORDER BY sent_at');
    this.verify = p(`UPDATE senders SET reply_to_state = 'verified', reply_to_verified_at = @now, reply_to_nonce = NULL, reply_to_sent_at = NULL,
                       reply_to_expires_at = NULL
                     WHERE address = @sender AND reply_to_state = 'pending' AND reply_to_nonce = @nonce AND reply_to_expires_at >= @now`);
    this.markUsed = p('UPDATE reply_to_sends SET used_at = ? WHERE nonce = ?');
    this.prune = p('DELETE FROM reply_to_sends WHERE sent_at < ?');
  }

  add(s: SenderRecord): void {
    try {
      this.insert.run({ ...s, ...replyToColumns(s.replyTo), disabled: s.disabled ? 1 : 0 });
    } catch (e) {
      if ((e as { code?: string }).code === 'SQLITE_CONSTRAINT_PRIMARYKEY') throw new MtaError('MTA_ERR_EXISTS', `sender ${s.address} exists already`);
      throw e;
    }
  }

  one(address: string): SenderRecord | undefined {
    const r = this.get.get(address) as Row | undefined;
    return r ? rowToSender(r) : undefined;
  }

  all(domain?: string): SenderRecord[] {
    return ((domain ? this.listOf.all(domain) : this.list.all()) as Row[]).map(rowToSender);
  }

  password(address: string, hash: string | null, expected?: string): boolean {
    if (expected !== undefined) return this.rehashPassword.run(hash, address, expected).changes > 0;
    return this.setPassword.run(hash, address).changes > 0;
  }

  remove(address: string): boolean { return this.del.run(address).changes > 0; }

  disabled(address: string, disabled: boolean): boolean { return this.setDisabled.run(disabled ? 1 : 0, address).changes > 0; }

  replyTo(address: string, r: ReplyToRecord | null): boolean {
    return this.setReplyTo.run({ address, ...replyToColumns(r) }).changes > 0;
  }

  startVerification(s: Omit<ReplyToSend, 'usedAt'>, guard: ReplyToGuard): boolean {
    return this.db.transaction((): boolean => {
      if (!this.get.get(s.sender)) throw new MtaError('MTA_ERR_NOT_FOUND', `no sender ${s.sender}`, 'address');
      const times = this.times(s.sender, s.address, guard.since);
      if (times.sender.length >= guard.maxPerSender || times.address.length >= guard.maxPerAddress) return false;
      this.insSend.run(s);
      this.replyTo(s.sender, { address: s.address, state: 'pending', nonce: s.nonce, sentAt: s.sentAt, expiresAt: s.expiresAt });
      return true;
    }).immediate();
  }

  times(sender: string, address: string, since: number): { sender: number[]; address: number[] } {
    const col = (rows: unknown[]): number[] => (rows as Row[]).map((r) => Number(r['sent_at']));
    return { sender: col(this.sendsBySender.all(sender, since)), address: col(this.sendsToAddress.all(address, since)) };
  }

  send(nonce: string): ReplyToSend | undefined {
    const r = this.getSend.get(nonce) as Row | undefined;
    return r ? rowToSend(r) : undefined;
  }

  confirm(sender: string, nonce: string, now: number): boolean {
    return this.db.transaction((): boolean => {
      if (this.verify.run({ sender, nonce, now }).changes === 0) return false;
      this.markUsed.run(now, nonce);
      return true;
    }).immediate();
  }

  pruneSends(before: number): number { return this.prune.run(before).changes; }
}
