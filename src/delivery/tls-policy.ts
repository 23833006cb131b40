/**
 * delivery/tls-policy — what an attempt records about transport security: which policy
 * governed the host (DANE, MTA-STS or none), in which mode, whether TLS was required, and
 * how the certificate was checked. `mta queue show` prints these with every attempt, so an
 * operator can tell why mail waits for a host (or went to it unverified).
 *
 * Must never: decide anything (delivery/mta-sts.ts and the router do) or count metrics.
 */
import type { SessionTarget } from './transport.js';

export type CertCheck = 'none' | 'pki' | 'dane-ee' | 'dane-ta';

/** The policy fields of an attempt (connected or not). */
export function tlsPolicyDetail(t: SessionTarget): Record<string, unknown> {
  const policy = t.dane ? 'dane' : t.mtaSts ? 'mta-sts' : 'none';
  const mode = t.dane ? 'dane' : t.mtaSts?.mode ?? 'none';
  return { tls_policy: policy, tls_mode: mode, tls_required: t.requireTls, cert_check: certCheck(t) };
}

/**
 * How the host's certificate is checked: against its TLSA records (DANE), against the trusted
 * CAs and the host name (pki: MTA-STS enforce, routes), or not at all (opportunistic TLS).
 */
export function certCheck(t: SessionTarget): CertCheck {
  if (t.dane) return t.dane.usages.includes(3) ? 'dane-ee' : 'dane-ta';
  return t.verifyCertificate ? 'pki' : 'none';
}
