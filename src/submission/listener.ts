/**
 * submission/listener — the SMTP submission service (ports 587/465), built on
 * smtp-server. It authenticates senders, enforces the envelope rules and limits, hands
 * DATA to intake, and answers only with what intake and the spool report.
 *
 * Must never: accept mail from an unauthenticated client (no relay, ever), send 250
 * before the spool commit returned, or let one client hold resources without bound
 * (per-IP cap, session deadline, idle timeout, failed-login throttle).
 */
import { readFileSync } from 'node:fs';
import { createSecureContext } from 'node:tls';
import { SMTPServer, type SMTPServerOptions, type SMTPServerSession, type SMTPServerDataStream } from 'smtp-server';
import type { Logger } from 'pino';
import { authWarnings, type Config, type Listener } from '../config/config.js';
import type { Store } from '../spool/types.js';
import type { SenderRecord } from '../spool/types-senders.js';
import { Senders } from '../accounts/senders.js';
import { Suppression, suppressionFacts } from '../suppression/suppression.js';
import { ClientGuards } from './guards.js';
import { ENHANCED_PREFIX, REPLIES, SmtpReplyError, replyText, type ReplyName } from '../mail/replies.js';
import { receiveMessage, type IntakeResult } from '../intake/intake.js';
import { parseAddress } from '../util/address.js';
import { MtaError } from '../util/errors.js';
import { intakeRefusal, senderRefusal, storeReply, tagCheck } from './policy.js';
import { installProxyGate, type ProxyGateSettings } from './proxy-gate.js';
import { countRejection, metrics } from '../metrics/metrics.js';
import { channel } from 'node:diagnostics_channel';
import { performance } from 'node:perf_hooks';
import { splitAliases } from '../tasks/alias.js';
import type { QuotaService } from '../quota/quota.js';
import { quotaRefusal } from '../quota/enforce.js';

interface SessionState {
  ip: string;
  counted: boolean;
  sender?: SenderRecord;
  deadline?: NodeJS.Timeout;
  startedAt: number;
}

/** smtp-server picks enhanced codes from the basic code; ours are in the text. */
interface PatchableConnection { id: string; send(code: number, data?: string | string[], context?: string | false): void; close(): void }

/**
 * Every accepted message's accept latency as { ms }, for whoever subscribes (the benchmark's
 * probe reads the daemon's own figure beside the client's). Free while nobody does.
 */
export const acceptChannel = channel('mta:smtp:accept');

function observeAccept(ms: number): void {
  metrics.acceptLatency.observe(ms / 1000);
  if (acceptChannel.hasSubscribers) acceptChannel.publish({ ms });
}

export interface SubmissionDeps { config: Config; store: Store; log: Logger; quota?: QuotaService | undefined }

export class SubmissionService {
  private readonly servers: { listener: Listener; server: SMTPServer }[] = [];
  private readonly sessions = new Map<string, SessionState>();
  private readonly guards: ClientGuards;
  private readonly senders: Senders;
  private readonly suppression: Suppression;
  private config: Config;
  private accepting = true;
  /** Test hook: called with the queue id just before a 250 is handed to smtp-server. */
  beforeQueuedReply: ((queueId: string) => void) | undefined;

  constructor(private readonly deps: SubmissionDeps) {
    this.config = deps.config;
    this.guards = new ClientGuards(this.guardSettings());
    this.senders = new Senders(deps.store);
    this.suppression = new Suppression(deps.store);
  }

  private guardSettings(): ConstructorParameters<typeof ClientGuards>[0] {
    const s = this.config.smtp;
    return {
      allowedIps: s.allowedIps, maxConnectionsPerIp: s.maxConnectionsPerIp, authFailureLimit: s.authFailureLimit,
      authFailureWindowMs: s.authFailureWindowMs, authCooldownMs: s.authCooldownMs,
    };
  }

  private proxySettings(): ProxyGateSettings {
    const s = this.config.smtp;
    return { trusted: s.proxyTrusted, headerTimeoutMs: s.idleTimeoutMs, maxPending: s.maxConnections };
  }

  private tlsMaterial(config: Config = this.config): { key?: Buffer; cert?: Buffer } {
    const t = config.smtp.tls;
    if (!t.cert || !t.key) return {};
    try {
      return { key: readFileSync(t.key), cert: readFileSync(t.cert) };
    } catch (e) {
      throw new MtaError('MTA_ERR_LISTEN', `cannot read TLS certificate or key: ${(e as Error).message}`);
    }
  }

