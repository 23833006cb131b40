/**
 * dns/checker — checks what a sending domain has published against what this server
 * needs (SPEC §2 "Sending domain"): ownership token, SPF, DKIM, DMARC, MX, the tracking
 * CNAME, and the server-wide PTR and hostname records. Each check yields one record with
 * what we expected and what we found, so `mta domain check` can tell the owner exactly
 * what to change; `verified` needs ownership, SPF and DKIM.
 *
 * A DNS failure (timeout, SERVFAIL) is the `error` status of the check that met it, never
 * an exception: one unreachable name must not hide the results of the others, and a
 * scheduled re-check must not take a verified domain down because a resolver hiccuped
 * (the caller decides what an `error` means for the stored status).
 */
import type { DnsClient } from './client.js';
import type { DomainCheckRecord, DomainCheckStatus, DomainRecord, DomainStatus } from '../spool/types-domains.js';
import { lookup, lookupTxt, memoDns, normHost, normIp, reverseName, type DnsQuery } from './resolver.js';
import { outcome, sendingIps, noIpsAdvice, type CheckContext, type DomainCheckResult, type Outcome, type SendingIps } from './context.js';
import { checkSpf } from './spf.js';
import { dkimKeyType, looksLikeDmarc, parseDkimRecord, parseDmarc, sameDkimKey, type DmarcPolicy } from './tags.js';

export type { CheckContext, DomainCheckResult } from './context.js';

/** The checks whose `ok` makes a domain verified (SPEC §2); the rest is advice. */
const REQUIRED = ['ownership', 'spf', 'dkim'] as const;

export function overallStatus(checks: readonly DomainCheckRecord[]): DomainStatus {
  return REQUIRED.every((n) => checks.some((c) => c.name === n && c.status === 'ok')) ? 'verified' : 'unverified';
}

const DKIM_ADVICE = 'publish the record from `mta domain dns`';

export function dkimRecordValue(algorithm: 'rsa' | 'ed25519', publicKey: string): string {
  return `v=DKIM1; k=${algorithm}; p=${publicKey}`;
}

async function checkOwnership(d: DomainRecord, ctx: CheckContext, dns: DnsQuery, now: number): Promise<Outcome> {
  const host = `${ctx.ownershipRecord}.${d.name}`;
  const expected = `mta-verification=${d.ownershipToken}`;
  const r = await lookupTxt(dns, host);
  const mk = (status: DomainCheckStatus, found: string | null, detail: string): Outcome =>
    outcome(d.name, 'ownership', status, { expected, found, detail }, now);
  if (r.kind === 'error') return mk('error', null, `cannot read TXT at ${host}: ${r.message}`);
  const values = r.kind === 'found' ? r.values.map((v) => v.trim()) : [];
  if (values.includes(expected)) return mk('ok', expected, `token found at ${host}`);
  const other = values.filter((v) => v.startsWith('mta-verification='));
  if (other.length > 0) return mk('mismatch', other.join(' | '), `the token at ${host} is not this domain's: publish the expected TXT`);
  return mk('missing', values.length > 0 ? values.join(' | ') : null, `publish TXT ${host} with the expected value`);
}

/** Whether `selector` publishes `publicKey`; a DNS failure counts as "not yet" (for key rotation). */
export async function dkimPublished(domain: string, selector: string, publicKey: string, dns: DnsClient | DnsQuery): Promise<boolean> {
  const r = await lookupTxt(dns, `${selector}._domainkey.${domain}`);
  if (r.kind !== 'found') return false;
  return r.values.some((v) => {
    const k = parseDkimRecord(v);
    return !('error' in k) && k.k === dkimKeyType(publicKey) && sameDkimKey(k.p, publicKey);
  });
}

