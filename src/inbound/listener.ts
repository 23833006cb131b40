/**
 * inbound/listener — the inbound SMTP service on `inbound.listen` (port 25 in
 * production, the MX of `<bounce_subdomain>.<domain>`), built on smtp-server without
 * AUTH. It takes exactly two kinds of recipient, both carrying a token sealed with the
 server's secret, and the feedback-loop mailboxes:
 *
 *   bounce+<token>@...       asynchronous bounces of mail sent with a VERP sender
 *                            (mail/verp.ts): parsed (inbound/dsn-parse.ts), classified
 *                            (delivery/classify.ts) and recorded on that recipient; a
 *                            feedback report arriving here is a complaint (inbound/complaint.ts)
 *   unsubscribe+<token>@...  the mailto of List-Unsubscribe (mail/tokens.ts)
 *   abuse@ / fbl@<bounce_subdomain>.<domain>   feedback reports (ARF complaints) for a
 *                            sending domain configured here (inbound/complaint.ts)
 *
 * Every other recipient gets `550 5.7.1 relay not permitted` at RCPT: it must never
 * relay or store other mail. A well-formed address whose token does not open (forged,
 * or made with a lost key) is refused the same way. A valid token whose message is gone
 * (purged, deleted) is accepted and dropped with a log line, so a late bounce never
 * bounces back. Messages are accepted up to `inbound.max_message_size` but only the first
 * PARSE_BUDGET bytes are kept, and only when a bounce is to be read (an unsubscribe needs no
 * body): a report and its text come first, and what follows is the returned message, which
 * nothing reads. So 200 hostile clients cost at most 200 MB, not 200 × the size limit.
 * Nothing is written to the spool: only what a message means is recorded.
 */
import { SMTPServer, type SMTPServerOptions, type SMTPServerSession, type SMTPServerDataStream } from 'smtp-server';
import type { Logger } from 'pino';
import type { Config, ListenAddress } from '../config/config.js';
import type { Store } from '../spool/types.js';
import { MtaError } from '../util/errors.js';
import { formatHostPort } from '../util/host-port.js';
import { parseVerp, VERP_PREFIX } from '../mail/verp.js';
import { MAILTO_PREFIX } from '../mail/tokens.js';
import { INBOUND_REPLIES, replyError, replyLine } from '../mail/replies.js';
import { Unsubscriber } from '../public/unsubscribe.js';
import { BounceRecorder } from './bounce.js';
import { ComplaintRecorder } from './complaint.js';

/** What one accepted recipient is for; decided at RCPT, acted on after DATA. */
export type InboundTarget = { kind: 'bounce'; rcpt: string; queueId: string } | { kind: 'unsubscribe'; rcpt: string } | { kind: 'feedback'; rcpt: string };

/** The local parts feedback loops are registered with (RFC 2142's abuse, and the usual fbl). */
export const FEEDBACK_MAILBOXES: readonly string[] = ['abuse', 'fbl'];

/** Two RCPTs that mean the same thing: a bounce for one message, or one unsubscribe address. */
function sameTarget(a: InboundTarget, b: InboundTarget): boolean {
  if (a.kind === 'bounce' && b.kind === 'bounce') return a.queueId === b.queueId;
  return a.kind === b.kind && a.rcpt.toLowerCase() === b.rcpt.toLowerCase();
}


interface PatchableConnection { id: string; send(code: number, data?: string | string[], context?: string | false): void }
const ENHANCED = /^[245]\.\d{1,3}\.\d{1,3} /;

export interface InboundDeps { config: () => Config; store: Store; secret: Buffer; log: Logger; unsubscriber?: Unsubscriber }

export class InboundService {
  private readonly servers: { listen: ListenAddress; server: SMTPServer }[] = [];
  private readonly targets = new Map<string, InboundTarget[]>();
  private readonly unsubscriber: Unsubscriber;
  private readonly bounces: BounceRecorder;
  private readonly complaints: ComplaintRecorder;
  private accepting = true;

  constructor(private readonly deps: InboundDeps) {
    this.unsubscriber = deps.unsubscriber ?? new Unsubscriber(deps.store, deps.secret, deps.log);
    this.bounces = new BounceRecorder(deps.store, deps.log);
    this.complaints = new ComplaintRecorder(deps.store, deps.secret, deps.log);
  }

