/**
 * dns/spf — the SPF check and the SPF record we propose.
 *
 * Evaluation is mailauth's (includes, redirect, a/mx/ptr/exists, macros, the 10-lookup
 * and 2-void-lookup limits of RFC 7208 §4.6.4), asked through our DNS client for each
 * sending IP exactly as a receiver would for mail from `postmaster@<domain>`. What this
 * module adds is what a receiver does not care about but an owner does: one record or
 * several, `+all`, a record that only passes for us because evaluation stops early, and
 * a proposal that merges our terms into the record already there instead of adding a
 * second one (two SPF records are a permerror for everybody).
 */
import ipaddr from 'ipaddr.js';
import { spf as mailauthSpf } from 'mailauth/lib/spf/index.js';
import { lookupTxt, mailauthResolver, type DnsQuery } from './resolver.js';
import { noIpsAdvice, outcome, type CheckContext, type Outcome, type SendingIps } from './context.js';

// ---- the record as text ---------------------------------------------------------------

export function isSpfRecord(txt: string): boolean {
  return /^v=spf1(\s|$)/i.test(txt.trim());
}

const ALL = /^[+\-~?]?all$/i;
const isModifier = (term: string): boolean => /^[a-z][a-z0-9_.-]*=/i.test(term);
/** A term without its qualifier, lower-cased: "+IP4:1.2.3.4" and "ip4:1.2.3.4" are one term. */
const bare = (term: string): string => term.replace(/^[+\-~?]/, '').toLowerCase();
const qualifier = (term: string): string => (/^[+\-~?]/.test(term) ? term[0]! : '+');

function spfTerms(record: string): string[] {
  return record.trim().split(/\s+/).slice(1);
}

/** The qualifier of the record's `all` term ("+" for a bare "all"), or undefined without one. */
export function spfAllQualifier(record: string): string | undefined {
  const all = spfTerms(record).find((t) => ALL.test(t));
  return all === undefined ? undefined : qualifier(all);
}

/** Our terms: ip4:/ip6: per sending IP, or a:<hostname> when none is configured. */
function ourTerms(ips: readonly string[], hostname: string): string[] {
  if (ips.length === 0) return [`a:${hostname.replace(/\.$/, '')}`];
  return ips.map((ip) => (ip.includes(':') ? `ip6:${ip}` : `ip4:${ip}`));
}

/** Whether an existing ip4:/ip6: term already lets `ip` pass (a literal range test, no DNS). */
function rangeCovers(term: string, ip: string): boolean {
  if (qualifier(term) !== '+') return false;
  const m = /^ip[46]:(.+)$/.exec(bare(term));
  if (!m) return false;
  try {
    const addr = ipaddr.parse(ip);
    const [range, bits] = m[1]!.includes('/') ? ipaddr.parseCIDR(m[1]!) : [ipaddr.parse(m[1]!), addr.kind() === 'ipv4' ? 32 : 128];
    return range.kind() === addr.kind() && addr.match(range, bits);
  } catch {
    return false;
  }
}

/**
 * Several SPF records folded into one: the first record's terms and `all`, then the other
 * records' mechanisms that are not there yet. Their modifiers are dropped: a second
 * redirect= would be a permerror, and an exp= only explains the first record anyway.
 */
export function mergeSpfRecords(records: readonly string[]): string {
  const [first, ...rest] = records;
  if (first === undefined) return 'v=spf1';
  const terms = spfTerms(first);
  const all = terms.find((t) => ALL.test(t));
  const out = terms.filter((t) => !ALL.test(t));
  for (const r of rest) {
    for (const t of spfTerms(r)) {
      if (ALL.test(t) || isModifier(t) || out.some((o) => bare(o) === bare(t))) continue;
      out.push(t);
    }
  }
  return ['v=spf1', ...out, ...(all ? [all] : [])].join(' ');
}

/**
 * The SPF record to publish: ours alone, or `existing` with our terms inserted before its
 * `all` (theirs kept, nothing repeated, a range that already covers an IP is enough), and
 * `+all` turned into `~all`. Never a second record.
 */
export function spfProposal(existing: string | undefined, ips: string[], hostname: string): string {
  const ours = ourTerms(ips, hostname);
  if (existing === undefined || !isSpfRecord(existing)) return ['v=spf1', ...ours, '~all'].join(' ');
  const terms = spfTerms(existing);
  const add: string[] = [];
  ips.forEach((ip, i) => {
    const term = ours[i]!;
    const same = terms.findIndex((t) => bare(t) === term.toLowerCase());
    // "-ip4:OURS" or "~ip4:OURS" would fail us: the term becomes a plain pass.
    if (same >= 0) { if (qualifier(terms[same]!) !== '+') terms[same] = term; return; }
    if (!terms.some((t) => rangeCovers(t, ip))) add.push(term);
  });
  if (ips.length === 0 && !terms.some((t) => bare(t) === ours[0]!.toLowerCase())) add.push(ours[0]!);
  const allAt = terms.findIndex((t) => ALL.test(t));
  if (allAt >= 0 && qualifier(terms[allAt]!) === '+') terms[allAt] = '~all';
  // Without an `all`, after the last mechanism: modifiers (redirect=) apply only at the end.
  let at = allAt;
  if (at < 0) { at = terms.length; while (at > 0 && isModifier(terms[at - 1]!)) at--; }
  terms.splice(at, 0, ...add);
  return ['v=spf1', ...terms].join(' ');
}

