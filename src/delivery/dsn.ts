/**
 * delivery/dsn — the delivery status notification (RFC 3464, in an RFC 6522
 * multipart/report) that tells the envelope sender a recipient failed for good, or is
 * still being retried. The wording and layout follow Postfix's bounce messages, which
 * people and bounce processors already know how to read.
 *
 * A DSN goes out with the null sender and `Auto-Submitted: auto-replied` (RFC 3834) so
 * neither another DSN nor an auto-responder ever answers it: that is how mail loops are
 * avoided. We return the original headers only, never the body, so a DSN stays small and
 * cannot be used to reflect content at a forged sender.
 *
 * Pure: the caller spools the result like any other message.
 */
import { randomBytes } from 'node:crypto';
import { encode as qpEncode, wrap as qpWrap } from 'nodemailer/lib/qp';
import { encodeWords } from 'nodemailer/lib/mime-funcs';
import { rfc5322Date } from '../intake/headers.js';
import { parseAddress, normaliseDomain } from '../util/address.js';
import { MtaError } from '../util/errors.js';

export interface DsnRecipient {
  rcpt: string;
  action: 'failed' | 'delayed';
  status: string;          // enhanced code like '5.1.1'
  diagnostic: string;      // the remote reply or our reason, e.g. '550 5.1.1 user unknown'
  remoteMta?: string;      // MX host name
  lastAttemptAt: number;   // ms epoch
}

export interface DsnInput {
  reportingMta: string;    // our hostname
  queueId: string;
  sender: string;
  receivedAt: number;
  /** The original header block, CRLF separated, without the blank line: bytes, or a
   * string of one character per byte as the spool's `toString('latin1')` gives. A string
   * with characters above U+00FF can only be decoded text, and is written as UTF-8. */
  originalHeaders: string | Buffer;
  recipients: DsnRecipient[];
  now?: Date;
}

export interface Dsn {
  from: '';                // the envelope sender: always null (RFC 5321 §4.5.5)
  to: string;              // the envelope recipient: the original sender
  headerFrom: string;      // the address in the From header, e.g. MAILER-DAEMON@mta.example.com
  messageId: string;       // with the angle brackets
  subject: string;
  message: Buffer;         // the whole RFC 5322 message, CRLF line ends
  /** The returned headers hold 8-bit bytes: send with BODY=8BITMIME. */
  eightBit: boolean;
  /** The sender's local part is not ASCII, so the To header is UTF-8: send with SMTPUTF8. */
  smtpUtf8: boolean;
}

const MAX_LINE = 998;
const ENHANCED_AFTER_CODE = /^\s*[245]\d\d[ -]+([245]\.\d{1,3}\.\d{1,3})(?![\d.])/;
// Not next to another digit or dot, so an IP address such as 5.6.7.8 is not read as one.
const ENHANCED_ANYWHERE = /(?<![\d.])([245]\.\d{1,3}\.\d{1,3})(?![\d.])/;

/** The x.y.z enhanced status code (RFC 3463) in a reply, else `fallback`. */
export function statusFromReply(reply: string, fallback: string): string {
  return ENHANCED_AFTER_CODE.exec(reply)?.[1] ?? ENHANCED_ANYWHERE.exec(reply)?.[1] ?? fallback;
}

const isAscii = (s: string): boolean => /^[\x00-\x7f]*$/.test(s);

/** Multi-line SMTP replies and stray control characters become single spaces. */
function oneLine(s: string): string {
  return s.replace(/[\x00-\x1f\x7f]+/g, ' ').replace(/ {2,}/g, ' ').trim();
}

/** Domain to its A-label form where we can; the local part is left alone. */
function asciiDomain(address: string): string {
  return parseAddress(address)?.address ?? address;
}

/**
 * An address for a DSN field. Non-ASCII forms use RFC 6533's "utf-8" type with the
 * \x{HH} escapes, the only way to carry them in a 7-bit message/delivery-status.
 */
function dsnAddress(address: string): string {
  const a = asciiDomain(oneLine(address));
  if (isAscii(a)) return `rfc822; ${a}`;
  let out = '';
  for (const ch of a) {
    const cp = ch.codePointAt(0)!;
    const plain = cp > 0x20 && cp < 0x7f && ch !== '+' && ch !== '=' && ch !== '\\';
    out += plain ? ch : `\\x{${cp.toString(16).toUpperCase()}}`;
  }
  return `utf-8; ${out}`;
}

/**
 * Folds "Name: value" at spaces so no line passes `width` where a space allows it, and
 * hard-splits any word too long to fit within 998 octets (the one case where a fold has
 * to add a space that was not there).
 */