async function checkDkim(d: DomainRecord, dns: DnsQuery, now: number): Promise<Outcome> {
  const host = `${d.dkimSelector}._domainkey.${d.name}`;
  const alg = d.dkimAlgorithm === 'ed25519' ? 'ed25519' : 'rsa';
  const expected = dkimRecordValue(alg, d.dkimPublicKey);
  const mk = (status: DomainCheckStatus, found: string | null, detail: string): Outcome =>
    outcome(d.name, 'dkim', status, { expected, found, detail }, now);
  const r = await lookupTxt(dns, host);
  if (r.kind === 'error') return mk('error', null, `cannot read TXT at ${host}: ${r.message}`);
  // Other TXT records may share the name (site verifications); the key is the one with p=.
  const records = r.kind === 'found' ? r.values.filter((v) => /(^|;)\s*p\s*=/i.test(v) || /^\s*v\s*=\s*DKIM1/i.test(v)) : [];
  if (records.length === 0) return mk('missing', null, `no DKIM key at ${host}: ${DKIM_ADVICE}`);
  const found = records.join(' | ');
  if (records.length > 1) return mk('mismatch', found, `${records.length} DKIM records at ${host}, verifiers may pick either: keep only ours`);
  const k = parseDkimRecord(records[0]!);
  if ('error' in k) return mk('mismatch', found, `invalid DKIM record (${k.error}): ${DKIM_ADVICE}`);
  if (k.p === '') return mk('mismatch', found, `the key at ${host} is revoked (empty p=): ${DKIM_ADVICE}`);
  if (!sameDkimKey(k.p, d.dkimPublicKey)) return mk('mismatch', found, `the published key is not this server's: ${DKIM_ADVICE}`);
  if (k.k !== alg) return mk('mismatch', found, `k=${k.k} but the key is ${alg}: verifiers would fail every signature; ${DKIM_ADVICE}`);
  return mk('ok', found, `key published at ${host}`);
}

interface DmarcFound { host: string; record: string; policy: DmarcPolicy | { error: string } }
type DmarcLookup = { kind: 'found'; found: DmarcFound[] } | { kind: 'none' } | { kind: 'error'; message: string };

/**
 * The DMARC record that governs `domain`: its own `_dmarc`, else the nearest parent's
 * (the DMARCbis tree walk; RFC 7489 would go to the organizational domain, which needs
 * the public suffix list, and lands on the same record for every usual layout).
 */
export async function findDmarc(domain: string, dns: DnsQuery): Promise<DmarcLookup> {
  const labels = domain.split('.');
  for (let i = 0; i < Math.max(1, labels.length - 1) && i < 8; i++) {
    const host = `_dmarc.${labels.slice(i).join('.')}`;
    const r = await lookupTxt(dns, host);
    if (r.kind === 'error') return { kind: 'error', message: `cannot read TXT at ${host}: ${r.message}` };
    const records = r.kind === 'found' ? r.values.map((v) => v.trim()).filter(looksLikeDmarc) : [];
    if (records.length > 0) return { kind: 'found', found: records.map((record) => ({ host, record, policy: parseDmarc(record) })) };
  }
  return { kind: 'none' };
}

export function dmarcProposal(rua: string | undefined): string {
  if (!rua) return 'v=DMARC1; p=none';
  return `v=DMARC1; p=none; rua=${rua.startsWith('mailto:') ? rua : `mailto:${rua}`}`;
}

async function checkDmarc(d: DomainRecord, ctx: CheckContext, dns: DnsQuery, auth: { spf: DomainCheckStatus; dkim: DomainCheckStatus }, now: number): Promise<Outcome> {
  const expected = dmarcProposal(ctx.dmarcRua);
  const mk = (status: DomainCheckStatus, found: string | null, detail: string): Outcome =>
    outcome(d.name, 'dmarc', status, { expected, found, detail }, now);
  const r = await findDmarc(d.name, dns);
  if (r.kind === 'error') return mk('error', null, r.message);
  if (r.kind === 'none') return mk('missing', null, `no DMARC record: publish TXT _dmarc.${d.name} "${expected}" to start with reports only (p=none)`);
  const found = r.found.map((f) => f.record).join(' | ');
  if (r.found.length > 1) return mk('mismatch', found, `${r.found.length} DMARC records at ${r.found[0]!.host}: receivers ignore them all; keep one`);
  const f = r.found[0]!;
  if ('error' in f.policy) return mk('mismatch', found, `invalid DMARC record at ${f.host}: ${f.policy.error}`);
  const p = f.host === `_dmarc.${d.name}` ? f.policy.p : (f.policy.sp ?? f.policy.p);
  const where = f.host === `_dmarc.${d.name}` ? '' : ` (from ${f.host})`;
  if (p !== 'none') {
    const failing = (['spf', 'dkim'] as const).filter((n) => auth[n] !== 'ok').map((n) => n.toUpperCase());
    if (failing.length === 2) return mk('mismatch', found, `p=${p}${where} while neither SPF nor DKIM passes: mail would be rejected by receivers; fix SPF and DKIM or use p=none`);
    if (failing.length === 1) return mk('mismatch', found, `p=${p}${where} while ${failing[0]} is not ok: mail would be rejected by receivers whenever the other check fails too (forwarding breaks SPF); fix ${failing[0]}`);
  }
  return mk('ok', found, `policy p=${p}${where}${f.policy.pct < 100 ? `, pct=${f.policy.pct}` : ''}`);
}

