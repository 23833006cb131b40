/**
 * submission/proxy-header — reads the HAProxy PROXY protocol header (v1 text, v2 binary;
 * haproxy.org/download/2.9/doc/proxy-protocol.txt) from the first bytes of a connection.
 * Pure: bytes in, a verdict out; submission/proxy-gate.ts does the socket work.
 *
 * The verdict is `incomplete` while the bytes so far can still become a header (a header
 * may arrive split over TCP segments), `invalid` with the reason as soon as they cannot,
 * and `header` with its length once it is whole; bytes after it are SMTP (or TLS) and
 * belong to the session. Parsing is strict: the header is the only thing that says who
 * the client is, so anything the specification does not allow is refused, never guessed.
 *
 * `unknown` (v1 UNKNOWN, v2 LOCAL, v2 UNSPEC or UNIX) means "no client address here": the
 * connection is the proxy's own (a health check) and keeps the proxy's address.
 *
 * Must never: return an address that is not a plain IPv4 or IPv6 address (it ends up in
 * logs, replies and Received headers), or read more than one header.
 */
import { isIPv4, isIPv6 } from 'node:net';
import ipaddr from 'ipaddr.js';

export interface ProxyEndpoint { address: string; port: number }

export type ProxyHeader =
  | { version: 1 | 2; family: 'tcp4' | 'tcp6'; source: ProxyEndpoint; destination: ProxyEndpoint }
  | { version: 1 | 2; family: 'unknown' };

export type ProxyParse =
  | { kind: 'incomplete' }
  | { kind: 'invalid'; reason: string }
  | { kind: 'header'; header: ProxyHeader; length: number };

const V1_PREFIX = Buffer.from('PROXY ', 'latin1');
/** v1: "the maximum line length is 107 bytes including the CRLF". */
const V1_MAX = 107;
export const V2_SIGNATURE = Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a]);
const V2_FIXED = 16;

const INCOMPLETE: ProxyParse = { kind: 'incomplete' };
const invalid = (reason: string): ProxyParse => ({ kind: 'invalid', reason });

/** Whether `buf` starts with `prefix`, or is a beginning of it. */
function startsLike(buf: Buffer, prefix: Buffer): boolean {
  const n = Math.min(buf.length, prefix.length);
  return buf.subarray(0, n).equals(prefix.subarray(0, n));
}

/** What the client sent instead, quoted briefly for a log line (printable ASCII only). */
export function preview(buf: Buffer, max = 24): string {
  const text = buf.subarray(0, max).toString('latin1').replace(/[^\x20-\x7e]/g, '.');
  return JSON.stringify(buf.length > max ? `${text}...` : text);
}

export function parseProxyHeader(buf: Buffer): ProxyParse {
  if (buf.length === 0) return INCOMPLETE;
  if (startsLike(buf, V1_PREFIX)) return buf.length < V1_PREFIX.length ? INCOMPLETE : parseV1(buf);
  if (startsLike(buf, V2_SIGNATURE)) return buf.length < V2_FIXED ? INCOMPLETE : parseV2(buf);
  return invalid(`no PROXY header: the connection began with ${preview(buf)}`);
}

const PORT = /^(?:0|[1-9]\d{0,4})$/;

function port(text: string): number | undefined {
  if (!PORT.test(text)) return undefined;
  const n = Number(text);
  return n <= 65535 ? n : undefined;
}

