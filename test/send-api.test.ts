// The send API (SingleSendMail) over a real loopback listener: a composed message lands in
// the spool through the SMTP intake path (Received, Message-ID, tag, attachments, CRLF),
// every refusal carries the SMTP reply SMTP would give, suppressed recipients are refused
// one by one, Idempotency-Key replays instead of sending twice, and /send/raw takes a
// ready-made message as base64 JSON or as message/rfc822.
import t from 'tap';
import { PASSWORD, startDaemon, type TestDaemon } from './helpers/daemon.js';
import { apiClient, type Call } from './helpers/api.js';
import type { QueueId } from '../src/util/ids.js';
import { Senders } from '../src/accounts/senders.js';
import { ACCOUNT } from '../src/admin/idempotency.js';

const TOKEN = 'send-api-test-token-0123';
const ADMIN = `[admin]\nlisten = "127.0.0.1:0"\ntoken = "${TOKEN}"\n`;

async function body(d: TestDaemon, id: string): Promise<string> {
  let s = '';
  for await (const c of d.daemon.store.readBody(id as QueueId)) s += c.toString('latin1');
  return s;
}

const unfold = (s: string): string => s.replace(/\r\n[ \t]+/g, ' ');
const messageCount = async (d: TestDaemon): Promise<number> => (await d.daemon.store.auditMessageIds()).length;

let d: TestDaemon;
let call: Call;
t.before(async () => {
  d = await startDaemon(`${ADMIN}[smtp]\nallow_insecure_auth = true\nmax_recipients = 3\nmax_message_size = "20KB"\n`);
  await d.daemon.store.setSenderDisabled('app@example.com', false);
  // Only a verified reply-to may be used (test/reply-to.test.ts runs the verification itself).
  await d.daemon.store.setSenderReplyTo('app@example.com', { address: 'help@example.com', state: 'verified', verifiedAt: Date.now() });
  await d.addSender('off@example.com', 'batch');
  await d.daemon.store.setSenderDisabled('off@example.com', true);
  call = apiClient(d, TOKEN);
});
t.teardown(() => d.stop());

t.test('happy path: composed through intake, durable, with headers, tag and attachments', async (t) => {
  const r = await call('POST', '/api/v1/send', {
    from: 'App Team <app@example.com>', to: ['one@dest.test', 'Two@DEST.test'], subject: 'Grüße from the API',
    text: 'hello\nplain world', html: '<p>hello <b>html</b></p>', reply_to: 'help@example.com',
    headers: { 'X-Campaign': 'spring', 'In-Reply-To': '<abc@example.com>' }, tag: 'welcome_mail',
    attachments: [{ filename: 'report.csv', content_type: 'text/csv', content: Buffer.from('a,b\n1,2\n').toString('base64') }],
  });
  t.equal(r.status, 200, r.text);
  t.match(r.json, { queue_id: /^[0-9A-Z]{18}$/, message_id: /^<[^@\s]+@example\.com>$/ });
  t.same(r.json.recipients, [
    { rcpt: 'one@dest.test', accepted: true, code: 250, reason: `2.0.0 Ok: queued as ${r.json.queue_id}` },
    { rcpt: 'Two@dest.test', accepted: true, code: 250, reason: `2.0.0 Ok: queued as ${r.json.queue_id}` },
  ]);
  const m = (await d.daemon.store.getMessage(r.json.queue_id))!;
  t.ok(m, 'in the spool once the answer came');
  t.same(m.recipients.map((x) => [x.rcpt, x.state]), [['one@dest.test', 'queued'], ['Two@dest.test', 'queued']]);
  t.match(m, { sender: 'app@example.com', authUser: 'app@example.com', clientIp: '127.0.0.1', tag: 'welcome_mail', subject: /Gr/, messageId: r.json.message_id, lane: 'trigger' });
  const raw = await body(d, r.json.queue_id);
  const head = unfold(raw.slice(0, raw.indexOf('\r\n\r\n')));
  t.match(head, new RegExp(`^Received: from unknown \\(\\[127\\.0\\.0\\.1\\]\\) by mta\\.test \\(mta\\) with HTTP id ${r.json.queue_id};`));
  t.match(head, /\r\nFrom: App Team <app@example\.com>\r\n/);
  t.match(head, /\r\nTo: one@dest\.test, Two@dest\.test\r\n/);
  t.match(head, /\r\nReply-To: help@example\.com\r\n/);
  t.match(head, /\r\nSubject: =\?UTF-8\?Q\?Gr=C3=BC=C3=9Fe/);
  t.match(head, /\r\nX-Campaign: spring\r\n/);
  t.match(head, /\r\nIn-Reply-To: <abc@example\.com>\r\n/);
  t.match(head, new RegExp(`\\r\\nMessage-ID: ${r.json.message_id.replace(/[.]/g, '\\.')}\\r\\n`));
  t.match(head, /\r\nDate: /);
  t.notMatch(raw, /X-Mta-Tag/i, 'the tag header is taken off, as for SMTP');
  t.match(raw, /Content-Type: multipart\/mixed/);
  t.match(raw, /Content-Type: text\/plain; charset=utf-8\r\n(?:.*\r\n)*?\r\nhello\r\nplain world/, 'text part, LF made CRLF');
  t.match(raw, /<p>hello <b>html<\/b><\/p>/);
  t.match(unfold(raw), /Content-Disposition: attachment; filename=report\.csv\r\n\r\nYSxiCjEsMgo=/);
  t.notMatch(raw.replace(/\r\n/g, ''), /[\r\n]/, 'no bare CR or LF stored');
  t.equal(m.events.filter((e) => e.type === 'reception').length, 2);
});

