// lists/personalise: one member's copy of a message. Placeholders are filled in the
// Subject (encoded-words decoded and re-encoded), text/plain (raw values) and text/html
// (escaped values) parts in any transfer encoding and charset; attachments come out byte
// for byte; the output is CRLF-clean with short lines. Messages are read back with
// mailsplit and libmime's decoders, not with string matching on the encoded bytes.
import t from 'tap';
import { Readable } from 'node:stream';
import iconv from 'iconv-lite';
import libmime from 'libmime';
import { personalise, personaliseBuffer, fillPlaceholders } from '../src/lists/personalise.js';
import { composeMessage } from '../src/admin/compose.js';
import { isMtaError } from '../src/util/errors.js';
import { mimeParts as parts, unclean } from './helpers/mime.js';


const head = (extra: string): string => `From: app@example.com\r\nTo: list@example.com\r\nSubject: Hello {UserName}\r\nMIME-Version: 1.0\r\n${extra}`;

t.test('plain text 7bit: subject and body filled, unknown names kept, the filled part encoded, untouched otherwise', async (t) => {
  const msg = head('Content-Type: text/plain; charset=us-ascii\r\nContent-Transfer-Encoding: 7bit\r\n\r\nDear {UserName} ({Plan}),\r\n{Unknown} stays, {Name unclosed.\r\n');
  const out = await personaliseBuffer(msg, { UserName: 'Alice', Plan: 'gold' });
  const m = await parts(out);
  t.equal(m.subject, 'Hello Alice');
  t.equal(m.parts.length, 1);
  t.equal(m.parts[0]!.text, 'Dear Alice (gold),\r\n{Unknown} stays, {Name unclosed.\r\n');
  t.equal(m.parts[0]!.encoding, 'quoted-printable', 'a filled part is always encoded (a value cannot start a line of it)');
  t.match(out.toString(), /^From: app@example\.com\r\nTo: list@example\.com\r\nSubject: Hello Alice\r\n/, 'header order kept');
  t.same(unclean(out), [], 'CRLF-clean, short lines');

  const none = await personaliseBuffer(msg, { Other: 'x' });
  t.same(none, Buffer.from(msg), 'nothing to fill: the message is byte-identical');
});

t.test('plain text 7bit with a non-ASCII value becomes quoted-printable UTF-8', async (t) => {
  const msg = head('Content-Type: text/plain\r\n\r\nHi {UserName}\r\n');
  const out = await personaliseBuffer(msg, { UserName: 'Zoë 张三' });
  const m = await parts(out);
  t.equal(m.parts[0]!.encoding, 'quoted-printable');
  t.equal(m.parts[0]!.charset, 'utf-8');
  t.equal(m.parts[0]!.text, 'Hi Zoë 张三\r\n');
  t.equal(m.subject, 'Hello Zoë 张三');
  t.ok(/^[\x00-\x7f]*$/.test(out.toString('latin1')), 'all 7-bit');
  t.same(unclean(out), [], 'CRLF-clean, short lines');
});

t.test('html quoted-printable with non-ASCII and markup values: escaped in html, raw in text', async (t) => {
  const value = `<script>alert("x")</script> & 'é'`;
  const src = composeMessage({
    from: { address: 'app@example.com' }, to: ['list@example.com'], subject: 'Hi {UserName}', headers: {}, attachments: [],
    text: 'Text for {UserName}, naïve café.', html: '<p title="{UserName}">Hello {UserName}, naïve café — {Nope}</p>',
  });
  const out = await personaliseBuffer(Buffer.concat(await src.toArray()), { UserName: value });
  const m = await parts(out);
  const text = m.parts.find((p) => p.contentType === 'text/plain')!;
  const html = m.parts.find((p) => p.contentType === 'text/html')!;
  t.equal(html.encoding, 'quoted-printable');
  t.equal(html.text, '<p title="&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &#39;é&#39;">Hello &lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &#39;é&#39;, naïve café — {Nope}</p>');
  t.notMatch(html.text, /<script>/, 'no live markup in HTML');
  t.equal(text.text, `Text for ${value}, naïve café.`, 'text gets the value as it is');
  t.equal(m.subject, `Hi ${value}`, 'subject gets the value as it is');
  t.same(unclean(out), [], 'CRLF-clean, short lines');
});

