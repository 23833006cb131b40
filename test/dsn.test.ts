// Delivery status notifications (RFC 3464 in an RFC 6522 multipart/report): parsed back
// with mailsplit, the parser intake uses, and checked field by field.
import t from 'tap';
import { Readable } from 'node:stream';
import { Splitter, type MimeNode } from 'mailsplit';
import { buildDsn, statusFromReply, type DsnInput, type DsnRecipient } from '../src/delivery/dsn.js';
import { rfc5322Date } from '../src/intake/headers.js';

const NOW = new Date('2026-11-23T02:10:35Z');
const RECEIVED = Date.parse('2026-11-22T01:00:00Z');
const ATTEMPT = Date.parse('2026-11-23T02:10:00Z');

const ORIGINAL = [
  'Received: from app (app.internal [10.0.0.5]) by mta.example.com (mta) with ESMTPSA id 01M8337DMG00AB2ATA',
  'From: "App" <app@example.com>',
  'To: someone@example.org',
  'Subject: Your receipt',
  'Message-ID: <01M8337DMG00AB2ATA@mta.example.com>',
].join('\r\n');

function rcpt(over: Partial<DsnRecipient> = {}): DsnRecipient {
  return {
    rcpt: 'someone@example.org', action: 'failed', status: '5.1.1',
    diagnostic: '550 5.1.1 <someone@example.org>: Recipient address rejected: User unknown in virtual mailbox table',
    remoteMta: 'mx1.example.org', lastAttemptAt: ATTEMPT, ...over,
  };
}

function input(over: Partial<DsnInput> = {}): DsnInput {
  return {
    reportingMta: 'mta.example.com', queueId: '01M8337DMG00AB2ATA', sender: 'app@example.com', receivedAt: RECEIVED,
    originalHeaders: ORIGINAL, recipients: [rcpt()], now: NOW, ...over,
  };
}

interface Part { node: MimeNode; body: Buffer }

/** Splits a message into its MIME nodes with their (still encoded) bodies. */
async function parse(message: Buffer): Promise<Part[]> {
  const parts: Part[] = [];
  const byNode = new Map<MimeNode, Part>();
  const splitter = new Splitter();
  Readable.from([message]).pipe(splitter);
  for await (const chunk of splitter as AsyncIterable<{ type: string; node?: MimeNode; value?: Buffer } & MimeNode>) {
    if (chunk.type === 'node') {
      const p = { node: chunk, body: Buffer.alloc(0) };
      parts.push(p);
      byNode.set(chunk, p);
    } else if (chunk.type === 'body' && chunk.node && chunk.value) {
      const p = byNode.get(chunk.node)!;
      p.body = Buffer.concat([p.body, chunk.value]);
    }
  }
  return parts;
}

/** message/delivery-status: groups of fields separated by blank lines, names lower-cased, values unfolded. */
function statusGroups(body: Buffer): Array<Map<string, string>> {
  return body.toString('latin1').replace(/\r\n[ \t]/g, ' ').split(/\r\n\r\n/).filter((g) => g.trim()).map((g) => {
    const m = new Map<string, string>();
    for (const line of g.split('\r\n').filter(Boolean)) {
      const i = line.indexOf(':');
      m.set(line.slice(0, i).toLowerCase(), line.slice(i + 1).trim());
    }
    return m;
  });
}

function header(node: MimeNode, name: string): string {
  return node.headers.get(name).map((l) => l.slice(l.indexOf(':') + 1).replace(/\r\n[ \t]/g, ' ').trim()).join('\n');
}

function wellFormed(t: Pick<typeof import('tap').default, 'ok' | 'notOk'>, message: Buffer, sevenBit = true): void {
  const s = message.toString('latin1');
  t.notOk(/\r(?!\n)|(?<!\r)\n/.test(s), 'only CRLF line ends');
  t.ok(s.split('\r\n').every((l) => Buffer.byteLength(l, 'latin1') <= 998), 'no line over 998 octets');
  t.notOk(message.includes(0), 'no NUL');
  if (sevenBit) t.ok(message.every((b) => b < 0x80), '7-bit');
}

