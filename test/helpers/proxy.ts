/**
 * PROXY protocol v2 headers as a load balancer writes them (the program only reads them:
 * src/submission/proxy-header.ts), for the parser's tests and the listener's.
 */
import ipaddr from 'ipaddr.js';
import { V2_SIGNATURE, type ProxyHeader } from '../../src/submission/proxy-header.js';

/** A v2 header: PROXY with the header's addresses (UNSPEC for 'unknown'), or LOCAL; `tlvs` appended. */
export function v2Header(h: ProxyHeader | { family: 'local' }, tlvs: Buffer = Buffer.alloc(0)): Buffer {
  if (h.family === 'local' || h.family === 'unknown') {
    const head = Buffer.concat([V2_SIGNATURE, Buffer.from([h.family === 'local' ? 0x20 : 0x21, 0x00, 0, 0])]);
    head.writeUInt16BE(tlvs.length, 14);
    return Buffer.concat([head, tlvs]);
  }
  const bytes = (a: string): Buffer => Buffer.from(ipaddr.parse(a).toByteArray());
  const ports = Buffer.alloc(4);
  ports.writeUInt16BE(h.source.port, 0);
  ports.writeUInt16BE(h.destination.port, 2);
  const body = Buffer.concat([bytes(h.source.address), bytes(h.destination.address), ports, tlvs]);
  const head = Buffer.concat([V2_SIGNATURE, Buffer.from([0x21, h.family === 'tcp4' ? 0x11 : 0x21, 0, 0])]);
  head.writeUInt16BE(body.length, 14);
  return Buffer.concat([head, body]);
}