  async start(): Promise<void> {
    const material = this.tlsMaterial();
    for (const w of authWarnings(this.config)) this.deps.log.warn({ key: w.path }, w.message);
    for (const listener of this.config.smtp.listen) {
      const server = new SMTPServer(this.options(listener, material));
      if (this.config.smtp.proxyProtocol) installProxyGate(server.server, () => this.proxySettings(), this.deps.log, listener.text);
      // smtp-server re-emits socket errors on itself, so it needs a listener from the
      // start; a bind failure is reported once, by the rejection below.
      let bound = false;
      server.on('error', (e) => { if (bound) this.deps.log.warn({ err: e, listener: listener.text }, 'smtp listener error'); });
      await new Promise<void>((resolve, reject) => {
        const onError = (e: NodeJS.ErrnoException): void =>
          reject(new MtaError('MTA_ERR_LISTEN', `cannot listen on ${listener.text}: ${e.code ?? e.message}`));
        server.server.once('error', onError);
        server.listen(listener.port, listener.host, () => { server.server.off('error', onError); bound = true; resolve(); });
      });
      // Nagle plus delayed ACKs would add ~40 ms to every pipelined reply.
      server.server.on('connection', (s: import('node:net').Socket) => s.setNoDelay(true));
      this.servers.push({ listener, server });
      this.deps.log.info({ listener: listener.text, tls: listener.tls, port: this.boundPort(server) }, 'smtp submission listening');
    }
  }

  private boundPort(server: SMTPServer): number {
    const a = server.server.address();
    return typeof a === 'object' && a ? a.port : 0;
  }

  /** Ports actually bound, in listener order (tests listen on port 0). */
  get ports(): number[] { return this.servers.map((s) => this.boundPort(s.server)); }

  /** Applies a reloaded config: limits, allowlist, TLS material; not listener addresses. Throws, changing nothing, when the TLS material cannot be used. */
  reload(config: Config): void {
    // Checked before anything changes: a certificate that does not load is refused (the
    // daemon keeps the old configuration) rather than half-applied.
    const material = this.tlsMaterial(config);
    if (material.cert) {
      try {
        createSecureContext({ ...material, minVersion: config.smtp.tls.minVersion });
      } catch (e) {
        throw new MtaError('MTA_ERR_CONFIG', `smtp.tls: the certificate or key cannot be used: ${(e as Error).message}`);
      }
    }
    this.config = config;
    this.guards.update(this.guardSettings());
    for (const { server } of this.servers) {
      const o = server.options as SMTPServerOptions & { size?: number; maxClients?: number; socketTimeout?: number };
      o.size = config.smtp.maxMessageSize;
      o.maxClients = config.smtp.maxConnections;
      o.socketTimeout = config.smtp.idleTimeoutMs;
      o.allowInsecureAuth = config.smtp.allowInsecureAuth;
      if (material.cert) server.updateSecureContext({ ...material, minVersion: config.smtp.tls.minVersion });
    }
  }

  /** Stops accepting new connections; open sessions get 421 and are closed. */
  async stop(): Promise<void> {
    this.accepting = false;
    await Promise.all(this.servers.map(({ server }) => new Promise<void>((resolve) => server.close(() => resolve()))));
    for (const s of this.sessions.values()) if (s.deadline) clearTimeout(s.deadline);
  }

