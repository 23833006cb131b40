/**
 * dns/client — a small stub resolver speaking DNS to the configured recursive servers.
 * It exists because node:dns does not report TTLs for MX (or TXT, PTR, CNAME) answers, and
 * the MX cache (dns/mx.ts) must expire entries when the zone says so, not on a guess.
 *
 * UDP first with EDNS0 (1232 bytes, the DNS-flag-day size that avoids IP fragmentation),
 * TCP when the reply is truncated. Every try uses a fresh socket on a fresh ephemeral port
 * and a random id, and replies whose id or question do not match are ignored: together that
 * is the standard defence against off-path spoofing. Nothing is kept open between queries,
 * so a pending answer is the only thing that can keep the process alive.
 */
import { randomInt } from 'node:crypto';
import dgram from 'node:dgram';
import { getServers } from 'node:dns';
import net from 'node:net';
import dnsPacket from 'dns-packet';

export type RrType = 'MX' | 'A' | 'AAAA' | 'TXT' | 'PTR' | 'CNAME' | 'TLSA';
export type MxData = { preference: number; exchange: string };
export type TlsaData = { usage: number; selector: number; matchingType: number; certificate: Buffer };

export interface DnsRecord {
  name: string;
  type: RrType;
  ttl: number;
  /** A/AAAA/PTR/CNAME: string; MX: MxData ("" exchange for a null MX); TXT: its character-strings; TLSA: TlsaData. */
  data: string | MxData | string[] | TlsaData;
}

export interface DnsAnswer {
  rcode: string;
  /** Only records of the asked type, at the end of any CNAME chain inside the answer. */
  records: DnsRecord[];
  /** Lowest TTL involved; for a negative answer the SOA negative TTL (RFC 2308), else 60. */
  ttl: number;
  /** present when the server set AD: it validated the answer with DNSSEC (meaningful only from a `dnssec` client's server) */
  authentic?: true;
}

export type DnsErrorCode = 'E_DNS_TIMEOUT' | 'E_DNS_NETWORK' | 'E_DNS_FORMAT';

export class DnsError extends Error {
  readonly code: DnsErrorCode;
  constructor(code: DnsErrorCode, message: string) {
    super(message);
    this.name = 'DnsError';
    this.code = code;
  }
}

/** dnssec: queries ask for validation (AD and DO set), for a validating resolver's AD bit */
export interface DnsClientOptions { servers: string[]; timeoutMs?: number; tries?: number; dnssec?: boolean }

export interface Server { host: string; port: number; family: 4 | 6; label: string }

/** Used when there is no SOA to say how long a negative answer may be remembered. */
const DEFAULT_NEGATIVE_TTL = 60;
const EDNS_UDP_SIZE = 1232;
/** A CNAME chain longer than this inside one answer is a loop or abuse. */
const MAX_CNAME_HOPS = 8;
/** These rcodes speak for the server, not the name: another server may do better. */
const SERVER_FAILURES = new Set(['SERVFAIL', 'REFUSED', 'NOTIMP', 'FORMERR']);

/** "1.2.3.4", "1.2.3.4:5353", "[::1]:53", "::1"; port 53 unless given. */
export function parseServer(spec: string): Server {
  const s = spec.trim();
  let host = s;
  let port = 53;
  const bracketed = /^\[([^\]]+)\](?::(\d+))?$/.exec(s);
  if (bracketed) {
    host = bracketed[1]!;
    if (bracketed[2]) port = Number(bracketed[2]);
  } else if (net.isIPv6(s)) {
    host = s;
  } else {
    const m = /^([^:]+):(\d+)$/.exec(s);
    if (m) { host = m[1]!; port = Number(m[2]); }
  }
  const family = net.isIP(host);
  if ((family !== 4 && family !== 6) || !(port > 0 && port < 65536)) {
    throw new DnsError('E_DNS_FORMAT', `not a DNS server address: ${spec}`);
  }
  return { host, port, family, label: family === 6 ? `[${host}]:${port}` : `${host}:${port}` };
}

