// The PROXY protocol header reader (src/submission/proxy-header.ts), table-driven: v1 and
// v2 headers as HAProxy writes them, every prefix of each one still incomplete (a header
// split over TCP segments), the bytes after the header left to the session, and every
// malformed form refused with its reason.
import t from 'tap';
import { parseProxyHeader, v1Line, V2_SIGNATURE, type ProxyHeader } from '../src/submission/proxy-header.js';
import { v2Header } from './helpers/proxy.js';

const tcp4: ProxyHeader = { version: 1, family: 'tcp4', source: { address: '203.0.113.7', port: 51234 }, destination: { address: '192.0.2.1', port: 587 } };
const tcp6: ProxyHeader = { version: 2, family: 'tcp6', source: { address: '2001:db8::25', port: 40000 }, destination: { address: '2001:db8::1', port: 465 } };

const ok: [string, Buffer, ProxyHeader][] = [
  ['v1 TCP4', Buffer.from('PROXY TCP4 203.0.113.7 192.0.2.1 51234 587\r\n'), tcp4],
  ['v1 TCP6', Buffer.from('PROXY TCP6 2001:db8::25 2001:db8::1 40000 465\r\n'), { ...tcp6, version: 1 }],
  ['v1 UNKNOWN', Buffer.from('PROXY UNKNOWN\r\n'), { version: 1, family: 'unknown' }],
  ['v1 UNKNOWN with addresses (ignored)', Buffer.from('PROXY UNKNOWN ffff:f...f:ffff ffff:f...f:ffff 65535 65535\r\n'), { version: 1, family: 'unknown' }],
  ['v1 ports 0 and 65535', Buffer.from('PROXY TCP4 203.0.113.7 192.0.2.1 0 65535\r\n'),
    { ...tcp4, source: { ...tcp4.source, port: 0 }, destination: { ...tcp4.destination, port: 65535 } }],
  ['v2 TCP over IPv4', v2Header({ ...tcp4, version: 2 }), { ...tcp4, version: 2 }],
  ['v2 TCP over IPv6', v2Header(tcp6), tcp6],
  ['v2 IPv4-mapped IPv6 reads as IPv4', v2Header({ ...tcp6, source: { address: '::ffff:203.0.113.9', port: 1 } }),
    { ...tcp6, source: { address: '203.0.113.9', port: 1 } }],
  ['v2 with TLVs (ALPN, authority) after the addresses', v2Header(tcp6, Buffer.from([0x01, 0x00, 0x04, 0x73, 0x6d, 0x74, 0x70, 0x02, 0x00, 0x01, 0x61])), tcp6],
  ['v2 LOCAL (health check)', v2Header({ family: 'local' }), { version: 2, family: 'unknown' }],
  ['v2 LOCAL with TLVs', v2Header({ family: 'local' }, Buffer.from([0x04, 0x00, 0x00])), { version: 2, family: 'unknown' }],
  ['v2 PROXY with UNSPEC family', v2Header({ version: 2, family: 'unknown' }), { version: 2, family: 'unknown' }],
];

t.test('headers are read whole, split at any byte, and leave what follows to the session', async (t) => {
  const after = Buffer.from('EHLO client.test\r\n');
  for (const [name, bytes, want] of ok) {
    const whole = parseProxyHeader(Buffer.concat([bytes, after]));
    t.same(whole, { kind: 'header', header: want, length: bytes.length }, name);
    const prefixes = Array.from({ length: bytes.length }, (_, n) => parseProxyHeader(bytes.subarray(0, n)).kind);
    t.same([...new Set(prefixes)], ['incomplete'], `${name}: each of its ${bytes.length} prefixes waits for more`);
  }
});

t.test('v1Line writes what parseProxyHeader reads', async (t) => {
  for (const h of [tcp4, { ...tcp6, version: 1 as const }, { version: 1 as const, family: 'unknown' as const }]) {
    t.same(parseProxyHeader(Buffer.from(v1Line(h))), { kind: 'header', header: h, length: v1Line(h).length }, v1Line(h).trim());
  }
});

const v2 = (verCmd: number, famProto: number, body: number[]): Buffer => {
  const head = Buffer.concat([V2_SIGNATURE, Buffer.from([verCmd, famProto, 0, 0])]);
  head.writeUInt16BE(body.length, 14);
  return Buffer.concat([head, Buffer.from(body)]);
};