  private options(listener: Listener, material: { key?: Buffer; cert?: Buffer }): SMTPServerOptions {
    const c = this.config;
    return {
      name: c.hostname,
      banner: 'mta',
      secure: listener.tls === 'implicit',
      ...(listener.tls !== 'none' ? { ...material, minVersion: c.smtp.tls.minVersion } : {}),
      hideSTARTTLS: listener.tls !== 'starttls',
      hideENHANCEDSTATUSCODES: false,
      hideDSN: false,
      disabledCommands: listener.tls === 'starttls' ? [] : ['STARTTLS'],
      size: c.smtp.maxMessageSize,
      authMethods: ['PLAIN', 'LOGIN'],
      authOptional: false,
      allowInsecureAuth: c.smtp.allowInsecureAuth,
      maxClients: c.smtp.maxConnections,
      socketTimeout: c.smtp.idleTimeoutMs,
      closeTimeout: 5000,
      disableReverseLookup: true,
      // The gate has read and checked the header; smtp-server takes the line it puts back (proxy-gate.ts).
      ...(c.smtp.proxyProtocol ? { useProxy: ['*'] } : {}),
      logger: false,
      onConnect: (session, cb) => this.onConnect(listener, session, cb),
      onSecure: (_socket, session, cb) => { session.disabledCommands = ['STARTTLS']; cb(); },
      onAuth: (auth, session, cb) => { this.onAuth(auth.method, auth.username ?? '', auth.password ?? '', session).then((r) => cb(null, r), (e: unknown) => cb(this.failed('auth', session, e))); },
      onMailFrom: (addr, session, cb) => { this.onMailFrom(addr.address, session).then(() => cb(), (e: unknown) => cb(this.failed('mail', session, e))); },
      onRcptTo: (addr, session, cb) => { this.onRcptTo(addr.address, session).then(() => cb(), (e: unknown) => cb(this.failed('rcpt', session, e))); },
      onData: (stream, session, cb) => { this.onData(stream, session).then((m) => cb(null, m), (e: unknown) => cb(this.failed('data', session, e))); },
      onClose: (session) => this.onClose(session),
    };
  }

  private findConnection(sessionId: string): PatchableConnection | undefined {
    for (const { server } of this.servers) {
      for (const conn of server.connections as unknown as Set<PatchableConnection>) if (conn.id === sessionId) return conn;
    }
    return undefined;
  }

  private onConnect(listener: Listener, session: SMTPServerSession, cb: (err?: Error | null) => void): void {
    const ip = session.remoteAddress;
    const state: SessionState = { ip, counted: false, startedAt: Date.now() };
    this.sessions.set(session.id, state);
    const conn = this.findConnection(session.id);
    // No AUTH over a clear-text connection unless allowed: smtp-server refuses it by itself
    // only where STARTTLS is offered, so a tls = "none" listener would take passwords in
    // the clear. Disabled, AUTH is not advertised; STARTTLS (onSecure) enables it again.
    const clearText = listener.tls !== 'implicit' && !this.config.smtp.allowInsecureAuth;
    if (clearText) session.disabledCommands = ['AUTH'];
    if (conn) {
      const send = conn.send.bind(conn);
      conn.send = (code, data, context) => {
        // A PROXY header on a connection that is not from proxy_trusted (or with
        // proxy_protocol off) arrives as a command: refused, the connection closed, never believed.
        if (context === 'PROXY') {
          this.deps.log.warn({ client_ip: ip, listener: listener.text }, 'smtp connection refused: a PROXY header from an address outside smtp.proxy_trusted (or with proxy_protocol off) is never believed');
          countRejection('smtp', 'PROXY_REFUSED');
          const r = REPLIES.PROXY_REFUSED;
          send(r.code, `${r.enhanced} ${r.text}`, false);
          return conn.close();
        }
        // smtp-server answers a disabled command "500 command not recognized"; RFC 4954 §6 has 538 for this.
        if (code === 500 && context === 'AUTH' && session.disabledCommands?.includes('AUTH')) {
          this.deps.log.info({ client_ip: ip, listener: listener.text }, 'smtp auth refused: connection not encrypted');
          countRejection('smtp', 'ENCRYPTION_REQUIRED');
          const r = REPLIES.ENCRYPTION_REQUIRED;
          return send(r.code, `${r.enhanced} ${r.text}`, false);
        }
        send(code, data, typeof data === 'string' && ENHANCED_PREFIX.test(data) ? false : context);
      };
    }
    const refuse = (name: ReplyName, why: string): void => {
      this.deps.log.info({ client_ip: ip, reason: why, reply: REPLIES[name].code }, 'smtp connection refused');
      countRejection('smtp', name);
      cb(new SmtpReplyError(name));
    };
    if (!this.accepting) return refuse('SHUTTING_DOWN', 'shutting down');
    if (!this.guards.isAllowed(ip)) return refuse('IP_NOT_ALLOWED', 'not in allowed_ips');
    if (this.guards.isCoolingOff(ip)) return refuse('AUTH_THROTTLED', 'cooling off after failed logins');
    if (!this.guards.openConnection(ip)) return refuse('TOO_MANY_CONNS', 'per-IP connection cap');
    state.counted = true;
    state.deadline = setTimeout(() => {
      this.deps.log.info({ client_ip: ip, session: session.id }, 'smtp session deadline exceeded');
      const c = this.findConnection(session.id);
      if (c) { const r = REPLIES.DEADLINE; c.send(r.code, `${r.enhanced} ${r.text}`, false); }
    }, this.config.smtp.sessionDeadlineMs);
    state.deadline.unref();
    cb();
  }

