/**
 * feedback/arf — what a feedback report (RFC 5965 ARF, a mailbox provider's complaint
 * loop) says: its Feedback-Type (abuse, fraud, virus, other, not-spam, opt-out,
 * auth-failure), who reported it, and every handle on the reported message that lets us
 * find it again: the recipients the report names (Original-Rcpt-To), our signed reference
 * header (feedback/reference.ts), the envelope sender (a VERP address names the message),
 * the Message-ID, and the original `To:` (often redacted).
 *
 * Two shapes are read: a `multipart/report; report-type=feedback-report` (its
 * message/feedback-report part, then the returned message/rfc822 or text/rfc822-headers),
 * and Microsoft's JMRP reports (a plain multipart/mixed carrying the message with
 * `X-HmXmrOriginalRecipient`), which are abuse complaints without a report part.
 *
 * Pure: it reads the bytes it is given and decides nothing. Never throws on malformed
 * input: anything else is `ignored` with the reason.
 */
import { bodyText, header, mimeParts, type Part } from '../inbound/dsn-parse.js';
import { REF_HEADER } from './reference.js';

export interface FeedbackReport {
  format: 'arf' | 'jmrp';
  /** lower case; `abuse` for JMRP */
  feedbackType: string;
  userAgent: string | undefined;
  sourceIp: string | undefined;
  /** recipients the report names (Original-Rcpt-To, X-HmXmrOriginalRecipient), then the original To addresses */
  recipients: string[];
  /** envelope senders: Original-Mail-From and the returned message's Return-Path */
  mailFrom: string[];
  /** X-Mta-Ref values found in the returned message */
  references: string[];
  /** the returned message's Message-ID, without angle brackets */
  messageId: string | undefined;
}

export type ParsedFeedback = { kind: 'report'; report: FeedbackReport } | { kind: 'ignored'; reason: string };

/** Every field of a header block or field group, names lower-cased, values unfolded; repeated fields kept. */
export function allFields(text: string): [string, string][] {
  const out: [string, string][] = [];
  const head = text.replace(/\r\n/g, '\n').split(/\n[ \t]*\n/)[0] ?? '';
  for (const line of head.replace(/\n[ \t]+/g, ' ').split('\n')) {
    const i = line.indexOf(':');
    if (i > 0 && !/\s/.test(line.slice(0, i).trim())) out.push([line.slice(0, i).trim().toLowerCase(), line.slice(i + 1).trim()]);
  }
  return out;
}

const values = (fields: [string, string][], name: string): string[] => fields.filter(([k]) => k === name).map(([, v]) => v);

const ADDRESS = /[^\s<>"',;:@()[\]]+@[^\s<>"',;:@()[\]]+\.[A-Za-z0-9-]+/g;

/** The addresses in a field value: "rfc822; a@b", "<a@b>", "Name <a@b>, c@d". */
function addresses(v: string): string[] {
  return [...v.replace(/^[A-Za-z0-9-]+;\s*/, '').matchAll(ADDRESS)].map((m) => m[0].replace(/\.$/, ''));
}

/** The header block of a returned message (message/rfc822 or text/rfc822-headers). */
function returnedHeaders(all: Part[]): [string, string][] {
  // text/rfc822-header (singular) is a common misspelling of RFC 6522's type.
  const p = all.find((x) => /^(message\/(rfc822|global)|(text|message)\/rfc822-headers?)$/.test(x.node.contentType ?? ''));
  return p ? allFields(bodyText(p)) : [];
}

export async function parseFeedback(message: Buffer): Promise<ParsedFeedback> {
  const mime = await mimeParts(message);
  if ('kind' in mime) return mime;
  const { all, root } = mime;
  const original = returnedHeaders(all);
  const report = all.find((p) => p.node.contentType === 'message/feedback-report');
  let fields: [string, string][];
  let format: FeedbackReport['format'];
  if (report) {
    fields = allFields(bodyText(report));
    format = 'arf';
  } else if (values(original, 'x-hmxmroriginalrecipient').length > 0) {
    fields = [['feedback-type', 'abuse']];
    format = 'jmrp';
  } else {
    return { kind: 'ignored', reason: 'no message/feedback-report part and no JMRP report' };
  }
  const type = (values(fields, 'feedback-type')[0] ?? '').toLowerCase().split(/[\s;]/)[0] ?? '';
  if (!/^[a-z][a-z0-9-]*$/.test(type)) return { kind: 'ignored', reason: 'feedback report without a Feedback-Type' };
  const uniq = (xs: string[]): string[] => [...new Set(xs.map((x) => x.toLowerCase()))];
  return {
    kind: 'report',
    report: {
      format, feedbackType: type,
      userAgent: values(fields, 'user-agent')[0]?.slice(0, 200) ?? (format === 'jmrp' ? header(root.node, 'from').slice(0, 200) || undefined : undefined),
      sourceIp: (values(fields, 'source-ip')[0] ?? values(original, 'x-reporter-ip')[0])?.slice(0, 64),
      recipients: uniq([
        ...values(fields, 'original-rcpt-to').flatMap(addresses), ...values(original, 'x-hmxmroriginalrecipient').flatMap(addresses),
        ...values(original, 'to').flatMap(addresses),
      ]),
      mailFrom: uniq([...values(fields, 'original-mail-from').flatMap(addresses), ...values(original, 'return-path').flatMap(addresses)]),
      references: values(original, REF_HEADER.toLowerCase()).map((v) => v.trim()).filter((v) => /^[a-z2-7]{20,80}$/i.test(v)),
      messageId: messageIdOf(values(original, 'message-id')[0] ?? ''),
    },
  };
}

/** "<id@host>" → "id@host"; a bare "id@host" (seen in reports) too. */
function messageIdOf(v: string): string | undefined {
  const t = v.trim();
  return /<([^<>\s]+)>/.exec(t)?.[1] ?? (/^[^\s<>]+@[^\s<>]+$/.test(t) ? t : undefined);
}
