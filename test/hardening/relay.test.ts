// No open relay, no impersonation (SPEC §6): an unauthenticated client gets nowhere with
// any of the classic relay address forms, pipelined or not, and an authenticated sender
// cannot send as another sender (envelope or SASL authorization identity), with the null
// sender, or with a header From on another domain however it is disguised. Every probe
// is refused with a 5xx and leaves the spool as it was.
import t from 'tap';
import { startDaemon, PASSWORD, type TestDaemon } from '../helpers/daemon.js';
import { SENDER, authedSession, queuedId, session, storedIds } from '../helpers/hostile.js';

let d: TestDaemon;
t.before(async () => {
  d = await startDaemon('[smtp]\nallow_insecure_auth = true\nauth_failure_limit = 1000\nmax_connections_per_ip = 50\n', { domains: ['example.com', 'other.test'] });
  await d.addSender('other@example.com');
  await d.addSender('app@other.test');
});
t.teardown(() => d.stop());

/** The relay probes: percent hack, quoted, source-routed, bang path, double @, address literals, and friends. */
const RELAY_FORMS = [
  'user%dom.test@[127.0.0.1]', 'user%dom.test@example.com', 'user%dom.test@localhost', '"user@dom.test"', '"user@dom.test"@example.com',
  '"user%dom.test"@[127.0.0.1]', '@[127.0.0.1]:user@dom.test', '@example.com:user@dom.test', '@a.test,@b.test:user@dom.test',
  'dom.test!user', 'dom.test!user@example.com', 'user@dom.test@example.com', 'user@dom.test@[127.0.0.1]', 'user@[127.0.0.1]',
  'user@[IPv6:::1]', '<user@dom.test>', 'user@dom.test.', 'postmaster', 'user@localhost', 'user@dom.test', '"user"@dom.test',
];

async function unchanged(t: { equal: (a: unknown, b: unknown, m: string) => void }, before: number, what: string): Promise<void> {
  t.equal((await storedIds(d.daemon.store)).length, before, `${what}: nothing stored`);
}

t.test('unauthenticated: every relay address form is refused at MAIL and RCPT, and DATA never opens', async (t) => {
  const before = (await storedIds(d.daemon.store)).length;
  // smtp-server closes (421) a session after a run of unauthenticated commands: reconnect then.
  let c = await session(d.port);
  let cut = false;
  for (const rcpt of RELAY_FORMS) {
    for (const mail of [`<${SENDER}>`, '<>', '<someone@dom.test>']) {
      if (c.closed || cut) { c.socket.destroy(); c = await session(d.port); }
      const replies: string[] = [];
      for (const line of [`MAIL FROM:${mail}`, `RCPT TO:<${rcpt}>`, 'DATA']) {
        c.write(`${line}\r\n`);
        const r = await c.read();
        if (!r) break;
        replies.push(r.text);
      }
      t.ok(replies.length > 0 && replies.every((x) => /^(530|5\d\d|421) /.test(x)), `MAIL FROM:${mail} RCPT TO:<${rcpt}> DATA → ${replies.map((x) => x.slice(0, 3)).join(' ')}`);
      t.match(replies[0] ?? '', /^530 /, 'MAIL without AUTH → 530');
      cut = replies.some((x) => x.startsWith('421'));
    }
  }
  await c.quit();
  await unchanged(t, before, 'relay forms');
});

t.test('unauthenticated: a whole pipelined transaction, with and without EHLO, stores nothing', async (t) => {
  const before = (await storedIds(d.daemon.store)).length;
  for (const rcpt of ['user@dom.test', 'user%dom.test@[127.0.0.1]', '@[127.0.0.1]:user@dom.test']) {
    for (const hello of ['EHLO client.test', 'HELO client.test']) {
      const c = await session(d.port);
      await c.cmd(hello);
      c.write(`MAIL FROM:<${SENDER}>\r\nRCPT TO:<${rcpt}>\r\nDATA\r\nFrom: ${SENDER}\r\nSubject: relay\r\n\r\nrelayed?\r\n.\r\nQUIT\r\n`);
      const replies: number[] = [];
      for (let r = await c.read(); r; r = await c.read()) replies.push(r.code);
      t.notOk(replies.includes(354), `${hello}, ${rcpt}: DATA never got 354 (${replies.join(' ')})`);
      t.notOk(replies.some((x) => x === 250 && replies.indexOf(x) < 2), 'neither MAIL nor RCPT accepted');
      c.socket.destroy();
    }
  }
  // After a failed login the session is still unauthenticated.
  const c = await session(d.port);
  t.equal((await c.authPlain(SENDER, 'not the password')).code, 535);
  t.equal((await c.cmd(`MAIL FROM:<${SENDER}>`)).code, 530, 'a failed AUTH grants nothing');
  await c.quit();
  await unchanged(t, before, 'pipelined');
});