  private onClose(session: SMTPServerSession): void {
    const s = this.sessions.get(session.id);
    if (!s) return;
    if (s.deadline) clearTimeout(s.deadline);
    if (s.counted) this.guards.closeConnection(s.ip);
    this.sessions.delete(session.id);
  }

  private async onAuth(method: string, username: string, password: string, session: SMTPServerSession): Promise<{ user: string }> {
    const ip = session.remoteAddress;
    if (method !== 'PLAIN' && method !== 'LOGIN') throw new SmtpReplyError('AUTH_FAILED');
    if (this.guards.isCoolingOff(ip)) { countRejection('smtp', 'AUTH_THROTTLED'); throw new SmtpReplyError('AUTH_THROTTLED'); }
    // Checked before the password: while an account cools off no guess against it is tried.
    if (this.guards.isAccountCoolingOff(username)) {
      countRejection('smtp', 'ACCOUNT_THROTTLED');
      this.deps.log.info({ client_ip: ip, user: username.slice(0, 320) }, 'smtp auth refused: account cooling off after failed logins');
      throw new SmtpReplyError('ACCOUNT_THROTTLED');
    }
    const sender = await this.senders.verifyLogin(username, password);
    metrics.smtpAuth.inc({ result: sender ? 'success' : 'failure' });
    if (!sender) {
      const limit = this.guards.recordAuthFailure(ip, username);
      const name: ReplyName = limit === 'ip' ? 'AUTH_THROTTLED' : limit === 'account' ? 'ACCOUNT_THROTTLED' : 'AUTH_FAILED';
      countRejection('smtp', name);
      this.deps.log.info({ client_ip: ip, user: username.slice(0, 320), throttled: limit ?? false }, 'smtp auth failed');
      throw new SmtpReplyError(name);
    }
    this.guards.recordAuthSuccess(ip, username);
    const st = this.sessions.get(session.id);
    if (st) st.sender = sender;
    this.deps.log.debug({ client_ip: ip, user: sender.address }, 'smtp auth ok');
    return { user: sender.address };
  }

  /**
   * A handler's error that is not one of our replies (the store failing: PostgreSQL down or
   * restarting, SQLite locked) becomes the catalogue's temporary reply (451 4.3.0, 452 4.3.1 for
   * a full disk). Passed on as it was, smtp-server answered its own default for the command,
   * 535 at AUTH and 550 at RCPT, with the driver's message: a permanent refusal, so clients
   * dropped mail they should have retried (test/pg-cluster-restart.test.ts).
   */
  private failed(stage: string, session: SMTPServerSession, e: unknown): Error {
    if (e instanceof SmtpReplyError || typeof (e as { responseCode?: unknown } | null)?.responseCode === 'number') return e as Error;
    const name = storeReply(e);
    this.deps.log.error({ client_ip: session.remoteAddress, user: session.user, stage, reply: REPLIES[name].code, err: (e as Error).message }, 'smtp command failed; answered with a temporary refusal');
    countRejection('smtp', name);
    return new SmtpReplyError(name);
  }

  private refuse(session: SMTPServerSession, stage: string, name: ReplyName, detail?: string, extra: Record<string, unknown> = {}): SmtpReplyError {
    this.deps.log.info({ client_ip: session.remoteAddress, user: session.user, stage, reply: REPLIES[name].code, reason: detail ?? REPLIES[name].text, ...extra }, 'smtp command refused');
    countRejection('smtp', name);
    return new SmtpReplyError(name, detail);
  }

  private async onMailFrom(address: string, session: SMTPServerSession): Promise<void> {
    const sender = this.sessions.get(session.id)?.sender;
    if (!sender) throw this.refuse(session, 'mail', 'SENDER_MISMATCH', 'not authenticated');
    if (address === '') throw this.refuse(session, 'mail', 'NULL_SENDER');
    const a = parseAddress(address);
    if (!a) throw this.refuse(session, 'mail', 'BAD_SENDER');
    if (a.address.toLowerCase() !== sender.address.toLowerCase()) {
      throw this.refuse(session, 'mail', 'SENDER_MISMATCH', `<${address}> is not ${sender.address}`);
    }
    // Re-read: the sender may have been disabled or removed since AUTH. Same rules as the send API.
    const current = await this.senders.find(sender.address);
    const refusal = await senderRefusal(this.deps.store, this.config, current, sender.address);
    if (refusal) throw this.refuse(session, 'mail', refusal.reply, refusal.reply === 'SENDER_MISMATCH' ? `${sender.address} no longer exists` : refusal.detail);
  }