function normaliseName(name: string): string {
  return name.replace(/\.$/, '').toLowerCase();
}

function checkName(name: string): void {
  const n = name.replace(/\.$/, '');
  if (n.length > 253 || n.split('.').some((l) => l.length === 0 || Buffer.byteLength(l) > 63)) {
    throw new DnsError('E_DNS_FORMAT', `not a valid DNS name: ${name}`);
  }
}

function recordData(a: dnsPacket.Answer): DnsRecord['data'] | undefined {
  switch (a.type) {
    case 'A': case 'AAAA': case 'PTR': case 'CNAME':
      return a.data === '.' ? '' : a.data;
    case 'MX': {
      const ex = a.data.exchange === '.' ? '' : normaliseName(a.data.exchange);
      return { preference: a.data.preference ?? 0, exchange: ex };
    }
    case 'TXT': {
      const parts = Array.isArray(a.data) ? a.data : [a.data];
      return parts.map((p) => (typeof p === 'string' ? p : p.toString('utf8')));
    }
    case 'TLSA':
      return { usage: a.data.usage, selector: a.data.selector, matchingType: a.data.matchingType, certificate: a.data.certificate };
    default:
      return undefined;
  }
}

/** Turns a decoded reply into the answer for (qname, type), following CNAMEs in the answer. */
export function interpretReply(reply: dnsPacket.DecodedPacket, qname: string, type: RrType): DnsAnswer {
  const rcode = (reply as { rcode?: string }).rcode ?? 'NOERROR';
  const answers = (reply.answers ?? []).filter((a) => a.type !== 'OPT') as Exclude<dnsPacket.Answer, dnsPacket.OptAnswer>[];
  let current = normaliseName(qname);
  let chainTtl = Infinity;
  const records: DnsRecord[] = [];
  for (let hop = 0; hop <= MAX_CNAME_HOPS; hop++) {
    for (const a of answers) {
      if (a.type !== type || normaliseName(a.name) !== current) continue;
      const data = recordData(a);
      if (data !== undefined) records.push({ name: current, type, ttl: a.ttl ?? 0, data });
    }
    if (records.length > 0 || type === 'CNAME') break;
    const alias = answers.find((a) => a.type === 'CNAME' && normaliseName(a.name) === current);
    if (!alias || typeof alias.data !== 'string') break;
    chainTtl = Math.min(chainTtl, alias.ttl ?? 0);
    current = normaliseName(alias.data);
  }
  let ttl: number;
  if (records.length > 0) {
    ttl = Math.min(chainTtl, ...records.map((r) => r.ttl));
  } else {
    const soa = (reply.authorities ?? []).find((a): a is dnsPacket.SoaAnswer => a.type === 'SOA');
    ttl = soa ? Math.min(soa.ttl ?? DEFAULT_NEGATIVE_TTL, soa.data.minimum ?? DEFAULT_NEGATIVE_TTL) : DEFAULT_NEGATIVE_TTL;
    if (Number.isFinite(chainTtl)) ttl = Math.min(ttl, chainTtl);
  }
  return { rcode, records, ttl, ...((reply as { flag_ad?: boolean }).flag_ad ? { authentic: true as const } : {}) };
}

function matches(reply: dnsPacket.DecodedPacket, id: number, qname: string, type: RrType): boolean {
  const q = reply.questions?.[0];
  return reply.type === 'response' && reply.id === id && reply.questions?.length === 1 &&
    q !== undefined && q.type === type && normaliseName(q.name) === normaliseName(qname);
}

function errnoText(e: unknown): string {
  const err = e as NodeJS.ErrnoException;
  return err?.code ?? err?.message ?? String(e);
}

/**
 * The servers to ask: the configured ones, which must all be valid (config check reports
 * them), or else the system's, skipping those we cannot use (an IPv6 link-local with a
 * zone, say) rather than failing. Throws DnsError when none is left.
 */