const bad: [string, Buffer, RegExp][] = [
  ['SMTP instead of a header', Buffer.from('EHLO client.test\r\n'), /^no PROXY header: the connection began with "EHLO client\.test\.\."$/],
  ['a TLS ClientHello instead of a header', Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00]), /^no PROXY header: the connection began with "\.\.\.\.\."$/],
  ['lower-case proxy', Buffer.from('proxy TCP4 203.0.113.7 192.0.2.1 1 2\r\n'), /^no PROXY header/],
  ['v1 longer than 107 bytes', Buffer.from(`PROXY UNKNOWN ${'x'.repeat(100)}\r\n`), /^v1 header longer than 107 bytes$/],
  ['v1 without CRLF for 107 bytes', Buffer.from(`PROXY TCP4 ${'1'.repeat(120)}`), /^v1 header longer than 107 bytes$/],
  ['v1 ending in a bare LF', Buffer.from('PROXY TCP4 203.0.113.7 192.0.2.1 1 2\n'), /^v1 header does not end in CRLF$/],
  ['v1 TCP5', Buffer.from('PROXY TCP5 203.0.113.7 192.0.2.1 1 2\r\n'), /^v1 protocol "TCP5" is none of TCP4, TCP6, UNKNOWN$/],
  ['v1 with a port missing', Buffer.from('PROXY TCP4 203.0.113.7 192.0.2.1 1\r\n'), /needs source and destination address and port/],
  ['v1 with two spaces', Buffer.from('PROXY TCP4 203.0.113.7  192.0.2.1 1 2\r\n'), /needs source and destination address and port|is not an IPv4 address/],
  ['v1 TCP4 with an IPv6 address', Buffer.from('PROXY TCP4 2001:db8::1 192.0.2.1 1 2\r\n'), /"2001:db8::1" is not an IPv4 address/],
  ['v1 TCP4 with an octet over 255', Buffer.from('PROXY TCP4 999.1.1.1 192.0.2.1 1 2\r\n'), /"999\.1\.1\.1" is not an IPv4 address/],
  ['v1 TCP6 with a host name', Buffer.from('PROXY TCP6 evil.example 2001:db8::1 1 2\r\n'), /"evil\.example" is not an IPv6 address/],
  ['v1 port over 65535', Buffer.from('PROXY TCP4 203.0.113.7 192.0.2.1 65536 2\r\n'), /port "65536" is not 0\.\.65535/],
  ['v1 port with a leading zero', Buffer.from('PROXY TCP4 203.0.113.7 192.0.2.1 01 2\r\n'), /port "01" is not 0\.\.65535/],
  ['v1 with a control character', Buffer.from('PROXY TCP4 203.0.113.7\t192.0.2.1 1 2\r\n'), /not printable ASCII/],
  ['v2 version 1', v2(0x11, 0x11, new Array(12).fill(1)), /^v2 header with version 1$/],
  ['v2 command 2', v2(0x22, 0x11, new Array(12).fill(1)), /^v2 header with command 2/],
  ['v2 TCP over IPv4 with 8 address bytes', v2(0x21, 0x11, new Array(8).fill(1)), /^v2 TCP over IPv4 header with 8 address bytes \(12 needed\)$/],
  ['v2 TCP over IPv6 with 12 address bytes', v2(0x21, 0x21, new Array(12).fill(1)), /^v2 TCP over IPv6 header with 12 address bytes \(36 needed\)$/],
  ['v2 UDP over IPv4', v2(0x21, 0x12, new Array(12).fill(1)), /^v2 header for a datagram \(UDP\) connection$/],
  ['v2 unknown family', v2(0x21, 0x41, []), /^v2 header with address family and protocol 0x41$/],
];

t.test('malformed headers are refused with the reason', async (t) => {
  for (const [name, bytes, reason] of bad) {
    const r = parseProxyHeader(bytes);
    t.equal(r.kind, 'invalid', name);
    if (r.kind === 'invalid') t.match(r.reason, reason, `${name}: ${r.reason}`);
  }
});

t.test('a v2 header waits for the length it announces', async (t) => {
  const h = v2Header(tcp6, Buffer.alloc(300, 0x20));
  t.equal(parseProxyHeader(h.subarray(0, h.length - 1)).kind, 'incomplete', 'one byte short');
  t.match(parseProxyHeader(h), { kind: 'header', length: h.length }, 'then whole');
});