t.test('the sender\'s reply-to is used when the request has none; a batch sender goes to the batch lane', async (t) => {
  await new Senders(d.daemon.store).add({ address: 'news@example.com', type: 'batch', password: PASSWORD });
  await d.daemon.store.setSenderReplyTo('news@example.com', { address: 'replies@example.com', state: 'verified', verifiedAt: null });
  const r = await call('POST', '/api/v1/send', { from: 'news@example.com', to: 'x@dest.test', subject: 's', html: '<p>x</p>' });
  t.equal(r.status, 200, r.text);
  t.match(unfold(await body(d, r.json.queue_id)), /\r\nReply-To: replies@example\.com\r\n/);
  t.equal((await d.daemon.store.getMessage(r.json.queue_id))!.lane, 'batch');
});

t.test('suppressed recipients are refused one by one (559); none left is an error', async (t) => {
  await d.daemon.store.addSuppression({ address: 'gone@dest.test', scope: '', reason: 'user unknown', source: 'bounce', createdAt: Date.now() });
  let r = await call('POST', '/api/v1/send', { from: 'app@example.com', to: ['Gone@dest.test', 'ok@dest.test', 'not an address'], subject: 's', text: 'x' });
  t.equal(r.status, 200);
  t.match(r.json.recipients, [
    { rcpt: 'Gone@dest.test', accepted: false, code: 559, reason: '5.1.1 Invalid rcptto' },
    { rcpt: 'ok@dest.test', accepted: true, code: 250 },
    { rcpt: 'not an address', accepted: false, code: 501, reason: '5.1.3 Bad recipient address syntax' },
  ]);
  t.same((await d.daemon.store.getMessage(r.json.queue_id))!.recipients.map((x) => x.rcpt), ['ok@dest.test'], 'only the accepted one is in the envelope');
  t.match(await body(d, r.json.queue_id), /\r\nTo: ok@dest\.test\r\n/);
  const before = await messageCount(d);
  r = await call('POST', '/api/v1/send', { from: 'app@example.com', to: 'gone@dest.test', subject: 's', text: 'x' });
  t.equal(r.status, 422);
  t.match(r.json.error, { code: 'MTA_ERR_REFUSED', field: 'to', smtp_code: 559, reason: '5.1.1 Invalid rcptto: no recipient was accepted', recipients: [{ rcpt: 'gone@dest.test', accepted: false, code: 559 }] });
  t.equal(await messageCount(d), before, 'nothing stored');
});

