/**
 * delivery/mta-sts — MTA-STS (RFC 8461) for outgoing mail: finds a recipient domain's policy
 * (`_mta-sts.<domain>` TXT, then https://mta-sts.<domain>/.well-known/mta-sts.txt), keeps it
 * in memory and in the spool for its max_age, refetches it when the TXT id changes or the
 * policy nears its end, and applies it to a delivery plan: in "enforce" mode only MX hosts
 * the policy lists are tried, with TLS required and the certificate verified for the MX name.
 * A background sweep (start/stop) revalidates every cached policy by its TXT id and renews
 * those nearing their end, so a domain that gets mail rarely does not lose its policy (§5.1).
 *
 * Must never: follow a redirect, accept a policy that is not 200 text/plain within 64 KiB,
 * or drop a cached, unexpired policy because a fetch or a DNS lookup failed (§5.1) — a
 * failure to find a policy must not weaken one we already know.
 */
import https from 'node:https';
import { readFileSync } from 'node:fs';
import { checkServerIdentity, rootCertificates } from 'node:tls';
import { X509Certificate } from 'node:crypto';
import { MtaError } from '../util/errors.js';
import { parsePolicy } from 'mailauth/lib/mta-sts.js';
import type { Logger } from 'pino';
import type { Config } from '../config/config.js';
import type { MtaStsPolicyRecord, MtaStsStore } from '../spool/types-mtasts.js';
import { DnsError, type DnsClient } from '../dns/client.js';
import { asciiDomain, type Plan } from './router.js';
import type { SessionTarget } from './transport.js';
import type { Shaping } from '../config/config.js';
import { metrics } from '../metrics/metrics.js';
import { noPolicyFound, stsFetchResult, stsPolicy, type ReportPolicy, type StsFetchResult } from './tls-rpt.js';
import { ALWAYS_LEAD, ifLeading, type JobGate } from '../util/cluster-jobs.js';

const MAX_POLICY_BYTES = 64 * 1024;
const FETCH_TIMEOUT_MS = 10_000;
/** The TXT id is looked at again after this long (a changed id means a new policy). */
const RECHECK_MS = 5 * 60_000;
/** A policy is refetched when less than this much of its life is left (and never after it ended). */
const REFRESH_BEFORE_MS = 24 * 3600_000;
/** Bound on the memory of domains without a policy (it is simply forgotten past this). */
const MAX_ABSENT = 100_000;
/** How often the background sweep looks at the cached policies. */
const SWEEP_MS = 60 * 60_000;
/** At most this many policies per sweep (the ones ending first); the rest wait for the next. */
const SWEEP_LIMIT = 5000;

export type MtaStsMode = MtaStsPolicyRecord['mode'];

/** What delivery must do for one destination. */
export type MtaStsDecision =
  /** failed: the domain announces a policy (TXT) that could not be had; its sessions are TLS-RPT failures of that type */
  | { mode: 'none'; failed?: { report: ReportPolicy; result: StsFetchResult } }
  /** allows: whether the policy lists an MX name (enforce: only those are tried); label: the policy, for replies */
  | { mode: 'enforce' | 'testing'; id: string; allows(mx: string): boolean; label: string; report?: ReportPolicy };

type Cached = { policy: MtaStsPolicyRecord; checkedAt: number };

export class MtaStsError extends Error {}

export class MtaStsPolicies {
  private readonly memory = new Map<string, Cached>();
  /** domains found without a policy (or whose lookup failed), and when: asked again after RECHECK_MS */
  private readonly absent = new Map<string, number>();
  private readonly inflight = new Map<string, Promise<MtaStsPolicyRecord | undefined>>();
  /** domains whose announced policy could not be fetched or parsed, and why (TLS-RPT); cleared when one is had or none is announced */
  private readonly fetchFailed = new Map<string, StsFetchResult>();
  private ca: string[] | undefined;
  private timer: NodeJS.Timeout | undefined;
  private sweeping: Promise<number> | undefined;
  /**
   * whether this node runs the background sweep (one node of a cluster does: util/cluster-jobs.ts;
   * the spool's policies it renews are the cluster's, and other nodes recheck theirs on delivery)
   */
  gate: JobGate = ALWAYS_LEAD;

  constructor(private config: Pick<Config, 'delivery'>, private readonly dns: DnsClient, private readonly store: MtaStsStore,
    private readonly log: Logger, private readonly now: () => number = Date.now) {
    this.ca = loadCa(config);
  }

