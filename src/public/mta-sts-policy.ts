/**
 * public/mta-sts-policy — our own MTA-STS policy (RFC 8461) for the bounce domains
 * (`<bounce_subdomain>.<domain>`, whose MX is this server): its text (mode, max_age and MX
 * names from `[domains.mta_sts]`), its id (a digest of the text, so it changes exactly when
 * the policy does), and which Host header it is served for: `mta-sts.<bounce domain>` of a
 * domain we have. The public listener serves it at /.well-known/mta-sts.txt.
 *
 * Must never: serve a policy for a domain that is not ours, or one that names MX hosts
 * other than the configured ones.
 */
import { createHash } from 'node:crypto';
import type { Config, OurMtaSts } from '../config/config.js';
import type { Store } from '../spool/types.js';

export const MTA_STS_PATH = '/.well-known/mta-sts.txt';

export function ourPolicyText(p: OurMtaSts): string {
  return ['version: STSv1', `mode: ${p.mode}`, ...p.mx.map((m) => `mx: ${m}`), `max_age: ${p.maxAgeS}`, ''].join('\r\n');
}

/** The `_mta-sts` TXT id: 20 hex digits of the policy's SHA-256. */
export function ourPolicyId(p: OurMtaSts): string {
  return createHash('sha256').update(ourPolicyText(p)).digest('hex').slice(0, 20);
}

/** The policy for a request's Host header, or undefined (not enabled, not such a name, not our domain). */
export async function policyForHost(host: string | undefined, config: Pick<Config, 'domains'>, store: Pick<Store, 'getDomain'>): Promise<string | undefined> {
  const p = config.domains.mtaSts;
  if (!p.enabled || !host) return undefined;
  const name = host.toLowerCase().replace(/:\d+$/, '').replace(/\.$/, '');
  const prefix = `mta-sts.${config.domains.bounceSubdomain}.`;
  if (!name.startsWith(prefix)) return undefined;
  const domain = name.slice(prefix.length);
  if (!domain || !(await store.getDomain(domain))) return undefined;
  return ourPolicyText(p);
}
