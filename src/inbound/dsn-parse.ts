/**
 * inbound/dsn-parse — what a bounce says about which recipients, and why.
 *
 * A standard bounce (RFC 3464 inside an RFC 6522 multipart/report) is read from its
 * message/delivery-status part: one group of fields per recipient (Final-Recipient,
 * Original-Recipient, Action, Status, Diagnostic-Code). Many servers still send
 * free-text bounces; those are read as a human would: the first SMTP reply line found in
 * the text parts (`550 5.1.1 ...`), and the first `<address>` near it, if any.
 *
 * Only `Action: failed` (or a 5xx free-text reply) is a bounce. `delayed`, `delivered`,
 * `relayed` and `expanded` reports say nothing final, and an auto-reply (vacation,
 * out-of-office) that lands on a VERP address is not a bounce at all: `kind: 'ignored'`.
 *
 * Never throws on malformed input: garbage is `ignored` with the reason.
 */
import { Readable } from 'node:stream';
import { Splitter, type MimeNode } from 'mailsplit';
import { phraseReply } from './dsn-phrases.js';

export interface BouncedRecipient {
  /** the address from Final-Recipient (else Original-Recipient), lower-cased domain untouched; undefined when the bounce names none */
  rcpt: string | undefined;
  /** an SMTP reply to classify, e.g. "550 5.1.1 <a@b>: user unknown" */
  reply: string;
  /** the RFC 3463 status the report gave, if any */
  status: string | undefined;
  remoteMta: string | undefined;
}

export type ParsedBounce =
  | { kind: 'failed'; format: 'dsn' | 'text'; recipients: BouncedRecipient[]; reportingMta: string | undefined }
  | { kind: 'ignored'; reason: string };

export interface Part { node: MimeNode; chunks: Buffer[]; size: number }

