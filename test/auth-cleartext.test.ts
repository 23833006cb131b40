// Clear-text AUTH (security review 14.3): on a listener without TLS, AUTH is neither
// advertised nor accepted unless smtp.allow_insecure_auth = true, and `mta config check`
// warns about such a listener. The development defaults keep clear-text AUTH on loopback.
import t from 'tap';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { RawSmtp } from './helpers/smtp-client.js';
import { goodTransaction, queuedId } from './helpers/hostile.js';
import { startDaemon, tempDir, PASSWORD } from './helpers/daemon.js';
import { runMta } from './helpers/run.js';
import { makeCert } from './helpers/tls.js';
import { compileConfig, authWarnings, DEVELOPMENT_TOML, DEV_SOURCE } from '../src/config/config.js';

t.test('tls = "none" with allow_insecure_auth = false: AUTH not offered, 538, nothing sent', async (t) => {
  const d = await startDaemon('[smtp]\nallow_insecure_auth = false\n');
  t.teardown(() => d.stop());
  const c = await RawSmtp.connect(d.port);
  await c.greet();
  const caps = (await c.ehlo()).lines.slice(1).map((l) => l.toUpperCase());
  t.notOk(caps.some((x) => x.startsWith('AUTH')), `AUTH not advertised (${caps.join(', ')})`);
  t.equal((await c.authPlain('app@example.com', PASSWORD)).text, '538 5.7.11 Encryption required for requested authentication mechanism');
  t.match((await c.cmd('AUTH LOGIN')).text, /^538 5\.7\.11 /, 'AUTH LOGIN too');
  t.match((await c.cmd('MAIL FROM:<app@example.com>')).text, /^553 5\.7\.1 .*not authenticated/, 'no mail without AUTH');
  t.ok((await c.cmd('RCPT TO:<clear@dest.test>')).code >= 500, 'RCPT refused');
  await c.quit();
  t.same((await d.daemon.store.listQueue({ domain: 'dest.test' })).map((x) => x.rcpt), [], 'nothing queued');
});

t.test('allow_insecure_auth = true keeps clear-text AUTH working (as the development defaults do)', async (t) => {
  const dev = compileConfig(DEVELOPMENT_TOML, DEV_SOURCE);
  t.equal(dev.smtp.listen[0]?.tls, 'none');
  t.ok(dev.smtp.allowInsecureAuth, 'the development defaults allow clear-text AUTH');
  t.same(authWarnings(dev), [], 'and get no warning');
  const d = await startDaemon('[smtp]\nallow_insecure_auth = true\n');
  t.teardown(() => d.stop());
  const c = await RawSmtp.connect(d.port);
  await c.greet();
  t.ok((await c.ehlo()).lines.some((l) => /^AUTH PLAIN LOGIN/i.test(l)), 'AUTH advertised');
  await c.quit();
  t.ok(queuedId(await goodTransaction(d.port, 'clear@dest.test')), 'AUTH in clear text, then mail accepted');
});

t.test('mta config check warns about a clear-text listener that refuses AUTH, naming it', async (t) => {
  const dir = tempDir();
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'mta.toml');
  const { cert, key } = makeCert(dir);
  const listeners = `[smtp.tls]\ncert = "${cert}"\nkey = "${key}"\n` + '[[smtp.listen]]\naddress = "127.0.0.1:2525"\ntls = "starttls"\n[[smtp.listen]]\naddress = "127.0.0.1:2587"\ntls = "none"\n';
  writeFileSync(file, `data_dir = "${dir}"\n${listeners}[smtp]\nallow_insecure_auth = false\n`);
  const r = await runMta(['config', 'check', '--config', file]);
  t.equal(r.code, 0, 'valid: exit 0');
  t.match(r.out, /^ok/);
  t.match(r.err, /^.*mta\.toml: warning: smtp\.listen\[1\]: listener 127\.0\.0\.1:2587 has tls = "none" .*AUTH is refused/m);
  t.notMatch(r.err, /listen\[0\]/, 'the STARTTLS listener is fine');
  writeFileSync(file, `data_dir = "${dir}"\n${listeners}[smtp]\nallow_insecure_auth = true\n`);
  const ok = await runMta(['config', 'check', '--config', file]);
  t.equal(ok.code, 0);
  t.equal(ok.err, '', 'no warning when clear-text AUTH is allowed on purpose');
});
