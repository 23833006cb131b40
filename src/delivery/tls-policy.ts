/**
 * delivery/tls-policy — what an attempt records about transport security: which policy
 * governed the host (DANE, MTA-STS or none), in which mode, whether TLS was required, and
 * how the certificate was checked. `mta queue show` prints these with every attempt, so an
 * operator can tell why mail waits for a host (or went to it unverified). Also the reply
 * for a host that failed the TLS its policy requires.
 *
 * Must never: decide anything (the router, delivery/mta-sts.ts and delivery/dane.ts do).
 */
import type { SessionTarget } from './transport.js';
import { mtaStsDetail } from './mta-sts.js';
import { metrics } from '../metrics/metrics.js';
import { resultType, type TlsRptTally } from './tls-rpt.js';

export type CertCheck = 'none' | 'pki' | 'dane-ee' | 'dane-ta' | 'dane';

/** The policy fields of an attempt (connected or not). */
export function tlsPolicyDetail(t: SessionTarget): Record<string, unknown> {
  const policy = t.dane ? 'dane' : t.mtaSts ? 'mta-sts' : 'none';
  const mode = t.dane ? 'dane' : t.mtaSts?.mode ?? 'none';
  return { tls_policy: policy, tls_mode: mode, tls_required: t.requireTls, cert_check: certCheck(t) };
}

/**
 * How the host's certificate is checked: against its TLSA records (DANE; none when all were
 * unusable), against the trusted CAs and the host name (pki: MTA-STS enforce, routes), or
 * not at all (opportunistic TLS).
 */
export function certCheck(t: SessionTarget): CertCheck {
  if (t.dane) {
    const usages = new Set(t.dane.records.map((r) => r.usage));
    return usages.size === 0 ? 'none' : usages.size === 2 ? 'dane' : usages.has(3) ? 'dane-ee' : 'dane-ta';
  }
  return t.verifyCertificate ? 'pki' : 'none';
}

/** The detail of an attempt over an open session, counted by policy and result. */
export function sessionTlsDetail(t: SessionTarget, secure: boolean): Record<string, unknown> {
  if (t.dane) metrics.dane.inc({ result: t.dane.records.length > 0 ? 'ok' : 'encrypted_only' });
  return { ...tlsPolicyDetail(t), ...mtaStsDetail(t, secure) };
}

/** A new session to a host under a policy, for TLS-RPT: testing-mode sessions enforce would refuse are failures. */
export function countSession(tally: TlsRptTally | undefined, hop: SessionTarget, secure: boolean): void {
  if (!tally || !hop.report) return;
  const refused = hop.reportFailure ?? (hop.mtaSts?.mode === 'testing' && (!secure ? 'starttls-not-supported' : !hop.mtaSts.allowed ? 'validation-failure' : undefined));
  if (refused) tally.failure(hop.report, refused, hop.hostName, hop.address); else tally.success(hop);
}

/** The reply for a host that failed the TLS its policy (or require_tls) asks for; counted (and tallied for TLS-RPT). */
export function tlsRequiredReply(hop: SessionTarget, domain: string, why: string, tally?: TlsRptTally): string {
  tally?.failure(hop.report, resultType(why), hop.hostName, hop.address);
  if (hop.dane) metrics.dane.inc({ result: 'tls_failed' });
  else if (hop.mtaSts) metrics.mtaSts.inc({ mode: 'enforce', result: 'tls_failed' });
  const by = hop.dane ? `TLS${hop.dane.records.length > 0 ? ' with a certificate matching its TLSA records' : ''} is required by DANE (_25._tcp.${hop.hostName})`
    : hop.mtaSts ? `verified TLS is required by the ${hop.mtaSts.label}` : `TLS is required for ${domain}`;
  return `421 4.7.10 ${by}, but ${hop.hostName}[${hop.address}] failed it: ${why}`;
}
