// SMTP submission over real loopback: the happy path and every refusal of SPEC §3.
import t from 'tap';
import { RawSmtp, message } from './helpers/smtp-client.js';
import { startDaemon, PASSWORD, type TestDaemon } from './helpers/daemon.js';
import { parseQueueId } from '../src/util/ids.js';

let d: TestDaemon;
t.before(async () => {
  d = await startDaemon('[smtp]\nallow_insecure_auth = true\nmax_recipients = 3\nmax_message_size = "20KB"\nmax_header_size = "2KB"\nauth_failure_limit = 3\nmax_connections_per_ip = 50\n');
  await d.addSender('off@example.com', 'batch');
});
t.teardown(() => d.stop());

async function session(): Promise<RawSmtp> {
  const c = await RawSmtp.connect(d.port);
  await c.greet();
  await c.ehlo();
  return c;
}

async function authed(user = 'app@example.com'): Promise<RawSmtp> {
  const c = await session();
  const r = await c.authPlain(user, PASSWORD);
  if (r.code !== 235) throw new Error(`auth failed: ${r.text}`);
  return c;
}

t.test('EHLO advertises the extensions SPEC §3 lists', async (t) => {
  const c = await RawSmtp.connect(d.port);
  const g = await c.greet();
  t.equal(g.code, 220);
  const r = await c.ehlo();
  const caps = r.lines.slice(1).map((l) => l.toUpperCase());
  for (const cap of ['PIPELINING', '8BITMIME', 'SMTPUTF8', 'ENHANCEDSTATUSCODES', 'DSN']) t.ok(caps.includes(cap), cap);
  t.ok(caps.some((x) => x === `SIZE ${20 * 1024}`), 'SIZE with the limit');
  t.ok(caps.some((x) => x.startsWith('AUTH') && x.includes('PLAIN') && x.includes('LOGIN')), 'AUTH PLAIN LOGIN');
  await c.quit();
});

t.test('accepted mail is in the spool with its recipients, headers added', async (t) => {
  const c = await authed();
  t.equal((await c.cmd('MAIL FROM:<app@example.com>')).code, 250);
  t.equal((await c.cmd('RCPT TO:<one@dest.test>')).code, 250);
  t.equal((await c.cmd('RCPT TO:<two@DEST.test>')).code, 250);
  const r = await c.data(message('App <app@example.com>', 'one@dest.test', 'hi') + '.\r\n');
  t.equal(r.code, 250);
  const m = /^250 2\.0\.0 Ok: queued as ([0-9A-Z]{18})$/.exec(r.text);
  t.ok(m, `reply format: ${r.text}`);
  const id = parseQueueId(m![1]!)!;
  const stored = await d.daemon.store.getMessage(id);
  t.ok(stored, 'message stored');
  t.same(stored!.recipients.map((x) => [x.rcpt, x.state, x.domain]), [['one@dest.test', 'queued', 'dest.test'], ['two@dest.test', 'queued', 'dest.test']]);
  t.equal(stored!.events.filter((e) => e.type === 'reception').length, 2, 'one reception event per recipient');
  let body = '';
  for await (const ch of d.daemon.store.readBody(id)) body += ch.toString();
  t.match(body.replace(/\r\n[ \t]+/g, ' '), /^Received: from client\.test \(\[127\.0\.0\.1\]\) by mta\.test \(mta\) with ESMTPA? id /);
  t.match(body, new RegExp(`Message-ID: <${id}@mta\\.test>`), 'Message-ID added');
  t.match(body, /\r\nDate: /, 'Date added');
  t.notMatch(body.replace(/\r\n/g, ''), /[\r\n]/, 'no bare CR or LF stored');
  t.equal(stored!.lane, 'trigger');
  await c.quit();
});

t.test('unauthenticated clients can send nothing', async (t) => {
  const c = await session();
  const r = await c.cmd('MAIL FROM:<app@example.com>');
  t.equal(r.code, 530, r.text);
  const r2 = await c.cmd('RCPT TO:<victim@dest.test>');
  t.ok(r2.code >= 500, `RCPT refused: ${r2.text}`);
  await c.quit();
  t.same(await d.daemon.store.listQueue({ domain: 'dest.test', states: ['queued'] }).then((q) => q.filter((x) => x.rcpt === 'victim@dest.test')), []);
});

t.test('535 on a wrong password, then 421 and cooling-off after too many', async (t) => {
  const c = await session();
  const r = await c.authPlain('app@example.com', 'wrong password');
  t.equal(r.text, '535 5.7.8 Authentication failure');
  const r2 = await c.authPlain('nobody@example.com', 'wrong password');
  t.equal(r2.code, 535);
  const r3 = await c.authPlain('app@example.com', 'wrong again!');
  t.equal(r3.code, 421, r3.text);
  t.match(r3.text, /^421 4\.7\.0 /);
  await c.read(2000).catch(() => undefined);
  t.ok(c.closed || (await c.read(2000).catch(() => undefined)) === undefined, 'disconnected');
  const again = await RawSmtp.connect(d.port);
  const g = await again.read();
  t.equal(g?.code, 421, 'new connection from the same IP refused while cooling off');
  again.socket.destroy();
  // clear the cooling-off state for the other tests
  for (const w of [d.daemon.submission['guards'].ips, d.daemon.submission['guards'].accounts]) { w.cooling.clear(); w.failures.clear(); }
});

