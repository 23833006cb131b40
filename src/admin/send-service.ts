/**
 * admin/send-service — the send API as a submission front-end beside the SMTP listener
 * (DirectMail's SingleSendMail). It applies the same rules with the same reply codes:
 * the client IP against `smtp.allowed_ips` (554), the sender exists, is enabled and its
 * domain verified when required (553/551, submission/policy.ts), at most
 * `smtp.max_recipients` recipients (556), suppressed recipients refused one by one (559),
 * the size limit (557, or 552 for a declared size), and then the message goes through
 * the same intake as SMTP (smuggling guard, From policy, Received/Message-ID/Date,
 * X-Mta-Tag, group commit). The answer is given only after the durable commit.
 *
 * Refusals are ApiErrors whose body carries `smtp_code` and `reason`, the reply SMTP
 * would have given (users search their logs for those), and count in the rejection
 * metrics under source "api".
 */
import type { Readable } from 'node:stream';
import addressparser from 'nodemailer/lib/addressparser';
import { Senders } from '../accounts/senders.js';
import { Suppression } from '../suppression/suppression.js';
import { receiveMessage } from '../intake/intake.js';
import { intakeRefusal, senderRefusal, tagCheck } from '../submission/policy.js';
import { REPLIES, replyLine as formatReply, replyText, type Reply as SmtpReply, type ReplyName } from '../mail/replies.js';
import type { SenderRecord } from '../spool/types-senders.js';
import { parseAddress } from '../util/address.js';
import { MtaError, errorEntry, type ErrorCode } from '../util/errors.js';
import { countRejection, metrics } from '../metrics/metrics.js';
import { ApiError, Reply } from './router.js';
import { quotaRefusal } from '../quota/enforce.js';
import type { ApiContext } from './context.js';
import { splitAliases } from '../tasks/alias.js';
import type { KeyRecorder } from './idempotency.js';

export interface RecipientResult { rcpt: string; accepted: boolean; code: number; reason: string }

export interface PreparedSend {
  sender: SenderRecord;
  /** the display name given with `from`, if any */
  fromName: string | undefined;
  accepted: string[];
  recipients: RecipientResult[];
}

function replyLine(name: ReplyName, detail?: string): { code: number; reason: string } {
  const r: SmtpReply = REPLIES[name];
  return { code: r.code, reason: formatReply(r, detail) };
}

/** A refusal as SMTP would have answered it, counted in the metrics. */
export function refusal(name: ReplyName, opts: { detail?: string | undefined; field?: string; extra?: Record<string, unknown>; counted?: boolean } = {}): ApiError {
  if (!opts.counted) countRejection('api', name);
  const { code, reason } = replyLine(name, opts.detail);
  const errCode: ErrorCode = (REPLIES[name] as SmtpReply).error ?? 'MTA_ERR_REFUSED';
  return new ApiError(errCode, `${code} ${reason}`, { field: opts.field, status: errorEntry(errCode).http, extra: { smtp_code: code, reason, ...(opts.extra ?? {}) } });
}

export class SendService {
  private readonly senders: Senders;
  private readonly suppression: Suppression;

  constructor(private readonly ctx: ApiContext) {
    this.senders = new Senders(ctx.store);
    this.suppression = new Suppression(ctx.store);
  }

  /** IP protection as for SMTP, and no new mail while the daemon drains. */
  checkClient(ip: string): void {
    const allowed = this.ctx.config().smtp.allowedIps;
    if (!allowed.empty && !allowed.has(ip)) throw refusal('IP_NOT_ALLOWED', { detail: `${ip} is not in smtp.allowed_ips` });
    const state = this.ctx.state();
    if (state !== 'running' && state !== 'starting') throw refusal('SHUTTING_DOWN');
  }

  /** A declared size over the limit is refused before reading, as SMTP's SIZE= (552). */
  tooLarge(declared?: number): ApiError {
    countRejection('api', 'TOO_BIG');
    const max = this.ctx.config().smtp.maxMessageSize;
    const reason = `5.3.4 Message size exceeds fixed maximum message size (${max} bytes)${declared ? `: ${declared} bytes declared` : ''}`;
    return new ApiError('MTA_ERR_TOO_LARGE', `552 ${reason}`, { status: 413, extra: { smtp_code: 552, reason } });
  }

  /** The content (before encoding, or a decoded raw message) is over the limit: 557, as at the end of DATA. */
  contentTooBig(): ApiError {
    return refusal('TOO_BIG');
  }

