/**
 * dns/context — what every domain check is given (the server's identity and a DNS client)
 * and what it hands back, plus the one fact several checks need first: which IPs our mail
 * leaves from. Kept apart from checker.ts so the SPF module and the record builder can use
 * it without importing the checker.
 */
import { isIP } from 'node:net';
import type { DnsClient } from './client.js';
import type { OurMtaSts } from '../config/config.js';
import type { DomainCheckName, DomainCheckRecord, DomainCheckStatus, DomainStatus } from '../spool/types-domains.js';
import { lookup, normIp, type DnsQuery } from './resolver.js';

export interface CheckContext {
  /** our stub client (or anything answering like it); every query goes through it */
  dns: DnsClient | DnsQuery;
  /** our EHLO name; PTRs must name it */
  hostname: string;
  /** configured public IPs; when empty the hostname's A/AAAA addresses are used */
  sendingIps: string[];
  /** label of the ownership TXT, e.g. "_mta" */
  ownershipRecord: string;
  /** the MX that should receive bounces and replies */
  mxHost: string;
  dmarcRua?: string | undefined;
  /** label, e.g. "track": track.<domain> must CNAME to publicHost */
  trackingHost?: string | undefined;
  /** host of public.base_url */
  publicHost?: string | undefined;
  /** label, e.g. "bounce": set when inbound.listen is on, so <label>.<domain> gets an MX to mxHost (VERP bounces) */
  bounceSubdomain?: string | undefined;
  /** our MTA-STS policy for the bounce domains, when [domains.mta_sts] is enabled (records proposed for it) */
  ourMtaSts?: OurMtaSts | undefined;
  now?: (() => number) | undefined;
  /**
   * Egress sources (delivery/egress.ts) mail of `domain` may leave from (every one without
   * a domain). When there are any, they replace sendingIps: SPF must pass for each address,
   * and each address's PTR must name the source's HELO name, not `hostname`.
   */
  egressSources?: ((domain?: string) => EgressSourceRef[]) | undefined;
}

export interface EgressSourceRef { name: string; address: string; helo: string }

export interface DomainCheckResult { domain: string; status: DomainStatus; checks: DomainCheckRecord[]; problems: string[] }

/** One check's record plus advice that does not change its status (shown as problems). */
export interface Outcome { rec: DomainCheckRecord; warnings: string[] }

export interface OutcomeFields { expected?: string | null; found?: string | null; detail?: string | null; warnings?: string[] }

export function outcome(domain: string, name: DomainCheckName, status: DomainCheckStatus, f: OutcomeFields, now: number): Outcome {
  return {
    rec: { domain, name, status, expected: f.expected ?? null, found: f.found ?? null, detail: oneLine(f.detail ?? null), checkedAt: now },
    warnings: f.warnings ?? [],
  };
}

/** detail is shown in one table cell: no line breaks, however a DNS error was worded. */
function oneLine(s: string | null): string | null {
  return s === null ? null : s.replace(/\s*[\r\n]+\s*/g, ' ');
}

export interface SendingIps {
  ips: string[];
  /** where they came from, for messages */
  source: 'config' | 'hostname' | 'egress';
  /** set when the hostname's addresses could not be read */
  error?: string;
}

/** The egress source addresses for `domain` when there are any, else the configured sending IPs, else the hostname's addresses. */
export async function sendingIps(ctx: CheckContext, dns: DnsQuery, domain?: string): Promise<SendingIps> {
  const sources = ctx.egressSources?.(domain) ?? [];
  if (sources.length > 0) return { ips: [...new Set(sources.map((s) => normIp(s.address)))], source: 'egress' };
  if (ctx.sendingIps.length > 0) {
    // The config schema refuses these already; a caller building a context by hand gets a
    // check result saying so rather than an exception from the PTR name arithmetic.
    const bad = ctx.sendingIps.find((ip) => isIP(ip) === 0);
    if (bad !== undefined) return { ips: [], source: 'config', error: `delivery.sending_ips has "${bad}", which is not an IP address` };
    return { ips: [...new Set(ctx.sendingIps.map(normIp))], source: 'config' };
  }
  const [a, aaaa] = await Promise.all([lookup(dns, ctx.hostname, 'A'), lookup(dns, ctx.hostname, 'AAAA')]);
  const ips = [a, aaaa].flatMap((r) => (r.kind === 'found' ? r.values.map(normIp) : []));
  const errors = [a, aaaa].flatMap((r) => (r.kind === 'error' ? [r.message] : []));
  // One family failing while the other answered still tells us where mail leaves from.
  if (ips.length === 0 && errors.length > 0) return { ips, source: 'hostname', error: errors[0]! };
  return { ips, source: 'hostname' };
}

/** Advice when no sending IP is known at all. */
export function noIpsAdvice(hostname: string): string {
  return `no sending IP known: set delivery.sending_ips or publish an A/AAAA record for ${hostname}`;
}
