/**
 * delivery/dane — DANE for SMTP (RFC 7672) when delivering: the TLSA records of each MX host
 * (`_25._tcp.<mx>`), asked of the DNSSEC-validating resolver the operator names
 * (`dns.dnssec_resolver`, off unless `[delivery.dane] enabled`), and only when the domain's
 * MX RRset and the host's address records are validated too (§2.2.1, §2.2.2). Validated, usable records
 * (DANE-TA(2), DANE-EE(3); selector 0/1; matching 0/1/2) make TLS required for that host and
 * its certificate checked against them (`daneVerify`, called by delivery/transport.ts before
 * any mail is sent); validated records that are all unusable still require TLS, without
 * authentication (§2.2); no records, or an answer without AD, leave the host as it was.
 * A host with TLSA records is governed by them, not by an MTA-STS policy (RFC 8461 §2).
 *
 * Must never: trust an AD bit from any server but dns.dnssec_resolver, use PKIX-TA(0) or
 * PKIX-EE(1) records, or take a bogus or failed lookup for "no records" — such a host is not
 * used (the mail defers when no host is left).
 */
import { createHash, X509Certificate } from 'node:crypto';
import { isIP } from 'node:net';
import type { DetailedPeerCertificate } from 'node:tls';
import type { Logger } from 'pino';
import type { Config } from '../config/config.js';
import { DnsClient, DnsError, type TlsaData } from '../dns/client.js';
import type { SessionTarget } from './transport.js';
import { metrics } from '../metrics/metrics.js';
import { tlsaPolicy } from './tls-rpt.js';

export interface TlsaRecord { usage: number; selector: number; matchingType: number; data: Buffer }

export type TlsaLookup =
  /** no TLSA records, or the answer was not validated: DANE does not apply to the host */
  | { kind: 'none' }
  /** validated records; `usable` may be empty (all unusable: TLS required, not authenticated) */
  | { kind: 'dane'; usable: TlsaRecord[] }
  /** bogus (the validator's SERVFAIL) or no answer: the host must not be used */
  | { kind: 'failed'; why: string };

/** Validated answers are kept for their TTL, at most this long. */
const MAX_CACHE_S = 3600;
const MAX_CACHED = 10_000;
const HASH_LENGTH: Record<number, number> = { 1: 32, 2: 64 };

/** Whether a record can be used for SMTP (§3.1): DANE-TA or DANE-EE, known selector and matching type, a digest of the right length. */
export function usableTlsa(r: TlsaRecord): boolean {
  if (r.usage !== 2 && r.usage !== 3) return false;
  if (r.selector !== 0 && r.selector !== 1) return false;
  if (r.matchingType === 0) return r.data.length > 0;
  return HASH_LENGTH[r.matchingType] === r.data.length;
}

export class Dane {
  private dns: DnsClient | undefined;
  private resolver: string | undefined;
  private readonly cache = new Map<string, { lookup: TlsaLookup; until: number }>();
  private readonly secured = new Map<string, { secure: boolean; until: number }>();

  constructor(private config: Pick<Config, 'delivery' | 'dns'>, private readonly log: Logger, private readonly now: () => number = Date.now) {
    this.reload(config);
  }

  reload(config: Pick<Config, 'delivery' | 'dns'>): void {
    this.config = config;
    const resolver = config.delivery.dane.enabled ? config.dns.dnssecResolver : undefined;
    if (resolver === this.resolver) return;
    this.dns?.close();
    this.resolver = resolver;
    this.dns = resolver ? new DnsClient({ servers: [resolver], dnssec: true }) : undefined;
    this.cache.clear();
    this.secured.clear();
  }

  get enabled(): boolean { return !!this.dns; }

  close(): void { this.dns?.close(); }

  /** The TLSA records of an MX host, as DANE sees them. */
  async lookup(host: string): Promise<TlsaLookup> {
    const name = `_25._tcp.${host.replace(/\.$/, '').toLowerCase()}`;
    const hit = this.cache.get(name);
    if (hit && hit.until > this.now()) return hit.lookup;
    if (!this.dns) return { kind: 'none' };
    let lookup: TlsaLookup;
    let ttl = 0;
    try {
      const a = await this.dns.query(name, 'TLSA');
      ttl = a.ttl;
      if (a.rcode === 'NXDOMAIN' || (a.rcode === 'NOERROR' && a.records.length === 0)) lookup = { kind: 'none' };
      else if (a.rcode !== 'NOERROR') lookup = { kind: 'failed', why: `${a.rcode} for TLSA ${name} from the DNSSEC resolver (bogus or unreachable zone)` };
      // Not validated (an insecure zone, or a resolver that does not validate): no DANE (§2.1).
      else if (!a.authentic) lookup = { kind: 'none' };
      else {
        const all = a.records.map((r) => { const d = r.data as TlsaData; return { usage: d.usage, selector: d.selector, matchingType: d.matchingType, data: d.certificate }; });
        lookup = { kind: 'dane', usable: all.filter(usableTlsa) };
      }
    } catch (e) {
      if (!(e instanceof DnsError)) throw e;
      lookup = { kind: 'failed', why: `TLSA ${name}: ${e.message}` };
    }
    if (lookup.kind !== 'failed') {
      if (this.cache.size >= MAX_CACHED) this.cache.clear();
      this.cache.set(name, { lookup, until: this.now() + Math.min(Math.max(ttl, 0), MAX_CACHE_S) * 1000 });
    }
    return lookup;
  }

