/**
 * spool/types-suppression — what the suppression list (src/suppression) and submission
 * need from the spool: entries per scope, lookups, and the record of a refused recipient.
 */

export type SuppressionSource = 'bounce' | 'complaint' | 'unsubscribe' | 'manual';

export interface SuppressionRecord {
  address: string;
  scope: string;
  reason: string;
  source: SuppressionSource;
  createdAt: number;
}

export interface SuppressionFilter {
  /** part of the address */
  search?: string | undefined;
  limit?: number | undefined;
  /** cursor: the last address seen (with afterScope: the last (address, scope) pair) */
  after?: string | undefined;
  afterScope?: string | undefined;
  /** created_at range, ms, inclusive */
  since?: number | undefined;
  until?: number | undefined;
}

/**
 * A recipient refused at submission because it is suppressed (559): no message exists, so
 * the spool keeps one message-less `rejected` event and queues the webhook event.
 */
export interface RecipientRefusal {
  at: number;
  sender: string;
  authUser: string | null;
  rcpt: string;
  /** the reply given, e.g. "559 5.1.1 Invalid rcptto" */
  reply: string;
  suppression: SuppressionRecord;
  via: 'smtp' | 'api';
}

export interface SuppressionStore {
  addSuppression(s: SuppressionRecord): Promise<boolean>;
  removeSuppression(address: string, scope?: string): Promise<number>;
  listSuppressions(filter: SuppressionFilter): Promise<SuppressionRecord[]>;
  /** Whether mail from `senderDomain` to `address` is suppressed (global or domain scope). */
  isSuppressed(address: string, senderDomain: string): Promise<SuppressionRecord | undefined>;
  recordRefusal(r: RecipientRefusal): Promise<void>;
}
