/**
 * spool/types-senders — what sender accounts (src/accounts, submission auth) need from the
 * spool: sender rows with their password hash, disabled flag and reply-to address, and the
 * reply-to verification mails sent (accounts/reply-to.ts decides what they mean).
 */

export type SenderType = 'trigger' | 'batch';

/**
 * A sender's reply-to address as stored: `pending` while its verification link is out
 * (whether the link has run out is read against the clock: accounts/reply-to.ts),
 * `verified` once the link was confirmed. Only a verified one is ever put in a Reply-To.
 */
export type ReplyToRecord =
  | { address: string; state: 'pending'; nonce: string; sentAt: number; expiresAt: number }
  | { address: string; state: 'verified'; verifiedAt: number | null };

export interface SenderRecord {
  address: string;
  domain: string;
  type: SenderType;
  replyTo: ReplyToRecord | null;
  passwordHash: string | null;
  disabled: boolean;
  createdAt: number;
}

/** One verification mail sent: what its link confirms, until when, and whether it was used. */
export interface ReplyToSend {
  nonce: string;
  sender: string;
  address: string;
  sentAt: number;
  expiresAt: number;
  usedAt: number | null;
}

/** A new verification is recorded only while fewer than these were sent since `since`. */
export interface ReplyToGuard { since: number; maxPerSender: number; maxPerAddress: number }

export interface SenderStore {
  addSender(s: SenderRecord): Promise<void>;
  getSender(address: string): Promise<SenderRecord | undefined>;
  listSenders(domain?: string): Promise<SenderRecord[]>;
  /** `expected`: only if the stored hash is still this one (a rehash must not undo a password change). */
  setSenderPassword(address: string, hash: string | null, expected?: string): Promise<boolean>;
  removeSender(address: string): Promise<boolean>;
  /** Disables (refused with 551) or enables a sender; false when there is no such sender. */
  setSenderDisabled(address: string, disabled: boolean): Promise<boolean>;
  /** Sets or clears (null) the reply-to as given; false when there is no such sender. */
  setSenderReplyTo(address: string, replyTo: ReplyToRecord | null): Promise<boolean>;
  /**
   * In one transaction: records the send and makes it the sender's pending reply-to (an
   * earlier link stops counting), unless the guard's counts are reached (false, nothing
   * written). Throws MTA_ERR_NOT_FOUND when the sender is gone.
   */
  startReplyToVerification(send: Omit<ReplyToSend, 'usedAt'>, guard: ReplyToGuard): Promise<boolean>;
  /** When verification mails went out since `since`, oldest first: of this sender, and to this address. */
  replyToSendTimes(sender: string, address: string, since: number): Promise<{ sender: number[]; address: number[] }>;
  getReplyToSend(nonce: string): Promise<ReplyToSend | undefined>;
  /**
   * In one transaction: the sender's pending reply-to with this nonce, not run out at
   * `now`, becomes verified and the send is marked used. False (nothing written) otherwise.
   */
  confirmReplyTo(sender: string, nonce: string, now: number): Promise<boolean>;
  /** Forgets sends older than `before` (they only served the rate limits and "already used" pages). */
  pruneReplyToSends(before: number): Promise<number>;
}
