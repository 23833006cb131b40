/**
 * spool/types-senders — what sender accounts (src/accounts, submission auth) need from the
 * spool: sender rows with their password hash and disabled flag.
 */

export type SenderType = 'trigger' | 'batch';

export interface SenderRecord {
  address: string;
  domain: string;
  type: SenderType;
  replyTo: string | null;
  passwordHash: string | null;
  disabled: boolean;
  createdAt: number;
}

export interface SenderStore {
  addSender(s: SenderRecord): Promise<void>;
  getSender(address: string): Promise<SenderRecord | undefined>;
  listSenders(domain?: string): Promise<SenderRecord[]>;
  /** `expected`: only if the stored hash is still this one (a rehash must not undo a password change). */
  setSenderPassword(address: string, hash: string | null, expected?: string): Promise<boolean>;
  removeSender(address: string): Promise<boolean>;
  /** Disables (refused with 551) or enables a sender; false when there is no such sender. */
  setSenderDisabled(address: string, disabled: boolean): Promise<boolean>;
}
