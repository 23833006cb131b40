/**
 * Receiving MX hosts for delivery tests: real smtp-server instances on loopback addresses
 * (127.0.0.2, 127.0.0.3, ...) that all share one port, because the daemon's delivery.port
 * is global. Each sink records every transaction and can refuse recipients or data.
 */
import { createServer, type Server, type Socket } from 'node:net';
import { readFileSync } from 'node:fs';
import { SMTPServer, type SMTPServerSession } from 'smtp-server';

export interface SinkMessage {
  from: string; to: string[]; raw: Buffer; secure: boolean; utf8: boolean; user?: string; at: number; mailAt: number;
  /** the client's address and its HELO/EHLO name (egress tests) */
  clientAddress: string; helo: string;
}

export interface SinkOptions {
  /** reply for a recipient ("450 4.2.1 try later"), or undefined to accept; attempt counts per address */
  rcpt?: (address: string, attempt: number) => string | undefined;
  /** reply for the data, or undefined to accept */
  data?: (msg: SinkMessage) => string | undefined;
  /** hold the final DATA reply this long (shutdown tests); a function decides per message, or holds it until its promise settles */
  dataDelayMs?: number | ((msg: SinkMessage) => number | Promise<unknown>);
  tls?: { key: string; cert: string };
  smtputf8?: boolean;
  /** hold the greeting until this promise settles (a receiver slow to answer a new connection); a rejection with a responseCode is the greeting's refusal */
  greeting?: () => Promise<unknown>;
  /** require AUTH with these credentials (a smarthost) */
  auth?: { user: string; pass: string };
}

export interface Sink {
  host: string;
  port: number;
  messages: SinkMessage[];
  connections: number;
  current: number;
  maxConcurrent: number;
  /** the most sessions at once from one client address (egress tests) */
  maxConcurrentFrom: Map<string, number>;
  close(): Promise<void>;
}

/** A free TCP port on 127.0.0.1 (to share across sinks on other loopback addresses). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

function replyError(text: string): Error {
  const m = /^(\d{3})\s+(.*)$/.exec(text)!;
  const e = new Error(m[2]) as Error & { responseCode: number };
  e.responseCode = Number(m[1]);
  return e;
}

export async function startSink(host: string, port: number, opts: SinkOptions = {}): Promise<Sink> {
  const attempts = new Map<string, number>();
  const closed = new Set<string>();
  const currentFrom = new Map<string, number>();
  const sink: Sink = {
    host, port, messages: [], connections: 0, current: 0, maxConcurrent: 0, maxConcurrentFrom: new Map(),
    close: () => new Promise((r) => server.close(() => r())),
  };
  const server = new SMTPServer({
    secure: false,
    authOptional: !opts.auth,
    allowInsecureAuth: true,
    disabledCommands: [...(opts.auth ? [] : ['AUTH']), ...(opts.tls ? [] : ['STARTTLS'])],
    onAuth(auth, _s, cb) {
      if (opts.auth && auth.username === opts.auth.user && auth.password === opts.auth.pass) return cb(null, { user: auth.username });
      cb(new Error('535 5.7.8 authentication failed'));
    },
    ...(opts.tls ? { key: readFileSync(opts.tls.key), cert: readFileSync(opts.tls.cert) } : {}),
    hideSMTPUTF8: !opts.smtputf8,
    logger: false,
    size: 50 * 1024 * 1024,
    closeTimeout: 200,
    onConnect(s: SMTPServerSession, cb: (e?: Error) => void) {
      sink.connections++; sink.current++;
      sink.maxConcurrent = Math.max(sink.maxConcurrent, sink.current);
      const from = (currentFrom.get(s.remoteAddress) ?? 0) + 1;
      currentFrom.set(s.remoteAddress, from);
      sink.maxConcurrentFrom.set(s.remoteAddress, Math.max(sink.maxConcurrentFrom.get(s.remoteAddress) ?? 0, from));
      const hold = opts.greeting?.();
      if (hold) void hold.then(() => cb(), (e: Error) => cb(e));
      else cb();
    },
    onClose(session: SMTPServerSession) {
      sink.current--; closed.add(session.id);
      currentFrom.set(session.remoteAddress, (currentFrom.get(session.remoteAddress) ?? 1) - 1);
    },
    onMailFrom(_a, session, cb) {
      (session as unknown as { mailAt: number }).mailAt = Date.now();
      cb();
    },
    onRcptTo(address, _s, cb) {
      const n = (attempts.get(address.address) ?? 0) + 1;
      attempts.set(address.address, n);
      const r = opts.rcpt?.(address.address, n);
      cb(r ? replyError(r) : undefined);
    },
    onData(stream, session, cb) {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => {
        const msg: SinkMessage = {
          from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
          to: session.envelope.rcptTo.map((r) => r.address), raw: Buffer.concat(chunks), secure: session.secure,
          utf8: !!(session.envelope as { smtpUtf8?: boolean }).smtpUtf8,
          ...(typeof session.user === 'string' ? { user: session.user } : {}), at: Date.now(),
          mailAt: (session as unknown as { mailAt: number }).mailAt,
          clientAddress: session.remoteAddress, helo: session.hostNameAppearsAs,
        };
        const answer = (): void => {
          // A reply held past the client's hang-up (a delay, a cut delivery) was never
          // received by anyone: it must not count as delivered.
          if (closed.has(session.id)) return;
          const r = opts.data?.(msg);
          if (r) return cb(replyError(r));
          sink.messages.push(msg);
          cb();
        };
        const delay = typeof opts.dataDelayMs === 'function' ? opts.dataDelayMs(msg) : opts.dataDelayMs;
        if (typeof delay === 'object') void delay.then(answer, answer);
        else if (delay) setTimeout(answer, delay).unref();
        else answer();
      });
    },
  });
  server.on('error', () => undefined);
  await new Promise<void>((resolve, reject) => {
    server.listen(port, host, () => resolve());
    server.server.once('error', reject);
  });
  return sink;
}

/** A host that accepts TCP and hangs up at once: unreachable, but it counts the attempts. */
export async function startBlackHole(host: string, port: number): Promise<{ connections: number; close(): Promise<void> }> {
  const state = { connections: 0, close: (): Promise<void> => new Promise((r) => server.close(() => r())) };
  const server: Server = createServer((s: Socket) => { state.connections++; s.destroy(); });
  await new Promise<void>((r) => server.listen(port, host, () => r()));
  return state;
}

