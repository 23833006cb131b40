/**
 * dns/records — the DNS records a sending domain should publish, as a table and as BIND
 * zone-file lines. Online (the default) it first reads what the domain already has, so
 * the SPF proposal is the owner's record with our terms merged in (a second SPF record
 * would break SPF for all their mail), and a valid DMARC record is kept rather than
 * replaced by our weaker starting point. Offline it proposes from scratch, for `domain
 * add` before the zone exists and for callers without a DNS client.
 */
import type { DomainCheckName, DomainRecord } from '../spool/types-domains.js';
import { dkimRecordValue, dmarcProposal, findDmarc } from './checker.js';
import type { CheckContext } from './context.js';
import { lookup, lookupTxt, memoDns, normHost } from './resolver.js';
import { isSpfRecord, mergeSpfRecords, spfProposal } from './spf.js';
import { dkimKeyType } from './tags.js';
import { ourPolicyId } from '../public/mta-sts-policy.js';

export { spfProposal } from './spf.js';

export interface PublishRecord { type: 'TXT' | 'MX' | 'CNAME'; host: string; value: string; purpose: DomainCheckName; note?: string }

/** What the offline proposal needs: the server's identity, without a DNS client. */
export type RecordSettings = Pick<CheckContext, 'hostname' | 'sendingIps' | 'ownershipRecord' | 'mxHost' | 'dmarcRua' | 'trackingHost' | 'publicHost' | 'bounceSubdomain' | 'ourMtaSts'>;

/** The records to publish, from configuration alone. */
export function proposedRecords(d: DomainRecord, s: RecordSettings): PublishRecord[] {
  const recs: PublishRecord[] = [
    { type: 'TXT', host: `${s.ownershipRecord}.${d.name}`, value: `mta-verification=${d.ownershipToken}`, purpose: 'ownership' },
    { type: 'TXT', host: d.name, value: spfProposal(undefined, s.sendingIps, s.hostname), purpose: 'spf' },
    { type: 'TXT', host: `${d.dkimSelector}._domainkey.${d.name}`, value: dkimRecordValue(d.dkimAlgorithm === 'ed25519' ? 'ed25519' : 'rsa', d.dkimPublicKey), purpose: 'dkim' },
  ];
  if (d.nextDkim) {
    recs.push({
      type: 'TXT', host: `${d.nextDkim.selector}._domainkey.${d.name}`,
      value: dkimRecordValue(dkimKeyType(d.nextDkim.publicKey), d.nextDkim.publicKey), purpose: 'dkim',
      note: `key rotation: the new key; keep ${d.dkimSelector} published until mail is signed with ${d.nextDkim.selector}`,
    });
  }
  recs.push(
    { type: 'TXT', host: `_dmarc.${d.name}`, value: dmarcProposal(s.dmarcRua), purpose: 'dmarc' },
    { type: 'MX', host: d.name, value: `10 ${normHost(s.mxHost)}.`, purpose: 'mx', note: 'bounces and replies' },
  );
  if (s.bounceSubdomain) {
    // VERP senders and mailto unsubscribes use this subdomain, so its MX can point here
    // even when the domain's own mail is hosted elsewhere.
    recs.push({ type: 'MX', host: `${s.bounceSubdomain}.${d.name}`, value: `10 ${normHost(s.mxHost)}.`, purpose: 'mx', note: 'asynchronous bounces and mailto unsubscribes (inbound.listen)' });
  }
  if (s.bounceSubdomain && s.ourMtaSts?.enabled) recs.push(...mtaStsRecords(`${s.bounceSubdomain}.${d.name}`, s));
  if (s.trackingHost && s.publicHost) {
    recs.push({ type: 'CNAME', host: `${s.trackingHost}.${d.name}`, value: `${normHost(s.publicHost)}.`, purpose: 'tracking' });
  }
  return recs;
}

/**
 * Our MTA-STS policy for a bounce domain (its MX is this server): the `_mta-sts` TXT with the
 * policy's id, the `mta-sts` host serving it (public.listen behind HTTPS), and the TLS-RPT
 * record when a rua is configured.
 */
function mtaStsRecords(bounce: string, s: RecordSettings): PublishRecord[] {
  const p = s.ourMtaSts!;
  const front = s.publicHost ? normHost(s.publicHost) : normHost(s.mxHost);
  const recs: PublishRecord[] = [
    { type: 'TXT', host: `_mta-sts.${bounce}`, value: `v=STSv1; id=${ourPolicyId(p)}`, purpose: 'mta-sts', note: 'the id changes with [domains.mta_sts]: publish the new one after a change' },
    {
      type: 'CNAME', host: `mta-sts.${bounce}`, value: `${front}.`, purpose: 'mta-sts',
      note: `the policy is fetched over HTTPS from public.listen${s.publicHost ? '' : ' (public.base_url not set: the MX host is assumed)'}: its TLS front needs a certificate for mta-sts.${bounce}`,
    },
  ];
  if (p.tlsRptRua) recs.push({ type: 'TXT', host: `_smtp._tls.${bounce}`, value: `v=TLSRPTv1; rua=${p.tlsRptRua}`, purpose: 'tls-rpt' });
  return recs;
}

