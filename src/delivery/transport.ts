/**
 * delivery/transport — one outgoing SMTP session, as promises over nodemailer's
 * smtp-connection. It knows nothing about the queue: it connects (with opportunistic or
 * required STARTTLS, or implicit TLS for routes), optionally authenticates, and sends one
 * envelope + body stream at a time, reporting each recipient's reply. To a host offering
 * PIPELINING, smtp-connection (nodemailer 10.6+) sends MAIL FROM, every RCPT TO and DATA in
 * one write: two round trips less per message, each a turn of a busy event loop
 * (test/delivery-pipelining.test.ts holds it to that).
 *
 * Certificates are not verified for MX delivery, like every opportunistic-TLS MTA: an
 * unverified encrypted session is still better than plaintext, and MX certificates are
 * routinely self-signed. Routes (smarthosts) verify by default.
 */
import SMTPConnection from 'nodemailer/lib/smtp-connection';
import type { Socket } from 'node:net';
import type { Readable } from 'node:stream';
import type { TLSSocket } from 'node:tls';
import type { TlsMode } from '../config/config.js';
import { daneVerify, type TlsaRecord } from './dane.js';
import type { ReportPolicy } from './tls-rpt.js';

export interface SessionTarget {
  /** the address to connect to (an IP for MX delivery) */
  address: string;
  port: number;
  /** the MX or route host name, for SNI and logs */
  hostName: string;
  tls: TlsMode;
  requireTls: boolean;
  /** set after a failed TLS handshake with this host: talk plaintext */
  skipTls?: boolean;
  verifyCertificate?: boolean;
  auth?: { user: string; pass: string };
  /** extra trusted CAs for verifyCertificate (the system's when undefined) */
  ca?: string[];
  /** the recipient domain's MTA-STS policy (delivery/mta-sts.ts) and whether it lists this host */
  mtaSts?: { mode: 'enforce' | 'testing'; id: string; label: string; allowed: boolean };
  /** the host's validated TLSA records (delivery/dane.ts): TLS required, the certificate checked against the usable ones (none: unauthenticated) */
  dane?: { records: TlsaRecord[] };
  /** the policy this host is reported under (TLS-RPT, delivery/tls-rpt.ts) */
  report?: ReportPolicy;
  /** a failure every session to this host is reported as (a policy announced but not had: sts-policy-fetch-error ...) */
  reportFailure?: string;
  /** the egress source (delivery/egress.ts) to leave from: its name, local address and HELO name */
  source?: { name: string; address: string; helo: string };
}

export interface SessionOptions { ehloName: string; connectTimeoutMs: number; socketTimeoutMs: number }

/** Why a session could not be used; `reply` is the server's line when there was one. */
export class SessionError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly reply: string | undefined,
    /** the TLS handshake failed (a retry without TLS may succeed) */
    readonly tlsFailed: boolean,
    /** the connection is unusable afterwards */
    readonly fatal: boolean,
    /** failed before the greeting: the host is unreachable */
    readonly unreachable: boolean,
  ) {
    super(message);
    this.name = 'SessionError';
  }
}

interface NodemailerError extends Error {
  code?: string; response?: string; responseCode?: number; command?: string; recipient?: string;
  rejectedErrors?: NodemailerError[]; originalCode?: string;
}

// ESTREAM: the message could not be read to its end (the spool failed mid-DATA). The server is
// still reading the data, so the session is done for: an RSET on it would be taken as more data
// and wait for a reply until socket_timeout, holding the job (test/pg-cluster-restart.test.ts).
const FATAL = new Set(['ECONNECTION', 'ETIMEDOUT', 'ESOCKET', 'ETLS', 'EPROTOCOL', 'EAUTH', 'ECLOSED', 'ESTREAM']);

/**
 * `answered`: the host sent at least its greeting, so it is reachable whatever went wrong
 * next. `upgrading`: the error came during the STARTTLS handshake (smtp-connection reports
 * those as socket errors, not always as ETLS).
 */
function toSessionError(e: NodemailerError, connected: boolean, answered = connected, upgrading = false): SessionError {
  const code = e.code ?? 'ECONNECTION';
  const reply = clean(e.response);
  const tlsFailed = code === 'ETLS' || upgrading;
  return new SessionError(code, printable(e.message) ?? code, reply, tlsFailed, FATAL.has(code) || !connected, !answered && !reply && !tlsFailed);
}

