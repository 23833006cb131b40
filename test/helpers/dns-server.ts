/**
 * helpers/dns-server — an authoritative DNS server inside the test process, on 127.0.0.1
 * UDP and TCP (same ephemeral port). Tests point the resolver at it instead of at real
 * DNS, so they never leave loopback and can stage any answer: NXDOMAIN, NODATA, SERVFAIL,
 * silence (for timeouts), truncation (for the TCP fallback).
 */
import dgram from 'node:dgram';
import net from 'node:net';
import dnsPacket from 'dns-packet';
import { DnsClient } from '../../src/dns/client.js';
import { mailauthResolver as daemonMailauthResolver } from '../../src/dns/resolver.js';

export interface ZoneEntry {
  MX?: { preference: number; exchange: string }[];
  A?: string[];
  AAAA?: string[];
  TXT?: (string | string[])[];
  PTR?: string[];
  CNAME?: string;
  TLSA?: { usage: number; selector: number; matchingType: number; certificate: Buffer }[];
  ttl?: number;
  /** Set AD in the answer: the stand-in for a DNSSEC-validating resolver that validated this name. */
  ad?: boolean;
  rcode?: 'NXDOMAIN' | 'SERVFAIL' | 'REFUSED';
  /** Never answer: for timeout tests. */
  drop?: boolean;
  /** Answer UDP with TC set and no records, so the client must ask again over TCP. */
  truncate?: boolean;
  /** Answer this much later (a slow server). */
  delayMs?: number;
  /**
   * Send these bytes instead of a well-formed answer (malformed, hostile or lying
   * replies); over TCP they go out as they are, length prefix included, and `end`
   * closes the connection after them. undefined: stay silent.
   */
  raw?: (query: dnsPacket.DecodedPacket, transport: 'udp' | 'tcp') => Buffer | { bytes: Buffer; end: true } | undefined;
}

export interface TestDnsServer {
  port: number;
  /** "127.0.0.1:PORT", for [dns] servers. */
  server: string;
  set(name: string, entry: ZoneEntry): void;
  remove(name: string): void;
  queries: { name: string; type: string; transport: 'udp' | 'tcp' }[];
  /** Close the sockets (the server is down: connection refused); `up` binds the same port again. */
  down(): Promise<void>;
  up(): Promise<void>;
  close(): Promise<void>;
}

const RCODES = { NOERROR: 0, SERVFAIL: 2, NXDOMAIN: 3, REFUSED: 5 } as const;
const NEGATIVE_TTL = 60;

const key = (name: string): string => name.replace(/\.$/, '').toLowerCase();

function soa(name: string): dnsPacket.SoaAnswer {
  return {
    type: 'SOA', name, ttl: NEGATIVE_TTL,
    data: { mname: 'ns.test', rname: 'hostmaster.test', serial: 1, refresh: 3600, retry: 600, expire: 86400, minimum: NEGATIVE_TTL },
  };
}

function recordsOf(name: string, type: string, e: ZoneEntry): dnsPacket.Answer[] {
  const ttl = e.ttl ?? 300;
  switch (type) {
    case 'A': return (e.A ?? []).map((data) => ({ type: 'A', name, ttl, data }));
    case 'AAAA': return (e.AAAA ?? []).map((data) => ({ type: 'AAAA', name, ttl, data }));
    case 'PTR': return (e.PTR ?? []).map((data) => ({ type: 'PTR', name, ttl, data }));
    case 'CNAME': return e.CNAME ? [{ type: 'CNAME', name, ttl, data: e.CNAME }] : [];
    case 'MX': return (e.MX ?? []).map((m) => ({ type: 'MX', name, ttl, data: { preference: m.preference, exchange: m.exchange } }));
    case 'TXT': return (e.TXT ?? []).map((t) => ({ type: 'TXT', name, ttl, data: Array.isArray(t) ? t : [t] }));
    case 'TLSA': return (e.TLSA ?? []).map((data) => ({ type: 'TLSA', name, ttl, data }));
    default: return [];
  }
}

export function startDnsServer(zone: Record<string, ZoneEntry> = {}): Promise<TestDnsServer> {
  return start(zone, 0);
}