  /** The envelope checks: sender, recipient count, each recipient. Throws when nothing can be sent. */
  async prepare(fromText: string, to: readonly string[]): Promise<PreparedSend> {
    const parsed = (() => { try { return addressparser(fromText, { flatten: true }); } catch { return []; } })();
    const only = parsed.length === 1 ? parseAddress(parsed[0]!.address ?? '') : undefined;
    if (!only) throw new MtaError('MTA_ERR_INVALID', `from: "${fromText}" is not one address`, 'from');
    const sender = await this.senders.find(only.address);
    const refused = await senderRefusal(this.ctx.store, this.ctx.config(), sender, only.address);
    if (refused || !sender) throw refusal(refused?.reply ?? 'SENDER_MISMATCH', { detail: refused?.detail, field: 'from' });

    const seen = new Set<string>();
    const unique = to.map((r) => r.trim()).filter((r) => { const k = r.toLowerCase(); if (seen.has(k)) return false; seen.add(k); return true; });
    const max = this.ctx.config().smtp.maxRecipients;
    if (unique.length > max) throw refusal('TOO_MANY_RCPTS', { detail: `${unique.length} recipients, at most ${max}`, field: 'to' });

    const recipients: RecipientResult[] = [];
    const accepted: string[] = [];
    for (const rcpt of unique) {
      const a = parseAddress(rcpt);
      // A list alias expands to its members (each checked then); the alias itself is never suppressed.
      const alias = a ? await this.ctx.store.listByAlias(a.address) : undefined;
      const hit = a && !alias ? await this.suppression.check(a.address, sender.domain) : undefined;
      const name: ReplyName | undefined = !a ? 'BAD_RCPT' : hit ? 'SUPPRESSED' : undefined;
      if (hit) {
        await this.suppression.refused({ at: Date.now(), sender: sender.address, authUser: sender.address, rcpt: a!.address, reply: replyText('SUPPRESSED'), suppression: hit, via: 'api' },
          (e) => this.ctx.log.warn({ err: e.message, rcpt: a!.address }, 'the rejected event of a suppressed recipient could not be recorded'));
      }
      if (name) {
        countRejection('api', name);
        recipients.push({ rcpt, accepted: false, ...replyLine(name) });
      } else {
        accepted.push(a!.address);
        recipients.push({ rcpt: a!.address, accepted: true, code: 250, reason: '2.1.5 Ok' });
      }
    }
    if (accepted.length === 0) {
      const first = recipients[0]!;
      const name: ReplyName = first.code === REPLIES.SUPPRESSED.code ? 'SUPPRESSED' : 'BAD_RCPT';
      throw refusal(name, { detail: 'no recipient was accepted', field: 'to', extra: { recipients }, counted: true });
    }
    // The whole message or nothing: a quota that cannot take every recipient refuses it (429).
    const over = await quotaRefusal(this.ctx.quota?.(), sender.domain, accepted.length, Date.now());
    if (over) throw refusal(over.reply, { detail: over.detail });
    return { sender, fromName: parsed[0]!.name || undefined, accepted, recipients };
  }

  /** Intake and the durable commit; the reply is the SingleSendMail answer. */
  async submit(p: PreparedSend, source: Readable, endpoint: 'send' | 'raw', client: string, record?: KeyRecorder): Promise<Reply> {
    const config = this.ctx.config();
    const started = Date.now();
    const split = await splitAliases(this.ctx.store, p.accepted);
    const result = await receiveMessage(source, {
      sender: p.sender.address, recipients: split.recipients, aliasLists: split.aliasLists, authUser: p.sender.address, clientIp: client, clientHostname: null,
      helo: null, protocol: 'HTTP', lane: p.sender.type === 'trigger' ? 'trigger' : 'batch',
    }, { maxMessageSize: config.smtp.maxMessageSize, maxHeaderSize: config.smtp.maxHeaderSize, hostname: config.hostname,
      checkTag: tagCheck(this.ctx.store, () => this.ctx.config()), tracking: config,
      keyRecord: record ? (queueId, messageId) => record(200, accepted(p, queueId, messageId)) : undefined }, this.ctx.store);
    const logBase = { client_ip: client, user: p.sender.address, rcpts: p.accepted, endpoint, duration_ms: Date.now() - started };
    if (!result.ok) {
      const r = intakeRefusal(result);
      this.ctx.log[r.reply === 'LOCAL_ERROR' || r.reply === 'NO_STORAGE' ? 'error' : 'info']({ ...logBase, result: 'refused', reason: result.detail, reply: REPLIES[r.reply].code }, 'api send');
      throw refusal(r.reply, { detail: r.detail, ...(r.reply === 'UNKNOWN_TAG' ? { field: 'tag' } : r.reply === 'TRACKING_REFUSED' ? { field: 'tracking' } : {}) });
    }
    metrics.accepted.inc({ source: 'api' });
    metrics.apiSends.inc({ endpoint });
    this.ctx.log.info({ ...logBase, size: result.size, queue_id: result.queueId, message_id: result.messageId, result: 'queued' }, 'api send');
    return new Reply(200, accepted(p, result.queueId, result.messageId));
  }
}

/** The SingleSendMail answer to a committed message (also what its Idempotency-Key replays). */
function accepted(p: PreparedSend, queueId: string, messageId: string): { queue_id: string; message_id: string; recipients: RecipientResult[] } {
  const queued = `2.0.0 ${REPLIES.QUEUED.text} ${queueId}`;
  return { queue_id: queueId, message_id: messageId, recipients: p.recipients.map((r) => (r.accepted ? { ...r, reason: queued } : r)) };
}