async function checkMx(d: DomainRecord, ctx: CheckContext, dns: DnsQuery, now: number): Promise<Outcome> {
  const want = normHost(ctx.mxHost);
  const expected = `10 ${want}.`;
  const mk = (status: DomainCheckStatus, found: string | null, detail: string): Outcome =>
    outcome(d.name, 'mx', status, { expected, found, detail }, now);
  // With inbound mail on, VERP bounces go to <bounce_subdomain>.<domain>: its MX is what
  // matters (SPEC: "MX at <domain> or the bounce domain").
  let bounceNote = '';
  if (ctx.bounceSubdomain) {
    const host = `${ctx.bounceSubdomain}.${d.name}`;
    const b = await lookup(dns, host, 'MX');
    if (b.kind === 'found' && b.values.some((m) => normHost(m.exchange) === want)) {
      return mk('ok', `${host}: ${b.values.map((m) => `${m.preference} ${m.exchange || '.'}`).join(', ')}`, `${want} receives bounces for ${host}`);
    }
    bounceNote = `; publish MX 10 ${want}. at ${host} too, or bounces of VERP mail are lost`;
  }
  const r = await lookup(dns, d.name, 'MX');
  if (r.kind === 'error') return mk('error', null, `cannot read MX of ${d.name}: ${r.message}`);
  if (r.kind === 'none') return mk('missing', null, `no MX: bounces and replies to ${d.name} cannot reach ${want}; publish the expected MX${bounceNote}`);
  const found = r.values.map((m) => `${m.preference} ${m.exchange || '.'}`).join(', ');
  if (r.values.some((m) => normHost(m.exchange) === want)) return mk('ok', found, `${want} receives mail for ${d.name}${bounceNote}`);
  return mk('mismatch', found, `the MX of ${d.name} does not include ${want}: bounces and replies go elsewhere${bounceNote}`);
}

async function checkTracking(d: DomainRecord, ctx: CheckContext, dns: DnsQuery, now: number): Promise<Outcome> {
  if (!ctx.trackingHost || !ctx.publicHost) {
    return outcome(d.name, 'tracking', 'skipped', { detail: 'tracking host not configured (domains.tracking_host and public.base_url)' }, now);
  }
  const host = `${ctx.trackingHost}.${d.name}`;
  const want = normHost(ctx.publicHost);
  const r = await lookup(dns, host, 'CNAME');
  const mk = (status: DomainCheckStatus, found: string | null, detail: string): Outcome =>
    outcome(d.name, 'tracking', status, { expected: want, found, detail }, now);
  if (r.kind === 'error') return mk('error', null, `cannot read CNAME at ${host}: ${r.message}`);
  if (r.kind === 'none') return mk('missing', null, `publish CNAME ${host} → ${want}`);
  const found = r.values.map(normHost).join(', ');
  if (r.values.some((v) => normHost(v) === want)) return mk('ok', found, `${host} points at ${want}`);
  return mk('mismatch', found, `${host} points elsewhere: make it a CNAME to ${want}`);
}

// ---- server-wide checks ----------------------------------------------------------------

/** Whether one IP's PTR names `hostname` and `hostname` resolves back to the IP. */
async function ptrOf(ip: string, hostname: string, dns: DnsQuery): Promise<{ status: DomainCheckStatus; found: string; problem?: string }> {
  const name = reverseName(ip);
  const r = await lookup(dns, name, 'PTR');
  if (r.kind === 'error') return { status: 'error', found: `${ip} → ?`, problem: `cannot read PTR ${name}: ${r.message}` };
  if (r.kind === 'none') return { status: 'missing', found: `${ip} → (none)`, problem: `${ip} has no PTR: ask its provider to set it to ${hostname}` };
  const found = `${ip} → ${r.values.map(normHost).join(', ')}`;
  if (!r.values.some((v) => normHost(v) === normHost(hostname))) {
    return { status: 'mismatch', found, problem: `the PTR of ${ip} does not name ${hostname}: ask its provider to set it` };
  }
  const fwd = await lookup(dns, hostname, ip.includes(':') ? 'AAAA' : 'A');
  if (fwd.kind === 'error') return { status: 'error', found, problem: `cannot resolve ${hostname}: ${fwd.message}` };
  if (fwd.kind === 'found' && fwd.values.some((a) => normIp(a) === normIp(ip))) return { status: 'ok', found };
  return { status: 'mismatch', found, problem: `not forward-confirmed: ${hostname} does not resolve to ${ip}; publish ${ip.includes(':') ? 'AAAA' : 'A'} ${hostname} ${ip}` };
}

/** Worst first: what the summary status of several per-IP results is. */
const SEVERITY: DomainCheckStatus[] = ['error', 'mismatch', 'missing', 'skipped', 'ok'];

