/**
 * spool/types-inbound — what inbound mail (asynchronous bounces, src/inbound) and
 * unsubscribes (src/public, and mailto via src/inbound) need from the spool. Each call is
 * one transaction: the suppression entry, the recipient's history event and the webhook
 * outbox rows are written together or not at all.
 */
import type { QueueId, RecipientId } from '../util/ids.js';

export type UnsubscribeMethod = 'link' | 'one-click' | 'mailto';

export interface UnsubscribeRequest {
  /** canonical (lower-cased) address */
  address: string;
  /** the suppression scope: mail from this domain stops */
  senderDomain: string;
  /** the message the link or mailto came in; it may have been purged since */
  queueId: string;
  method: UnsubscribeMethod;
  at: number;
}

/** added: a new suppression entry (and so the event and webhook); false: it was there already, nothing written. */
export interface UnsubscribeResult { added: boolean }

/** A bounce that arrived after the recipient's delivery, already classified. */
export interface AsyncBounce {
  queueId: QueueId;
  /** the bounced address (Final-Recipient or Original-Recipient); undefined: the message's only recipient */
  rcpt: string | undefined;
  at: number;
  /** the deciding reply, e.g. "550 5.1.1 <a@b>: user unknown" */
  reply: string;
  /** DirectMail status (2 invalid address, 3 spam, 4 other) and category (delivery/classify.ts) */
  status: number;
  category: string;
  /** add the recipient to the suppression list (scope: everyone), in the same transaction */
  suppress: boolean;
  /** extra history detail: the DSN's Action, Status, Reporting-MTA, ... */
  detail: Record<string, unknown>;
}

export type AsyncBounceResult =
  | { kind: 'recorded'; recipientId: RecipientId; rcpt: string; suppressed: boolean }
  /** the recipient has a bounce recorded already (a DSN sent twice): nothing written */
  | { kind: 'duplicate'; recipientId: RecipientId; rcpt: string }
  | { kind: 'no-message' }
  /** the message exists but no recipient matches (or several, and the DSN named none) */
  | { kind: 'no-recipient' };

export interface InboundStore {
  /** Suppression (source `unsubscribe`), history event and `unsubscribe` webhook, once per (address, domain). */
  recordUnsubscribe(req: UnsubscribeRequest): Promise<UnsubscribeResult>;
  /** A `bounced` history event (the recipient's state is left alone), a suppression when asked, a `bounce` webhook. */
  recordAsyncBounce(b: AsyncBounce): Promise<AsyncBounceResult>;
}