  /** Ports actually bound, in listener order (tests listen on port 0). */
  get ports(): number[] {
    return this.servers.map(({ server }) => { const a = server.server.address(); return typeof a === 'object' && a ? a.port : 0; });
  }

  async start(): Promise<void> {
    for (const listen of this.deps.config().inbound.listen) {
      const where = formatHostPort(listen.host, listen.port);
      const server = new SMTPServer(this.options());
      let bound = false;
      server.on('error', (e) => { if (bound) this.deps.log.warn({ err: e, listener: where }, 'inbound listener error'); });
      await new Promise<void>((resolve, reject) => {
        const onError = (e: NodeJS.ErrnoException): void => reject(new MtaError('MTA_ERR_LISTEN', `cannot listen on ${where} (inbound.listen): ${e.code ?? e.message}`));
        server.server.once('error', onError);
        server.listen(listen.port, listen.host, () => { server.server.off('error', onError); bound = true; resolve(); });
      });
      this.servers.push({ listen, server });
      this.deps.log.info({ listener: where, port: this.ports[this.ports.length - 1] }, 'inbound smtp listening (bounces, unsubscribes and feedback reports only)');
    }
  }

  /** Applies a reloaded config: the size limit (listener addresses need a restart). */
  reload(config: Config): void {
    for (const { server } of this.servers) (server.options as SMTPServerOptions & { size?: number }).size = config.inbound.maxMessageSize;
  }

  async stop(): Promise<void> {
    this.accepting = false;
    await Promise.all(this.servers.map(({ server }) => new Promise<void>((resolve) => server.close(() => resolve()))));
    this.servers.length = 0;
  }

  private options(): SMTPServerOptions {
    const c = this.deps.config();
    return {
      name: c.hostname,
      banner: 'mta (bounces, unsubscribes and feedback reports only)',
      secure: false,
      // No certificate is configured for this listener: sending servers deliver in clear,
      // as they do to any MX that does not offer STARTTLS.
      hideSTARTTLS: true,
      disabledCommands: ['AUTH', 'STARTTLS'],
      authOptional: true,
      hideENHANCEDSTATUSCODES: false,
      size: c.inbound.maxMessageSize,
      maxClients: 200,
      socketTimeout: 60_000,
      closeTimeout: 5000,
      disableReverseLookup: true,
      logger: false,
      onConnect: (session, cb) => this.onConnect(session, cb),
      onMailFrom: (_addr, session, cb) => { this.targets.set(session.id, []); cb(); },
      onRcptTo: (addr, session, cb) => { this.onRcptTo(addr.address, session).then(() => cb(), (e: Error) => cb(e)); },
      onData: (stream, session, cb) => { this.onData(stream, session).then((m) => cb(null, m), (e: Error) => cb(e)); },
      onClose: (session) => { this.targets.delete(session.id); },
    };
  }

  private onConnect(session: SMTPServerSession, cb: (err?: Error | null) => void): void {
    if (!this.accepting) { cb(replyError(INBOUND_REPLIES.SHUTTING_DOWN)); return; }
    // smtp-server adds an enhanced code chosen from the basic code; ours is in the text.
    for (const { server } of this.servers) {
      for (const conn of server.connections as unknown as Set<PatchableConnection>) {
        if (conn.id !== session.id) continue;
        const send = conn.send.bind(conn);
        conn.send = (code, data, context) => send(code, data, typeof data === 'string' && ENHANCED.test(data) ? false : context);
      }
    }
    cb();
  }

  /** Decides at RCPT, so nothing that is not ours is ever read. */
  private async onRcptTo(address: string, session: SMTPServerSession): Promise<void> {
    const local = address.slice(0, Math.max(address.lastIndexOf('@'), 0)).toLowerCase();
    const list = this.targets.get(session.id) ?? [];
    if (list.length >= 50) throw replyError(INBOUND_REPLIES.TOO_MANY_RCPTS);
    // A repeated RCPT (the same address again, or in another case) is acknowledged but
    // kept once: the message is parsed and recorded once per message, not once per RCPT.
    const add = (target: InboundTarget): void => {
      if (!list.some((x) => sameTarget(x, target))) list.push(target);
      this.targets.set(session.id, list);
    };
    if (local.startsWith(VERP_PREFIX)) {
      const v = parseVerp(this.deps.secret, address);
      if (v) return add({ kind: 'bounce', rcpt: address, queueId: v.queueId });
    } else if (local.startsWith(MAILTO_PREFIX) && this.unsubscriber.verifies(address)) {
      return add({ kind: 'unsubscribe', rcpt: address });
    } else if (FEEDBACK_MAILBOXES.includes(local) && await this.isFeedbackDomain(address.slice(address.lastIndexOf('@') + 1))) {
      return add({ kind: 'feedback', rcpt: address });
    }
    this.deps.log.info({ client_ip: session.remoteAddress, rcpt: address.slice(0, 320), mail_from: session.envelope.mailFrom ? session.envelope.mailFrom.address : null }, 'inbound recipient refused');
    throw replyError(INBOUND_REPLIES.RELAY_DENIED);
  }

