/**
 * dns/mx — where mail for a domain goes: its MX hosts in preference order with their
 * addresses, or the reason there is nowhere to go, as one of DirectMail's DNS reply codes
 * (524 host not found, 526 no data, 423 temporary resolver error) so that delivery/classify
 * treats a DNS failure exactly like the same failure reported by a remote server.
 *
 * Results are cached for as long as the zone allows (so a busy queue to one domain costs one
 * lookup per TTL, not one per message), concurrent lookups for a domain share one query, and
 * equal-preference hosts are shuffled on every call, cached or not, to spread load the way
 * RFC 5321 §5.1 asks.
 */
import net from 'node:net';
import { DnsError, type DnsAnswer, type DnsClient, type MxData } from './client.js';

export interface MxHost {
  name: string;
  preference: number;
  addresses: string[];
  /** No MX: the domain's own A/AAAA records are used (RFC 5321 §5.1). */
  implicit: boolean;
}

export type MxResult =
  | { ok: true; hosts: MxHost[] }
  | { ok: false; permanent: boolean; code: 524 | 526 | 423; enhanced: string; reply: string };

export interface MxResolverOptions { now?: () => number; maxEntries?: number; random?: () => number }

const MIN_TTL = 5;
const MAX_POSITIVE_TTL = 86_400;
const MAX_NEGATIVE_TTL = 3_600;
/** Long enough to absorb a burst of messages, short enough that a fixed zone is seen soon. */
const TEMPORARY_TTL = 5;
/** Part of the answer failed for now (one family, one MX host): do not keep it long. */
const PARTIAL_TTL = 60;

interface Entry { result: MxResult; ttl: number }
interface CacheSlot { result: MxResult; expires: number }

const clamp = (v: number, lo: number, hi: number): number => Math.min(hi, Math.max(lo, v));

function temporary(domain: string, what: string): Entry {
  return {
    result: { ok: false, permanent: false, code: 423, enhanced: '4.4.3', reply: `423 4.4.3 Dns resolve error: ${domain}: ${what}` },
    ttl: TEMPORARY_TTL,
  };
}

function noData(enhanced: string, text: string, ttl: number): Entry {
  return {
    result: { ok: false, permanent: true, code: 526, enhanced, reply: `526 ${enhanced} No data by dns resolve: ${text}` },
    ttl: clamp(ttl, MIN_TTL, MAX_NEGATIVE_TTL),
  };
}

function describe(e: unknown): string {
  return e instanceof DnsError ? `${e.code} ${e.message}` : String((e as Error)?.message ?? e);
}

/** Addresses of one host name: IPv4 first, then IPv6. */
type HostLookup =
  | { kind: 'ok'; addresses: string[]; ttl: number }
  | { kind: 'none'; ttl: number }
  | { kind: 'temporary'; what: string };

export class MxResolver {
  private readonly now: () => number;
  private readonly maxEntries: number;
  private readonly random: () => number;
  private readonly cache = new Map<string, CacheSlot>();
  private readonly inflight = new Map<string, Promise<MxResult>>();

  constructor(private readonly dns: DnsClient, opts: MxResolverOptions = {}) {
    this.now = opts.now ?? Date.now;
    this.maxEntries = Math.max(1, opts.maxEntries ?? 10_000);
    this.random = opts.random ?? Math.random;
  }