// ---- evaluation (mailauth) ------------------------------------------------------------

export interface SpfEvaluation { ip: string; result: string; reason: string; lookups: number }

/** mailauth's verdict for mail from postmaster@<domain> sent by `ip` saying EHLO `helo`. */
export async function evaluateSpf(domain: string, ip: string, helo: string, dns: DnsQuery): Promise<SpfEvaluation> {
  const r = await mailauthSpf({ sender: `postmaster@${domain}`, ip, helo, mta: helo, resolver: mailauthResolver(dns) });
  const comment = r.status.comment ?? '';
  // mailauth words it "<mta>: <what happened>"; the part after the first ": " is the news.
  const reason = comment.startsWith(`${helo}: `) ? comment.slice(helo.length + 2) : comment;
  return { ip, result: r.status.result, reason, lookups: r.lookups?.count ?? 0 };
}

/**
 * An address no SPF record lists (0.0.0.0/8 never sends on the internet), so evaluation
 * runs through every term: what a receiver does for mail the record does not pass early,
 * and the only way to see a record that is over the lookup limit but passes our IPs first.
 */
const PROBE_IP = '0.0.0.1';

function permerrorAdvice(reason: string): string {
  if (/too many dns requests/i.test(reason)) {
    return 'the record needs more than 10 DNS lookups (RFC 7208 §4.6.4): receivers give permerror; replace include:/a/mx terms with ip4:/ip6: ranges or drop includes you do not use';
  }
  if (/too many void/i.test(reason)) {
    return 'more than 2 of its lookups find nothing (RFC 7208 §4.6.4): remove include:/a:/mx: terms naming hosts that do not exist';
  }
  return `permerror: ${reason}: correct the record (see expected)`;
}

// ---- the check ------------------------------------------------------------------------

export async function checkSpf(domain: string, ctx: CheckContext, dns: DnsQuery, sending: SendingIps, now: number): Promise<Outcome> {
  const txt = await lookupTxt(dns, domain);
  if (txt.kind === 'error') return outcome(domain, 'spf', 'error', { detail: `cannot read TXT at ${domain}: ${txt.message}` }, now);
  const records = txt.kind === 'found' ? txt.values.filter(isSpfRecord) : [];
  // With egress sources, the record must list their addresses (the pools this domain may use).
  const proposal = spfProposal(records.length > 0 ? mergeSpfRecords(records) : undefined, sending.source === 'egress' ? sending.ips : ctx.sendingIps, ctx.hostname);
  const done = (status: 'ok' | 'mismatch' | 'error', detail: string, f: { expected?: string; warnings?: string[] } = {}): Outcome =>
    outcome(domain, 'spf', status, { expected: f.expected ?? proposal, found: records.join(' | '), detail, warnings: f.warnings ?? [] }, now);

  if (records.length === 0) {
    return outcome(domain, 'spf', 'missing', { expected: proposal, detail: `no SPF record at ${domain}: publish the expected one` }, now);
  }
  if (records.length > 1) {
    return done('mismatch', `${records.length} SPF records, which receivers treat as permerror: publish one SPF record; merge them (see expected)`);
  }
  const record = records[0]!;
  if (sending.error !== undefined) return done('error', `cannot tell which IPs to evaluate: ${sending.error}`);
  if (sending.ips.length === 0) return done('error', noIpsAdvice(ctx.hostname));

  const evals = await Promise.all(sending.ips.map((ip) => evaluateSpf(domain, ip, ctx.hostname, dns)));
  const temp = evals.find((e) => e.result === 'temperror');
  if (temp) return done('error', `temperror evaluating SPF for ${temp.ip}: ${temp.reason}`);
  const perm = evals.find((e) => e.result === 'permerror');
  if (perm) return done('mismatch', permerrorAdvice(perm.reason));
  const failing = evals.filter((e) => e.result !== 'pass');
  if (failing.length > 0) {
    const list = failing.map((e) => `${e.result} for ${e.ip}`).join(', ');
    return done('mismatch', `SPF gives ${list}: receivers may junk or refuse our mail; publish the expected record`);
  }
  const all = spfAllQualifier(record);
  if (all === '+') {
    return done('mismatch', `+all lets every host on the internet pass SPF for ${domain}: end the record with ~all or -all`);
  }
  const warnings: string[] = [];
  if (all === '?') warnings.push(`?all makes mail from any other host "neutral": end the record with ~all or -all`);
  const probe = await evaluateSpf(domain, PROBE_IP, ctx.hostname, dns);
  if (probe.result === 'permerror') warnings.push(`passes for our IPs, but for other senders ${permerrorAdvice(probe.reason)}`);
  else if (probe.result === 'temperror') warnings.push(`the rest of the record could not be evaluated: ${probe.reason}`);
  const detail = warnings.length > 0 ? warnings.join('; ') : `pass for ${sending.ips.join(', ')}`;
  return done('ok', detail, { expected: record, warnings });
}