  private async onRcptTo(address: string, session: SMTPServerSession): Promise<void> {
    if (session.envelope.rcptTo.length >= this.config.smtp.maxRecipients) throw this.refuse(session, 'rcpt', 'TOO_MANY_RCPTS', undefined, { limit: this.config.smtp.maxRecipients });
    const a = parseAddress(address);
    if (!a) throw this.refuse(session, 'rcpt', 'BAD_RCPT', undefined, { rcpt: address.slice(0, 320) });
    const sender = this.sessions.get(session.id)?.sender;
    // A list alias expands to its members (each checked then); the alias itself is never suppressed.
    if (await this.deps.store.listByAlias(a.address)) return;
    const hit = await this.suppression.check(a.address, sender?.domain ?? '');
    if (hit) {
      await this.suppression.refused({ at: Date.now(), sender: sender?.address ?? '', authUser: sender?.address ?? null, rcpt: a.address, reply: replyText('SUPPRESSED'), suppression: hit, via: 'smtp' },
        (e) => this.deps.log.warn({ err: e.message, rcpt: a.address }, 'the rejected event of a suppressed recipient could not be recorded'));
      throw this.refuse(session, 'rcpt', 'SUPPRESSED', undefined, { rcpt: a.address, ...suppressionFacts(hit) });
    }
    // Per RCPT, counting this transaction's accepted recipients: those that fit go, the rest get 552.
    const over = await quotaRefusal(this.deps.quota, sender?.domain, session.envelope.rcptTo.length + 1, Date.now());
    if (over) throw this.refuse(session, 'rcpt', over.reply, over.detail, { rcpt: a.address });
  }

  private async onData(stream: SMTPServerDataStream, session: SMTPServerSession): Promise<string> {
    const state = this.sessions.get(session.id);
    const started = Date.now();
    const sender = state?.sender;
    const recipients = session.envelope.rcptTo.map((r) => parseAddress(r.address)!.address);
    const split = await splitAliases(this.deps.store, recipients);
    // The accept latency runs from the last byte of the data (the client waits from there) to the 250.
    let dataEnd: number | undefined;
    stream.once('end', () => { dataEnd = performance.now(); });
    const result: IntakeResult = await receiveMessage(stream, {
      sender: sender?.address ?? '', recipients: split.recipients, aliasLists: split.aliasLists, authUser: sender?.address ?? null, clientIp: session.remoteAddress,
      clientHostname: session.clientHostname, helo: session.hostNameAppearsAs ?? null,
      protocol: session.transmissionType || 'ESMTPA', lane: sender?.type === 'trigger' ? 'trigger' : 'batch',
    }, { maxMessageSize: this.config.smtp.maxMessageSize, maxHeaderSize: this.config.smtp.maxHeaderSize, hostname: this.config.hostname,
      checkTag: tagCheck(this.deps.store, () => this.config), tracking: this.config },
    this.deps.store);
    const logBase = {
      client_ip: session.remoteAddress, user: sender?.address, sender: sender?.address, rcpts: recipients,
      size: result.ok ? result.size : undefined, duration_ms: Date.now() - started,
    };
    if (result.ok) {
      metrics.accepted.inc({ source: 'smtp' });
      if (dataEnd !== undefined) observeAccept(performance.now() - dataEnd);
      this.deps.log.info({ ...logBase, queue_id: result.queueId, message_id: result.messageId, result: 'queued' }, 'smtp transaction');
      this.beforeQueuedReply?.(result.queueId);
      return `${REPLIES.QUEUED.enhanced} ${REPLIES.QUEUED.text} ${result.queueId}`;
    }
    const { reply: name, detail } = intakeRefusal(result);
    this.deps.log[name === 'LOCAL_ERROR' || name === 'NO_STORAGE' ? 'error' : 'info']({ ...logBase, result: 'refused', reason: result.detail, reply: REPLIES[name].code }, 'smtp transaction');
    countRejection('smtp', name);
    throw new SmtpReplyError(name, detail);
  }
}