  async resolve(domain: string): Promise<MxResult> {
    const d = domain.replace(/\.$/, '').toLowerCase();
    const literal = /^\[(?:ipv6:)?([^\]]+)\]$/.exec(d);
    if (literal) {
      const ip = literal[1]!;
      if (net.isIP(ip) === 0) {
        return { ok: false, permanent: true, code: 524, enhanced: '5.1.2', reply: `524 5.1.2 Host not found by dns resolve: ${domain} is not an address literal` };
      }
      return { ok: true, hosts: [{ name: d, preference: 0, addresses: [ip], implicit: true }] };
    }
    const slot = this.cache.get(d);
    if (slot && slot.expires > this.now()) return this.shuffled(slot.result);
    if (slot) this.cache.delete(d);
    let p = this.inflight.get(d);
    if (!p) {
      p = this.lookup(d).then(
        (entry) => { this.store(d, entry); return entry.result; },
        (e: unknown) => { const entry = temporary(d, describe(e)); this.store(d, entry); return entry.result; },
      ).finally(() => this.inflight.delete(d));
      this.inflight.set(d, p);
    }
    return this.shuffled(await p);
  }

  /** Forgets every answer: they came from DNS servers a reload has just replaced. */
  clear(): void {
    this.cache.clear();
  }

  private store(domain: string, entry: Entry): void {
    this.cache.delete(domain);
    while (this.cache.size >= this.maxEntries) {
      const oldest = this.cache.keys().next();
      if (oldest.done) break;
      this.cache.delete(oldest.value);
    }
    this.cache.set(domain, { result: entry.result, expires: this.now() + entry.ttl * 1000 });
  }

  /** A copy with equal-preference runs shuffled (Fisher-Yates within each run). */
  private shuffled(result: MxResult): MxResult {
    if (!result.ok) return { ...result };
    const hosts = result.hosts.map((h) => ({ ...h, addresses: [...h.addresses] }));
    for (let start = 0; start < hosts.length;) {
      let end = start + 1;
      while (end < hosts.length && hosts[end]!.preference === hosts[start]!.preference) end++;
      for (let i = end - 1; i > start; i--) {
        const j = start + Math.floor(this.random() * (i - start + 1));
        [hosts[i], hosts[j]] = [hosts[j]!, hosts[i]!];
      }
      start = end;
    }
    return { ok: true, hosts };
  }

  private async lookup(domain: string): Promise<Entry> {
    let mx: DnsAnswer;
    try {
      mx = await this.dns.query(domain, 'MX');
    } catch (e) {
      return temporary(domain, describe(e));
    }
    if (mx.rcode === 'NXDOMAIN') {
      return {
        result: { ok: false, permanent: true, code: 524, enhanced: '5.1.2', reply: `524 5.1.2 Host not found by dns resolve: ${domain}` },
        ttl: clamp(mx.ttl, MIN_TTL, MAX_NEGATIVE_TTL),
      };
    }
    if (mx.rcode !== 'NOERROR') return temporary(domain, `${mx.rcode} for MX ${domain}`);

    const records = mx.records.map((r) => r.data as MxData);
    if (records.length === 1 && records[0]!.exchange === '') {
      return noData('5.1.10', `${domain} publishes a null MX (RFC 7505) and accepts no mail`, mx.ttl);
    }
    if (records.length === 0) return this.implicit(domain, mx.ttl);

    // A "." among real MX records is a misconfiguration; the real ones still work.
    const targets = records
      .filter((r) => r.exchange !== '')
      .sort((a, b) => a.preference - b.preference || (a.exchange < b.exchange ? -1 : a.exchange > b.exchange ? 1 : 0));
    const lookups = await Promise.all(targets.map((t) => this.addresses(t.exchange)));
    const hosts: MxHost[] = [];
    let ttl = mx.ttl;
    let partial = false;
    const failed: string[] = [];
    const temporaries: string[] = [];
    let negativeTtl = mx.ttl;
    lookups.forEach((l, i) => {
      const t = targets[i]!;
      if (l.kind === 'ok') {
        hosts.push({ name: t.exchange, preference: t.preference, addresses: l.addresses, implicit: false });
        ttl = Math.min(ttl, l.ttl);
      } else if (l.kind === 'none') {
        failed.push(t.exchange);
        negativeTtl = Math.min(negativeTtl, l.ttl);
      } else {
        failed.push(t.exchange);
        temporaries.push(`MX host ${t.exchange}: ${l.what}`);
        partial = true;
      }
    });
    if (hosts.length === 0) {
      if (temporaries.length > 0) return temporary(domain, temporaries.join('; '));
      return noData('5.1.2', `no address for MX hosts ${failed.join(', ')}`, negativeTtl);
    }
    // A host that failed only for now may work a minute later: look again soon.
    if (partial) ttl = Math.min(ttl, PARTIAL_TTL);
    return { result: { ok: true, hosts }, ttl: clamp(ttl, MIN_TTL, MAX_POSITIVE_TTL) };
  }

  private async implicit(domain: string, mxTtl: number): Promise<Entry> {
    const l = await this.addresses(domain);
    if (l.kind === 'temporary') return temporary(domain, `no MX, and for the implicit MX: ${l.what}`);
    if (l.kind === 'none') return noData('5.1.2', `${domain} has no MX and no address records`, Math.min(mxTtl, l.ttl));
    return {
      result: { ok: true, hosts: [{ name: domain, preference: 0, addresses: l.addresses, implicit: true }] },
      ttl: clamp(Math.min(mxTtl, l.ttl), MIN_TTL, MAX_POSITIVE_TTL),
    };
  }

  /**
   * A then AAAA, asked together. One family failing for now while the other answers still
   * counts as usable (delivery can proceed on what we have); both failing is temporary.
   */
  private async addresses(host: string): Promise<HostLookup> {
    if (net.isIP(host) !== 0) return { kind: 'ok', addresses: [host], ttl: MAX_POSITIVE_TTL };
    const [a, aaaa] = await Promise.all([this.family(host, 'A'), this.family(host, 'AAAA')]);
    const addresses = [...(a.kind === 'ok' ? a.addresses : []), ...(aaaa.kind === 'ok' ? aaaa.addresses : [])];
    if (addresses.length > 0) {
      const ttls = [a, aaaa].flatMap((x) => (x.kind === 'ok' ? [x.ttl] : []));
      const partial = a.kind === 'temporary' || aaaa.kind === 'temporary';
      return { kind: 'ok', addresses, ttl: partial ? Math.min(PARTIAL_TTL, ...ttls) : Math.min(...ttls) };
    }
    if (a.kind === 'temporary') return a;
    if (aaaa.kind === 'temporary') return aaaa;
    return { kind: 'none', ttl: Math.min(a.kind === 'none' ? a.ttl : MAX_NEGATIVE_TTL, aaaa.kind === 'none' ? aaaa.ttl : MAX_NEGATIVE_TTL) };
  }

  private async family(host: string, type: 'A' | 'AAAA'): Promise<HostLookup> {
    let ans: DnsAnswer;
    try {
      ans = await this.dns.query(host, type);
    } catch (e) {
      return { kind: 'temporary', what: describe(e) };
    }
    if (ans.rcode === 'NXDOMAIN') return { kind: 'none', ttl: ans.ttl };
    if (ans.rcode !== 'NOERROR') return { kind: 'temporary', what: `${ans.rcode} for ${type} ${host}` };
    if (ans.records.length === 0) return { kind: 'none', ttl: ans.ttl };
    return { kind: 'ok', addresses: ans.records.map((r) => r.data as string), ttl: ans.ttl };
  }
}