t.test('each refusal carries the SMTP code and reason', async (t) => {
  const before = await messageCount(d);
  const cases: [string, Record<string, unknown>, number, string, number, RegExp, string | undefined][] = [
    ['unknown sender', { from: 'nobody@example.com' }, 422, 'MTA_ERR_REFUSED', 553, /^5\.7\.1 Sender address is not the authenticated user: nobody@example\.com is not a sender address here$/, 'from'],
    ['disabled sender', { from: 'off@example.com' }, 422, 'MTA_ERR_REFUSED', 551, /^5\.7\.1 Main account unavailable$/, 'from'],
    ['too many recipients', { to: ['a@x.test', 'b@x.test', 'c@x.test', 'd@x.test'] }, 422, 'MTA_ERR_REFUSED', 556, /^5\.5\.3 The number of RCPTs is over size: 4 recipients, at most 3$/, 'to'],
    ['too big', { attachments: [{ filename: 'big.bin', content: Buffer.alloc(25 * 1024, 7).toString('base64') }] }, 413, 'MTA_ERR_TOO_LARGE', 557, /^5\.3\.4 The length of DATA content is achieved the maximum threshold$/, undefined],
    ['too big after encoding', { attachments: [{ filename: 'b.bin', content: Buffer.alloc(16 * 1024, 7).toString('base64') }] }, 413, 'MTA_ERR_TOO_LARGE', 557, /^5\.3\.4 /, undefined],
  ];
  for (const [what, extra, status, code, smtp, reason, field] of cases) {
    const r = await call('POST', '/api/v1/send', { from: 'app@example.com', to: 'x@dest.test', subject: 's', text: 'x', ...extra });
    t.equal(r.status, status, `${what} → ${status}`);
    t.match(r.json.error, { code, smtp_code: smtp, reason, message: `${smtp} ${r.json.error.reason}` }, what);
    t.equal(r.json.error.field, field, `${what}: field`);
  }
  // A declared size over the limit is refused before reading, like SIZE= (552).
  const big = JSON.stringify({ from: 'app@example.com', to: 'x@dest.test', subject: 's', text: 'x'.repeat(120 * 1024) });
  const r = await call('POST', '/api/v1/send', big);
  t.equal(r.status, 413);
  t.match(r.json.error, { code: 'MTA_ERR_TOO_LARGE', smtp_code: 552, reason: /^5\.3\.4 Message size exceeds fixed maximum message size \(20480 bytes\): \d+ bytes declared$/ });
  t.equal(await messageCount(d), before, 'nothing stored');
});

t.test('malformed requests: 400 naming the field, 415 for other media types', async (t) => {
  const base = { from: 'app@example.com', to: 'x@dest.test', subject: 's', text: 'x' };
  const cases: [Record<string, unknown>, string, RegExp][] = [
    [{ ...base, subject: undefined }, 'subject', /subject: required/],
    [{ ...base, text: undefined }, 'text', /text or html is required/],
    [{ ...base, to: [] }, 'to', /to/],
    [{ ...base, to: 5 }, 'to', /must be an address or a list of addresses/],
    [{ ...base, from: 'a@example.com, b@example.com' }, 'from', /is not one address/],
    [{ ...base, headers: { From: 'boss@example.com' } }, 'headers.From', /cannot be set here/],
    [{ ...base, headers: { 'X-Bad': 'a\r\nBcc: victim@x.test' } }, 'headers.X-Bad', /one line/],
    [{ ...base, subject: 'a\r\nBcc: victim@x.test' }, 'subject', /one line/],
    [{ ...base, tag: 'no spaces allowed' }, 'tag', /letters, digits/],
    [{ ...base, attachments: [{ filename: 'a.txt', content: 'not base64!' }] }, 'attachments[0].content', /base64/],
    [{ ...base, attachments: [{ filename: '../etc/passwd', content: 'YQ==' }] }, 'attachments[0].filename', /file name/],
    [{ ...base, attachments: [{ filename: 'a', content: 'YQ==', path: '/etc/passwd' }] }, 'attachments[0].path', /unknown field "path"/],
    [{ ...base, reply_to: 'nope' }, 'reply_to', /not an address/],
    [{ ...base, carbon_copy: 'y@dest.test' }, 'carbon_copy', /unknown field "carbon_copy"/],
  ];
  const before = await messageCount(d);
  for (const [b, field, msg] of cases) {
    const r = await call('POST', '/api/v1/send', b);
    t.equal(r.status, 400, `${field}: ${r.json?.error?.message}`);
    t.match(r.json.error, { code: 'MTA_ERR_INVALID', field, message: msg });
  }
  const r = await call('POST', '/api/v1/send', 'from=app@example.com', { 'content-type': 'text/plain' });
  t.same([r.status, r.json.error.code], [415, 'MTA_ERR_UNSUPPORTED_MEDIA']);
  t.equal(await messageCount(d), before);
});

