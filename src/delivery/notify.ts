/**
 * delivery/notify — queues the RFC 3464 bounce for recipients that failed finally. The DSN
 * is an ordinary spooled message from the null sender, so it is delivered, retried and
 * logged like any other; because its own sender is empty it can never cause another DSN.
 */
import type { Logger } from 'pino';
import type { Store } from '../spool/types.js';
import type { RecipientOutcome } from '../spool/types-queue.js';
import type { DeliveryJob } from '../scheduler/destination.js';
import { newQueueId } from '../util/ids.js';
import { buildDsn, statusFromReply } from './dsn.js';

export async function sendDsnFor(store: Store, hostname: string, job: DeliveryJob, finals: readonly RecipientOutcome[], headers: string, log: Logger): Promise<void> {
  if (job.sender === '') return;
  const byId = new Map(job.recipients.map((r) => [r.recipientId, r]));
  const dsn = buildDsn({
    reportingMta: hostname,
    queueId: job.queueId,
    sender: job.sender,
    receivedAt: job.receivedAt,
    originalHeaders: headers,
    recipients: finals.map((o) => ({
      rcpt: byId.get(o.recipientId)?.rcpt ?? '',
      action: 'failed' as const,
      status: statusFromReply(o.reply, o.kind === 'expired' ? '4.4.7' : '5.0.0'),
      diagnostic: o.kind === 'expired' ? `${o.reply} (gave up: the message stayed in the queue too long)` : o.reply,
      ...(typeof o.detail['mx'] === 'string' ? { remoteMta: o.detail['mx'] } : {}),
      lastAttemptAt: o.at,
    })),
  });
  const id = newQueueId();
  try {
    await store.commitIncoming({
      id, receivedAt: Date.now(), sender: '', authUser: null, clientIp: null, helo: null, messageId: dsn.messageId,
      subject: dsn.subject, size: dsn.message.length, lane: 'trigger', tag: null, chunks: [dsn.message], recipients: [job.sender],
    });
    log.info({ queue_id: job.queueId, dsn_queue_id: id, to: job.sender, recipients: finals.length }, 'bounce (DSN) queued for the sender');
  } catch (e) {
    log.error({ queue_id: job.queueId, err: (e as Error).message }, 'the bounce (DSN) could not be queued');
  }
}
