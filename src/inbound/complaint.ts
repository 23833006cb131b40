/**
 * inbound/complaint — one feedback report (ARF, RFC 5965; Microsoft JMRP) that arrived at
 * `abuse@` / `fbl@` of a bounce domain or at a VERP address: parse it (feedback/arf.ts),
 * find the reported message and recipient, and record it (FeedbackStore.recordFeedback).
 *
 * The message is found, most trusted first, by the VERP address the report came to, our
 * signed reference header in the returned message (feedback/reference.ts; it also names
 * the recipient of a single-recipient transaction and survives a redacted `To:`), a VERP
 * address among the report's envelope senders, then the returned Message-ID (only when it
 * names exactly one stored message). The recipient: the reference's, else the addresses
 * the report names (Original-Rcpt-To, X-HmXmrOriginalRecipient, To), else the message's
 * only recipient.
 *
 * Never throws for what the report says (one we cannot use is logged and dropped, so it is
 * never bounced back); only a storage failure propagates (the listener answers 451).
 */
import type { Logger } from 'pino';
import type { Store } from '../spool/types.js';
import { asRecipientId, parseQueueId, type QueueId } from '../util/ids.js';
import { assertNever } from '../util/errors.js';
import { parseFeedback, type FeedbackReport, type ParsedFeedback } from '../feedback/arf.js';
import { openReference } from '../feedback/reference.js';
import { parseVerp } from '../mail/verp.js';

export type MappedBy = 'verp' | 'reference' | 'return-path' | 'message-id';

/** Where a report points, before the store is asked about recipients. */
export interface FeedbackTarget { queueId: QueueId; recipientId: number | undefined; by: MappedBy }

/** The reported message from what the report carries alone (no storage): undefined when only its Message-ID could tell. */
export function targetOf(secret: Buffer, report: FeedbackReport, verpQueueId: string | undefined): FeedbackTarget | undefined {
  const refs = report.references.map((r) => openReference(secret, r)).filter((r) => r !== undefined);
  const verp = verpQueueId ? parseQueueId(verpQueueId) : undefined;
  // The reference is consulted even with a VERP address: it is what names the recipient.
  const ref = verp ? refs.find((r) => r.queueId === verp) : refs[0];
  if (verp) return { queueId: verp, recipientId: ref?.recipientId, by: 'verp' };
  if (ref) return { queueId: ref.queueId, recipientId: ref.recipientId, by: 'reference' };
  for (const a of report.mailFrom) {
    const v = parseVerp(secret, a);
    const id = v ? parseQueueId(v.queueId) : undefined;
    if (id) return { queueId: id, recipientId: undefined, by: 'return-path' };
  }
  return undefined;
}

export class ComplaintRecorder {
  constructor(private readonly store: Store, private readonly secret: Buffer, private readonly log: Logger) {}

  /** Whether the message is a feedback report (the caller then records it here rather than as a bounce). */
  async parse(message: Buffer): Promise<ParsedFeedback> { return parseFeedback(message); }

  async record(report: FeedbackReport, verpQueueId: string | undefined, log: Record<string, unknown>): Promise<void> {
    const line = { ...log, feedback_type: report.feedbackType, format: report.format, user_agent: report.userAgent ?? null };
    let target = targetOf(this.secret, report, verpQueueId);
    if (!target && report.messageId) {
      const ids = await this.store.messagesByMessageId(report.messageId);
      // Message-IDs come from clients: two stored messages sharing one decide nothing.
      if (ids.length === 1) target = { queueId: ids[0]!, recipientId: undefined, by: 'message-id' };
    }
    if (!target) {
      this.log.warn({ ...line, message_id: report.messageId ?? null }, 'feedback report names no message of ours; dropped');
      return;
    }
    const result = await this.store.recordFeedback({
      queueId: target.queueId, recipientId: target.recipientId === undefined ? undefined : asRecipientId(target.recipientId),
      candidates: report.recipients, feedbackType: report.feedbackType, complaint: report.feedbackType === 'abuse', at: Date.now(),
      detail: {
        format: report.format, mapped_by: target.by, ...(report.userAgent ? { user_agent: report.userAgent } : {}),
        ...(report.sourceIp ? { source_ip: report.sourceIp } : {}),
      },
    });
    const out = { ...line, queue_id: target.queueId, mapped_by: target.by };
    switch (result.kind) {
      case 'recorded': this.log.info({ ...out, rcpt: result.rcpt, suppressed: result.suppressed }, 'feedback report recorded'); break;
      case 'duplicate': this.log.info({ ...out, rcpt: result.rcpt }, 'feedback report repeated; already recorded'); break;
      case 'no-message': this.log.info(out, 'feedback report for a message no longer stored; dropped'); break;
      case 'no-recipient': this.log.warn({ ...out, named: report.recipients.slice(0, 5) }, 'feedback report names no recipient of its message; dropped'); break;
      default: assertNever(result, 'feedback result');
    }
  }
}