export function foldField(name: string, value: string, width = 78): string {
  const words = value.split(' ').flatMap((w) => {
    const parts: string[] = [];
    for (let i = 0; i < w.length || i === 0; i += MAX_LINE - 2) parts.push(w.slice(i, i + MAX_LINE - 2));
    return parts;
  });
  const lines: string[] = [];
  let line = `${name}:`;
  for (const w of words) {
    // Right after the name we fold only when the word would not fit in 998 octets there.
    const tooLong = line.length + 1 + w.length > (line === `${name}:` ? MAX_LINE : width);
    if (tooLong) {
      lines.push(line);
      line = '';
    }
    line += ` ${w}`;
  }
  lines.push(line);
  return lines.join('\r\n');
}

/** Wraps plain text for the human-readable part, continuing with Postfix's indent. */
function wrapText(text: string, width = 76, indent = '    '): string[] {
  const out: string[] = [];
  let line = '';
  for (const w of text.split(' ')) {
    if (line && line.length + 1 + w.length > width) {
      out.push(line);
      line = indent;
    }
    line += line && line !== indent ? ` ${w}` : w;
  }
  out.push(line);
  // A word too long for any line still has to fit in 998 octets once encoded.
  return out.flatMap((l) => {
    const parts: string[] = [];
    for (let i = 0; i < l.length || i === 0; i += 900) parts.push(l.slice(i, i + 900));
    return parts;
  });
}

/** The original header block as CRLF lines, no NULs, no line over 998 octets, no trailing blank line. */
function normaliseHeaderBlock(raw: string | Buffer): Buffer {
  const buf = typeof raw !== 'string' ? raw : Buffer.from(raw, /[^\x00-\xff]/.test(raw) ? 'utf8' : 'latin1');
  const lines: Buffer[] = [];
  let start = 0;
  const push = (line: Buffer): void => {
    const clean = line.includes(0) ? Buffer.from(line.filter((b) => b !== 0)) : line;
    // Over-long lines are continued as folded lines, which keeps them readable as headers.
    for (let i = 0; i < clean.length || i === 0; i += MAX_LINE - 1) {
      const piece = clean.subarray(i, i + MAX_LINE - 1);
      lines.push(i === 0 ? piece : Buffer.concat([Buffer.from(' '), piece]));
    }
  };
  for (let i = 0; i < buf.length; i++) {
    const b = buf[i];
    if (b !== 0x0d && b !== 0x0a) continue;
    push(buf.subarray(start, i));
    if (b === 0x0d && buf[i + 1] === 0x0a) i++;
    start = i + 1;
  }
  if (start < buf.length) push(buf.subarray(start));
  while (lines.length > 0 && lines[lines.length - 1]!.length === 0) lines.pop();
  return Buffer.concat(lines.flatMap((l) => [l, Buffer.from('\r\n')]));
}

function has8bit(buf: Buffer): boolean {
  return buf.some((b) => b > 0x7f);
}

function recipientLine(r: DsnRecipient): string {
  const why = oneLine(r.diagnostic) || 'unknown reason';
  const rcpt = oneLine(r.rcpt);
  return r.remoteMta ? `<${rcpt}>: host ${oneLine(r.remoteMta)} said: ${why}` : `<${rcpt}>: ${why}`;
}

function humanText(input: DsnInput, host: string): string {
  const failed = input.recipients.filter((r) => r.action === 'failed');
  const delayed = input.recipients.filter((r) => r.action === 'delayed');
  const p: string[] = [`This is the mail system at host ${host}.`, ''];
  if (failed.length > 0) {
    p.push(
      "I'm sorry to have to inform you that your message could not",
      'be delivered to one or more recipients. The headers of your',
      'message are attached below.', '',
      'For further assistance, please send mail to postmaster.', '',
      'If you do so, please include this problem report.', '',
    );
  } else {
    p.push(
      '####################################################################',
      '# THIS IS A WARNING ONLY.  YOU DO NOT NEED TO RESEND YOUR MESSAGE. #',
      '####################################################################', '',
      'Your message could not be delivered yet to the recipients below.',
      'The mail system will keep trying, and will tell you if it gives up.',
      'The headers of your message are attached below.', '',
    );
  }
  p.push('                   The mail system', '');
  for (const r of failed) p.push(...wrapText(recipientLine(r)), '');
  if (failed.length > 0 && delayed.length > 0) {
    p.push('Delivery to the following recipients has been delayed; the mail', 'system is still trying:', '');
  }
  for (const r of delayed) p.push(...wrapText(recipientLine(r)), '');
  return p.join('\r\n').replace(/(\r\n)+$/, '');
}