export function serverList(specs: readonly string[]): readonly Server[] {
  const list = specs.length > 0
    ? specs.map(parseServer)
    : getServers().flatMap((spec) => { try { return [parseServer(spec)]; } catch { return []; } });
  if (list.length === 0) throw new DnsError('E_DNS_NETWORK', 'no DNS servers configured or found');
  return list;
}

export class DnsClient {
  /** replaced as a whole by a SIGHUP reload (setServers): a query in flight keeps the list it started with */
  private servers: readonly Server[];
  private readonly timeoutMs: number;
  private readonly tries: number;
  private readonly dnssec: boolean;
  /** Abort functions of the tries in flight, for close(). */
  private readonly pending = new Set<() => void>();

  constructor(opts: DnsClientOptions) {
    this.servers = serverList(opts.servers);
    this.timeoutMs = opts.timeoutMs ?? 2000;
    this.tries = Math.max(1, opts.tries ?? 2);
    this.dnssec = !!opts.dnssec;
  }

  /** A reloaded `dns.servers` (from serverList, so it was checked before anything changed). */
  setServers(servers: readonly Server[]): void {
    this.servers = servers;
  }

  /** "127.0.0.1:53, [::1]:53": the servers asked now (logs). */
  get serverLabels(): string[] {
    return this.servers.map((s) => s.label);
  }

  /**
   * Asks each server in turn, `tries` rounds. A server answering SERVFAIL/REFUSED is not
   * asked again in later rounds (it answered; asking again only adds load), and if every
   * server answers that way the last such answer is returned rather than thrown, so the
   * caller can tell "the zone is broken" from "we could not reach anyone".
   */
  async query(name: string, type: RrType): Promise<DnsAnswer> {
    checkName(name);
    let lastError: DnsError | undefined;
    let lastFailure: DnsAnswer | undefined;
    const answered = new Set<Server>();
    const servers = this.servers;
    for (let round = 0; round < this.tries; round++) {
      for (const server of servers) {
        if (answered.has(server)) continue;
        try {
          const reply = await this.ask(server, name, type);
          const answer = interpretReply(reply, name, type);
          if (!SERVER_FAILURES.has(answer.rcode)) return answer;
          answered.add(server);
          lastFailure = answer;
        } catch (e) {
          if (!(e instanceof DnsError)) throw e;
          lastError = e;
        }
      }
      if (answered.size === servers.length) break;
    }
    if (lastFailure) return lastFailure;
    throw lastError ?? new DnsError('E_DNS_NETWORK', `no answer for ${type} ${name}`);
  }

  /** Aborts whatever is in flight; pending queries then fail with E_DNS_NETWORK. */
  close(): void {
    for (const abort of [...this.pending]) abort();
  }

  private async ask(server: Server, name: string, type: RrType): Promise<dnsPacket.DecodedPacket> {
    const id = randomInt(0, 0x10000);
    const query = dnsPacket.encode({
      type: 'query',
      id,
      flags: dnsPacket.RECURSION_DESIRED | (this.dnssec ? dnsPacket.AUTHENTIC_DATA : 0),
      questions: [{ type, name: name.replace(/\.$/, ''), class: 'IN' }],
      additionals: [{ type: 'OPT', name: '.', udpPayloadSize: EDNS_UDP_SIZE, extendedRcode: 0, ednsVersion: 0, flags: this.dnssec ? dnsPacket.DNSSEC_OK : 0, flag_do: this.dnssec, options: [] }],
    });
    const reply = await this.askUdp(server, query, id, name, type);
    return reply.flag_tc ? this.askTcp(server, query, id, name, type) : reply;
  }