t.test('base64 html stays base64 and decodes to the filled UTF-8 text', async (t) => {
  const html = '<html><body><p>你好 {UserName}</p></body></html>\r\n';
  const b64 = Buffer.from(html).toString('base64').replace(/.{76}/g, '$&\r\n');
  const msg = head(`Content-Type: text/html; charset=UTF-8\r\nContent-Transfer-Encoding: base64\r\n\r\n${b64}\r\n`);
  const out = await personaliseBuffer(msg, { UserName: '李四 <li@example.com>' });
  const m = await parts(out);
  t.equal(m.parts[0]!.encoding, 'base64');
  t.equal(m.parts[0]!.text, '<html><body><p>你好 李四 &lt;li@example.com&gt;</p></body></html>\r\n');
  t.ok(m.parts[0]!.raw.toString().split('\r\n').every((l) => l.length <= 76), 'base64 lines wrapped at 76');
  t.same(unclean(out), [], 'CRLF-clean, short lines');
});

t.test('multipart/alternative + attachment: text parts filled, attachment bytes identical', async (t) => {
  const attachment = Buffer.alloc(3000);
  for (let i = 0; i < attachment.length; i++) attachment[i] = (i * 7919) & 0xff;
  // An attached text file with a placeholder is not ours to fill, nor is a forwarded message.
  const src = composeMessage({
    from: { address: 'app@example.com' }, to: ['list@example.com'], subject: 'Report for {UserName}', headers: {},
    text: 'Hi {UserName}', html: '<b>Hi {UserName}</b>',
    attachments: [
      { filename: 'data.bin', contentType: 'application/octet-stream', content: attachment },
      { filename: 'notes.txt', contentType: 'text/plain', content: Buffer.from('attached {UserName} stays') },
      { filename: 'fwd.eml', contentType: 'message/rfc822', content: Buffer.from('Subject: {UserName}\r\nContent-Type: text/plain\r\n\r\ninner {UserName}\r\n') },
    ],
  });
  const msg = Buffer.concat(await src.toArray());
  const before = await parts(msg);
  const out = await personaliseBuffer(msg, { UserName: 'Bob' });
  const m = await parts(out);
  t.equal(m.subject, 'Report for Bob');
  t.same(m.parts.map((p) => p.contentType), before.parts.map((p) => p.contentType), 'same structure');
  t.equal(m.parts.find((p) => p.contentType === 'text/plain' && !/attachment/.test(p.header))!.text, 'Hi Bob');
  t.equal(m.parts.find((p) => p.contentType === 'text/html')!.text, '<b>Hi Bob</b>');
  for (const ct of ['application/octet-stream', 'message/rfc822']) {
    const a = before.parts.find((p) => p.contentType === ct)!;
    const b = m.parts.find((p) => p.contentType === ct)!;
    t.ok(a.raw.equals(b.raw) && a.header === b.header, `${ct}: headers and bytes identical`);
  }
  const notes = m.parts.find((p) => /notes\.txt/.test(p.header))!;
  t.equal(notes.text, 'attached {UserName} stays', 'an attached text file is not filled');
  const decoded = Buffer.from(m.parts.find((p) => p.contentType === 'application/octet-stream')!.raw.toString(), 'base64');
  t.ok(decoded.equals(attachment), 'attachment decodes to the original bytes');
  // Everything outside the filled parts is unchanged: same boundaries, same preamble.
  // (and a filled part's transfer encoding: it is always encoded now)
  const strip = (b: Buffer): string => b.toString().replace(/Report for \S+/, '').replace(/Hi \S+/g, '').replace(/<b>Hi [^<]*<\/b>/, '')
    .replace(/Content-Transfer-Encoding: \S+/g, '');
  t.equal(strip(out).length, strip(msg).length, 'only the filled text changed');
  t.same(unclean(out), [], 'CRLF-clean, short lines');
});