  /** A new configuration; a CA file that cannot be used now keeps the one loaded before (logged). */
  reload(config: Pick<Config, 'delivery'>): void {
    try {
      this.ca = loadCa(config);
    } catch (e) {
      this.log.error({ err: (e as Error).message }, 'MTA-STS CA file not reloaded; the one loaded before stays in force');
    }
    this.config = config;
  }

  /** The trusted CAs for MX certificates under a policy (undefined: the system's). */
  get trusted(): string[] | undefined { return this.ca; }

  get enabled(): boolean { return this.config.delivery.mtaSts.enabled; }

  async decide(domain: string): Promise<MtaStsDecision> {
    if (!this.enabled) return { mode: 'none' };
    const d = domain.toLowerCase();
    const p = await this.policyFor(d);
    const failed = this.fetchFailed.get(d);
    if (!p && failed) return { mode: 'none', failed: { report: noPolicyFound(d), result: failed } };
    if (!p || p.mode === 'none') return { mode: 'none' };
    return {
      mode: p.mode, id: p.id, allows: (mx) => mxMatches(mx, p.mx), label: `MTA-STS policy of ${domain} (id ${p.id}, mode ${p.mode}, mx ${p.mx.join(' ')})`,
      report: stsPolicy(domain.toLowerCase(), p.mode, p.mx, p.maxAgeS),
    };
  }

  /** Sweeps every SWEEP_MS (or `everyMs`) until stop(); a sweep never overlaps the previous one. */
  start(everyMs = SWEEP_MS): void {
    this.stop();
    this.timer = setInterval(() => { void ifLeading(this.gate, 'mta-sts-sweep', () => this.sweep()); }, everyMs);
    this.timer.unref();
  }

  stop(): void { if (this.timer) clearInterval(this.timer); this.timer = undefined; }

  /**
   * Looks at every unexpired cached policy (the spool's, so those of before a restart too)
   * as a delivery would: the TXT id is checked and the policy fetched again when the id
   * changed or its end nears; a failure keeps it. Resolves with the number looked at.
   */
  sweep(): Promise<number> {
    if (!this.enabled) return Promise.resolve(0);
    this.sweeping ??= (async () => {
      let n = 0;
      try {
        for (const p of await this.store.liveMtaStsPolicies(this.now(), SWEEP_LIMIT)) {
          await this.policyFor(p.domain).catch((e: Error) => this.log.warn({ domain: p.domain, err: e.message }, 'MTA-STS refresh failed'));
          n++;
        }
      } catch (e) {
        this.log.warn({ err: (e as Error).message }, 'MTA-STS refresh sweep failed; the next one tries again');
      } finally {
        this.sweeping = undefined;
      }
      return n;
    })();
    return this.sweeping;
  }

  private async policyFor(domain: string): Promise<MtaStsPolicyRecord | undefined> {
    const running = this.inflight.get(domain);
    if (running) return running;
    const work = this.lookup(domain).finally(() => this.inflight.delete(domain));
    this.inflight.set(domain, work);
    return work;
  }