async function start(initial: Record<string, ZoneEntry>, attempt: number): Promise<TestDnsServer> {
  const zone = new Map<string, ZoneEntry>();
  for (const [n, e] of Object.entries(initial)) zone.set(key(n), e);
  const queries: TestDnsServer['queries'] = [];

  /** The reply to one query (raw bytes, framed already when `framed`), after `delayMs`; or undefined to stay silent. */
  function answer(msg: Buffer, transport: 'udp' | 'tcp'): { bytes: Buffer; framed?: boolean; end?: boolean; delayMs: number } | undefined {
    let q: dnsPacket.DecodedPacket;
    try { q = dnsPacket.decode(msg); } catch { return undefined; }
    const question = q.questions?.[0];
    if (!question) return undefined;
    queries.push({ name: question.name, type: question.type, transport });
    const entry = zone.get(key(question.name));
    if (entry?.drop) return undefined;
    const delayMs = entry?.delayMs ?? 0;
    if (entry?.raw) {
      const r = entry.raw(q, transport);
      if (!r) return undefined;
      return Buffer.isBuffer(r) ? { bytes: r, framed: true, delayMs } : { bytes: r.bytes, framed: true, end: true, delayMs };
    }
    const bytes = encodeAnswer(q, question, entry, transport);
    return { bytes, delayMs };
  }

  function encodeAnswer(q: dnsPacket.DecodedPacket, question: dnsPacket.Question, entry: ZoneEntry | undefined, transport: 'udp' | 'tcp'): Buffer {
    let rcode: number = RCODES.NOERROR;
    let flags = dnsPacket.AUTHORITATIVE_ANSWER | (q.flags ?? 0) & dnsPacket.RECURSION_DESIRED;
    const answers: dnsPacket.Answer[] = [];
    const authorities: dnsPacket.Answer[] = [];
    if (!entry) {
      rcode = RCODES.NXDOMAIN;
      authorities.push(soa(question.name));
    } else if (entry.rcode) {
      rcode = RCODES[entry.rcode];
    } else if (entry.ad) {
      flags |= dnsPacket.AUTHENTIC_DATA;
      answers.push(...recordsOf(question.name, question.type, entry));
      if (answers.length === 0) authorities.push(soa(question.name));
    } else if (entry.truncate && transport === 'udp') {
      flags |= dnsPacket.TRUNCATED_RESPONSE;
    } else {
      // Like a real authoritative server, chase CNAMEs that stay inside our zone.
      let name = question.name;
      let e: ZoneEntry | undefined = entry;
      for (let hop = 0; e && hop < 8; hop++) {
        const direct = recordsOf(name, question.type, e);
        if (direct.length > 0 || question.type === 'CNAME' || !e.CNAME) { answers.push(...direct); break; }
        answers.push(...recordsOf(name, 'CNAME', e));
        name = e.CNAME;
        e = zone.get(key(name));
        if (!e) { if (answers.length === 0) rcode = RCODES.NXDOMAIN; break; }
      }
      if (answers.length === 0 || answers.every((a) => a.type === 'CNAME' && question.type !== 'CNAME')) {
        authorities.push(soa(question.name));
      }
    }
    return dnsPacket.encode({
      type: 'response', id: q.id ?? 0, flags: flags | rcode,
      questions: q.questions ?? [], answers, authorities,
    });
  }

  const later = (ms: number, fn: () => void): void => { if (ms > 0) setTimeout(fn, ms).unref(); else fn(); };
  const makeUdp = (): dgram.Socket => {
    const u = dgram.createSocket('udp4');
    u.on('error', () => undefined);
    u.on('message', (msg, rinfo) => {
      const reply = answer(msg, 'udp');
      if (reply) later(reply.delayMs, () => { try { u.send(reply.bytes, rinfo.port, rinfo.address); } catch { /* down meanwhile */ } });
    });
    return u;
  };
  const conns = new Set<net.Socket>();
  const makeTcp = (): net.Server => net.createServer((sock) => {
    conns.add(sock);
    sock.on('close', () => conns.delete(sock));
    sock.on('error', () => {});
    let buf = Buffer.alloc(0);
    sock.on('data', (chunk: Buffer) => {
      buf = Buffer.concat([buf, chunk]);
      while (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) {
        const msg = buf.subarray(2, 2 + buf.readUInt16BE(0));
        buf = buf.subarray(2 + msg.length);
        const reply = answer(msg, 'tcp');
        if (reply) {
          later(reply.delayMs, () => {
            if (sock.destroyed) return;
            if (reply.framed) { sock.write(reply.bytes); if (reply.end) sock.end(); return; }
            const len = Buffer.alloc(2);
            len.writeUInt16BE(reply.bytes.length);
            sock.write(Buffer.concat([len, reply.bytes]));
          });
        }
      }
    });
  });
  let udp = makeUdp();
  let tcp = makeTcp();

  // UDP picks the ephemeral port and TCP must get the same one, which someone else may
  // hold already: then start over on a new port.
  await new Promise<void>((res, rej) => { udp.once('error', rej); udp.bind(0, '127.0.0.1', () => { udp.off('error', rej); res(); }); });
  const port = udp.address().port;
  try {
    await new Promise<void>((res, rej) => { tcp.once('error', rej); tcp.listen(port, '127.0.0.1', () => { tcp.off('error', rej); res(); }); });
  } catch (e) {
    await new Promise<void>((res) => udp.close(() => res()));
    if (attempt >= 10) throw e;
    return start(initial, attempt + 1);
  }

  let up = true;
  const down = async (): Promise<void> => {
    if (!up) return;
    up = false;
    for (const c of conns) c.destroy();
    await Promise.all([
      new Promise<void>((res) => udp.close(() => res())),
      new Promise<void>((res) => tcp.close(() => res())),
    ]);
  };
  return {
    port,
    server: `127.0.0.1:${port}`,
    queries,
    set: (name, entry) => { zone.set(key(name), entry); },
    remove: (name) => { zone.delete(key(name)); },
    down,
    up: async () => {
      if (up) return;
      udp = makeUdp();
      tcp = makeTcp();
      await new Promise<void>((res, rej) => { udp.once('error', rej); udp.bind(port, '127.0.0.1', () => { udp.off('error', rej); res(); }); });
      await new Promise<void>((res, rej) => { tcp.once('error', rej); tcp.listen(port, '127.0.0.1', () => { tcp.off('error', rej); res(); }); });
      up = true;
    },
    close: down,
  };
}

/**
 * A `resolver` for mailauth that behaves like dns.promises.resolve (its result shapes and
 * its ENOTFOUND / ENODATA / ESERVFAIL / ETIMEOUT codes), answered by the test server:
 * the adapter the daemon uses (src/dns/resolver.ts) over a client pointed at it.
 */
export function mailauthResolver(server: TestDnsServer): (name: string, rrtype: string) => Promise<any> {
  return daemonMailauthResolver(new DnsClient({ servers: [server.server], timeoutMs: 1000, tries: 1 }));
}
