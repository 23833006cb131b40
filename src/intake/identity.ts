/**
 * intake/identity — the one identity policy for every way mail enters: SMTP and the send
 * API (both through intake), templates (their `from_name`) and batch tasks. A message may
 * only claim to come from its authenticated sender's domain, and no display name may show
 * an address, which mail clients display instead of the real one.
 *
 *   From                       exactly one, one plain address on the sender's domain
 *   Sender, Resent-From,       every address on the sender's domain (Sender at most once)
 *   Resent-Sender
 *   Reply-To                   any domain (replies may go to a help desk), but no display
 *                              name showing an address; a header the client wrote itself
 *                              (SMTP, /send/raw) as before, while the send API's own
 *                              `reply_to` takes only the sender's verified reply-to
 *                              (accounts/reply-to.ts)
 *   Bcc, Authentication-Results, ARC-*   taken out: Bcc must not reach the visible
 *                              recipients (the envelope keeps them); the others only a
 *                              receiver may add, so a submitted one is a forgery
 *
 * A display name "looks like an address" after NFKC normalisation (full-width `＠` U+FF20
 * and small `﹫` U+FE6B become `@`), with invisible format characters dropped and spaces
 * around the `@` ignored (`ceo @ bank.test`). Showing the message's own address is fine.
 *
 * Must never: accept a header it cannot parse as harmless, or let one front-end apply a
 * weaker rule than another (they all call these functions).
 */
import addressparser from 'nodemailer/lib/addressparser';
import libmime from 'libmime';
import { parseAddress } from '../util/address.js';
import { MtaError, type ErrorCode } from '../util/errors.js';
import { headerValue } from './headers.js';

/** Header fields intake removes from the top-level header block. */
export const STRIPPED_HEADERS: readonly string[] = [
  'bcc', 'authentication-results', 'arc-seal', 'arc-message-signature', 'arc-authentication-results',
];

/** Header fields whose addresses must be on the sender's domain; From has further rules. */
const ON_DOMAIN = ['sender', 'resent-from', 'resent-sender'] as const;

/** The header name as shown in a reason. */
const SHOWN: Record<string, string> = { from: 'From', sender: 'Sender', 'resent-from': 'Resent-From', 'resent-sender': 'Resent-Sender', 'reply-to': 'Reply-To' };

export type IdentityProblem = { header: string } & (
  | { kind: 'missing' } | { kind: 'duplicate' } | { kind: 'unparseable' } | { kind: 'multiple-addresses' }
  | { kind: 'encoded-address' } | { kind: 'spoofed-display-name'; shown: string }
  | { kind: 'other-domain'; found: string } | { kind: 'other-address'; found: string });

export function describeIdentityProblem(p: IdentityProblem): string {
  const h = SHOWN[p.header] ?? p.header;
  switch (p.kind) {
    case 'missing': return `Message has no ${h} header`;
    case 'duplicate': return `Message has more than one ${h} header`;
    case 'unparseable': return `${h} header cannot be parsed`;
    case 'multiple-addresses': return `${h} header must hold exactly one address`;
    case 'encoded-address': return `${h} address must not be MIME-encoded`;
    case 'spoofed-display-name': return `${h} display name shows an address (${p.shown}); a display name must not look like an address`;
    case 'other-domain': return `${h} address ${p.found} is not on the authenticated sender's domain`;
    case 'other-address': return `${h} address ${p.found} is not the authenticated sender`;
  }
}