  private async lookup(domain: string): Promise<MtaStsPolicyRecord | undefined> {
    const now = this.now();
    // Most domains have no policy: one TXT query per RECHECK_MS for them, not one per connection.
    const none = this.absent.get(domain);
    if (none !== undefined && now - none < RECHECK_MS) return undefined;
    this.absent.delete(domain);
    if (this.absent.size > MAX_ABSENT) this.absent.clear();
    let cached = this.memory.get(domain);
    if (!cached) {
      const stored = await this.store.mtaStsPolicy(domain);
      if (stored) cached = { policy: stored, checkedAt: 0 };
    }
    const live = cached && cached.policy.expiresAt > now ? cached.policy : undefined;
    const fresh = live && live.expiresAt - now > Math.min(REFRESH_BEFORE_MS, (live.maxAgeS * 1000) / 2);
    // Looked at (or tried and failed) a moment ago: not again for every connection.
    if (live && now - cached!.checkedAt < RECHECK_MS) return live;
    let id: string | undefined;
    try {
      id = await this.txtId(domain);
    } catch (e) {
      this.log.warn({ domain, err: (e as Error).message }, 'MTA-STS TXT lookup failed; the cached policy, if any, stays');
      return this.keep(domain, live, now);
    }
    // No record: a cached policy still holds until it expires (§5.1); without one there is no policy.
    if (id === undefined) { this.fetchFailed.delete(domain); return this.keep(domain, live, now); }
    if (live && fresh && live.id === id) return this.keep(domain, live, now);
    let result: StsFetchResult = 'sts-policy-fetch-error';
    try {
      let text: string;
      try { text = await this.fetchPolicy(domain); } catch (e) { result = stsFetchResult(e); throw e; }
      result = 'sts-policy-invalid';
      const parsed = parsePolicy(text) as { mode: MtaStsMode; mx?: string[]; maxAge: number };
      const policy: MtaStsPolicyRecord = {
        domain, id, mode: parsed.mode, mx: parsed.mx ?? [], maxAgeS: parsed.maxAge, fetchedAt: now, expiresAt: now + parsed.maxAge * 1000,
      };
      await this.store.saveMtaStsPolicy(policy);
      this.memory.set(domain, { policy, checkedAt: now });
      this.fetchFailed.delete(domain);
      metrics.mtaStsFetches.inc({ result: !live ? 'new' : live.id === id ? 'renewed' : 'changed' });
      this.log.info({ domain, id, mode: policy.mode, mx: policy.mx, expires: new Date(policy.expiresAt).toISOString() }, 'MTA-STS policy fetched');
      return policy;
    } catch (e) {
      this.log.warn({ domain, id, err: (e as Error).message, kept: live?.id ?? null }, 'MTA-STS policy fetch failed; the cached policy, if any, stays');
      metrics.mtaStsFetches.inc({ result: live ? 'failed_kept' : 'failed' });
      if (live) this.fetchFailed.delete(domain); else this.fetchFailed.set(domain, result);
      if (this.fetchFailed.size > MAX_ABSENT) this.fetchFailed.clear();
      return this.keep(domain, live, now);
    }
  }

  /** The policy found before (or none) stays, and is not looked at again for RECHECK_MS. */
  private keep(domain: string, live: MtaStsPolicyRecord | undefined, now: number): MtaStsPolicyRecord | undefined {
    if (live) this.memory.set(domain, { policy: live, checkedAt: now }); else this.absent.set(domain, now);
    return live;
  }

  /** The id of the domain's single `v=STSv1` TXT record, undefined when there is none (or more than one, §3.1). */
  private async txtId(domain: string): Promise<string | undefined> {
    const a = await this.dns.query(`_mta-sts.${domain}`, 'TXT');
    if (a.rcode !== 'NOERROR' && a.rcode !== 'NXDOMAIN') throw new DnsError('E_DNS_NETWORK', `${a.rcode} for _mta-sts.${domain}`);
    const sts = a.records.map((r) => (r.data as string[]).join('')).filter((t) => /^v=STSv1(;|\s|$)/.test(t));
    if (sts.length !== 1) return undefined;
    const m = /(?:^|;)\s*id\s*=\s*([A-Za-z0-9]{1,32})\s*(?:;|$)/.exec(sts[0]!);
    return m?.[1];
  }

  /** The policy text, fetched over verified HTTPS; a redirect, another status or type, or an oversize body is an error. */
  async fetchPolicy(domain: string): Promise<string> {
    const host = `mta-sts.${domain}`;
    const a = await this.dns.query(host, 'A');
    const address = a.records[0]?.data as string | undefined ?? (await this.dns.query(host, 'AAAA')).records[0]?.data as string | undefined;
    if (!address) throw new MtaStsError(`${host} has no address`);
    return new Promise((resolve, reject) => {
      const req = https.get({
        host: address, port: this.config.delivery.mtaSts.httpsPort, path: '/.well-known/mta-sts.txt', servername: host,
        headers: { host }, timeout: FETCH_TIMEOUT_MS, rejectUnauthorized: true, ...(this.ca ? { ca: this.ca } : {}),
        // The certificate must be valid for the policy host, not for the address we connected to.
        checkServerIdentity: (_name, cert) => checkServerIdentity(host, cert),
      }, (res) => {
        const type = String(res.headers['content-type'] ?? '');
        const fail = (why: string): void => { res.destroy(); reject(new MtaStsError(`https://${host}/.well-known/mta-sts.txt: ${why}`)); };
        if (res.statusCode !== 200) return fail(`HTTP ${res.statusCode}${res.headers.location ? ` (redirect to ${res.headers.location}, not followed)` : ''}`);
        if (!/^text\/plain\s*(;|$)/i.test(type)) return fail(`content type "${type}", not text/plain`);
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (c: Buffer) => {
          size += c.length;
          if (size > MAX_POLICY_BYTES) return fail(`larger than ${MAX_POLICY_BYTES} bytes`);
          chunks.push(c);
        });
        res.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
        res.on('error', reject);
      });
      req.on('timeout', () => req.destroy(new MtaStsError(`https://${host}/: no answer within ${FETCH_TIMEOUT_MS} ms`)));
      req.on('error', reject);
    });
  }
}

