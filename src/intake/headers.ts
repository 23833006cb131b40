/**
 * intake/headers — what intake does to the top-level header block: the From policy
 * (one From, one address, ours), the trace header, and the Message-ID and Date a
 * message must have. Pure functions over header text so they are easy to test.
 */
import addressparser from 'nodemailer/lib/addressparser';
import libmime from 'libmime';
import { parseAddress } from '../util/address.js';

export type FromProblem =
  | { kind: 'missing' } | { kind: 'duplicate' } | { kind: 'unparseable' } | { kind: 'multiple-addresses' }
  | { kind: 'encoded-address' } | { kind: 'spoofed-display-name'; shown: string }
  | { kind: 'other-domain'; found: string } | { kind: 'other-address'; found: string };

export function describeFromProblem(p: FromProblem): string {
  switch (p.kind) {
    case 'missing': return 'Message has no From header';
    case 'duplicate': return 'Message has more than one From header';
    case 'unparseable': return 'From header cannot be parsed';
    case 'multiple-addresses': return 'From header must hold exactly one address';
    case 'encoded-address': return 'From address must not be MIME-encoded';
    case 'spoofed-display-name': return `From display name shows another address (${p.shown})`;
    case 'other-domain': return `From address ${p.found} is not on the authenticated sender's domain`;
    case 'other-address': return `From address ${p.found} is not the authenticated sender`;
  }
}

/** The value part of a raw header line ("From: a <b@c>\r\n" → "a <b@c>"), unfolded. */
export function headerValue(line: string): string {
  const i = line.indexOf(':');
  return (i >= 0 ? line.slice(i + 1) : line).replace(/\r?\n[ \t]/g, ' ').trim();
}

const ADDRESS_LIKE = /[^\s<>"@]+@[^\s<>"@]+\.[^\s<>"@]+/;

/**
 * Checks the From header lines against the envelope sender. `sameDomainOnly`: the From
 * address may be any address on the sender's domain (SPEC: "the same address or at least
 * the same domain"); otherwise it must be the sender itself.
 */
export function checkFrom(fromLines: readonly string[], sender: string, sameDomainOnly = true): FromProblem | undefined {
  if (fromLines.length === 0) return { kind: 'missing' };
  if (fromLines.length > 1) return { kind: 'duplicate' };
  const raw = headerValue(fromLines[0]!);
  let parsed;
  try {
    parsed = addressparser(raw, { flatten: true });
  } catch {
    return { kind: 'unparseable' };
  }
  const withAddress = parsed.filter((p) => p.address);
  if (withAddress.length === 0) return { kind: 'unparseable' };
  if (withAddress.length > 1 || parsed.length > 1) return { kind: 'multiple-addresses' };
  const entry = withAddress[0]!;
  const address = entry.address!;
  if (/=\?/.test(address)) return { kind: 'encoded-address' };
  const a = parseAddress(address);
  if (!a) return { kind: 'unparseable' };
  let shown = entry.name ?? '';
  try { shown = libmime.decodeWords(shown); } catch { /* keep raw */ }
  const shownAddr = ADDRESS_LIKE.exec(shown)?.[0];
  if (shownAddr && shownAddr.toLowerCase() !== a.address.toLowerCase()) return { kind: 'spoofed-display-name', shown: shownAddr };
  const senderAddr = parseAddress(sender);
  if (!senderAddr) return { kind: 'other-address', found: a.address };
  if (a.domain !== senderAddr.domain) return { kind: 'other-domain', found: a.address };
  if (!sameDomainOnly && a.address.toLowerCase() !== senderAddr.address.toLowerCase()) return { kind: 'other-address', found: a.address };
  return undefined;
}

/** RFC 5322 date-time in UTC, e.g. "Mon, 23 Nov 2026 02:10:35 +0000". */
export function rfc5322Date(d: Date): string {
  return d.toUTCString().replace(/GMT$/, '+0000');
}

export interface TraceInfo {
  helo: string | null;
  clientHostname: string | null;
  clientIp: string;
  hostname: string;
  protocol: string;      // ESMTPSA, ESMTPS, ESMTPA...
  queueId: string;
  recipient?: string | undefined;   // only when there is one (privacy, as Postfix does)
  date: Date;
}

export function receivedHeader(t: TraceInfo): string {
  const from = `${t.helo ?? 'unknown'} (${t.clientHostname && t.clientHostname !== `[${t.clientIp}]` ? `${t.clientHostname} ` : ''}[${t.clientIp}])`;
  const forPart = t.recipient ? ` for <${t.recipient}>` : '';
  return `from ${from} by ${t.hostname} (mta) with ${t.protocol} id ${t.queueId}${forPart}; ${rfc5322Date(t.date)}`;
}

export function messageIdFor(queueId: string, hostname: string): string {
  return `<${queueId}@${hostname}>`;
}