t.test('Idempotency-Key: the same key returns the first response and sends once', async (t) => {
  const req = { from: 'app@example.com', to: ['i1@dest.test'], subject: 'once', text: 'x' };
  const before = await messageCount(d);
  const [a, b] = await Promise.all([
    call('POST', '/api/v1/send', req, { 'idempotency-key': 'order-42' }),
    call('POST', '/api/v1/send', req, { 'idempotency-key': 'order-42' }),
  ]);
  t.same([a.status, b.status].sort(), [200, 409], 'concurrent: one runs, the other is told to retry');
  const first = a.status === 200 ? a : b;
  const again = await call('POST', '/api/v1/send', req, { 'idempotency-key': 'order-42' });
  t.equal(again.status, 200);
  t.same(again.json, first.json, 'the same response');
  t.equal(again.headers.get('idempotent-replayed'), 'true');
  t.equal(first.headers.get('idempotent-replayed'), null);
  t.equal(await messageCount(d), before + 1, 'one message');
  const other = await call('POST', '/api/v1/send', { ...req, subject: 'changed' }, { 'idempotency-key': 'order-42' });
  t.match([other.status, other.json.error], [422, { code: 'MTA_ERR_IDEMPOTENCY', field: 'Idempotency-Key' }]);
  const fresh = await call('POST', '/api/v1/send', req, { 'idempotency-key': 'order-43' });
  t.not(fresh.json.queue_id, first.json.queue_id, 'another key sends again');
  // A refusal is not remembered: the corrected request may reuse the key.
  const refused = await call('POST', '/api/v1/send', { ...req, from: 'off@example.com' }, { 'idempotency-key': 'order-44' });
  t.equal(refused.status, 422);
  t.equal((await call('POST', '/api/v1/send', req, { 'idempotency-key': 'order-44' })).status, 200);
  t.equal((await call('POST', '/api/v1/send', req, { 'idempotency-key': 'bad key with spaces' })).json.error.field, 'Idempotency-Key');
  // Past 24 hours a key is free again.
  // The same record as order-43's, saved 25 hours ago: within the window it would replay `fresh`.
  const stale = { ...(await d.daemon.store.getIdempotency(ACCOUNT, 'order-43', 0))!, key: 'order-45', createdAt: Date.now() - 25 * 3600 * 1000 };
  t.ok(await d.daemon.store.saveIdempotency(stale, 0), 'an old record stored');
  const later = await call('POST', '/api/v1/send', req, { 'idempotency-key': 'order-45' });
  t.equal(later.status, 200, later.text);
  t.not(later.json.queue_id, fresh.json.queue_id, 'sent again, not replayed');
  t.equal(await messageCount(d), before + 4);
});

t.test('Idempotency-Key: the key is committed with the message, not written after it', async (t) => {
  // With the separate save out of action, a key can only be stored by the message's own commit.
  const store = d.daemon.store;
  const realSave = store.saveIdempotency.bind(store);
  store.saveIdempotency = async () => { throw new Error('the separate save must not be needed'); };
  t.teardown(() => { store.saveIdempotency = realSave; });
  const keyRow = (key: string): Promise<{ response: string; status: number } | undefined> => store.getIdempotency(ACCOUNT, key, 0);
  const before = await messageCount(d);
  const req = { from: 'app@example.com', to: ['c1@dest.test'], subject: 'committed', text: 'x' };
  const first = await call('POST', '/api/v1/send', req, { 'idempotency-key': 'commit-1' });
  t.equal(first.status, 200, first.text);
  t.same(JSON.parse((await keyRow('commit-1'))!.response), first.json, 'the stored response is the one sent');
  t.equal((await keyRow('commit-1'))!.status, 200);
  const again = await call('POST', '/api/v1/send', req, { 'idempotency-key': 'commit-1' });
  t.same([again.status, again.json, again.headers.get('idempotent-replayed')], [200, first.json, 'true']);
  const raw = await call('POST', '/api/v1/send/raw', 'From: app@example.com\r\nSubject: r\r\n\r\nx\r\n', {
    'content-type': 'message/rfc822', 'x-mta-from': 'app@example.com', 'x-mta-to': 'c2@dest.test', 'idempotency-key': 'commit-2',
  });
  t.equal(raw.status, 200, raw.text);
  t.same(JSON.parse((await keyRow('commit-2'))!.response), raw.json);
  t.equal(await messageCount(d), before + 2, 'one message per key');
  // A refused message stores no key, whatever its stage.
  const refused = await call('POST', '/api/v1/send/raw', 'From: boss@other.test\r\nSubject: r\r\n\r\nx\r\n', {
    'content-type': 'message/rfc822', 'x-mta-from': 'app@example.com', 'x-mta-to': 'c3@dest.test', 'idempotency-key': 'commit-3',
  });
  t.equal(refused.status, 422);
  t.equal(await keyRow('commit-3'), undefined);
});