t.test('a failed recipient: the RFC 3464 structure', async (t) => {
  const dsn = buildDsn(input());
  t.equal(dsn.from, '', 'null envelope sender');
  t.equal(dsn.to, 'app@example.com');
  t.equal(dsn.headerFrom, 'MAILER-DAEMON@mta.example.com');
  t.equal(dsn.subject, 'Undelivered Mail Returned to Sender');
  t.match(dsn.messageId, /^<[^<>@\s]+@mta\.example\.com>$/);
  t.equal(dsn.eightBit, false);
  t.equal(dsn.smtpUtf8, false);
  wellFormed(t, dsn.message);

  const parts = await parse(dsn.message);
  t.equal(parts.length, 4, 'the report and its three parts');
  const [root, text, status, headers] = parts as [Part, Part, Part, Part];
  t.equal(root.node.contentType, 'multipart/report');
  t.match(header(root.node, 'content-type'), /report-type=delivery-status/);
  t.equal(header(root.node, 'from'), 'Mail Delivery System <MAILER-DAEMON@mta.example.com>');
  t.equal(header(root.node, 'to'), '<app@example.com>');
  t.equal(header(root.node, 'subject'), dsn.subject);
  t.equal(header(root.node, 'date'), rfc5322Date(NOW));
  t.equal(header(root.node, 'message-id'), dsn.messageId);
  t.equal(header(root.node, 'auto-submitted'), 'auto-replied');
  t.equal(header(root.node, 'mime-version'), '1.0');

  t.equal(text.node.contentType, 'text/plain');
  const human = text.body.toString();
  t.match(human, 'This is the mail system at host mta.example.com.');
  t.match(human, 'could not\r\nbe delivered to one or more recipients');
  t.match(human.replace(/\r\n\s+/g, ' '), '<someone@example.org>: host mx1.example.org said: 550 5.1.1 <someone@example.org>: Recipient address rejected: User unknown in virtual mailbox table');
  t.ok(human.split('\r\n').every((l) => l.length <= 80), 'readable line lengths');

  t.equal(status.node.contentType, 'message/delivery-status');
  const groups = statusGroups(status.body);
  t.equal(groups.length, 2, 'per-message group and one recipient group');
  const [msg, r] = groups as [Map<string, string>, Map<string, string>];
  t.equal(msg.get('reporting-mta'), 'dns; mta.example.com');
  t.equal(msg.get('x-mta-queue-id'), '01M8337DMG00AB2ATA');
  t.equal(msg.get('x-mta-sender'), 'rfc822; app@example.com');
  t.equal(msg.get('arrival-date'), rfc5322Date(new Date(RECEIVED)));
  t.equal(r.get('final-recipient'), 'rfc822; someone@example.org');
  t.equal(r.get('action'), 'failed');
  t.equal(r.get('status'), '5.1.1');
  t.equal(r.get('remote-mta'), 'dns; mx1.example.org');
  t.equal(r.get('diagnostic-code'), 'smtp; 550 5.1.1 <someone@example.org>: Recipient address rejected: User unknown in virtual mailbox table');
  t.equal(r.get('last-attempt-date'), rfc5322Date(new Date(ATTEMPT)));

  t.equal(headers.node.contentType, 'text/rfc822-headers');
  t.equal(headers.body.toString(), `${ORIGINAL}\r\n`, 'the original header block, byte for byte');
  t.notOk(/delivered-to|received/i.test(human), 'the body of the original is never returned');

  const boundary = /boundary="([^"]+)"/.exec(header(root.node, 'content-type'))![1]!;
  t.ok(boundary.length <= 70, 'boundary within RFC 2046 length');
  t.equal(dsn.message.toString('latin1').split(boundary).length - 1, 1 + 4, 'boundary only in Content-Type and the 4 delimiter lines');
});

t.test('several recipients: remote replies, our own reasons, and the subject variants', async (t) => {
  const ours = rcpt({ rcpt: 'gone@example.net', diagnostic: 'Host or domain name not found. Name service error for name=example.net type=MX', remoteMta: undefined, status: '5.4.4' });
  const delayed = rcpt({ rcpt: 'slow@example.com', action: 'delayed', status: '4.2.2', diagnostic: '452 4.2.2 Mailbox full', remoteMta: 'mx.example.com' });
  const dsn = buildDsn(input({ recipients: [rcpt(), ours, delayed] }));
  t.equal(dsn.subject, 'Undelivered Mail Returned to Sender', 'any failure makes it a bounce');
  const [, text, status] = await parse(dsn.message) as [Part, Part, Part];
  const groups = statusGroups(status.body);
  t.equal(groups.length, 4);
  t.equal(groups[2]!.get('final-recipient'), 'rfc822; gone@example.net');
  t.equal(groups[2]!.get('diagnostic-code'), 'X-Mta; Host or domain name not found. Name service error for name=example.net type=MX', 'our own reason is not an SMTP reply');
  t.notOk(groups[2]!.has('remote-mta'), 'no Remote-MTA when no server answered');
  t.equal(groups[3]!.get('action'), 'delayed');
  t.equal(groups[3]!.get('status'), '4.2.2');
  const human = text.body.toString().replace(/\r\n\s+/g, ' ');
  t.match(human, '<gone@example.net>: Host or domain name not found.');
  t.match(human, /has been delayed.*<slow@example\.com>: host mx\.example\.com said: 452 4\.2\.2 Mailbox full/s);

  const warn = buildDsn(input({ recipients: [delayed] }));
  t.equal(warn.subject, 'Delayed Mail (still being retried)');
  const [root2, text2] = await parse(warn.message) as [Part, Part];
  t.equal(header(root2.node, 'subject'), 'Delayed Mail (still being retried)');
  t.match(text2.body.toString(), 'THIS IS A WARNING ONLY');
  t.notMatch(text2.body.toString(), 'could not\r\nbe delivered');
});