t.test('authenticated: no other sender, no null sender, no SASL authorization identity for someone else', async (t) => {
  const before = (await storedIds(d.daemon.store)).length;
  const c = await authedSession(d.port);
  for (const from of ['<other@example.com>', '<app@other.test>', '<>', '<APP@example.com.evil.test>', '<app@example.com@evil.test>',
    '<"app@example.com"@evil.test>', '<app%example.com@evil.test>', '<boss@evil.test>']) {
    const r = await c.cmd(`MAIL FROM:${from}`);
    t.ok(r.code >= 500 && r.code < 600, `MAIL FROM:${from} → ${r.text}`);
  }
  t.equal((await c.authPlain('other@example.com', PASSWORD)).code, 503, 'a second AUTH in the same session is refused');
  t.match((await c.cmd('MAIL FROM:<other@example.com>')).text, /^553 5\.7\.1 /, 'still only app@example.com');
  await c.quit();

  // AUTH PLAIN's authorization identity (authzid) must not let app@ act as other@.
  const z = await session(d.port);
  const r = await z.cmd(`AUTH PLAIN ${Buffer.from(`other@example.com\0${SENDER}\0${PASSWORD}`).toString('base64')}`);
  if (r.code === 235) {
    t.match((await z.cmd('MAIL FROM:<other@example.com>')).text, /^553 5\.7\.1 /, 'authzid ignored: MAIL FROM other@ refused');
    t.equal((await z.cmd(`MAIL FROM:<${SENDER}>`)).code, 250, 'acts as the authenticated identity only');
  } else {
    t.ok(r.code >= 500, `authzid for someone else refused: ${r.text}`);
  }
  await z.quit();
  await unchanged(t, before, 'envelope impersonation');
});

/** Header From disguises; the plain cases (another domain, two From, display name) are in test/submission.test.ts. */
const FROM_DISGUISES = [
  'From: app@example.com\r\nFrom : boss@evil.test\r\n', 'From : boss@evil.test\r\n', 'From: app@example.com\r\nfrom: boss@evil.test\r\n',
  'From: app@example.com (boss@evil.test)\r\n', 'From: <app@example.com>\r\n\tboss@evil.test\r\n', 'From: app@example.com,\r\n boss@evil.test\r\n',
  'From: group: boss@evil.test;\r\n', 'From: =?utf-8?Q?boss=40evil.test?= <app@example.com>\r\n', 'From: app@ex\u0430mple.com\r\n',
  'From: app@example.com.evil.test\r\n', 'From: app@sub.example.com\r\n', 'From: <app@example.com@evil.test>\r\n',
  'From: "app@example.com" <boss@evil.test>\r\n', 'From: boss@evil.test <>\r\n', 'From: <>\r\n', 'From: app@[127.0.0.1]\r\n',
  ' From: boss@evil.test\r\nFrom: app@example.com\r\n', 'From: boss@evil.test\r\n', 'From: app@other.test\r\n',
];

t.test('authenticated: a header From on another domain is refused however it is disguised', async (t) => {
  const before = (await storedIds(d.daemon.store)).length;
  const c = await authedSession(d.port);
  for (const from of FROM_DISGUISES) {
    await c.cmd('RSET');
    await c.cmd(`MAIL FROM:<${SENDER}>`);
    await c.cmd('RCPT TO:<x@dest.test>');
    const r = await c.data(Buffer.from(`${from}To: x@dest.test\r\nSubject: s\r\n\r\nbody\r\n.\r\n`, 'utf8'));
    t.match(r.text, /^553 5\.7\.1 From header refused: /, `${JSON.stringify(from)} → ${r.text}`);
    t.notOk(queuedId(r));
  }
  await c.quit();
  await unchanged(t, before, 'header From');
});