async function hostChecks(ctx: CheckContext, dns: DnsQuery, sending: SendingIps, now: number, domain?: string): Promise<Outcome[]> {
  const host = normHost(ctx.hostname);
  const [a, aaaa] = await Promise.all([lookup(dns, host, 'A'), lookup(dns, host, 'AAAA')]);
  const addrs = [a, aaaa].flatMap((r) => (r.kind === 'found' ? r.values.map(normIp) : []));
  const dnsError = [a, aaaa].find((r): r is { kind: 'error'; message: string } => r.kind === 'error');
  const hostExpected = ctx.sendingIps.length > 0 ? ctx.sendingIps.join(', ') : `A or AAAA record for ${host}`;
  const hostname = addrs.length > 0
    ? outcome(host, 'hostname', 'ok', { expected: hostExpected, found: addrs.join(', '), detail: `${host} resolves` }, now)
    : dnsError
      ? outcome(host, 'hostname', 'error', { expected: hostExpected, detail: `cannot resolve ${host}: ${dnsError.message}` }, now)
      : outcome(host, 'hostname', 'missing', { expected: hostExpected, detail: `${host} has no A/AAAA record: publish one with the sending IP` }, now);

  // Egress sources: each address's PTR must name its own HELO name, and that name resolve back.
  const sources = ctx.egressSources?.(domain) ?? [];
  const pairs = sources.length > 0
    ? sources.map((src) => ({ ip: normIp(src.address), name: normHost(src.helo) }))
    : sending.ips.map((ip) => ({ ip, name: host }));
  const ptrExpected = pairs.map((p) => `${p.ip} → ${p.name}`).join(', ');
  let ptr: Outcome;
  if (sources.length === 0 && sending.error !== undefined) {
    ptr = outcome(host, 'ptr', 'error', { expected: `PTR → ${host}`, detail: `cannot tell which IPs to check: ${sending.error}` }, now);
  } else if (pairs.length === 0) {
    ptr = outcome(host, 'ptr', 'missing', { expected: `PTR → ${host}`, detail: noIpsAdvice(host) }, now);
  } else {
    const per = await Promise.all(pairs.map((p) => ptrOf(p.ip, p.name, dns)));
    const status = SEVERITY.find((s) => per.some((p) => p.status === s)) ?? 'ok';
    const problems = per.flatMap((p) => (p.problem ? [p.problem] : []));
    ptr = outcome(host, 'ptr', status, {
      expected: ptrExpected, found: per.map((p) => p.found).join(', '),
      detail: problems.length > 0 ? problems.join('; ') : `forward-confirmed for ${pairs.map((p) => p.ip).join(', ')}`,
    }, now);
  }
  return [hostname, ptr];
}

/**
 * Server-wide checks, the same for every domain: `hostname` resolves, each sending IP's
 * PTR is forward-confirmed. The records' `domain` is the hostname; checkDomain re-labels
 * them with the domain it stores them under.
 */
export async function checkHost(ctx: CheckContext): Promise<DomainCheckRecord[]> {
  const dns = memoDns(ctx.dns);
  const now = (ctx.now ?? Date.now)();
  return (await hostChecks(ctx, dns, await sendingIps(ctx, dns), now)).map((o) => o.rec);
}

export async function checkDomain(d: DomainRecord, ctx: CheckContext): Promise<DomainCheckResult> {
  const dns = memoDns(ctx.dns);
  const now = (ctx.now ?? Date.now)();
  const sending = await sendingIps(ctx, dns, d.name);
  const [ownership, spf, dkim, mx, tracking, host] = await Promise.all([
    checkOwnership(d, ctx, dns, now), checkSpf(d.name, ctx, dns, sending, now), checkDkim(d, dns, now),
    checkMx(d, ctx, dns, now), checkTracking(d, ctx, dns, now), hostChecks(ctx, dns, sending, now, d.name),
  ]);
  // DMARC's verdict depends on whether aligned SPF and DKIM can pass.
  const dmarc = await checkDmarc(d, ctx, dns, { spf: spf.rec.status, dkim: dkim.rec.status }, now);
  const outcomes = [ownership, spf, dkim, dmarc, mx, tracking, ...host.map((o) => ({ ...o, rec: { ...o.rec, domain: d.name } }))];
  const checks = outcomes.map((o) => o.rec);
  const problems = outcomes.flatMap((o) => [
    ...(o.rec.status === 'ok' || o.rec.status === 'skipped' ? [] : [`${o.rec.name}: ${o.rec.status}: ${o.rec.detail ?? ''}`]),
    ...o.warnings.map((w) => `${o.rec.name}: ${w}`),
  ]);
  return { domain: d.name, status: overallStatus(checks), checks, problems };
}
