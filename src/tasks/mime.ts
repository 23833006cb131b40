/**
 * tasks/mime — the MIME message of one batch task member, composed synchronously: a
 * multipart/alternative of the text and HTML bodies the template renderer's rules
 * produced (templates/templates.ts: values HTML-escaped in HTML, raw in subject and text).
 *
 * Why not admin/compose.ts (nodemailer's MailComposer) as `mta template render` uses: it
 * is a stream pipeline per message and cost ~1.5 ms of CPU per member, more than the
 * delivery of the message itself; a 1,000,000-member task would spend 25 minutes of CPU
 * composing. This writes the same structure from strings with nodemailer's own encoders
 * (quoted-printable, RFC 2047 words) in a few microseconds.
 *
 * Bodies are 7bit when they are ASCII with lines of at most 76 characters and no line
 * begins with `--`, else quoted-printable with a line-leading `-` as `=2D`: a member's value
 * with line breaks can never put a boundary line into its copy. Header values with
 * non-ASCII text are encoded words; line breaks in header values (subject, from name) become
 * spaces. CRLF throughout.
 *
 * Must never: let a value start a line of the body with `--`, or break a header line.
 */
import { randomBytes } from 'node:crypto';
import { encode as qpEncode, wrap as qpWrap } from 'nodemailer/lib/qp';
import { encodeWords, foldLines } from 'nodemailer/lib/mime-funcs';
import { rfc5322Date } from '../intake/headers.js';
import { escapeLeadingDash } from '../util/qp.js';

export interface TaskMime {
  from: { name: string | null; address: string };
  to: string;
  subject: string;
  text: string;
  html: string;
  messageId: string;
  date: Date;
  /** further header fields, in order (Reply-To, List-Unsubscribe, ...) */
  headers: Record<string, string>;
}

const PLAIN = /^[\x20-\x7e\t]*$/;

function displayName(raw: string): string {
  const name = raw.replace(/[\r\n]+/g, ' ');
  if (!PLAIN.test(name)) return encodeWords(name, 'Q', 52, true);
  return /^[A-Za-z0-9 !#$%&'*+\-/=?^_`{|}~]*$/.test(name) ? name : `"${name.replace(/(["\\])/g, '\\$1')}"`;
}

function header(name: string, value: string): string {
  const v = PLAIN.test(value) ? value : encodeWords(value, 'Q', 52);
  return foldLines(`${name}: ${v.replace(/[\r\n]+/g, ' ')}`, 76).replace(/\r?\n/g, '\r\n');
}

/** A body part: 7bit when it can be, else quoted-printable (CRLF line ends either way). */
function part(type: string, body: string): string {
  const crlf = body.replace(/\r?\n/g, '\r\n');
  const lines = crlf.split('\r\n');
  const sevenBit = lines.every((l) => l.length <= 76 && PLAIN.test(l) && !l.startsWith('--'));
  const encoded = sevenBit ? crlf : escapeLeadingDash(qpWrap(qpEncode(crlf), 76).replace(/\r?\n/g, '\r\n'));
  return `Content-Type: ${type}; charset=utf-8\r\nContent-Transfer-Encoding: ${sevenBit ? '7bit' : 'quoted-printable'}\r\n\r\n${encoded}\r\n`;
}

export function composeTaskMime(m: TaskMime): Buffer {
  const boundary = `--_mta_${randomBytes(12).toString('hex')}`;
  const from = m.from.name ? `${displayName(m.from.name)} <${m.from.address}>` : m.from.address;
  const head = [
    `From: ${from}`,
    `To: ${m.to}`,
    header('Subject', m.subject),
    `Message-ID: ${m.messageId}`,
    `Date: ${rfc5322Date(m.date)}`,
    ...Object.entries(m.headers).map(([k, v]) => header(k, v)),
    'MIME-Version: 1.0',
    `Content-Type: multipart/alternative; boundary="${boundary}"`,
  ].join('\r\n');
  return Buffer.from(
    `${head}\r\n\r\n--${boundary}\r\n${part('text/plain', m.text)}--${boundary}\r\n${part('text/html', m.html)}--${boundary}--\r\n`, 'utf8');
}