t.test('raw: base64 JSON and message/rfc822, through the same checks', async (t) => {
  const msg = 'From: App <app@example.com>\nTo: r@dest.test\nSubject: raw one\n\nline one\nline two\n';
  let r = await call('POST', '/api/v1/send/raw', { from: 'app@example.com', to: ['r@dest.test'], message: Buffer.from(msg).toString('base64'), tag: 'raw_json' });
  t.equal(r.status, 200, r.text);
  let m = (await d.daemon.store.getMessage(r.json.queue_id))!;
  t.match(m, { subject: 'raw one', tag: 'raw_json', sender: 'app@example.com' });
  let raw = await body(d, r.json.queue_id);
  t.match(raw, /\r\nSubject: raw one\r\n(?:.*\r\n)*\r\nline one\r\nline two\r\n$/, 'bare LF made CRLF');
  t.match(raw, /^Received: /);

  r = await call('POST', '/api/v1/send/raw', msg.replace('Subject: raw one', 'Subject: raw two'), {
    'content-type': 'message/rfc822', 'x-mta-from': 'app@example.com', 'x-mta-to': 'r1@dest.test, r2@dest.test', 'x-mta-tag': 'raw_822',
  });
  t.equal(r.status, 200, r.text);
  t.same(r.json.recipients.map((x: { rcpt: string }) => x.rcpt), ['r1@dest.test', 'r2@dest.test']);
  m = (await d.daemon.store.getMessage(r.json.queue_id))!;
  t.match(m, { subject: 'raw two', tag: 'raw_822' });
  raw = await body(d, r.json.queue_id);
  t.notMatch(raw, /X-Mta-Tag/i);

  const key = { 'content-type': 'message/rfc822', 'x-mta-from': 'app@example.com', 'x-mta-to': 'k@dest.test', 'idempotency-key': 'raw-1' };
  const k1 = await call('POST', '/api/v1/send/raw', msg, key);
  const k2 = await call('POST', '/api/v1/send/raw', msg, key);
  t.same([k1.status, k2.json, k2.headers.get('idempotent-replayed')], [200, k1.json, 'true']);
  t.equal((await call('POST', '/api/v1/send/raw', `${msg}changed\n`, key)).status, 422);

  const refusals: [Record<string, string>, string, number, number | undefined, RegExp][] = [
    [{ 'x-mta-to': 'r@dest.test' }, msg, 400, undefined, /X-Mta-From: required/],
    [{ 'x-mta-from': 'app@example.com' }, msg, 400, undefined, /X-Mta-To: required/],
    [{ 'x-mta-from': 'app@example.com', 'x-mta-to': 'r@dest.test' }, msg.replace('app@example.com', 'boss@other.test'), 422, 553, /^5\.7\.1 From header refused: From address boss@other\.test is not on the authenticated sender's domain$/],
    [{ 'x-mta-from': 'app@example.com', 'x-mta-to': 'r@dest.test' }, msg.replace('line one', 'line\0one'), 422, 550, /^5\.6\.0 Message refused: Message contains a NUL byte$/],
    [{ 'x-mta-from': 'app@example.com', 'x-mta-to': 'r@dest.test' }, msg.replace('line one', 'line\rone'), 422, 550, /bare CR/],
    [{ 'x-mta-from': 'app@example.com', 'x-mta-to': 'r@dest.test' }, `${msg}${'y'.repeat(1200)}\n`, 422, 550, /longer than 1000/],
    [{ 'x-mta-from': 'app@example.com', 'x-mta-to': 'r@dest.test' }, `${msg}${'y\n'.repeat(12 * 1024)}`, 413, 552, /^5\.3\.4 Message size exceeds fixed maximum message size \(20480 bytes\): \d+ bytes declared$/],
    [{ 'x-mta-from': 'off@example.com', 'x-mta-to': 'r@dest.test' }, msg, 422, 551, /Main account unavailable/],
  ];
  const before = await messageCount(d);
  for (const [h, text, status, smtp, reason] of refusals) {
    r = await call('POST', '/api/v1/send/raw', text, { 'content-type': 'message/rfc822', ...h });
    t.equal(r.status, status, `${JSON.stringify(h)} → ${status}: ${r.json?.error?.message}`);
    if (smtp) t.match(r.json.error, { smtp_code: smtp, reason });
    else t.match(r.json.error.message, reason);
  }
  // Without Content-Length (chunked), the size is found while streaming: 557 as at the end of DATA.
  const chunks = [Buffer.from(msg), ...Array.from({ length: 24 }, () => Buffer.from('z'.repeat(998) + '\r\n'))];
  const res = await fetch(`http://127.0.0.1:${d.daemon.admin!.port}/api/v1/send/raw`, {
    method: 'POST', duplex: 'half',
    headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'message/rfc822', 'x-mta-from': 'app@example.com', 'x-mta-to': 'r@dest.test' },
    body: new ReadableStream({ pull(c) { const x = chunks.shift(); if (x) c.enqueue(x); else c.close(); } }),
  } as RequestInit);
  t.match([res.status, await res.json()], [413, { error: { smtp_code: 557, reason: /^5\.3\.4 The length of DATA content/ } }]);
  r = await call('POST', '/api/v1/send/raw', { from: 'app@example.com', to: 'r@dest.test', message: Buffer.from(`${msg}${'y\n'.repeat(12 * 1024)}`).toString('base64') });
  t.match([r.status, r.json.error], [413, { smtp_code: 557 }], 'a decoded raw message over the limit');
  r = await call('POST', '/api/v1/send/raw', { from: 'app@example.com', to: 'r@dest.test', message: 'not base64' });
  t.same([r.status, r.json.error.field], [400, 'message']);
  t.equal(await messageCount(d), before, 'refused messages are not stored');
});