t.test('a very long diagnostic is folded, never cut', async (t) => {
  const words = Array.from({ length: 400 }, (_, i) => `word${i}`).join(' ');
  const long = `550 5.7.1 ${words}`;
  const token = `554 5.7.1 ${'x'.repeat(2500)} end`;
  const dsn = buildDsn(input({ recipients: [rcpt({ diagnostic: long }), rcpt({ rcpt: 'b@example.org', diagnostic: token })] }));
  wellFormed(t, dsn.message);
  const [, , status] = await parse(dsn.message) as [Part, Part, Part];
  const lines = status.body.toString().split('\r\n');
  const start = lines.findIndex((l) => l.startsWith('Diagnostic-Code:'));
  t.ok(lines[start + 1]!.startsWith(' '), 'continued on folded lines');
  t.ok(lines.filter((l) => !l.includes(token.slice(20, 40))).every((l) => l.length <= 78), 'folded at spaces to 78 where a space allows');
  const groups = statusGroups(status.body);
  t.equal(groups[1]!.get('diagnostic-code'), `smtp; ${long}`, 'unfolds to the full reply');
  const unfolded = groups[2]!.get('diagnostic-code')!;
  t.equal(unfolded.replace(/ /g, ''), `smtp;${token.replace(/ /g, '')}`, 'a token too long for one line is split, not cut');
});

t.test('8-bit original headers are kept and declared; bare CR/LF are normalised', async (t) => {
  const raw = Buffer.concat([
    Buffer.from('From: "M\xfcller" <app@example.com>\r\n', 'latin1'),
    Buffer.from('Subject: Grüße\nX-Odd: a\rb\r\nX-Nul: a\0b\r\n\r\n', 'utf8'),
  ]);
  const dsn = buildDsn(input({ originalHeaders: raw }));
  t.equal(dsn.eightBit, true);
  wellFormed(t, dsn.message, false);
  const [root, text, status, headers] = await parse(dsn.message) as [Part, Part, Part, Part];
  t.equal(header(root.node, 'content-transfer-encoding'), '8bit', 'the multipart says 8bit too (RFC 2045 §6.4)');
  t.equal(header(headers.node, 'content-transfer-encoding'), '8bit');
  t.ok(text.body.every((b) => b < 0x80) && status.body.every((b) => b < 0x80), 'the other parts stay 7-bit');
  t.ok(headers.body.includes(Buffer.from('M\xfcller', 'latin1')), 'bytes kept as they were');
  t.ok(headers.body.includes(Buffer.from('Subject: Grüße\r\nX-Odd: a\r\nb\r\nX-Nul: ab\r\n')), 'line ends normalised, NUL dropped');
  t.notOk(headers.body.toString('latin1').endsWith('\r\n\r\n'), 'no trailing blank line');

  // The delivery code reads the header block from the spool as latin1: one char per byte.
  const asRead = raw.toString('latin1');
  const d1 = buildDsn(input({ originalHeaders: asRead }));
  const [, , , h1] = await parse(d1.message) as [Part, Part, Part, Part];
  t.ok(h1.body.includes(Buffer.from('From: "M\xfcller"', 'latin1')) && h1.body.includes(Buffer.from('Subject: Grüße')), 'a latin1 string is taken byte for byte');
  const decoded = buildDsn(input({ originalHeaders: 'Subject: \u2713 Grüße' }));
  const [, , , h3] = await parse(decoded.message) as [Part, Part, Part, Part];
  t.equal(h3.body.toString('utf8'), 'Subject: \u2713 Grüße\r\n', 'decoded text (chars above U+00FF) is written as UTF-8');

  const overLong = `X-Long: ${'y'.repeat(1500)}`;
  const d2 = buildDsn(input({ originalHeaders: `${ORIGINAL}\r\n${overLong}` }));
  wellFormed(t, d2.message);
  const [, , , h2] = await parse(d2.message) as [Part, Part, Part, Part];
  t.equal(h2.body.toString().replace(/\r\n /g, ''), `${ORIGINAL}\r\n${overLong}\r\n`, 'an over-long line is continued, not lost');
});

