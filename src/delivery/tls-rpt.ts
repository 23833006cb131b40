/**
 * delivery/tls-rpt — TLS reporting (RFC 8460), the counting and the report: every session
 * (or refusal) under an MTA-STS or DANE policy is tallied in memory by policy domain, UTC
 * day, policy, result type and host, and flushed to the spool by the reporter
 * (delivery/tls-rpt-send.ts); `buildReport` turns a domain's day of counts into the RFC 8460
 * JSON. A domain that publishes an MTA-STS record whose policy cannot be fetched (or is not
 * valid) has its sessions counted as failures under a "no-policy-found" policy, with result
 * `sts-policy-fetch-error`, `sts-policy-invalid` or `sts-webpki-invalid` (§4.3). Domains
 * with no policy at all are not counted (no successful "no-policy-found" sessions).
 *
 * Must never: block or fail a delivery (counting is memory only), or count a session twice.
 */
import type { TlsRptCount } from '../spool/types-tlsrpt.js';
import type { SessionTarget } from './transport.js';

/** What a report says about the policy that governed a host: the domain and the report's "policy" object. */
export interface ReportPolicy { domain: string; policy: string }

/** The "policy" object of an MTA-STS policy (RFC 8460 §4.3). */
export function stsPolicy(domain: string, mode: string, mx: readonly string[], maxAgeS: number): ReportPolicy {
  const lines = ['version: STSv1', `mode: ${mode}`, ...mx.map((m) => `mx: ${m}`), `max_age: ${maxAgeS}`];
  return { domain, policy: JSON.stringify({ 'policy-type': 'sts', 'policy-string': lines, 'policy-domain': domain, 'mx-host': [...mx] }) };
}

/** The "policy" object for a domain whose MTA-STS policy could not be had (RFC 8460 §4.3, "no-policy-found"). */
export function noPolicyFound(domain: string): ReportPolicy {
  return { domain, policy: JSON.stringify({ 'policy-type': 'no-policy-found', 'policy-string': [], 'policy-domain': domain }) };
}

/** Why an announced MTA-STS policy could not be used (RFC 8460 §4.3): its text, its HTTPS certificate, or the fetch. */
export type StsFetchResult = 'sts-policy-invalid' | 'sts-webpki-invalid' | 'sts-policy-fetch-error';

/** The result type of a failed policy fetch: a certificate Node refused is `sts-webpki-invalid`. */
export function stsFetchResult(e: unknown): Exclude<StsFetchResult, 'sts-policy-invalid'> {
  const code = String((e as NodeJS.ErrnoException | undefined)?.code ?? '');
  return /CERT|SELF_SIGNED|UNABLE_TO_(GET|VERIFY)|ALTNAME|HOSTNAME/.test(code) ? 'sts-webpki-invalid' : 'sts-policy-fetch-error';
}

/** The "policy" object of an MX host's TLSA records (presentation format, hex in upper case). */
export function tlsaPolicy(domain: string, mx: string, records: readonly { usage: number; selector: number; matchingType: number; data: Buffer }[]): ReportPolicy {
  const lines = records.map((r) => `${r.usage} ${r.selector} ${r.matchingType} ${r.data.toString('hex').toUpperCase()}`);
  return { domain, policy: JSON.stringify({ 'policy-type': 'tlsa', 'policy-string': lines, 'policy-domain': domain, 'mx-host': [mx] }) };
}

/** The RFC 8460 §4.3 result type for a TLS failure, from its message. */
export function resultType(why: string): string {
  if (/^DANE: no TLSA record|TLSA records/i.test(why)) return 'validation-failure';
  if (/STARTTLS|not offered|no TLS/i.test(why)) return 'starttls-not-supported';
  if (/expired|not valid now/i.test(why)) return 'certificate-expired';
  if (/altname|not for |does not match|host name/i.test(why)) return 'certificate-host-mismatch';
  if (/self.signed|unable to (get|verify)|not trusted|certificate chain|untrusted/i.test(why)) return 'certificate-not-trusted';
  return 'validation-failure';
}

export const utcDay = (ms: number): string => new Date(ms).toISOString().slice(0, 10);

/** The counts of this node not yet in the spool. */
export class TlsRptTally {
  private rows = new Map<string, TlsRptCount>();

  constructor(private readonly now: () => number = Date.now) {}

  /** A session to a host under a policy was set up as the policy asks. */
  success(hop: SessionTarget): void { if (hop.report) this.add(hop.report, 'success', hop.hostName, hop.address); }

  /** A session (or, without a host, the plan) failed the policy, for this result type. */
  failure(report: ReportPolicy | undefined, result: string, mx = '', ip = ''): void { if (report) this.add(report, result, mx, ip); }

  get size(): number { return this.rows.size; }

  /** The counts so far, handed over once (the caller writes them; on failure it may `restore` them). */
  drain(): TlsRptCount[] {
    const out = [...this.rows.values()];
    this.rows = new Map();
    return out;
  }

  restore(rows: readonly TlsRptCount[]): void { for (const r of rows) this.add({ domain: r.domain, policy: r.policy }, r.result, r.mx, r.ip, r.count, r.day); }

  private add(p: ReportPolicy, result: string, mx: string, ip: string, count = 1, day = utcDay(this.now())): void {
    // Successes are not told apart by host: the report lists hosts for failures only.
    const [m, i] = result === 'success' ? ['', ''] : [mx, ip];
    const key = JSON.stringify([p.domain, day, p.policy, result, m, i]);
    const row = this.rows.get(key);
    if (row) row.count += count; else this.rows.set(key, { domain: p.domain, day, policy: p.policy, result, mx: m, ip: i, count });
  }
}

export interface ReportMeta { organization: string; contact: string; reportId: string }

/** The RFC 8460 §4.4 report of one domain's day. */
export function buildReport(day: string, counts: readonly TlsRptCount[], meta: ReportMeta): Record<string, unknown> {
  const byPolicy = new Map<string, TlsRptCount[]>();
  for (const c of counts) byPolicy.set(c.policy, [...(byPolicy.get(c.policy) ?? []), c]);
  return {
    'organization-name': meta.organization,
    'date-range': { 'start-datetime': `${day}T00:00:00Z`, 'end-datetime': `${day}T23:59:59Z` },
    'contact-info': meta.contact,
    'report-id': meta.reportId,
    policies: [...byPolicy].map(([policy, rows]) => {
      const failures = rows.filter((r) => r.result !== 'success');
      return {
        policy: JSON.parse(policy) as unknown,
        summary: {
          'total-successful-session-count': rows.filter((r) => r.result === 'success').reduce((n, r) => n + r.count, 0),
          'total-failure-session-count': failures.reduce((n, r) => n + r.count, 0),
        },
        ...(failures.length ? {
          'failure-details': failures.map((r) => ({
            'result-type': r.result, ...(r.ip ? { 'receiving-ip': r.ip } : {}), ...(r.mx ? { 'receiving-mx-hostname': r.mx } : {}), 'failed-session-count': r.count,
          })),
        } : {}),
      };
    }),
  };
}