t.test('smtp.allowed_ips applies to the send API (554); the rest of the API is unaffected', async (t) => {
  const shut = await startDaemon(`${ADMIN}[smtp]\nallow_insecure_auth = true\nallowed_ips = ["10.0.0.0/8"]\n`);
  t.teardown(() => shut.stop());
  const c = apiClient(shut, TOKEN);
  for (const path of ['/api/v1/send', '/api/v1/send/raw']) {
    const r = await c('POST', path, { from: 'app@example.com', to: 'x@dest.test', subject: 's', text: 'x' });
    t.equal(r.status, 403);
    t.match(r.json.error, { code: 'MTA_ERR_FORBIDDEN', smtp_code: 554, reason: '5.7.1 Your address is not allowed to connect: 127.0.0.1 is not in smtp.allowed_ips' });
  }
  t.equal((await c('GET', '/api/v1/status')).status, 200);
});

t.test('domains.require_verified: 553 for an unverified domain, as on SMTP', async (t) => {
  const strict = await startDaemon(`${ADMIN}[smtp]\nallow_insecure_auth = true\n[domains]\nrequire_verified = true\n`);
  t.teardown(() => strict.stop());
  const r = await apiClient(strict, TOKEN)('POST', '/api/v1/send', { from: 'app@example.com', to: 'x@dest.test', subject: 's', text: 'x' });
  t.equal(r.status, 422);
  t.match(r.json.error, { smtp_code: 553, field: 'from', reason: '5.7.1 Domain not verified: example.com: not checked yet (run "mta domain check example.com")' });
});