  /** `<bounce_subdomain>.<a sending domain of ours>`; a storage failure is a temporary refusal. */
  private async isFeedbackDomain(domain: string): Promise<boolean> {
    const prefix = `${this.deps.config().domains.bounceSubdomain.toLowerCase()}.`;
    const d = domain.toLowerCase().replace(/\.$/, '');
    if (!d.startsWith(prefix)) return false;
    try {
      return (await this.deps.store.getDomain(d.slice(prefix.length))) !== undefined;
    } catch (e) {
      this.deps.log.error({ err: e, domain: d }, 'inbound: cannot look up the domain of a feedback address');
      throw replyError(INBOUND_REPLIES.LOCAL_ERROR);
    }
  }

  private async onData(stream: SMTPServerDataStream, session: SMTPServerSession): Promise<string> {
    const targets = this.targets.get(session.id) ?? [];
    const keep = targets.some((t) => t.kind !== 'unsubscribe') ? PARSE_BUDGET : 0;
    const { message, size } = await readHead(stream, keep);
    if ((stream as SMTPServerDataStream & { sizeExceeded?: boolean }).sizeExceeded) {
      throw replyError(INBOUND_REPLIES.TOO_BIG, `(max ${this.deps.config().inbound.maxMessageSize} bytes)`);
    }
    const from = session.envelope.mailFrom ? session.envelope.mailFrom.address : '';
    const log = { client_ip: session.remoteAddress, mail_from: from, size, ...(size > message.length && keep > 0 ? { parsed: message.length } : {}) };
    try {
      // Parsed once per message: a feedback report is a complaint wherever it arrives.
      const feedback = keep > 0 ? await this.complaints.parse(message) : undefined;
      for (const t of targets) {
        const report = feedback?.kind === 'report' ? feedback.report : undefined;
        if (t.kind === 'unsubscribe') await this.mailtoUnsubscribe(t.rcpt, log);
        else if (report) await this.complaints.record(report, t.kind === 'bounce' ? t.queueId : undefined, { ...log, rcpt: t.rcpt });
        else if (t.kind === 'bounce') await this.bounces.record(t.queueId, message, from, { ...log, rcpt: t.rcpt });
        else this.deps.log.info({ ...log, rcpt: t.rcpt, reason: feedback?.kind === 'ignored' ? feedback.reason : null }, 'inbound message for a feedback address is not a feedback report; dropped');
      }
    } catch (e) {
      this.deps.log.error({ ...log, err: e }, 'inbound message could not be recorded; asking the sender to retry');
      throw replyError(INBOUND_REPLIES.LOCAL_ERROR);
    }
    return replyLine(INBOUND_REPLIES.RECORDED);
  }

  private async mailtoUnsubscribe(rcpt: string, log: Record<string, unknown>): Promise<void> {
    const target = await this.unsubscriber.resolveMailto(rcpt);
    if (!target) {
      this.deps.log.info({ ...log, rcpt }, 'mailto unsubscribe for a message no longer stored; dropped');
      return;
    }
    await this.unsubscriber.apply(target, 'mailto');
  }
}

/** How much of a bounce is kept for parsing (inbound/dsn-parse.ts tolerates the cut). */
export const PARSE_BUDGET = 1024 * 1024;

/** Reads the whole message (smtp-server counts it against the size limit), keeping its first `keep` bytes. */
function readHead(stream: SMTPServerDataStream, keep: number): Promise<{ message: Buffer; size: number }> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    stream.on('data', (c: Buffer) => {
      if (size < keep) chunks.push(size + c.length <= keep ? c : c.subarray(0, keep - size));
      size += c.length;
    });
    stream.on('error', reject);
    stream.on('end', () => resolve({ message: Buffer.concat(chunks), size }));
  });
}