  private askUdp(server: Server, query: Buffer, id: number, name: string, type: RrType): Promise<dnsPacket.DecodedPacket> {
    return new Promise((resolve, reject) => {
      const sock = dgram.createSocket(server.family === 6 ? 'udp6' : 'udp4');
      // A reply we cannot decode may be an attacker's or a broken server's: keep waiting
      // for a good one, but report "malformed" rather than "timeout" if none comes.
      let malformed = false;
      const finish = (err: DnsError | null, reply?: dnsPacket.DecodedPacket): void => {
        clearTimeout(timer);
        this.pending.delete(abort);
        sock.removeAllListeners();
        sock.on('error', () => {});
        try { sock.close(); } catch { /* already closed */ }
        if (err) reject(err); else resolve(reply!);
      };
      const abort = (): void => finish(new DnsError('E_DNS_NETWORK', `${server.label}: client closed`));
      this.pending.add(abort);
      const timer = setTimeout(() => finish(malformed
        ? new DnsError('E_DNS_FORMAT', `malformed reply from ${server.label} for ${type} ${name}`)
        : new DnsError('E_DNS_TIMEOUT', `timeout after ${this.timeoutMs} ms from ${server.label} for ${type} ${name}`)), this.timeoutMs);
      sock.on('error', (e) => finish(new DnsError('E_DNS_NETWORK', `${server.label}: ${errnoText(e)}`)));
      sock.on('message', (msg) => {
        let reply: dnsPacket.DecodedPacket;
        try { reply = dnsPacket.decode(msg); } catch { malformed = true; return; }
        if (matches(reply, id, name, type)) finish(null, reply);
      });
      // connect() so the kernel drops datagrams from other addresses and reports ICMP
      // "port unreachable" as ECONNREFUSED instead of leaving us to time out.
      sock.connect(server.port, server.host, () => {
        sock.send(query, (e) => { if (e) finish(new DnsError('E_DNS_NETWORK', `${server.label}: ${errnoText(e)}`)); });
      });
    });
  }

  private askTcp(server: Server, query: Buffer, id: number, name: string, type: RrType): Promise<dnsPacket.DecodedPacket> {
    return new Promise((resolve, reject) => {
      const sock = net.connect({ host: server.host, port: server.port });
      let buf = Buffer.alloc(0);
      const finish = (err: DnsError | null, reply?: dnsPacket.DecodedPacket): void => {
        clearTimeout(timer);
        this.pending.delete(abort);
        sock.removeAllListeners();
        sock.on('error', () => {});
        sock.destroy();
        if (err) reject(err); else resolve(reply!);
      };
      const abort = (): void => finish(new DnsError('E_DNS_NETWORK', `${server.label} (tcp): client closed`));
      this.pending.add(abort);
      const timer = setTimeout(() => finish(new DnsError('E_DNS_TIMEOUT',
        `timeout after ${this.timeoutMs} ms from ${server.label} (tcp) for ${type} ${name}`)), this.timeoutMs);
      sock.on('error', (e) => finish(new DnsError('E_DNS_NETWORK', `${server.label} (tcp): ${errnoText(e)}`)));
      sock.on('close', () => finish(new DnsError('E_DNS_NETWORK', `${server.label} (tcp): connection closed before a reply`)));
      sock.on('connect', () => {
        const len = Buffer.alloc(2);
        len.writeUInt16BE(query.length);
        sock.write(Buffer.concat([len, query]));
      });
      sock.on('data', (chunk: Buffer) => {
        buf = Buffer.concat([buf, chunk]);
        if (buf.length < 2 || buf.length < 2 + buf.readUInt16BE(0)) return;
        const bad = new DnsError('E_DNS_FORMAT', `malformed reply from ${server.label} (tcp) for ${type} ${name}`);
        let reply: dnsPacket.DecodedPacket;
        try { reply = dnsPacket.decode(buf.subarray(2, 2 + buf.readUInt16BE(0))); } catch { finish(bad); return; }
        // Over TCP nobody off-path can inject a reply, so a mismatch is a broken server.
        finish(matches(reply, id, name, type) ? null : bad, reply);
      });
    });
  }
}