function statusFields(input: DsnInput, host: string): string {
  const fields = [
    `Reporting-MTA: dns; ${host}`,
    `X-Mta-Queue-ID: ${oneLine(input.queueId)}`,
    foldField('X-Mta-Sender', dsnAddress(input.sender)),
    `Arrival-Date: ${rfc5322Date(new Date(input.receivedAt))}`,
  ];
  for (const r of input.recipients) {
    const okStatus = /^[245]\.\d{1,3}\.\d{1,3}$/.test(r.status.trim());
    const status = okStatus ? r.status.trim() : r.action === 'failed' ? '5.0.0' : '4.0.0';
    const diagnostic = oneLine(r.diagnostic) || 'unknown reason';
    // RFC 3464: "smtp" is for what a remote server said; our own reasons get an X- type, as Postfix's do.
    const type = /^[245]\d\d(?:[ -]|$)/.test(diagnostic) ? 'smtp' : 'X-Mta';
    fields.push('');
    fields.push(foldField('Final-Recipient', dsnAddress(r.rcpt)));
    fields.push(`Action: ${r.action}`, `Status: ${status}`);
    if (r.remoteMta) fields.push(foldField('Remote-MTA', `dns; ${normaliseDomain(r.remoteMta) ?? oneLine(r.remoteMta)}`));
    // message/delivery-status is 7-bit; non-ASCII reply text becomes encoded-words.
    fields.push(foldField('Diagnostic-Code', `${type}; ${isAscii(diagnostic) ? diagnostic : encodeWords(diagnostic, 'Q', 52)}`));
    fields.push(`Last-Attempt-Date: ${rfc5322Date(new Date(r.lastAttemptAt))}`);
  }
  return `${fields.join('\r\n')}\r\n`;
}

/** Builds the DSN for `input`. Throws MTA_ERR_INVALID for the null sender (never bounce a bounce) or no recipients. */
export function buildDsn(input: DsnInput): Dsn {
  if (!input.sender || input.sender === '<>') throw new MtaError('MTA_ERR_INVALID', 'no DSN is sent to the null sender', 'sender');
  if (input.recipients.length === 0) throw new MtaError('MTA_ERR_INVALID', 'a DSN needs at least one recipient', 'recipients');
  const now = input.now ?? new Date();
  const host = normaliseDomain(input.reportingMta) ?? oneLine(input.reportingMta);
  const headerFrom = `MAILER-DAEMON@${host}`;
  const messageId = `<${now.getTime().toString(36)}.${randomBytes(8).toString('hex')}@${host}>`;
  const allDelayed = input.recipients.every((r) => r.action === 'delayed');
  const subject = allDelayed ? 'Delayed Mail (still being retried)' : 'Undelivered Mail Returned to Sender';
  const to = asciiDomain(oneLine(input.sender));
  const smtpUtf8 = !isAscii(to);

  const text = humanText(input, host);
  const textPart = isAscii(text)
    ? { headers: 'Content-Type: text/plain; charset=us-ascii', body: Buffer.from(`${text}\r\n`) }
    : {
        headers: 'Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable',
        body: Buffer.from(`${qpWrap(qpEncode(Buffer.from(text, 'utf8')), 76).replace(/\r?\n/g, '\r\n')}\r\n`),
      };
  const returned = normaliseHeaderBlock(input.originalHeaders);
  const eightBit = has8bit(returned);
  const parts: Array<{ headers: string; body: Buffer }> = [
    { headers: `Content-Description: Notification\r\n${textPart.headers}`, body: textPart.body },
    { headers: 'Content-Description: Delivery report\r\nContent-Type: message/delivery-status', body: Buffer.from(statusFields(input, host)) },
    {
      headers: `Content-Description: Undelivered Message Headers\r\nContent-Type: text/rfc822-headers${eightBit ? '\r\nContent-Transfer-Encoding: 8bit' : ''}`,
      body: returned,
    },
  ];

  let boundary: string;
  do {
    // "=_" can never occur in quoted-printable text, and RFC 2046 allows 70 characters.
    boundary = `=_dsn_${now.getTime().toString(36)}_${randomBytes(12).toString('hex')}`;
  } while (parts.some((p) => p.body.includes(boundary)));

  const head = [
    `Date: ${rfc5322Date(now)}`,
    `From: Mail Delivery System <${headerFrom}>`,
    `To: <${to}>`,
    `Subject: ${subject}`,
    `Message-ID: ${messageId}`,
    'Auto-Submitted: auto-replied',
    'MIME-Version: 1.0',
    `Content-Type: multipart/report; report-type=delivery-status;\r\n boundary="${boundary}"`,
    // A multipart holding an 8bit part must not itself claim 7bit (RFC 2045 §6.4).
    `Content-Transfer-Encoding: ${eightBit ? '8bit' : '7bit'}`,
  ].join('\r\n');

  const chunks: Buffer[] = [Buffer.from(`${head}\r\n\r\nThis is a MIME-encapsulated message.\r\n`)];
  for (const p of parts) {
    chunks.push(Buffer.from(`\r\n--${boundary}\r\n${p.headers}\r\n\r\n`), p.body);
  }
  chunks.push(Buffer.from(`\r\n--${boundary}--\r\n`));
  return { from: '', to, headerFrom, messageId, subject, message: Buffer.concat(chunks), eightBit, smtpUtf8 };
}
