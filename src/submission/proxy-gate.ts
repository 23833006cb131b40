/**
 * submission/proxy-gate — the PROXY protocol in front of smtp-server, for listeners behind
 * HAProxy (`smtp.proxy_protocol`). A connection from a `proxy_trusted` address must open
 * with a v1 or v2 header (submission/proxy-header.ts), and the client address it names
 * becomes the session's address: allowed_ips, the per-IP caps, the failed-login throttle,
 * logs and the Received header all see the real client. Any other connection is a direct
 * client and keeps its own address; a PROXY line it sends is refused by the listener as
 * an SMTP command (submission/listener.ts), never believed.
 *
 * Why not smtp-server's own `useProxy`: it reads v1 only, and trusts a list of exact
 * addresses rather than networks. It is kept for the hand-over: the gate reads and checks
 * the header here (v1 or v2, split over any number of TCP segments), then puts back one
 * canonical v1 line in front of the bytes that followed and passes the socket to
 * smtp-server's connection handler, which is told to expect that line from every peer
 * (`useProxy: ['*']`): a direct client gets `PROXY UNKNOWN`, which keeps its own address.
 * So the library keeps doing its part (implicit TLS after the header, pending-socket
 * bookkeeping, the session's remoteAddress) and never sees a header it did not get from us.
 *
 * Must never: believe a header from an address outside proxy_trusted, let a trusted peer
 * in without a valid header, or hold a socket without a deadline while waiting for one.
 */
import type { Server, Socket } from 'node:net';
import type { Logger } from 'pino';
import type { IpSet } from '../util/ipset.js';
import { REPLIES, replyLine } from '../mail/replies.js';
import { countRejection } from '../metrics/metrics.js';
import { parseProxyHeader, v1Line, type ProxyHeader } from './proxy-header.js';

export interface ProxyGateSettings {
  /** proxy_trusted: the load balancers' addresses */
  trusted: IpSet;
  /** how long a trusted peer may take to send its header */
  headerTimeoutMs: number;
  /** sockets waiting for their header at most (smtp-server's max_connections does not see them yet) */
  maxPending: number;
}

/** How long a refused peer may stay open for the reply to be read. */
const REFUSE_LINGER_MS = 1000;

type Handler = (socket: Socket) => void;

/**
 * Puts the gate in front of the connection handler of smtp-server's net.Server (its only
 * 'connection' listener when called, before listen). `settings` is read at each
 * connection, so a reloaded proxy_trusted applies to the next one. The handler gets each
 * socket with the v1 line unshifted in front of its unread bytes, paused when the gate
 * has read from it (smtp-server reads with 'readable', which does not care).
 */
export function installProxyGate(server: Server, settings: () => ProxyGateSettings, log: Logger, listener: string): void {
  const handlers = server.listeners('connection') as Handler[];
  if (handlers.length !== 1) throw new Error(`proxy gate: expected smtp-server's one connection handler, found ${handlers.length}`);
  const handOn = handlers[0]!;
  server.removeListener('connection', handOn);
  let pending = 0;

  const pass = (socket: Socket, header: ProxyHeader | undefined, rest: Buffer): void => {
    socket.unshift(Buffer.concat([Buffer.from(v1Line(header ?? { version: 1, family: 'unknown' }), 'latin1'), rest]));
    handOn(socket);
  };

  server.on('connection', (socket: Socket) => {
    const peer = socket.remoteAddress ?? '';
    const s = settings();
    if (!s.trusted.has(peer)) return pass(socket, undefined, Buffer.alloc(0));
    if (pending >= s.maxPending) {
      log.warn({ client_ip: peer, listener, pending }, 'smtp connection dropped: too many connections waiting for their PROXY header');
      socket.destroy();
      return;
    }
    pending++;
    let buf: Buffer = Buffer.alloc(0);
    let settled = false;
    const settle = (): void => {
      settled = true;
      pending--;
      socket.setTimeout(0);
      socket.removeListener('data', onData);
      socket.removeListener('timeout', onTimeout);
      socket.removeListener('end', onGone);
      socket.removeListener('close', onGone);
      socket.removeListener('error', onGone);
    };
    const refuse = (reason: string): void => {
      settle();
      log.warn({ client_ip: peer, listener, reason }, 'smtp connection refused: a trusted proxy sent no valid PROXY protocol header (is "send-proxy" or "send-proxy-v2" set on the load balancer?)');
      countRejection('smtp', 'PROXY_REFUSED');
      socket.on('error', () => { /* the peer may be gone already */ });
      const r = REPLIES.PROXY_REFUSED;
      socket.end(`${r.code} ${replyLine(r)}\r\n`);
      // Whatever the peer still sends is read and dropped: unread input would make the
      // close a reset, which can discard the reply before the peer reads it.
      socket.resume();
      setTimeout(() => socket.destroy(), REFUSE_LINGER_MS).unref();
    };
    const onData = (chunk: Buffer): void => {
      if (settled) return;
      buf = buf.length ? Buffer.concat([buf, chunk]) : chunk;
      const r = parseProxyHeader(buf);
      // Bounded: the parser says invalid past 107 bytes of v1 or the 16 + 65535 of v2.
      if (r.kind === 'incomplete') return;
      if (r.kind === 'invalid') return refuse(r.reason);
      socket.pause();
      settle();
      log.debug({ client_ip: r.header.family === 'unknown' ? peer : r.header.source.address, proxy: peer, version: r.header.version, listener }, 'smtp connection through a proxy');
      pass(socket, r.header, buf.subarray(r.length));
    };
    const onTimeout = (): void => refuse(`no PROXY header within ${s.headerTimeoutMs} ms`);
    const onGone = (): void => {
      if (settled) return;
      settle();
      log.debug({ client_ip: peer, listener }, 'smtp connection from a proxy closed before its PROXY header');
      socket.destroy();
    };
    socket.setTimeout(s.headerTimeoutMs, onTimeout);
    socket.on('data', onData);
    socket.once('end', onGone);
    socket.once('close', onGone);
    socket.once('error', onGone);
  });
}
