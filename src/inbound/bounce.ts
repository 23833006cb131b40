/**
 * inbound/bounce — one asynchronous bounce for one VERP-addressed message: parse it
 * (inbound/dsn-parse.ts), classify each failed recipient's reply with the table delivery
 * uses (delivery/classify.ts), and record it on that recipient (InboundStore
 * .recordAsyncBounce): a `bounced` history event, a suppression when the class says so
 * (user unknown, bad domain...), and a `bounce` webhook. The recipient's state is left as
 * it is: it was delivered to the next hop, and keeps its one final outcome.
 *
 * Never throws for what the message says (a bounce we cannot use is logged and dropped,
 * so it is not bounced back); only a storage failure propagates (the listener answers 451
 * and the sending server retries).
 */
import type { Logger } from 'pino';
import type { Store } from '../spool/types.js';
import { parseQueueId } from '../util/ids.js';
import { classifyReply } from '../delivery/classify.js';
import { parseBounce } from './dsn-parse.js';
import { assertNever } from '../util/errors.js';

export class BounceRecorder {
  constructor(private readonly store: Store, private readonly log: Logger) {}

  async record(queueIdText: string, message: Buffer, envelopeSender: string, log: Record<string, unknown>): Promise<void> {
    const queueId = parseQueueId(queueIdText);
    if (!queueId) return;
    const parsed = await parseBounce(message, envelopeSender);
    if (parsed.kind === 'ignored') {
      this.log.info({ ...log, queue_id: queueId, reason: parsed.reason }, 'inbound message for a bounce address is not a bounce; dropped');
      return;
    }
    for (const r of parsed.recipients) {
      const cls = classifyReply(r.reply);
      const result = await this.store.recordAsyncBounce({
        queueId, rcpt: r.rcpt, at: Date.now(), reply: r.reply,
        status: cls.status === 0 ? 4 : cls.status, category: cls.category === 'delivered' ? 'other' : cls.category,
        // A report says the failure is final whatever the code's class would suggest,
        // but only the classes classify.ts marks as permanent bad addresses suppress.
        suppress: cls.suppress,
        detail: {
          format: parsed.format, ...(r.status ? { dsn_status: r.status } : {}), ...(r.remoteMta ? { remote_mta: r.remoteMta } : {}),
          ...(parsed.reportingMta ? { reporting_mta: parsed.reportingMta } : {}), ...(r.rcpt ? { final_recipient: r.rcpt } : {}),
        },
      });
      const line = { ...log, queue_id: queueId, final_recipient: r.rcpt ?? null, reply: r.reply, category: cls.category, format: parsed.format };
      switch (result.kind) {
        case 'recorded':
          this.log.info({ ...line, rcpt: result.rcpt, suppressed: result.suppressed }, 'asynchronous bounce recorded');
          break;
        case 'duplicate':
          this.log.info({ ...line, rcpt: result.rcpt }, 'asynchronous bounce repeated; already recorded');
          break;
        case 'no-message':
          this.log.info(line, 'asynchronous bounce for a message no longer stored; dropped');
          break;
        case 'no-recipient':
          this.log.warn(line, 'asynchronous bounce names no recipient of its message; dropped');
          break;
        default:
          assertNever(result, 'async bounce result');
      }
    }
  }
}