/**
 * The records to publish. Online, the SPF and DMARC rows are adjusted to what is there
 * (see the module comment) and notes say so; a DNS failure leaves the offline proposal
 * in place with a note, since a record list is still useful when a resolver is down.
 */
export async function recordsToPublish(d: DomainRecord, ctx: CheckContext, opts: { offline?: boolean } = {}): Promise<PublishRecord[]> {
  const recs = proposedRecords(d, ctx);
  if (opts.offline) return recs;
  const dns = memoDns(ctx.dns);
  const [txt, dmarc, mx] = await Promise.all([lookupTxt(dns, d.name), findDmarc(d.name, dns), lookup(dns, d.name, 'MX')]);
  const at = (purpose: DomainCheckName): number => recs.findIndex((r) => r.purpose === purpose);

  const spf = recs[at('spf')]!;
  if (txt.kind === 'error') {
    spf.note = `could not read the existing SPF record (${txt.message}): if ${d.name} has one, merge these terms into it`;
  } else {
    const existing = txt.kind === 'found' ? txt.values.filter(isSpfRecord) : [];
    if (existing.length > 0) {
      spf.value = spfProposal(mergeSpfRecords(existing), ctx.sendingIps, ctx.hostname);
      spf.note = existing.length > 1
        ? `replaces the ${existing.length} SPF records now published: a domain must have exactly one`
        : existing[0] === spf.value ? 'already published' : 'your SPF record with our terms merged in: replace it (a domain must have exactly one)';
    }
  }

  const dm = recs[at('dmarc')]!;
  if (dmarc.kind === 'found' && dmarc.found.length === 1 && !('error' in dmarc.found[0]!.policy)) {
    const f = dmarc.found[0]!;
    dm.host = f.host;
    dm.value = f.record;
    dm.note = f.host === `_dmarc.${d.name}` ? 'existing valid record: keep it as is' : `published at ${f.host}, which covers ${d.name}: nothing to add`;
  } else if (dmarc.kind === 'found') {
    dm.note = dmarc.found.length > 1 ? `replaces the ${dmarc.found.length} DMARC records now published` : `replaces the invalid record at ${dmarc.found[0]!.host}`;
  }

  const mxRec = recs[at('mx')]!;
  if (mx.kind === 'found') {
    const want = normHost(ctx.mxHost);
    const hosts = mx.values.map((m) => normHost(m.exchange));
    mxRec.note = hosts.includes(want) ? 'already published'
      : `${d.name} already receives mail at ${hosts.join(', ')}: this MX would send part of it here; publish it only if ${want} should receive mail for ${d.name}`;
  }
  return recs;
}

// ---- zone-file lines ---------------------------------------------------------------

/** One TXT value as zone-file character-strings of at most 255 bytes each (RFC 1035 §3.3). */
function txtStrings(value: string): string[] {
  const out: string[] = [];
  let chunk = '';
  let bytes = 0;
  for (const ch of value) {
    const n = Buffer.byteLength(ch);
    if (bytes + n > 255) { out.push(chunk); chunk = ''; bytes = 0; }
    chunk += ch;
    bytes += n;
  }
  if (chunk !== '' || out.length === 0) out.push(chunk);
  return out.map((s) => `"${s.replace(/[\\"]/g, (c) => `\\${c}`)}"`);
}

/** A target host written absolute, so the zone's $ORIGIN is not appended to it. */
const absolute = (host: string): string => (host.endsWith('.') ? host : `${host}.`);

/** BIND zone-file lines; TXT values longer than 255 bytes split into quoted strings. */
export function zoneLines(records: readonly { type: string; host: string; value: string }[]): string[] {
  return records.map((r) => {
    const owner = `${absolute(r.host)}\t3600\tIN\t${r.type}\t`;
    if (r.type === 'TXT') {
      const parts = txtStrings(r.value);
      return owner + (parts.length > 1 ? `( ${parts.join(' ')} )` : parts[0]);
    }
    if (r.type === 'CNAME') return owner + absolute(r.value.trim());
    if (r.type === 'MX') {
      const m = /^(\d+)\s+(\S+)$/.exec(r.value.trim());
      return owner + (m ? `${m[1]} ${absolute(m[2]!)}` : r.value);
    }
    return owner + r.value;
  });
}