t.test('non-ASCII addresses and replies stay 7-bit where the format is 7-bit', async (t) => {
  const dsn = buildDsn(input({
    sender: 'app@bücher.example',
    recipients: [rcpt({ rcpt: 'jörg@example.org', diagnostic: '550 5.1.1 Empfänger unbekannt' })],
  }));
  t.equal(dsn.to, 'app@xn--bcher-kva.example', 'the domain as an A-label');
  t.equal(dsn.smtpUtf8, false);
  wellFormed(t, dsn.message);
  const [root, text, status] = await parse(dsn.message) as [Part, Part, Part];
  t.equal(header(root.node, 'to'), '<app@xn--bcher-kva.example>');
  const r = statusGroups(status.body)[1]!;
  t.equal(r.get('final-recipient'), 'utf-8; j\\x{F6}rg@example.org', 'RFC 6533 utf-8 address type');
  t.match(r.get('diagnostic-code'), /^smtp; 550 5\.1\.1 .*=\?UTF-8\?Q\?/, 'encoded-words');
  t.match(header(text.node, 'content-type'), /charset=utf-8/);
  t.equal(header(text.node, 'content-transfer-encoding'), 'quoted-printable');
  const decoded = Buffer.from(text.body.toString().replace(/=\r\n/g, '').replace(/=([0-9A-F]{2})/g, (_, h: string) => String.fromCharCode(parseInt(h, 16))), 'latin1').toString('utf8');
  t.match(decoded.replace(/\r\n\s+/g, ' '), '<jörg@example.org>: host mx1.example.org said: 550 5.1.1 Empfänger unbekannt');

  const utf8Local = buildDsn(input({ sender: 'jörg@example.com' }));
  t.equal(utf8Local.smtpUtf8, true, 'a non-ASCII local part can only go out over SMTPUTF8');
});

t.test('hostile input cannot add header lines or fields', async (t) => {
  const dsn = buildDsn(input({
    queueId: 'Q1\r\nBcc: victim@example.org',
    recipients: [rcpt({ rcpt: 'a@example.org\r\nAction: delivered', diagnostic: '550 no\r\n\r\nReporting-MTA: dns; evil.test', remoteMta: 'mx\r\nX: y' })],
  }));
  wellFormed(t, dsn.message);
  const [root, , status] = await parse(dsn.message) as [Part, Part, Part];
  t.equal(root.node.headers.get('bcc').length, 0);
  const groups = statusGroups(status.body);
  t.equal(groups.length, 2, 'still one recipient group');
  t.equal(groups[1]!.get('action'), 'failed');
  t.equal(groups[0]!.get('reporting-mta'), 'dns; mta.example.com');
});

t.test('no DSN for the null sender or without recipients', async (t) => {
  t.throws(() => buildDsn(input({ sender: '' })), { code: 'MTA_ERR_INVALID' });
  t.throws(() => buildDsn(input({ sender: '<>' })), { code: 'MTA_ERR_INVALID' });
  t.throws(() => buildDsn(input({ recipients: [] })), { code: 'MTA_ERR_INVALID' });
});

t.test('a malformed status falls back by action', async (t) => {
  const dsn = buildDsn(input({ recipients: [rcpt({ status: 'nonsense' }), rcpt({ action: 'delayed', status: '' })] }));
  const [, , status] = await parse(dsn.message) as [Part, Part, Part];
  const g = statusGroups(status.body);
  t.equal(g[1]!.get('status'), '5.0.0');
  t.equal(g[2]!.get('status'), '4.0.0');
});

t.test('statusFromReply', async (t) => {
  t.equal(statusFromReply('550 5.1.1 <a@b>: user unknown', '5.0.0'), '5.1.1');
  t.equal(statusFromReply('550-5.1.1 The email account that you tried to reach does not exist', '5.0.0'), '5.1.1');
  t.equal(statusFromReply('452 4.2.2 Mailbox full', '4.0.0'), '4.2.2');
  t.equal(statusFromReply('550 Requested action not taken (5.7.606)', '5.0.0'), '5.7.606');
  t.equal(statusFromReply('550 user unknown', '5.0.0'), '5.0.0', 'no code: the fallback');
  t.equal(statusFromReply('554 rejected: your IP 5.6.7.8 is listed', '5.7.1'), '5.7.1', 'an IP address is not a status code');
  t.equal(statusFromReply('', '4.4.1'), '4.4.1');
});