function parseV1(buf: Buffer): ProxyParse {
  const lf = buf.indexOf(0x0a);
  if (lf < 0) return buf.length >= V1_MAX ? invalid(`v1 header longer than ${V1_MAX} bytes`) : INCOMPLETE;
  if (lf + 1 > V1_MAX) return invalid(`v1 header longer than ${V1_MAX} bytes`);
  if (buf[lf - 1] !== 0x0d) return invalid('v1 header does not end in CRLF');
  const line = buf.subarray(0, lf - 1).toString('latin1');
  if (/[^\x20-\x7e]/.test(line)) return invalid('v1 header holds a character that is not printable ASCII');
  const [, proto = '', ...rest] = line.split(' ');
  const length = lf + 1;
  // UNKNOWN: "the receiver must ignore anything presented before the CRLF".
  if (proto === 'UNKNOWN') return { kind: 'header', header: { version: 1, family: 'unknown' }, length };
  if (proto !== 'TCP4' && proto !== 'TCP6') return invalid(`v1 protocol ${JSON.stringify(proto.slice(0, 16))} is none of TCP4, TCP6, UNKNOWN`);
  if (rest.length !== 4) return invalid(`v1 ${proto} header needs source and destination address and port, single-spaced`);
  const [src = '', dst = '', sport = '', dport = ''] = rest;
  const isAddress = proto === 'TCP4' ? isIPv4 : isIPv6;
  for (const a of [src, dst]) if (!isAddress(a)) return invalid(`v1 ${proto} header: ${JSON.stringify(a.slice(0, 45))} is not an ${proto === 'TCP4' ? 'IPv4' : 'IPv6'} address`);
  const sp = port(sport), dp = port(dport);
  if (sp === undefined || dp === undefined) return invalid(`v1 header: port ${JSON.stringify((sp === undefined ? sport : dport).slice(0, 8))} is not 0..65535`);
  return {
    kind: 'header', length,
    header: { version: 1, family: proto === 'TCP4' ? 'tcp4' : 'tcp6', source: { address: src, port: sp }, destination: { address: dst, port: dp } },
  };
}

/** An IPv6 address in its usual text form; an IPv4-mapped one as the IPv4 address it maps. */
function ipv6Text(bytes: Buffer): string {
  const a = ipaddr.fromByteArray([...bytes]) as ipaddr.IPv6;
  return a.isIPv4MappedAddress() ? a.toIPv4Address().toString() : a.toString();
}

function parseV2(buf: Buffer): ProxyParse {
  const verCmd = buf[12]!, famProto = buf[13]!;
  const length = V2_FIXED + buf.readUInt16BE(14);
  if (verCmd >> 4 !== 2) return invalid(`v2 header with version ${verCmd >> 4}`);
  const command = verCmd & 0x0f;
  if (command !== 0 && command !== 1) return invalid(`v2 header with command ${command} (0 LOCAL and 1 PROXY are defined)`);
  if (buf.length < length) return INCOMPLETE;
  // LOCAL: the proxy's own connection; "the receiver must ignore the protocol and address".
  if (command === 0) return { kind: 'header', header: { version: 2, family: 'unknown' }, length };
  const family = famProto >> 4, transport = famProto & 0x0f;
  const body = buf.subarray(V2_FIXED, length);
  if (famProto === 0x00 || famProto === 0x31) return { kind: 'header', header: { version: 2, family: 'unknown' }, length };
  if (famProto === 0x11 || famProto === 0x21) {
    const size = family === 1 ? 4 : 16;
    if (body.length < 2 * size + 4) return invalid(`v2 ${family === 1 ? 'TCP over IPv4' : 'TCP over IPv6'} header with ${body.length} address bytes (${2 * size + 4} needed)`);
    const text = family === 1 ? (b: Buffer): string => [...b].join('.') : ipv6Text;
    return {
      kind: 'header', length,
      header: {
        version: 2, family: family === 1 ? 'tcp4' : 'tcp6',
        source: { address: text(body.subarray(0, size)), port: body.readUInt16BE(2 * size) },
        destination: { address: text(body.subarray(size, 2 * size)), port: body.readUInt16BE(2 * size + 2) },
      },
    };
  }
  if (transport === 2 && family >= 1 && family <= 3) return invalid('v2 header for a datagram (UDP) connection');
  return invalid(`v2 header with address family and protocol 0x${famProto.toString(16).padStart(2, '0')}`);
}

/** The v1 line for a header: what smtp-server's own reader takes (see proxy-gate.ts). */
export function v1Line(h: ProxyHeader): string {
  if (h.family === 'unknown') return 'PROXY UNKNOWN\r\n';
  return `PROXY ${h.family === 'tcp4' ? 'TCP4' : 'TCP6'} ${h.source.address} ${h.destination.address} ${h.source.port} ${h.destination.port}\r\n`;
}