  /**
   * The hops under DANE: hosts with validated TLSA records get TLS required and their
   * records; hosts whose lookup failed are left out (`failed` says why); the rest unchanged.
   */
  async apply(hops: SessionTarget[], domain: string): Promise<{ hops: SessionTarget[]; failed: string[] }> {
    // An MX RRset (or its absence) that is not validated may be an attacker's: no DANE (§2.2.1).
    const mx = await this.secure(domain, 'MX');
    if (mx !== true) return mx === false ? { hops, failed: [] } : this.fail(hops.map((h) => `${h.hostName}: ${mx}`), []);
    const byHost = new Map<string, Promise<TlsaLookup>>();
    for (const h of hops) if (!byHost.has(h.hostName)) byHost.set(h.hostName, this.hostLookup(h));
    const out: SessionTarget[] = [];
    const failed = new Set<string>();
    for (const h of hops) {
      const l = await byHost.get(h.hostName)!;
      if (l.kind === 'failed') { failed.add(`${h.hostName}: ${l.why}`); continue; }
      // DANE checks the certificate itself: no CA verification, which a DANE-EE self-signed certificate would fail.
      out.push(l.kind === 'none' ? h : { ...h, requireTls: true, verifyCertificate: false, dane: { records: l.usable }, report: tlsaPolicy(domain, h.hostName, l.usable) });
    }
    return this.fail([...failed], out);
  }

  private fail(failed: string[], hops: SessionTarget[]): { hops: SessionTarget[]; failed: string[] } {
    if (failed.length > 0) {
      metrics.dane.inc({ result: 'lookup_failed' }, failed.length);
      this.log.warn({ failed }, 'DANE: DNSSEC lookup failed; those MX hosts are not used');
    }
    return { hops, failed };
  }

  /** TLSA records of a host whose address records are validated; others get none (§2.2.2). */
  private async hostLookup(h: SessionTarget): Promise<TlsaLookup> {
    const addr = await this.secure(h.hostName, isIP(h.address) === 6 ? 'AAAA' : 'A');
    if (addr !== true) return addr === false ? { kind: 'none' } : { kind: 'failed', why: addr };
    return this.lookup(h.hostName);
  }

  /** Whether the validating resolver vouches for (name, type): true, false (insecure), or why the lookup failed (bogus, no answer). */
  private async secure(name: string, type: 'MX' | 'A' | 'AAAA'): Promise<boolean | string> {
    const key = `${type} ${name.toLowerCase()}`;
    const hit = this.secured.get(key);
    if (hit && hit.until > this.now()) return hit.secure;
    if (!this.dns) return false;
    let answer;
    try {
      answer = await this.dns.query(name, type);
    } catch (e) {
      if (!(e instanceof DnsError)) throw e;
      return `${type} ${name}: ${e.message}`;
    }
    if (answer.rcode !== 'NOERROR' && answer.rcode !== 'NXDOMAIN') return `${answer.rcode} for ${type} ${name} from the DNSSEC resolver (bogus or unreachable zone)`;
    const secure = !!answer.authentic;
    if (this.secured.size >= MAX_CACHED) this.secured.clear();
    this.secured.set(key, { secure, until: this.now() + Math.min(Math.max(answer.ttl, 0), MAX_CACHE_S) * 1000 });
    return secure;
  }
}

function digest(r: TlsaRecord, der: Buffer): boolean {
  const selected = r.selector === 0 ? der : new X509Certificate(der).publicKey.export({ type: 'spki', format: 'der' });
  const value = r.matchingType === 0 ? selected : createHash(r.matchingType === 1 ? 'sha256' : 'sha512').update(selected).digest();
  return value.equals(r.data);
}

/** The peer's chain as DER, leaf first, as it presented it. */
function chainOf(peer: DetailedPeerCertificate): Buffer[] {
  const out: Buffer[] = [];
  for (let c: DetailedPeerCertificate | undefined = peer; c?.raw && out.length < 10; c = c.issuerCertificate === c ? undefined : c.issuerCertificate) out.push(c.raw);
  return out;
}

/**
 * Checks a peer's certificate chain against usable TLSA records; undefined when one
 * matches, else why not. DANE-EE(3): the leaf matches (no name or date check, §3.1.1).
 * DANE-TA(2): a certificate above the leaf matches, the chain up to it is signed link by
 * link, and the leaf is valid now and for the MX host name (§3.1.2, §3.2.2).
 */
export function daneVerify(peer: DetailedPeerCertificate | undefined, host: string, records: readonly TlsaRecord[], now = Date.now()): string | undefined {
  const chain = peer ? chainOf(peer) : [];
  if (chain.length === 0) return 'the host presented no certificate';
  const leaf = chain[0]!;
  if (records.some((r) => r.usage === 3 && digest(r, leaf))) return undefined;
  for (let i = 1; i < chain.length; i++) {
    if (!records.some((r) => r.usage === 2 && digest(r, chain[i]!))) continue;
    const certs = chain.slice(0, i + 1).map((d) => new X509Certificate(d));
    const linked = certs.slice(0, -1).every((c, j) => c.checkIssued(certs[j + 1]!) && c.verify(certs[j + 1]!.publicKey));
    if (!linked) return `the chain to the DANE-TA certificate does not verify`;
    const l = certs[0]!;
    if (Date.parse(l.validFrom) > now || Date.parse(l.validTo) < now) return `the certificate is not valid now (${l.validFrom} to ${l.validTo})`;
    if (!l.checkHost(host.replace(/\.$/, ''))) return `the certificate is not for ${host}`;
    return undefined;
  }
  return `no TLSA record of _25._tcp.${host} matches the certificate (${records.length} usable record${records.length === 1 ? '' : 's'})`;
}