/** local@domain.tld, spaces around the @ allowed; the specials that cannot be in an unquoted address end it. */
const ADDRESS_LIKE = /[^\s<>"@()[\],;:]+\s*@\s*[^\s<>"@()[\],;:]+\.[^\s<>"@()[\],;:]+/u;

/**
 * The address a display name shows, normalised, or undefined when it shows none. `own`
 * is the address the name stands for: showing that one deceives nobody.
 */
export function addressInDisplayName(name: string, own?: string): string | undefined {
  let shown = name;
  try { shown = libmime.decodeWords(shown); } catch { /* keep raw */ }
  shown = shown.normalize('NFKC').replace(/\p{Cf}/gu, '');
  const m = ADDRESS_LIKE.exec(shown)?.[0];
  if (!m) return undefined;
  const compact = m.replace(/\s+/g, '');
  return own !== undefined && compact.toLowerCase() === own.toLowerCase() ? undefined : compact;
}

/**
 * A display name we put before `address` ourselves (templates, batch tasks): throws
 * `code` (MTA_ERR_TEMPLATE unless given) naming `field` when it shows an address.
 */
export function checkDisplayName(name: string | null | undefined, field: string, address?: string, code: ErrorCode = 'MTA_ERR_TEMPLATE'): void {
  if (!name) return;
  const shown = addressInDisplayName(name, address);
  if (shown) throw new MtaError(code, `${field}: "${name}" looks like an address (${shown}); a display name must not show an address`, field);
}

/** The header lines of one field name ("From: a <b@c>\r\n"), as mailsplit's Headers gives them. */
export interface HeaderSource { get(key: string): string[] }

interface Mailbox { name: string; address: string }

function mailboxes(line: string, header: string): Mailbox[] | IdentityProblem {
  // mailsplit hands header lines over as binary strings; raw UTF-8 (SMTPUTF8) display
  // names must be read as UTF-8, or a full-width ＠ would pass as three Latin-1 characters.
  const value = Buffer.from(headerValue(line), 'latin1').toString('utf8');
  let parsed;
  try { parsed = addressparser(value, { flatten: true }); } catch { return { header, kind: 'unparseable' }; }
  const out: Mailbox[] = [];
  for (const p of parsed) {
    if (!p.address) return { header, kind: 'unparseable' };
    if (/=\?/.test(p.address)) return { header, kind: 'encoded-address' };
    const a = parseAddress(p.address);
    if (!a) return { header, kind: 'unparseable' };
    out.push({ name: p.name ?? '', address: a.address });
  }
  return out.length ? out : { header, kind: 'unparseable' };
}

function mailboxProblem(header: string, m: Mailbox, senderDomain: string | undefined): IdentityProblem | undefined {
  const shown = addressInDisplayName(m.name, m.address);
  if (shown) return { header, kind: 'spoofed-display-name', shown };
  if (header === 'reply-to') return undefined;
  if (m.address.slice(m.address.lastIndexOf('@') + 1) !== senderDomain) return { header, kind: 'other-domain', found: m.address };
  return undefined;
}

/**
 * Checks the identity headers of a top-level header block against the envelope sender.
 * `sameDomainOnly`: the From address may be any address on the sender's domain (SPEC:
 * "the same address or at least the same domain"); otherwise it must be the sender itself.
 */
export function checkIdentity(h: HeaderSource, sender: string, sameDomainOnly = true): IdentityProblem | undefined {
  const senderAddr = parseAddress(sender);
  const domain = senderAddr?.domain;
  const from = h.get('from');
  if (from.length === 0) return { header: 'from', kind: 'missing' };
  if (from.length > 1) return { header: 'from', kind: 'duplicate' };
  const fromBoxes = mailboxes(from[0]!, 'from');
  if (!Array.isArray(fromBoxes)) return fromBoxes;
  if (fromBoxes.length > 1) return { header: 'from', kind: 'multiple-addresses' };
  const f = fromBoxes[0]!;
  const fp = mailboxProblem('from', f, domain);
  if (fp) return fp;
  if (!sameDomainOnly && f.address.toLowerCase() !== senderAddr?.address.toLowerCase()) return { header: 'from', kind: 'other-address', found: f.address };
  if (h.get('sender').length > 1) return { header: 'sender', kind: 'duplicate' };
  for (const header of [...ON_DOMAIN, 'reply-to']) {
    for (const line of h.get(header)) {
      const boxes = mailboxes(line, header);
      if (!Array.isArray(boxes)) return boxes;
      if (header === 'sender' && boxes.length > 1) return { header, kind: 'multiple-addresses' };
      for (const m of boxes) { const p = mailboxProblem(header, m, domain); if (p) return p; }
    }
  }
  return undefined;
}
