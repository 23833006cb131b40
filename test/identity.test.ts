// One identity policy for SMTP and the send API (security review 14.4, 14.8): identity
// headers (From, Sender, Resent-From, Resent-Sender) must be on the authenticated
// sender's domain, no display name may show an address (ASCII @, full-width ＠, small ﹫,
// spaces around @), and Bcc, Authentication-Results and ARC-* never survive intake.
import t from 'tap';
import { RawSmtp } from './helpers/smtp-client.js';
import { startDaemon, PASSWORD, type TestDaemon } from './helpers/daemon.js';
import { apiClient, type Call } from './helpers/api.js';
import type { QueueId } from '../src/util/ids.js';

const TOKEN = 'identity-test-token-0123';
let d: TestDaemon;
let call: Call;
t.before(async () => {
  d = await startDaemon(`[admin]\nlisten = "127.0.0.1:0"\ntoken = "${TOKEN}"\n[smtp]\nallow_insecure_auth = true\nmax_connections_per_ip = 50\n`);
  call = apiClient(d, TOKEN);
});
t.teardown(() => d.stop());

async function stored(id: string): Promise<{ head: string; rcpts: string[] }> {
  let s = '';
  for await (const c of d.daemon.store.readBody(id as QueueId)) s += c.toString('utf8');
  const m = await d.daemon.store.getMessage(id as QueueId);
  return { head: s.slice(0, s.indexOf('\r\n\r\n') + 2).replace(/\r\n[ \t]+/g, ' '), rcpts: m!.recipients.map((r) => r.rcpt) };
}

/** One SMTP transaction with this header block (To and Subject added); the DATA reply. */
async function smtp(head: string, rcpts = ['x@dest.test']): Promise<{ code: number; text: string }> {
  const c = await RawSmtp.connect(d.port);
  await c.greet(); await c.ehlo();
  await c.authPlain('app@example.com', PASSWORD);
  await c.cmd('MAIL FROM:<app@example.com>');
  for (const r of rcpts) await c.cmd(`RCPT TO:<${r}>`);
  const r = await c.data(`${head}To: x@dest.test\r\nSubject: s\r\n\r\nbody\r\n.\r\n`);
  await c.quit();
  return r;
}

const queued = (text: string): string => /queued as ([0-9A-Z]{18})$/.exec(text)?.[1] ?? '';

t.test('Bcc is taken out at intake over SMTP; the envelope keeps the hidden recipient', async (t) => {
  const r = await smtp('From: app@example.com\r\nBcc: hidden@dest.test\r\n', ['x@dest.test', 'hidden@dest.test']);
  t.equal(r.code, 250, r.text);
  const m = await stored(queued(r.text));
  t.notMatch(m.head, /^Bcc:/im, 'no Bcc header stored');
  t.notMatch(m.head, /hidden@dest\.test/, 'the hidden address appears nowhere in the header');
  t.same(m.rcpts.sort(), ['hidden@dest.test', 'x@dest.test'], 'still delivered to both');
});

t.test('Bcc is taken out of /send/raw, JSON and message/rfc822', async (t) => {
  const msg = 'From: app@example.com\r\nTo: x@dest.test\r\nBcc: hidden@dest.test,\r\n other@dest.test\r\nSubject: raw\r\n\r\nbody\r\n';
  const a = await call('POST', '/api/v1/send/raw', { from: 'app@example.com', to: ['x@dest.test', 'hidden@dest.test'], message: Buffer.from(msg).toString('base64') });
  t.equal(a.status, 200, a.text);
  const b = await call('POST', '/api/v1/send/raw', msg, { 'content-type': 'message/rfc822', 'x-mta-from': 'app@example.com', 'x-mta-to': 'x@dest.test, hidden@dest.test' });
  t.equal(b.status, 200, b.text);
  for (const r of [a, b]) {
    const m = await stored(r.json.queue_id);
    t.notMatch(m.head, /^Bcc:|hidden@dest|other@dest/im, 'Bcc and its folded line gone');
    t.same(m.rcpts.sort(), ['hidden@dest.test', 'x@dest.test']);
  }
});