export interface SendResult {
  /** recipient → the server's reply for it (2xx for accepted ones: the final DATA reply) */
  replies: Map<string, string>;
  accepted: string[];
}

export class SmtpSession {
  messages = 0;
  private dead = false;
  /** Settles when the connection is gone (closed by either side): a connection slot it held may go to another node then. */
  readonly ended: Promise<void>;

  private constructor(private readonly conn: SMTPConnection, readonly target: SessionTarget, readonly openedAt: number) {
    conn.on('error', () => { this.dead = true; });
    this.ended = new Promise((resolve) => conn.once('end', () => { this.dead = true; resolve(); }));
  }

  static open(target: SessionTarget, opts: SessionOptions): Promise<SmtpSession> {
    const conn = new SMTPConnection({
      host: target.address,
      port: target.port,
      secure: target.tls === 'implicit',
      servername: /^[\d.]+$|:/.test(target.hostName) ? undefined : target.hostName,
      name: target.source?.helo ?? opts.ehloName,
      ...(target.source ? { localAddress: target.source.address } : {}),
      ignoreTLS: target.tls === 'none' || (!!target.skipTls && !target.requireTls),
      requireTLS: target.requireTls && target.tls !== 'implicit',
      opportunisticTLS: !target.requireTls,
      connectionTimeout: opts.connectTimeoutMs,
      greetingTimeout: opts.connectTimeoutMs,
      socketTimeout: opts.socketTimeoutMs,
      socketCloseTimeout: 0,
      allowInternalNetworkInterfaces: true,
      tls: { rejectUnauthorized: !!target.verifyCertificate, minVersion: 'TLSv1.2', ...(target.ca ? { ca: target.ca } : {}) },
      logger: false,
    });
    return new Promise((resolve, reject) => {
      const onError = (e: NodemailerError): void => {
        const upgrading = !!conn.upgrading;
        conn.removeListener('error', onError);
        conn.close();
        reject(toSessionError(e, false, !!conn.lastServerResponse, upgrading));
      };
      conn.on('error', onError);
      conn.connect((err?: NodemailerError) => {
        if (err) return onError(err);
        const finish = (): void => {
          conn.removeListener('error', onError);
          resolve(new SmtpSession(conn, target, Date.now()));
        };
        // DANE: the certificate is checked against the TLSA records here, after the handshake
        // (which cannot verify a DANE-EE self-signed certificate) and before anything is sent.
        if (target.dane && target.dane.records.length > 0) {
          const socket = (conn as unknown as { _socket: TLSSocket })._socket;
          const why = conn.secure ? daneVerify(socket.getPeerCertificate(true), target.hostName, target.dane.records) : 'no TLS';
          if (why) return onError(Object.assign(new Error(`DANE: ${why}`), { code: 'ETLS' }));
        }
        if (!target.auth) return finish();
        conn.login({ user: target.auth.user, pass: target.auth.pass }, (e) => (e ? onError(e as NodemailerError) : finish()));
      });
    });
  }

  get usable(): boolean { return !this.dead && !(this.conn as unknown as { destroyed: boolean }).destroyed; }
  get secure(): boolean { return this.conn.secure; }
  get offersSmtpUtf8(): boolean {
    return ((this.conn as unknown as { _supportedExtensions?: string[] })._supportedExtensions ?? []).includes('SMTPUTF8');
  }

  /**
   * The message and the ".\r\n" after it leave in one write: nodemailer's DataStream writes
   * them apart, and on loopback each write is a syscall that also runs the receiver's side of
   * TCP. The socket is corked when the body starts to flow (after the 354; 'resume') and
   * uncorked as soon as the DataStream has ended (its terminator written: a body in memory
   * and the terminator go in process.nextTick and promise turns) or has paused (a write over
   * the socket's 16 KB buffer pauses the pipe, and a corked socket would never drain: a body
   * over 16 KB goes as before, at once), with setImmediate as the last bound. `_socket` and
   * `_currentDataStream` are nodemailer's own fields: without the first nothing is corked,
   * without the second the uncork waits for setImmediate; either way every byte goes out.
   */
  private coalesceData(body: Readable): void {
    const conn = this.conn as unknown as { _socket?: Socket; _currentDataStream?: Readable | false };
    const socket = conn._socket;
    if (!socket) return;
    body.once('resume', () => {
      let corked = true;
      const release = (): void => { if (corked) { corked = false; socket.uncork(); } };
      socket.cork();
      const data = conn._currentDataStream;
      if (data) { data.once('end', release); data.once('pause', release); }
      setImmediate(release);
    });
  }

