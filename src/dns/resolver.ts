/**
 * dns/resolver — the DNS plumbing the domain checks share: one lookup shape that turns
 * every outcome (records, NXDOMAIN/NODATA, SERVFAIL, timeout) into a value, a per-check
 * memo so a name asked by several checks goes out once, and the adapter that lets
 * mailauth (SPF, DKIM verification) ask our own stub client instead of node:dns.
 *
 * Everything goes through dns/client.ts: it is the client whose servers the operator
 * configured, and tests point it at the in-process server, so no check ever leaks a query
 * to the system resolver.
 */
import ipaddr from 'ipaddr.js';
import { DnsError, type DnsAnswer, type DnsClient, type MxData, type RrType } from './client.js';

/** What the checks need from a DNS client; DnsClient is one, and so is a memo over it. */
export type DnsQuery = Pick<DnsClient, 'query'>;

export type Lookup<T> =
  | { kind: 'found'; values: T[] }
  /** NXDOMAIN or NODATA: the name has nothing of this type. */
  | { kind: 'none'; nxdomain: boolean }
  /** Timeout, network failure, SERVFAIL/REFUSED: we cannot tell what is published. */
  | { kind: 'error'; message: string };

type DataOf<T extends RrType> = T extends 'MX' ? MxData : T extends 'TXT' ? string[] : string;

/** One query as a value; never throws. */
export async function lookup<T extends RrType>(dns: DnsQuery, name: string, type: T): Promise<Lookup<DataOf<T>>> {
  let ans: DnsAnswer;
  try {
    ans = await dns.query(name, type);
  } catch (e) {
    const code = e instanceof DnsError ? `${e.code}: ` : '';
    return { kind: 'error', message: `${code}${e instanceof Error ? e.message : String(e)}` };
  }
  if (ans.rcode === 'NXDOMAIN') return { kind: 'none', nxdomain: true };
  if (ans.rcode !== 'NOERROR') return { kind: 'error', message: `${ans.rcode} for ${type} ${name}` };
  if (ans.records.length === 0) return { kind: 'none', nxdomain: false };
  return { kind: 'found', values: ans.records.map((r) => r.data as DataOf<T>) };
}

/**
 * TXT records at a name, each record's character-strings joined: a long record is split
 * into 255-byte strings on the wire and means the concatenation (RFC 7208 §3.3, RFC 6376 §3.6.2.2).
 */
export async function lookupTxt(dns: DnsQuery, name: string): Promise<Lookup<string>> {
  const r = await lookup(dns, name, 'TXT');
  return r.kind === 'found' ? { kind: 'found', values: r.values.map((parts) => parts.join('')) } : r;
}

/**
 * Remembers each (name, type) answer for the life of the object: one checkDomain run asks
 * for the hostname's addresses, the domain's TXT and so on from several checks, and should
 * see one consistent answer for each.
 */
export function memoDns(dns: DnsQuery): DnsQuery {
  const seen = new Map<string, Promise<DnsAnswer>>();
  return {
    query(name: string, type: RrType): Promise<DnsAnswer> {
      const k = `${type} ${normHost(name)}`;
      let p = seen.get(k);
      if (!p) { p = dns.query(name, type); seen.set(k, p); }
      return p;
    },
  };
}

/** Host names compare case-insensitively and without the root dot. */
export function normHost(name: string): string {
  return name.trim().replace(/\.$/, '').toLowerCase();
}

/** The canonical (RFC 5952) text of an address, so "2001:DB8::1" and "2001:db8:0::1" compare equal. */
export function normIp(ip: string): string {
  try {
    const a = ipaddr.parse(ip);
    const v6 = a.kind() === 'ipv6' ? a as ipaddr.IPv6 : undefined;
    return v6?.isIPv4MappedAddress() ? v6.toIPv4Address().toString() : a.toString();
  } catch {
    return ip.trim().toLowerCase();
  }
}

/** in-addr.arpa / ip6.arpa name for an address (RFC 1035 §3.5, RFC 3596 §2.5). */
export function reverseName(ip: string): string {
  const a = ipaddr.parse(ip);
  if (a.kind() === 'ipv4') return `${a.toByteArray().reverse().join('.')}.in-addr.arpa`;
  const nibbles = a.toByteArray().flatMap((b) => [(b >> 4).toString(16), (b & 15).toString(16)]);
  return `${nibbles.reverse().join('.')}.ip6.arpa`;
}

function nodeError(code: string, syscall: string, name: string): Error {
  return Object.assign(new Error(`${syscall} ${code} ${name}`), { code, syscall, hostname: name });
}

const MAILAUTH_TYPES: readonly RrType[] = ['A', 'AAAA', 'MX', 'TXT', 'PTR', 'CNAME'];

/**
 * A `resolver` for mailauth that behaves like dns.promises.resolve: its result shapes and
 * its error codes, which mailauth's SPF code reads (ENOTFOUND/ENODATA are void lookups,
 * ETIMEOUT and EREFUSED are temperror, anything else is passed up as temperror too).
 */
export function mailauthResolver(dns: DnsQuery): (name: string, rrtype: string) => Promise<any> {
  return async (name: string, rrtype: string) => {
    const type = (rrtype ?? 'A').toUpperCase() as RrType;
    const syscall = `query${type.charAt(0)}${type.slice(1).toLowerCase()}`;
    if (!MAILAUTH_TYPES.includes(type)) throw nodeError('ENOTIMP', syscall, name);
    let ans: DnsAnswer;
    try {
      ans = await dns.query(name, type);
    } catch (e) {
      throw nodeError(e instanceof DnsError && e.code === 'E_DNS_TIMEOUT' ? 'ETIMEOUT' : 'ECONNREFUSED', syscall, name);
    }
    if (ans.rcode === 'NXDOMAIN') throw nodeError('ENOTFOUND', syscall, name);
    if (ans.rcode !== 'NOERROR') throw nodeError(`E${ans.rcode}`, syscall, name);
    if (ans.records.length === 0) throw nodeError('ENODATA', syscall, name);
    if (type === 'MX') return ans.records.map((r) => ({ exchange: (r.data as MxData).exchange, priority: (r.data as MxData).preference }));
    return ans.records.map((r) => r.data);
  };
}
