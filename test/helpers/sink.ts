/**
 * Receiving MX hosts for delivery tests: real smtp-server instances on loopback addresses
 * (127.0.0.2, 127.0.0.3, ...) that all share one port, because the daemon's delivery.port
 * is global. Each sink records every transaction and can refuse recipients or data.
 */
import { createServer, type Server, type Socket } from 'node:net';
import { readFileSync } from 'node:fs';
import { SMTPServer, type SMTPServerSession } from 'smtp-server';

export interface SinkMessage { from: string; to: string[]; raw: Buffer; secure: boolean; utf8: boolean }

export interface SinkOptions {
  /** reply for a recipient ("450 4.2.1 try later"), or undefined to accept; attempt counts per address */
  rcpt?: (address: string, attempt: number) => string | undefined;
  /** reply for the data, or undefined to accept */
  data?: (msg: SinkMessage) => string | undefined;
  /** hold the final DATA reply this long (shutdown tests) */
  dataDelayMs?: number;
  tls?: { key: string; cert: string };
  smtputf8?: boolean;
}

export interface Sink {
  host: string;
  port: number;
  messages: SinkMessage[];
  connections: number;
  current: number;
  maxConcurrent: number;
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
  const sink: Sink = {
    host, port, messages: [], connections: 0, current: 0, maxConcurrent: 0,
    close: () => new Promise((r) => server.close(() => r())),
  };
  const server = new SMTPServer({
    secure: false,
    authOptional: true,
    disabledCommands: ['AUTH', ...(opts.tls ? [] : ['STARTTLS'])],
    ...(opts.tls ? { key: readFileSync(opts.tls.key), cert: readFileSync(opts.tls.cert) } : {}),
    hideSMTPUTF8: !opts.smtputf8,
    logger: false,
    size: 50 * 1024 * 1024,
    onConnect(_s: SMTPServerSession, cb: (e?: Error) => void) {
      sink.connections++; sink.current++;
      sink.maxConcurrent = Math.max(sink.maxConcurrent, sink.current);
      cb();
    },
    onClose() { sink.current--; },
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
        };
        const answer = (): void => {
          const r = opts.data?.(msg);
          if (r) return cb(replyError(r));
          sink.messages.push(msg);
          cb();
        };
        if (opts.dataDelayMs) setTimeout(answer, opts.dataDelayMs); else answer();
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