/**
 * A hand-written SMTP server that offers STARTTLS and then answers the TLS handshake with
 * garbage, like a broken middlebox. Plaintext sessions (no STARTTLS) deliver normally.
 * With `offerTls: false` it is a plain recorder of the exact RCPT arguments (smtp-server
 * would decode punycode domains before a test could see them).
 */
export async function startBrokenTlsSink(host: string, port: number, opts: { offerTls?: boolean } = {}): Promise<{ messages: { to: string[]; raw: string }[]; tlsAttempts: number; close(): Promise<void> }> {
  const state = { messages: [] as { to: string[]; raw: string }[], tlsAttempts: 0, close: (): Promise<void> => new Promise((r) => server.close(() => r())) };
  const server = createServer((s: Socket) => {
    let buf = '';
    let inData = false;
    let to: string[] = [];
    s.setEncoding('latin1');
    s.on('error', () => undefined);
    s.write('220 broken.test ESMTP\r\n');
    s.on('data', (d: string) => {
      buf += d;
      for (;;) {
        if (inData) {
          const end = buf.indexOf('\r\n.\r\n');
          if (end < 0) return;
          state.messages.push({ to, raw: buf.slice(0, end + 2) });
          buf = buf.slice(end + 5);
          inData = false; to = [];
          s.write('250 2.0.0 queued\r\n');
          continue;
        }
        const i = buf.indexOf('\r\n');
        if (i < 0) return;
        const line = buf.slice(0, i);
        buf = buf.slice(i + 2);
        const verb = line.slice(0, 4).toUpperCase();
        if (verb === 'EHLO') s.write(opts.offerTls === false ? '250-raw.test\r\n250 PIPELINING\r\n' : '250-broken.test\r\n250-PIPELINING\r\n250 STARTTLS\r\n');
        else if (verb === 'STAR') { state.tlsAttempts++; s.write('220 2.0.0 go ahead\r\n'); s.write('this is not a TLS server hello\r\n'); s.end(); return; }
        else if (verb === 'MAIL') s.write('250 2.1.0 ok\r\n');
        else if (verb === 'RCPT') { to.push(/<([^>]*)>/.exec(line)?.[1] ?? ''); s.write('250 2.1.5 ok\r\n'); }
        else if (verb === 'DATA') { inData = true; s.write('354 go on\r\n'); }
        else if (verb === 'RSET' || verb === 'NOOP') s.write('250 2.0.0 ok\r\n');
        else if (verb === 'QUIT') { s.end('221 2.0.0 bye\r\n'); return; }
        else s.write('502 5.5.2 what\r\n');
      }
    });
  });
  await new Promise<void>((r) => server.listen(port, host, () => r()));
  return state;
}