/**
 * Whether an MX name matches one of a policy's mx patterns (RFC 8461 §4.1): exactly, or
 * "*.example.com" for one more leftmost label only. mailauth's validateMx lets the wildcard
 * stand for any number of labels, which §4.1 (by RFC 6125's rules) does not allow.
 */
export function mxMatches(mx: string, patterns: readonly string[]): boolean {
  const name = asciiDomain(mx.replace(/\.$/, ''));
  return patterns.some((p) => {
    const pat = asciiDomain(p.trim().replace(/\.$/, ''));
    if (!pat.startsWith('*.')) return pat === name;
    const dot = name.indexOf('.');
    return dot > 0 && name.slice(dot + 1) === pat.slice(2);
  });
}

/** The system's CAs plus delivery.mta_sts.ca_file, or undefined without one; a file that cannot be read or used is a config error. */
export function loadCa(config: Pick<Config, 'delivery'>): string[] | undefined {
  const f = config.delivery.mtaSts.caFile;
  if (!f) return undefined;
  let pem: string;
  try {
    pem = readFileSync(f, 'utf8');
    new X509Certificate(pem); // eslint-disable-line no-new -- it throws for a file that holds no certificate
  } catch (e) {
    throw new MtaError('MTA_ERR_CONFIG', `delivery.mta_sts.ca_file: ${f} cannot be used: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, 'delivery.mta_sts.ca_file');
  }
  return [...rootCertificates, pem];
}

/**
 * A delivery plan under a policy. enforce: only listed hosts, TLS required and verified for
 * the MX name; none listed → a temporary failure naming the policy (never a permanent one:
 * the policy or the MX records may be fixed). testing: the plan as it was, hops marked.
 */
export function applyMtaSts(d: MtaStsDecision, domain: string, mxNames: string[], hops: SessionTarget[], ca: string[] | undefined, shaping: Shaping | undefined): Plan {
  // A policy announced but not had: delivery goes on as without one (§5), each session reported as that failure.
  if (d.mode === 'none') return { ok: true, via: 'mx', hops: d.failed ? hops.map((h) => (h.dane ? h : { ...h, report: d.failed!.report, reportFailure: d.failed!.result })) : hops, shaping };
  // A host with TLSA records is governed by DANE alone (RFC 8461 §2): never marked, never left out.
  const marked: SessionTarget[] = hops.map((h) => (h.dane ? h : { ...h, mtaSts: { mode: d.mode, id: d.id, label: d.label, allowed: d.allows(h.hostName) }, ...(d.report ? { report: d.report } : {}) }));
  if (d.mode === 'testing') return { ok: true, via: 'mx', hops: marked, shaping };
  const allowed = marked.filter((h) => h.dane || h.mtaSts?.allowed).map((h) => (h.dane ? h : { ...h, requireTls: true, verifyCertificate: true, ...(ca ? { ca } : {}) }));
  if (allowed.length === 0) {
    metrics.mtaSts.inc({ mode: 'enforce', result: 'no_matching_mx' });
    return {
      ok: false, permanent: false, reply: `451 4.7.5 ${d.label}: none of the MX hosts of ${domain} (${[...new Set(mxNames)].join(', ') || 'none'}) is allowed by it; the mail waits`,
      ...(d.report ? { report: { policy: d.report, result: 'validation-failure' } } : {}),
    };
  }
  return { ok: true, via: 'mx', hops: allowed, shaping };
}

/**
 * The attempt detail of a session under a policy (`mta_sts`, `mta_sts_id`, and for testing
 * what enforce would have done), counted by result.
 */
export function mtaStsDetail(t: SessionTarget, secure: boolean): Record<string, unknown> {
  const p = t.mtaSts;
  if (!p) return {};
  const would = !p.allowed ? 'would_defer: MX not in the policy' : !secure ? 'would_defer: no TLS' : 'ok';
  if (p.mode === 'enforce') {
    metrics.mtaSts.inc({ mode: 'enforce', result: 'ok' });
    return { mta_sts: 'enforce', mta_sts_id: p.id, tls_verified: true };
  }
  metrics.mtaSts.inc({ mode: 'testing', result: would === 'ok' ? 'ok' : 'would_defer' });
  return { mta_sts: 'testing', mta_sts_id: p.id, mta_sts_result: would };
}
