// TLS listeners (STARTTLS and implicit), AUTH hidden before TLS, and SIGHUP reload.
import t from 'tap';
import { writeFileSync, readFileSync } from 'node:fs';
import { connect as tlsConnect } from 'node:tls';
import { RawSmtp, message } from './helpers/smtp-client.js';
import { startDaemon, tempDir, PASSWORD } from './helpers/daemon.js';
import { makeCert } from './helpers/tls.js';

const certDir = tempDir('mta-tls-');
const { cert, key } = makeCert(certDir);

t.test('STARTTLS listener: AUTH only after TLS, then mail is accepted', async (t) => {
  const d = await startDaemon(`[smtp.tls]\ncert = "${cert}"\nkey = "${key}"\n[smtp]\nallow_insecure_auth = false\n`,
    { listeners: '[[smtp.listen]]\naddress = "127.0.0.1:0"\ntls = "starttls"\n' });
  t.teardown(() => d.stop());
  const c = await RawSmtp.connect(d.port);
  await c.greet();
  const e = await c.ehlo();
  const caps = e.lines.slice(1).map((l) => l.toUpperCase());
  t.ok(caps.includes('STARTTLS'), 'STARTTLS offered');
  t.notOk(caps.some((x) => x.startsWith('AUTH')), 'AUTH not offered before TLS');
  t.match((await c.authPlain('app@example.com', PASSWORD)).text, /^538 5\.7\.11 /, 'AUTH refused before TLS: encryption required');
  await c.startTls();
  const e2 = await c.ehlo();
  const caps2 = e2.lines.slice(1).map((l) => l.toUpperCase());
  t.ok(caps2.some((x) => x.startsWith('AUTH PLAIN LOGIN')), 'AUTH offered after TLS');
  t.notOk(caps2.includes('STARTTLS'), 'no second STARTTLS');
  t.equal((await c.authPlain('app@example.com', PASSWORD)).code, 235);
  await c.cmd('MAIL FROM:<app@example.com>');
  await c.cmd('RCPT TO:<tls@dest.test>');
  t.equal((await c.data(message('app@example.com', 'tls@dest.test') + '.\r\n')).code, 250);
  await c.quit();
});

t.test('implicit TLS listener refuses TLS 1.1 and accepts TLS 1.2+', async (t) => {
  const d = await startDaemon(`[smtp.tls]\ncert = "${cert}"\nkey = "${key}"\n`,
    { listeners: '[[smtp.listen]]\naddress = "127.0.0.1:0"\ntls = "implicit"\n' });
  t.teardown(() => d.stop());
  const c = await RawSmtp.connect(d.port, { tls: true });
  t.equal((await c.greet()).code, 220);
  t.equal((await c.ehlo()).code, 250);
  t.equal((await c.authPlain('app@example.com', PASSWORD)).code, 235);
  await c.quit();
  const old = await new Promise<string>((resolve) => {
    const s = tlsConnect({ port: d.port, host: '127.0.0.1', rejectUnauthorized: false, maxVersion: 'TLSv1.1', minVersion: 'TLSv1' });
    s.on('secureConnect', () => { resolve('connected'); s.destroy(); });
    s.on('error', (e) => resolve(`error: ${e.message}`));
  });
  t.match(old, /^error/, `TLS 1.1 refused (${old})`);
});

t.test('SIGHUP-style reload: new limits apply, an invalid file keeps the old config', async (t) => {
  const d = await startDaemon('[smtp]\nallow_insecure_auth = true\nmax_recipients = 5\n');
  t.teardown(() => d.stop());
  const original = readFileSync(d.configPath, 'utf8');
  writeFileSync(d.configPath, original.replace('max_recipients = 5', 'max_recipients = 1'));
  t.equal(d.daemon.reload(), undefined, 'valid file reloaded');
  t.equal(d.daemon.config.smtp.maxRecipients, 1);
  const c = await RawSmtp.connect(d.port);
  await c.greet(); await c.ehlo(); await c.authPlain('app@example.com', PASSWORD);
  await c.cmd('MAIL FROM:<app@example.com>');
  t.equal((await c.cmd('RCPT TO:<a@x.test>')).code, 250);
  t.equal((await c.cmd('RCPT TO:<b@x.test>')).code, 556, 'the new limit is in force');
  await c.quit();
  writeFileSync(d.configPath, original.replace('max_recipients = 5', 'max_recipients = "lots"'));
  const problem = d.daemon.reload();
  t.match(problem ?? '', /smtp\.max_recipients/, 'invalid file reported');
  t.equal(d.daemon.config.smtp.maxRecipients, 1, 'old config still in force');
});
