// SMTP smuggling (CVE-2023-51764 family): end-of-data look-alikes must never end the
// message early and never produce a second message; bare CR/LF is refused.
import t from 'tap';
import { RawSmtp } from './helpers/smtp-client.js';
import { startDaemon, PASSWORD, type TestDaemon } from './helpers/daemon.js';

let d: TestDaemon;
t.before(async () => { d = await startDaemon(); });
t.teardown(() => d.stop());

const SEQUENCES: [string, string][] = [
  ['\\n.\\n', '\n.\n'], ['\\r.\\r', '\r.\r'], ['\\r.\\n', '\r.\n'], ['\\n.\\r', '\n.\r'],
  ['\\n.\\r\\n', '\n.\r\n'], ['\\r\\n.\\n', '\r\n.\n'], ['\\r.\\r\\n', '\r.\r\n'], ['\\r\\n.\\r', '\r\n.\r'],
  ['\\r\\n\\x00.\\r\\n', '\r\n\x00.\r\n'], ['\\r\\r\\n', '\r\r\n'],
];

for (const [name, seq] of SEQUENCES) {
  t.test(`smuggling sequence ${name}`, async (t) => {
    const victim = `victim-${Buffer.from(name).toString('hex')}@dest.test`;
    const c = await RawSmtp.connect(d.port);
    await c.greet();
    await c.ehlo();
    t.equal((await c.authPlain('app@example.com', PASSWORD)).code, 235);
    await c.cmd('MAIL FROM:<app@example.com>');
    await c.cmd('RCPT TO:<first@dest.test>');
    const smuggled = `MAIL FROM:<app@example.com>\r\nRCPT TO:<${victim}>\r\nDATA\r\nFrom: app@example.com\r\nSubject: smuggled\r\n\r\nevil\r\n`;
    const r = await c.data(`From: app@example.com\r\nTo: first@dest.test\r\nSubject: s\r\n\r\nhello${seq}${smuggled}.\r\n`);
    // Whatever comes next on the wire must not be a second transaction's replies.
    const extra = await c.read(300).catch(() => undefined);
    t.equal(extra, undefined, 'no further replies: the smuggled commands were data, not commands');
    if (r.code === 250) {
      const id = r.text.split(' ').pop()!;
      let body = '';
      for await (const ch of d.daemon.store.readBody(id as never)) body += ch.toString('latin1');
      t.notMatch(body.replace(/\r\n/g, ''), /[\r\n\0]/, 'stored bytes contain no bare CR, LF or NUL');
    } else {
      t.match(r.text, /^5\d\d 5\.\d+\.\d+ /, `refused: ${r.text}`);
    }
    const q = await d.daemon.store.listQueue({ domain: 'dest.test' });
    t.equal(q.filter((x) => x.rcpt === victim).length, 0, 'no second message for the smuggled recipient');
    await c.quit();
  });
}

t.test('bare LF inside DATA is refused with 550 5.6.0', async (t) => {
  const c = await RawSmtp.connect(d.port);
  await c.greet(); await c.ehlo(); await c.authPlain('app@example.com', PASSWORD);
  await c.cmd('MAIL FROM:<app@example.com>');
  await c.cmd('RCPT TO:<lf@dest.test>');
  const r = await c.data('From: app@example.com\r\nSubject: s\r\n\r\nline one\nline two\r\n.\r\n');
  t.match(r.text, /^550 5\.6\.0 .*bare LF/);
  const r2 = await c.data('From: app@example.com\r\nSubject: s\r\n\r\nline one\rline two\r\n.\r\n');
  t.ok(r2.code >= 500, `second transaction without MAIL refused: ${r2.text}`);
  await c.quit();
});