t.test('encoded-word subject: decoded, filled with a Chinese value, re-encoded', async (t) => {
  const subject = libmime.encodeWords('订单通知 {UserName} 您好', 'B', 52);
  const msg = `From: app@example.com\r\nSubject: ${subject}\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nbody\r\n`;
  const out = await personaliseBuffer(msg, { UserName: '王小明' });
  const m = await parts(out);
  t.equal(m.subject, '订单通知 王小明 您好');
  const line = /^Subject:.*(?:\r\n[ \t].*)*/m.exec(out.toString('latin1'))![0];
  t.ok(/^[\x20-\x7e\r\n\t]*$/.test(line), 'the header is ASCII (encoded-words)');
  t.ok(line.split('\r\n').every((l) => l.length <= 78), 'folded');
  t.match(out.toString(), /\r\n\r\nbody\r\n$/, 'body without placeholders untouched');
  t.same(unclean(out), [], 'CRLF-clean, short lines');
});

t.test('HTML escaping of <script>&"\' in html only', async (t) => {
  const value = `<script>&"'`;
  const msg = head('Content-Type: multipart/alternative; boundary="b1"\r\n\r\n--b1\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nT:{UserName}\r\n--b1\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<i>{UserName}</i>\r\n--b1--\r\n');
  const m = await parts(await personaliseBuffer(msg, { UserName: value }));
  t.equal(m.parts[0]!.text, `T:${value}`);
  t.equal(m.parts[1]!.text, '<i>&lt;script&gt;&amp;&quot;&#39;</i>');
  t.equal(m.subject, `Hello ${value}`);
});

t.test('GBK text part is decoded and written back as UTF-8 with its charset parameter', async (t) => {
  const body = iconv.encode('尊敬的 {UserName}：您的积分为 {Points}。\r\n', 'gbk');
  const html = iconv.encode('<html><head><meta charset="gbk"></head><body>{UserName}</body></html>', 'gbk');
  const msg = Buffer.concat([
    Buffer.from(head('Content-Type: multipart/alternative; boundary="g"\r\n\r\n--g\r\nContent-Type: text/plain; charset="GBK"\r\nContent-Transfer-Encoding: 8bit\r\n\r\n')),
    body,
    Buffer.from('\r\n--g\r\nContent-Type: text/html; charset=gb2312\r\nContent-Transfer-Encoding: base64\r\n\r\n'),
    Buffer.from(html.toString('base64')),
    Buffer.from('\r\n--g--\r\n'),
  ]);
  const out = await personaliseBuffer(msg, { UserName: '张伟', Points: '1,024' });
  const m = await parts(out);
  t.equal(m.parts[0]!.charset, 'utf-8');
  t.equal(m.parts[0]!.text, '尊敬的 张伟：您的积分为 1,024。\r\n');
  t.equal(m.parts[0]!.encoding, 'quoted-printable', '8-bit UTF-8 goes out quoted-printable');
  t.equal(m.parts[1]!.charset, 'utf-8');
  t.equal(m.parts[1]!.text, '<html><head><meta charset="utf-8"></head><body>张伟</body></html>', 'meta charset follows');
  t.same(unclean(out), [], 'CRLF-clean, short lines');
});

