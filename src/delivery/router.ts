/**
 * delivery/router — where mail for a recipient domain goes: a static route (or the "*"
 * smarthost) when one matches, otherwise the domain's MX hosts; and which shaping entry
 * governs the destination (and, per egress source, which source shaping entry). The result is a list
 * of hops (one per address) to try in order.
 */
import punycode from 'punycode/punycode.js';
import type { Config, Route, Shaping } from '../config/config.js';
import type { MxResolver } from '../dns/mx.js';
import type { SessionTarget } from './transport.js';
import { applyMtaSts, type MtaStsPolicies } from './mta-sts.js';
import type { Dane } from './dane.js';
import { tlsaPolicy, type ReportPolicy } from './tls-rpt.js';

export type Plan =
  | { ok: true; hops: SessionTarget[]; via: 'mx' | 'route' | 'sink'; shaping: Shaping | undefined }
  /** report: the policy that refused every host, for TLS-RPT (delivery/tls-rpt.ts) */
  | { ok: false; permanent: boolean; reply: string; report?: { policy: ReportPolicy; result: string } };

/** Hops beyond this many are not tried in one attempt (Postfix: smtp_mx_address_limit). */
const MAX_HOPS = 10;

export function asciiDomain(domain: string): string {
  try {
    return punycode.toASCII(domain.toLowerCase());
  } catch {
    return domain.toLowerCase();
  }
}

export class Router {
  /** the development sink's hop (delivery/dev-sink.ts): when set, all mail goes there, routes and MX alike */
  sink: SessionTarget | undefined;
  /** MTA-STS policies (delivery/mta-sts.ts), applied to MX plans; unset: none */
  mtaSts: MtaStsPolicies | undefined;
  /** DANE (delivery/dane.ts), applied to MX hosts before MTA-STS; unset or disabled: none */
  dane: Dane | undefined;

  constructor(private config: Pick<Config, 'delivery' | 'routes'>, private readonly mx: MxResolver) {}

  reload(config: Pick<Config, 'delivery' | 'routes'>): void { this.config = config; }

  routeFor(domain: string): Route | undefined {
    const d = domain.toLowerCase();
    return this.config.routes.find((r) => r.domains.includes(d)) ?? this.config.routes.find((r) => r.domains.includes('*'));
  }

  /**
   * Shaping by recipient domain first, then by the suffix of any of its MX hosts. Entries
   * naming egress sources govern only mail from those sources (`source`), per source.
   */
  shapingFor(domain: string, mxNames: readonly string[] = [], source?: string): Shaping | undefined {
    const d = domain.toLowerCase();
    const entries = this.config.delivery.shaping.filter((s) => (source === undefined ? !s.egressSources : !!s.egressSources?.includes(source)));
    const byDomain = entries.find((s) => s.domains.includes(d));
    if (byDomain) return byDomain;
    return entries.find((s) => s.mxSuffixes.some((suf) => mxNames.some((n) => `.${n}`.endsWith(suf))));
  }

  async plan(domain: string): Promise<Plan> {
    if (this.sink) return { ok: true, via: 'sink', shaping: undefined, hops: [this.sink] };
    const route = this.routeFor(domain);
    if (route) {
      return {
        ok: true, via: 'route', shaping: this.shapingFor(domain),
        hops: [{
          address: route.host, port: route.port, hostName: route.host, tls: route.tls, requireTls: route.requireTls,
          verifyCertificate: route.tls !== 'none', ...(route.auth ? { auth: route.auth } : {}),
        }],
      };
    }
    // The MTA-STS lookup does not need the MX answer: both leave together, so a domain not seen
    // before costs one DNS round trip less before its first connection (a login code's first).
    const sts = this.mtaSts?.decide(asciiDomain(domain));
    sts?.catch(() => undefined); // awaited below; an MX failure returns before that
    const r = await this.mx.resolve(asciiDomain(domain));
    if (!r.ok) return { ok: false, permanent: r.permanent, reply: r.reply };
    const shaping = this.shapingFor(domain, r.hosts.map((h) => h.name));
    const requireTls = shaping?.requireTls ?? this.config.delivery.requireTls;
    let hops: SessionTarget[] = [];
    for (const h of r.hosts) {
      for (const address of h.addresses) {
        if (hops.length < MAX_HOPS) hops.push({ address, port: this.config.delivery.port, hostName: h.name, tls: 'starttls', requireTls });
      }
    }
    if (this.dane?.enabled) {
      // A host whose TLSA lookup failed is not used; with none left the mail waits (RFC 7672 §2.2).
      const d = await this.dane.apply(hops, asciiDomain(domain));
      if (d.hops.length === 0 && d.failed.length > 0) {
        return { ok: false, permanent: false, reply: `451 4.7.5 DANE: no MX host of ${domain} can be used: ${d.failed.join('; ')}`, report: { policy: tlsaPolicy(asciiDomain(domain), r.hosts[0]?.name ?? '', []), result: 'dnssec-invalid' } };
      }
      hops = d.hops;
    }
    if (!this.mtaSts || !sts) return { ok: true, via: 'mx', hops, shaping };
    return applyMtaSts(await sts, domain, r.hosts.map((h) => h.name), hops, this.mtaSts.trusted, shaping);
  }
}
