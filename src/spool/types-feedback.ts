/**
 * spool/types-feedback — what feedback reports (complaints, src/inbound + src/feedback)
 * need from the spool: find the reported message, and record the report on its recipient
 * in one transaction (history event, suppression, counters, webhook), or not at all.
 */
import type { QueueId, RecipientId } from '../util/ids.js';

export interface FeedbackRecord {
  /** the reported message (named by a VERP address, the reference header or its Message-ID) */
  queueId: QueueId;
  /** the recipient the reference header names, when its transaction had one recipient */
  recipientId: RecipientId | undefined;
  /** addresses the report names (Original-Rcpt-To, X-HmXmrOriginalRecipient, To), in order of trust */
  candidates: readonly string[];
  /** the report's Feedback-Type, lower case (abuse, opt-out, auth-failure, ...) */
  feedbackType: string;
  /**
   * A complaint (Feedback-Type abuse): a `complaint` event, a suppression scoped to the
   * sender domain, the complaint counters and a `complaint` webhook. Otherwise only a
   * `feedback` history event.
   */
  complaint: boolean;
  at: number;
  /** extra history detail: format, user agent, source IP, how the message was found */
  detail: Record<string, unknown>;
}

export type FeedbackResult =
  | { kind: 'recorded'; recipientId: RecipientId; rcpt: string; suppressed: boolean }
  /** this recipient has a report of this type already (a report sent twice): nothing written */
  | { kind: 'duplicate'; recipientId: RecipientId; rcpt: string }
  | { kind: 'no-message' }
  /** the message exists but no recipient matches (or several, and the report named none of them) */
  | { kind: 'no-recipient' };

export interface FeedbackStore {
  recordFeedback(f: FeedbackRecord): Promise<FeedbackResult>;
  /** Stored messages whose Message-ID header is this one (with or without angle brackets), newest first, at most 2. */
  messagesByMessageId(messageId: string): Promise<QueueId[]>;
}