const REPLY_WITH_ENHANCED = /(?:^|[\s:('"])([45]\d\d)([ -])([45]\.\d{1,3}\.\d{1,3}\b[^\r\n]*)/m;
const REPLY_BARE = /(?:^|[\s:('"])([45]\d\d)([ -])([^\r\n]*)/m;
const ENHANCED_ONLY = /(?:^|[\s:('"])([45]\.\d{1,3}\.\d{1,3})\s[^\r\n]*/m;

/** Keep at most this much of any one part: a DSN's fields and a bounce's text are small. */
const PART_LIMIT = 256 * 1024;

/** The message's MIME parts in order (the root first), each body kept up to PART_LIMIT; an embedded message is one part. */
export async function parts(message: Buffer): Promise<Part[]> {
  const out: Part[] = [];
  const byNode = new Map<MimeNode, Part>();
  // ignoreEmbedded: a returned original (message/rfc822) is not read; its text may quote anything.
  const splitter = new Splitter({ maxChildNodes: 64, ignoreEmbedded: true });
  Readable.from([message]).pipe(splitter);
  for await (const chunk of splitter as AsyncIterable<{ type: string; node?: MimeNode; value?: Buffer } & MimeNode>) {
    if (chunk.type === 'node') {
      const p: Part = { node: chunk, chunks: [], size: 0 };
      out.push(p);
      byNode.set(chunk, p);
    } else if (chunk.type === 'body' && chunk.node && chunk.value) {
      const p = byNode.get(chunk.node);
      if (p && p.size < PART_LIMIT) { p.chunks.push(chunk.value); p.size += chunk.value.length; }
    }
  }
  return out;
}

export function header(node: MimeNode, name: string): string {
  return node.headers.get(name).map((l) => l.slice(l.indexOf(':') + 1).replace(/\r?\n[ \t]/g, ' ').trim()).join(', ');
}

function decodeQp(s: string): string {
  return s.replace(/=\r?\n/g, '').replace(/=([0-9A-Fa-f]{2})/g, (_, h: string) => String.fromCharCode(parseInt(h, 16)));
}

/** The part's body as text, transfer encoding undone (charset ignored: we only read ASCII fields). */
export function bodyText(p: Part): string {
  const raw = Buffer.concat(p.chunks);
  const cte = header(p.node, 'content-transfer-encoding').toLowerCase();
  if (cte === 'base64') return Buffer.from(raw.toString('latin1').replace(/[^A-Za-z0-9+/=]/g, ''), 'base64').toString('latin1');
  if (cte === 'quoted-printable') return decodeQp(raw.toString('latin1'));
  return raw.toString('latin1');
}

/** Field groups separated by blank lines; names lower-cased, continuation lines unfolded. */
export function fieldGroups(text: string): Map<string, string>[] {
  return text.replace(/\r\n/g, '\n').replace(/\n[ \t]+/g, ' ').split(/\n\s*\n/).filter((g) => g.trim()).map((g) => {
    const m = new Map<string, string>();
    for (const line of g.split('\n')) {
      const i = line.indexOf(':');
      if (i > 0) { const k = line.slice(0, i).trim().toLowerCase(); if (!m.has(k)) m.set(k, line.slice(i + 1).trim()); }
    }
    return m;
  });
}

/** "rfc822; a@b" → "a@b" (the address type is optional in practice). */
function addressField(v: string | undefined): string | undefined {
  if (!v) return undefined;
  const a = v.replace(/^[^;]*;/, '').trim().replace(/^<|>$/g, '');
  return /^[^\s@<>]+@[^\s@<>]+$/.test(a) ? a : undefined;
}

/** "smtp; 550 5.1.1 ..." → a reply line; one is made from Status when the diagnostic has no code. */
function replyOf(diagnostic: string | undefined, status: string | undefined): string {
  const d = (diagnostic ?? '').replace(/^[A-Za-z0-9-]+;\s*/, '').replace(/\s+/g, ' ').trim();
  if (/^[45]\d\d\b/.test(d)) return d;
  const code = status?.startsWith('4') ? '450' : '550';
  return [code, status, d].filter(Boolean).join(' ');
}

/** The parts with the root, or why there are none (never throws). */
export async function mimeParts(message: Buffer): Promise<{ all: Part[]; root: Part } | { kind: 'ignored'; reason: string }> {
  let all: Part[];
  try {
    all = await parts(message);
  } catch (e) {
    return { kind: 'ignored', reason: `unparseable MIME: ${(e as Error).message}` };
  }
  const root = all[0];
  return root ? { all, root } : { kind: 'ignored', reason: 'empty message' };
}

export async function parseBounce(message: Buffer, envelopeSender: string): Promise<ParsedBounce> {
  const mime = await mimeParts(message);
  if ('kind' in mime) return mime;
  const { all, root } = mime;

  const report = all.find((p) => p.node.contentType === 'message/delivery-status' || p.node.contentType === 'message/global-delivery-status');
  if (report) {
    const [msg, ...groups] = fieldGroups(bodyText(report));
    const reportingMta = addressLike(msg?.get('reporting-mta'));
    const recipients: BouncedRecipient[] = [];
    const actions = new Set<string>();
    // Some servers (AOL, McAfee) write the message and recipient fields as one group.
    const perRecipient = groups.length === 0 && msg?.has('final-recipient') ? [msg] : groups;
    for (const g of perRecipient) {
      const action = (g.get('action') ?? '').toLowerCase().split(/\s/)[0] ?? '';
      actions.add(action || '(none)');
      const status = /^[245]\.\d{1,3}\.\d{1,3}/.exec(g.get('status') ?? '')?.[0];
      // Some servers (AOL, McAfee, SurfControl) leave Action out: a permanent Status says it.
      if (action !== 'failed' && !(action === '' && status?.startsWith('5'))) continue;
      recipients.push({
        rcpt: addressField(g.get('final-recipient')) ?? addressField(g.get('original-recipient')),
        reply: replyOf(g.get('diagnostic-code'), status ?? '5.0.0'),
        status, remoteMta: addressLike(g.get('remote-mta')),
      });
    }
    if (recipients.length === 0) return { kind: 'ignored', reason: `delivery report without a failed recipient (action: ${[...actions].join(', ') || 'none'})` };
    return { kind: 'failed', format: 'dsn', recipients, reportingMta };
  }

  // A free-text bounce. Refuse auto-replies first: they quote anything.
  const autoSubmitted = header(root.node, 'auto-submitted').toLowerCase();
  const from = header(root.node, 'from');
  if (autoSubmitted.startsWith('auto-replied') && !/mailer-daemon|postmaster/i.test(from)) return { kind: 'ignored', reason: 'auto-reply, not a bounce' };
  if (envelopeSender !== '' && !/mailer-daemon|postmaster|mail delivery/i.test(from)) {
    return { kind: 'ignored', reason: 'not from a mail system (sender not empty, From not MAILER-DAEMON)' };
  }
  const texts = all.filter((p) => !p.node.multipart && (p.node.contentType ?? 'text/plain').startsWith('text/') && p.node.contentType !== 'text/rfc822-headers');
  const bodies = texts.map((p) => bodyText(p).replace(/\r?\n[ \t]+/g, ' '));
  // A reply with an enhanced code first ("550 5.1.1 ..."): a bare number is a weaker sign,
  // and a lone enhanced code ("5.2.2 <a@b>... Mailbox Full", GMX, some Exim set-ups) weaker still.
  for (const re of [REPLY_WITH_ENHANCED, REPLY_BARE, ENHANCED_ONLY]) for (const text of bodies) {
    const m = re.exec(text);
    if (!m) continue;
    const code = re === ENHANCED_ONLY ? `${m[1]!.charAt(0)}50` : m[1]!;
    if (code.startsWith('4')) return { kind: 'ignored', reason: `a temporary failure report (${code}), not a bounce` };
    const reply = `${code} ${(re === ENHANCED_ONLY ? m[0] : m[3]!).trim().replace(/^[:('"]/, '').replace(/['"]+$/, '')}`.slice(0, 1000);
    const before = text.slice(Math.max(0, m.index - 500), m.index + m[0].length);
    const addrs = [...before.matchAll(/<([^\s<>@]+@[^\s<>@]+)>/g)].map((x) => x[1]!);
    return {
      kind: 'failed', format: 'text', reportingMta: undefined,
      recipients: [{ rcpt: addrs[addrs.length - 1], reply, status: /[45]\.\d{1,3}\.\d{1,3}/.exec(reply)?.[0], remoteMta: undefined }],
    };
  }
  // No code anywhere: the words say it (inbound/dsn-phrases.ts).
  for (const text of bodies) {
    const v = phraseReply(text);
    if (v?.kind === 'delayed') return { kind: 'ignored', reason: 'a delay warning, not a bounce' };
    if (v?.kind === 'away') return { kind: 'ignored', reason: 'auto-reply (out of office), not a bounce' };
    if (!v) continue;
    const addrs = [...text.slice(0, text.indexOf(v.line) + v.line.length + 500).matchAll(/<?([^\s<>@"':;,()]+@[^\s<>@"':;,()]+\.[A-Za-z]{2,})>?/g)].map((x) => x[1]!);
    return {
      kind: 'failed', format: 'text', reportingMta: undefined,
      recipients: [{ rcpt: addrs[0], reply: v.reply, status: /[45]\.\d{1,3}\.\d{1,3}/.exec(v.reply)?.[0], remoteMta: undefined }],
    };
  }
  return { kind: 'ignored', reason: 'no delivery report and no SMTP reply in the text' };
}

function addressLike(v: string | undefined): string | undefined {
  const t = v?.replace(/^[^;]*;/, '').trim();
  return t ? t.slice(0, 255) : undefined;
}