t.test('553 when MAIL FROM is not the authenticated sender, or null', async (t) => {
  const c = await authed();
  const r = await c.cmd('MAIL FROM:<other@example.com>');
  t.match(r.text, /^553 5\.7\.1 /);
  const r2 = await c.cmd('MAIL FROM:<>');
  t.match(r2.text, /^553 5\.7\.1 /);
  const r3 = await c.cmd('MAIL FROM:<off@example.com>');
  t.match(r3.text, /^553 5\.7\.1 /, 'another sender of the same domain is still someone else');
  await c.quit();
});

t.test('551 for a disabled sender', async (t) => {
  t.ok(await d.daemon.store.setSenderDisabled('off@example.com', true));
  const c = await authed('off@example.com');
  const r = await c.cmd('MAIL FROM:<off@example.com>');
  t.match(r.text, /^551 5\.7\.1 Main account unavailable/);
  await c.quit();
  t.ok(await d.daemon.store.setSenderDisabled('off@example.com', false));
});

t.test('556 past max_recipients; 501 for bad syntax and relay forms', async (t) => {
  const c = await authed();
  await c.cmd('MAIL FROM:<app@example.com>');
  for (const bad of ['"user@dom"@example.org', 'user@[127.0.0.1]', 'dom!user', 'no-at-sign']) {
    const r = await c.cmd(`RCPT TO:<${bad}>`);
    t.ok(r.code >= 500 && r.code < 600, `${bad} refused: ${r.text}`);
  }
  for (const ok of ['a@x.test', 'b@x.test', 'c@x.test']) t.equal((await c.cmd(`RCPT TO:<${ok}>`)).code, 250);
  const r = await c.cmd('RCPT TO:<d@x.test>');
  t.equal(r.text, '556 5.5.3 The number of RCPTs is over size');
  await c.quit();
});

t.test('559 for a suppressed recipient, per recipient', async (t) => {
  await d.daemon.store.addSuppression({ address: 'gone@dest.test', scope: '', reason: 'user unknown', source: 'bounce', createdAt: Date.now() });
  const c = await authed();
  await c.cmd('MAIL FROM:<app@example.com>');
  t.equal((await c.cmd('RCPT TO:<Gone@dest.test>')).text, '559 5.1.1 Invalid rcptto');
  t.equal((await c.cmd('RCPT TO:<fine@dest.test>')).code, 250, 'other recipients still accepted');
  await c.quit();
});

t.test('557 for an oversized message, checked while streaming', async (t) => {
  const c = await authed();
  await c.cmd('MAIL FROM:<app@example.com>');
  await c.cmd('RCPT TO:<big@dest.test>');
  const line = 'x'.repeat(70) + '\r\n';
  const r = await c.data(message('app@example.com', 'big@dest.test', 'big', line.repeat(2000)) + '.\r\n');
  t.equal(r.text, '557 5.3.4 The length of DATA content is achieved the maximum threshold');
  t.equal((await d.daemon.store.listQueue({ domain: 'dest.test' })).filter((x) => x.rcpt === 'big@dest.test').length, 0, 'nothing stored');
  // the session is still usable
  await c.cmd('MAIL FROM:<app@example.com>');
  await c.cmd('RCPT TO:<small@dest.test>');
  t.equal((await c.data(message('app@example.com', 'small@dest.test') + '.\r\n')).code, 250);
  await c.quit();
});

t.test('From header policy', async (t) => {
  const cases: [string, string | null][] = [
    ['From: App <app@example.com>\r\n', null],
    ['From: other@example.com\r\n', null],
    ['', 'no From'],
    ['From: app@example.com\r\nFrom: app@example.com\r\n', 'more than one From'],
    ['From: boss@evil.test\r\n', 'not on the authenticated'],
    ['From: a@example.com, b@example.com\r\n', 'exactly one address'],
    ['From: =?utf-8?B?Ym9zc0BldmlsLnRlc3Q=?= <app@example.com>\r\n', 'display name shows an address'],
  ];
  for (const [from, refusal] of cases) {
    const c = await authed();
    await c.cmd('MAIL FROM:<app@example.com>');
    await c.cmd('RCPT TO:<x@dest.test>');
    const r = await c.data(`${from}To: x@dest.test\r\nSubject: s\r\n\r\nbody\r\n.\r\n`);
    if (refusal === null) t.equal(r.code, 250, `${JSON.stringify(from)} accepted`);
    else { t.match(r.text, /^553 5\.7\.1 /, `${JSON.stringify(from)} refused`); t.match(r.text, refusal); }
    await c.quit();
  }
});

