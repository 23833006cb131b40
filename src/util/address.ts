/**
 * address — the one parser for mailbox addresses. Domains are lower-cased and IDNs
 * converted to ASCII (punycode); local parts keep their case (RFC 5321 says they may be
 * case-sensitive) except where a comparison says otherwise.
 *
 * Refused on purpose: quoted local parts, source routes (`@a:b@c`), address literals
 * (`user@[1.2.3.4]`) and anything with spaces or angle brackets. Those forms are only
 * ever used to probe for open relays.
 */
import punycode from 'punycode/punycode.js';

const ATEXT = /^[A-Za-z0-9!#$%&'*+/=?^_`{|}~\u0080-\uFFFF-]+$/;
const LABEL = /^(?!-)[a-z0-9-]{1,63}(?<!-)$/;

export interface Address { local: string; domain: string; address: string }

/** Any character outside ASCII: only such a domain needs punycode. */
const NON_ASCII = /[^\x00-\x7f]/;

export function normaliseDomain(domain: string): string | undefined {
  let d = domain.trim().replace(/\.$/, '');
  if (d === '' || d.length > 253) return undefined;
  d = d.toLowerCase();
  // An ASCII domain is its own ASCII form (toASCII changes only non-ASCII labels and the
  // non-ASCII dots), and nearly every domain is ASCII: this runs several times per message,
  // and toASCII's splitting and joining were a few KB of garbage each time.
  if (NON_ASCII.test(d)) {
    try {
      d = punycode.toASCII(d);
    } catch {
      return undefined;
    }
  }
  const labels = d.split('.');
  if (labels.length < 2) return undefined;
  return labels.every((l) => LABEL.test(l)) && !/^\d+$/.test(labels[labels.length - 1]!) ? d : undefined;
}

/** Parses `local@domain`; returns undefined when it is not a plain mailbox address. */
export function parseAddress(text: string): Address | undefined {
  const t = text.trim();
  // U+FFFD is what invalid UTF-8 (e.g. a Latin-1 byte in RCPT TO) decodes to: the client
  // sent some other address than this one, so it is refused, never silently rewritten.
  if (t.includes('\uFFFD')) return undefined;
  const at = t.lastIndexOf('@');
  if (at <= 0 || at === t.length - 1 || t.length > 320) return undefined;
  const local = t.slice(0, at);
  const domain = normaliseDomain(t.slice(at + 1));
  if (!domain || local.length > 64) return undefined;
  const atoms = local.split('.');
  if (!atoms.every((a) => a.length > 0 && ATEXT.test(a))) return undefined;
  return { local, domain, address: `${local}@${domain}` };
}

/** For identities we own (senders, suppression keys): the whole address lower-cased. */
export function canonicalAddress(text: string): string | undefined {
  const a = parseAddress(text);
  return a ? `${a.local.toLowerCase()}@${a.domain}` : undefined;
}

export function domainOf(address: string): string {
  return address.slice(address.lastIndexOf('@') + 1).toLowerCase();
}