t.test('identity headers over SMTP: same domain, no address-like display names', async (t) => {
  const cases: [string, RegExp | null][] = [
    ['From: App <app@example.com>\r\nSender: ops@example.com\r\n', null],
    ['From: "app@example.com" <app@example.com>\r\n', null],
    ['From: app@example.com\r\nReply-To: Help Desk <help@elsewhere.test>\r\n', null],
    ['From: app@example.com\r\nResent-From: news@example.com\r\nResent-Sender: ops@example.com\r\n', null],
    ['From: "Team @ Home" <app@example.com>\r\n', null],
    ['From: app@example.com\r\nSender: boss@evil.test\r\n', /^553 5\.7\.1 Identity header refused: Sender address boss@evil\.test is not on the authenticated sender's domain$/],
    ['From: app@example.com\r\nSender: ops@example.com\r\nSender: ops@example.com\r\n', /more than one Sender/],
    ['From: app@example.com\r\nResent-From: ceo@bank.test\r\n', /^553 5\.7\.1 Identity header refused: Resent-From address ceo@bank\.test is not/],
    ['From: app@example.com\r\nResent-Sender: ceo@bank.test\r\n', /Resent-Sender address ceo@bank\.test/],
    ['From: "ceo\uff20bank.test" <app@example.com>\r\n', /^553 5\.7\.1 From header refused: From display name shows an address \(ceo@bank\.test\)/],
    ['From: "ceo\ufe6bbank.test" <app@example.com>\r\n', /From display name shows an address \(ceo@bank\.test\)/],
    ['From: "ceo @ bank.test" <app@example.com>\r\n', /From display name shows an address \(ceo@bank\.test\)/],
    ['From: "ceo@bank\u200b.test" <app@example.com>\r\n', /From display name shows an address/],
    ['From: =?utf-8?B?Y2Vv77ygYmFuay50ZXN0?= <app@example.com>\r\n', /From display name shows an address \(ceo@bank\.test\)/],
    ['From: app@example.com\r\nSender: "ceo@bank.test" <ops@example.com>\r\n', /Sender display name shows an address/],
    ['From: app@example.com\r\nReply-To: "ceo @ bank.test" <help@example.com>\r\n', /Reply-To display name shows an address/],
  ];
  for (const [head, refusal] of cases) {
    const r = await smtp(head);
    if (refusal === null) t.equal(r.code, 250, `${JSON.stringify(head)} accepted: ${r.text}`);
    else t.match(r.text, refusal, `${JSON.stringify(head)} refused`);
  }
});

t.test('Authentication-Results and ARC headers are taken out, over SMTP and the send API', async (t) => {
  const forged = 'Authentication-Results: mx.bank.test; dkim=pass header.d=bank.test; spf=pass\r\nARC-Seal: i=1; a=rsa-sha256; cv=none; d=bank.test; s=x; b=abc\r\n'
    + 'ARC-Message-Signature: i=1; a=rsa-sha256; d=bank.test; s=x; b=abc\r\nARC-Authentication-Results: i=1; mx.bank.test; dkim=pass\r\n';
  const r = await smtp(`From: app@example.com\r\n${forged}`);
  t.equal(r.code, 250, r.text);
  const api = await call('POST', '/api/v1/send', {
    from: 'app@example.com', to: 'x@dest.test', subject: 's', text: 'hi',
    headers: { 'Authentication-Results': 'mx.bank.test; dkim=pass header.d=bank.test', 'ARC-Seal': 'i=1; cv=none; b=abc' },
  });
  t.equal(api.status, 200, api.text);
  for (const id of [queued(r.text), api.json.queue_id as string]) {
    const m = await stored(id);
    t.notMatch(m.head, /^(Authentication-Results|ARC-[A-Za-z-]+):/im, 'none stored');
    t.notMatch(m.head, /bank\.test/, 'nothing of the forgery left');
  }
});

t.test('the send API applies the same policy, with the SMTP reply in the body', async (t) => {
  const cases: [Record<string, unknown>, RegExp][] = [
    [{ from: '"ceo\uff20bank.test" <app@example.com>' }, /^5\.7\.1 From header refused: From display name shows an address \(ceo@bank\.test\)/],
    [{ from: 'ceo @ bank.test <app@example.com>' }, /From display name shows an address/],
    [{ headers: { 'Resent-From': 'ceo@bank.test' } }, /^5\.7\.1 Identity header refused: Resent-From address ceo@bank\.test/],
    // The composer encodes this whole value as one encoded word: no readable address left.
    [{ headers: { 'Resent-Sender': '"ceo@bank.test" <ops@example.com>' } }, /^5\.7\.1 Identity header refused: Resent-Sender /],
  ];
  const before = (await d.daemon.store.auditMessageIds()).length;
  for (const [over, reason] of cases) {
    const r = await call('POST', '/api/v1/send', { from: 'app@example.com', to: 'x@dest.test', subject: 's', text: 'hi', ...over });
    t.equal(r.status, 422, `${JSON.stringify(over)}: ${r.text}`);
    t.match(r.json?.error, { code: 'MTA_ERR_REFUSED', smtp_code: 553, reason });
  }
  const raw = 'From: app@example.com\r\nSender: boss@evil.test\r\nTo: x@dest.test\r\nSubject: raw\r\n\r\nbody\r\n';
  const r = await call('POST', '/api/v1/send/raw', raw, { 'content-type': 'message/rfc822', 'x-mta-from': 'app@example.com', 'x-mta-to': 'x@dest.test' });
  t.equal(r.status, 422, r.text);
  t.match(r.json?.error, { smtp_code: 553, reason: /Sender address boss@evil\.test is not on/ });
  t.equal((await d.daemon.store.auditMessageIds()).length, before, 'nothing stored');
});