t.test('lines over 1000 bytes and huge headers are refused', async (t) => {
  const c = await authed();
  await c.cmd('MAIL FROM:<app@example.com>');
  await c.cmd('RCPT TO:<x@dest.test>');
  const r = await c.data(message('app@example.com', 'x@dest.test', 's', 'y'.repeat(1200) + '\r\n') + '.\r\n');
  t.match(r.text, /^550 5\.6\.0 .*longer than 1000/);
  await c.cmd('MAIL FROM:<app@example.com>');
  await c.cmd('RCPT TO:<x@dest.test>');
  const many = Array.from({ length: 60 }, (_, i) => `X-Filler-${i}: ${'v'.repeat(60)}\r\n`).join('');
  const r2 = await c.data(message('app@example.com', 'x@dest.test', 's', 'body\r\n', many) + '.\r\n');
  t.match(r2.text, /^552 5\.3\.4 Header block too large/);
  await c.quit();
});

t.test('a client that disconnects mid-DATA leaves nothing behind', async (t) => {
  const c = await authed();
  await c.cmd('MAIL FROM:<app@example.com>');
  await c.cmd('RCPT TO:<cut@dest.test>');
  t.equal((await c.cmd('DATA')).code, 354);
  c.write('From: app@example.com\r\nSubject: cut\r\n\r\nhalf a mess');
  c.socket.destroy();
  await new Promise((r) => setTimeout(r, 200));
  t.equal((await d.daemon.store.listQueue({ domain: 'dest.test' })).filter((x) => x.rcpt === 'cut@dest.test').length, 0, 'nothing stored');
  const next = await authed();
  t.equal((await next.cmd('MAIL FROM:<app@example.com>')).code, 250, 'the daemon still serves others');
  await next.quit();
});

t.test('the 250 is sent only after the spool commit returned', async (t) => {
  const order: string[] = [];
  const sizes: number[] = [];
  const off = d.daemon.store.onCommit((ids) => { sizes.push(ids.length); for (const id of ids) order.push(`commit:${id}`); });
  d.daemon.submission.beforeQueuedReply = (id) => order.push(`reply:${id}`);
  const clients = await Promise.all([1, 2, 3, 4, 5, 6].map(() => authed()));
  const replies = await Promise.all(clients.map(async (c, i) => {
    await c.cmd('MAIL FROM:<app@example.com>');
    await c.cmd(`RCPT TO:<gc${i}@dest.test>`);
    return c.data(message('app@example.com', `gc${i}@dest.test`) + '.\r\n');
  }));
  off();
  d.daemon.submission.beforeQueuedReply = undefined;
  for (const r of replies) {
    const id = r.text.split(' ').pop()!;
    const ci = order.indexOf(`commit:${id}`);
    const ri = order.indexOf(`reply:${id}`);
    t.ok(ci >= 0 && ri > ci, `commit before reply for ${id}`);
  }
  t.equal(sizes.reduce((a, b) => a + b, 0), clients.length, `every message in a commit (batches: ${sizes.join(',')})`);
  await Promise.all(clients.map((c) => c.quit()));
});

t.test('IP allowlist: 554 at connect', async (t) => {
  const d2 = await startDaemon('[smtp]\nallow_insecure_auth = true\nallowed_ips = ["10.0.0.0/8", "192.0.2.1-192.0.2.9", "2001:db8::/32"]\n');
  const c = await RawSmtp.connect(d2.port);
  const g = await c.read();
  t.match(g?.text ?? '', /^554 5\.7\.1 /);
  c.socket.destroy();
  await d2.stop();
  const d3 = await startDaemon('[smtp]\nallow_insecure_auth = true\nallowed_ips = ["127.0.0.0/8"]\n');
  const c3 = await RawSmtp.connect(d3.port);
  t.equal((await c3.read())?.code, 220, 'allowed range admitted');
  await c3.quit();
  await d3.stop();
});

t.test('per-IP connection cap and whole-session deadline', async (t) => {
  const d2 = await startDaemon('[smtp]\nallow_insecure_auth = true\nmax_connections_per_ip = 2\nsession_deadline = "1s"\n');
  const a = await RawSmtp.connect(d2.port); await a.greet();
  const b = await RawSmtp.connect(d2.port); await b.greet();
  const c = await RawSmtp.connect(d2.port);
  t.match((await c.read())?.text ?? '', /^421 4\.7\.0 /, 'third connection refused');
  c.socket.destroy();
  // a client that keeps talking (so the idle timer never fires) is still cut off
  let last: string | undefined;
  for (let i = 0; i < 40 && !a.closed; i++) {
    a.write('NOOP\r\n');
    const r = await a.read(3000).catch(() => undefined);
    if (r) last = r.text;
    await new Promise((res) => setTimeout(res, 100));
  }
  t.ok(a.closed, 'session closed by the deadline');
  for (let r = await a.read(100).catch(() => undefined); r; r = await a.read(100).catch(() => undefined)) last = r.text;
  t.match(last ?? '', /^421 4\.4\.2 Session deadline/);
  b.socket.destroy();
  await d2.stop();
});