  /** Sends one message. Resolves with every recipient's reply; rejects only when the session failed. */
  send(envelope: { from: string; to: string[]; size: number }, body: Readable): Promise<SendResult> {
    return new Promise((resolve, reject) => {
      const onError = (e: NodemailerError): void => {
        this.dead = true;
        detach();
        const err = toSessionError(e, true);
        const last = typeof this.conn.lastServerResponse === 'string' ? clean(this.conn.lastServerResponse) : undefined;
        reject(err.reply || !last || !/^[45]\d\d\b/.test(last) ? err : new SessionError(err.code, err.message, last, false, true, false));
      };
      // A connection cut mid-transaction (by the peer or by our shutdown) may never call back.
      const onEnd = (): void => {
        this.dead = true;
        detach();
        // A server that says 421 closes at once; its last line is the reply that matters.
        const last = typeof this.conn.lastServerResponse === 'string' ? clean(this.conn.lastServerResponse) : undefined;
        const reply = last && /^[45]\d\d\b/.test(last) ? last : undefined;
        reject(new SessionError('ECLOSED', 'connection closed during the transaction', reply, false, true, false));
      };
      const detach = (): void => { this.conn.removeListener('error', onError); this.conn.removeListener('end', onEnd); };
      this.conn.once('error', onError);
      this.conn.once('end', onEnd);
      this.coalesceData(body);
      this.conn.send({ from: envelope.from || false, to: envelope.to, size: envelope.size, use8BitMime: true }, body, (err, info) => {
        detach();
        this.messages++;
        const replies = new Map<string, string>();
        if (err) {
          const e = err as NodemailerError;
          for (const r of e.rejectedErrors ?? []) if (r.recipient) replies.set(r.recipient, clean(r.response) ?? 'no reply');
          if (FATAL.has(e.code ?? '')) { this.dead = true; body.destroy(); return reject(toSessionError(e, true)); }
          // MAIL FROM or DATA refused: every recipient not refused on its own gets that reply.
          const reply = clean(e.response) ?? `451 4.3.0 ${e.message}`;
          for (const to of envelope.to) if (!replies.has(to)) replies.set(to, reply);
          body.destroy();
          return resolve({ replies, accepted: [] });
        }
        const response = clean(info.response) ?? '250 accepted';
        for (const r of info.rejectedErrors ?? []) {
          const re = r as NodemailerError;
          if (re.recipient) replies.set(re.recipient, clean(re.response) ?? 'no reply');
        }
        for (const to of info.accepted) replies.set(to, response);
        resolve({ replies, accepted: info.accepted });
      });
    });
  }

  /** RSET, so the connection can carry the next message after a refused one. */
  reset(): Promise<void> {
    return new Promise((resolve, reject) => {
      if (!this.usable) return reject(new SessionError('ECLOSED', 'connection closed', undefined, false, true, false));
      this.conn.reset((err) => (err ? (this.dead = true, reject(toSessionError(err as NodemailerError, true))) : resolve()));
    });
  }

  close(): void {
    this.dead = true;
    try { this.conn.quit(); } catch { /* already closed */ }
    setTimeout(() => this.conn.close(), 1000).unref();
  }

  destroy(): void {
    this.dead = true;
    this.conn.close();
  }
}

/** Text from the peer made safe for logs, events and webhooks: no control bytes, one line, at most 1000 characters. */
function printable(s: string | undefined): string | undefined {
  const t = s?.replace(/[\x00-\x1f\x7f-\x9f\ufffd]+/g, ' ').replace(/\s+/g, ' ').trim().slice(0, 1000);
  return t || undefined;
}

/**
 * The server's reply as one line, or undefined when it is not an SMTP reply at all
 * (garbage, an HTTP server, a banner without a code): such an answer must not become a
 * recipient's reply, whose code decides retry or failure.
 */
function clean(s: string | undefined): string | undefined {
  const t = printable(s);
  return t && /^[2-5]\d\d(?:[ -]|$)/.test(t) ? t : undefined;
}