t.test('long lines and values with line breaks come out CRLF-clean and within 998 bytes', async (t) => {
  const long = 'x'.repeat(600);
  const msg = head('Content-Type: text/plain\r\n\r\n{A}{A}\r\nline2 {B}\r\n');
  const out = await personaliseBuffer(msg, { A: long, B: 'one\ntwo\rthree\r\nfour', UserName: 'multi\r\nline' });
  const m = await parts(out);
  t.equal(m.parts[0]!.encoding, 'quoted-printable', 'a 1200-byte line forces quoted-printable');
  t.equal(m.parts[0]!.text, `${long}${long}\r\nline2 one\r\ntwo\r\nthree\r\nfour\r\n`, 'value line breaks become CRLF');
  t.equal(m.subject, 'Hello multi line', 'no line break in the subject');
  t.same(unclean(out), [], 'CRLF-clean, short lines');
});

t.test('streams: chunked async-iterable input, several text parts, one at a time', async (t) => {
  const n = 50;
  let body = 'Content-Type: multipart/mixed; boundary="m"\r\n\r\n';
  for (let i = 0; i < n; i++) body += `--m\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\npart ${i} {UserName} ${'=E2=82=AC'.repeat(20)}=\r\n end\r\n`;
  body += '--m--\r\n';
  const msg = Buffer.from(head(body));
  async function* chunks(): AsyncIterable<Buffer> { for (let i = 0; i < msg.length; i += 7) yield msg.subarray(i, i + 7); }
  const out = Buffer.concat(await personalise(chunks(), { UserName: 'Ann' }).toArray());
  const m = await parts(out);
  t.equal(m.parts.length, n);
  t.ok(m.parts.every((p, i) => p.text === `part ${i} Ann ${'€'.repeat(20)} end`), 'every part filled and decoded');
  t.same(unclean(out), [], 'CRLF-clean, short lines');
});

t.test('a broken source ends the output with its error; a readable source works too', async (t) => {
  async function* broken(): AsyncIterable<Buffer> { yield Buffer.from(head('Content-Type: text/plain\r\n\r\nHi {UserName}')); throw new Error('disk gone'); }
  await t.rejects(personalise(broken(), { UserName: 'x' }).toArray(), /disk gone/);
  const out = Buffer.concat(await personalise(Readable.from([Buffer.from(head('Content-Type: text/plain\r\n\r\nHi {UserName}\r\n'))]), { UserName: 'y' }).toArray());
  t.match(out.toString(), /\r\n\r\nHi y\r\n$/);
});

t.test('an undecodable charset is left as it is rather than relabelled', async (t) => {
  const msg = head('Content-Type: text/plain; charset=x-unknown-charset\r\n\r\nHi {UserName}\r\n');
  const out = await personaliseBuffer(msg, { UserName: 'Z' });
  t.match(out.toString(), /charset=x-unknown-charset\r\n\r\nHi \{UserName\}\r\n$/);
  t.equal(out.toString().split('\r\n').find((l) => l.startsWith('Subject:')), 'Subject: Hello Z', 'the subject is still filled');
});

t.test('fillPlaceholders: one pass, own properties only', async (t) => {
  t.same(fillPlaceholders('{A}{B}{toString}', { A: '{B}', B: 'b' }), { text: '{B}b{toString}', count: 2 });
  t.same(fillPlaceholders('<{A}>', { A: '&' }, (s) => s.replace('&', '&amp;')), { text: '<&amp;>', count: 1 });
});

t.test('a text part over the limit is refused with a coded error, not held', async (t) => {
  const msg = head(`Content-Type: text/plain\r\n\r\n${'a {UserName}\r\n'.repeat(200)}`);
  const err = await personalise(Readable.from([Buffer.from(msg)]), { UserName: 'x' }, { maxTextPart: 1000 }).toArray().then(() => undefined, (e: unknown) => e);
  t.ok(isMtaError(err) && err.code === 'MTA_ERR_TOO_LARGE', 'MTA_ERR_TOO_LARGE');
  t.match(String(err), /over 1000 bytes/);
  const small = await personalise(Readable.from([Buffer.from(msg)]), { UserName: 'x' }, { maxTextPart: 10_000 }).toArray();
  t.ok(Buffer.concat(small).toString().includes('a x\r\n'), 'under the limit it works');
});
