// The admin listener over HTTPS (admin.tls_cert, admin.tls_key): the API, the CLI and the
// console's session cookie. The CLI sends its token only to a daemon presenting the
// configured certificate (a pin), a renewed certificate is taken by a reload, and one key
// without the other is refused. Without TLS, an admin listener off loopback is warned about.
import t, { type Test } from 'tap';
import { request } from 'node:https';
import { request as httpRequest } from 'node:http';
import { X509Certificate } from 'node:crypto';
import { connect, createServer as createTlsServer } from 'node:tls';
import { connect as tcpConnect, createServer as createTcpServer, type AddressInfo, type Server } from 'node:net';
import { copyFileSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startDaemon, tempDir, type TestDaemon } from './helpers/daemon.js';
import { makeCert } from './helpers/tls.js';
import { runMta } from './helpers/run.js';
import { compileConfig, ConfigError } from '../src/config/config.js';
import { configProblems, configWarnings } from '../src/config/checks.js';

const TOKEN = 'admin-tls-test-token-0123456789';
const dir = tempDir('mta-admin-tls-');
const live = { cert: join(dir, 'live.crt'), key: join(dir, 'live.key') };
let first: { cert: string; key: string };
let second: { cert: string; key: string };
let d: TestDaemon;

t.before(async () => {
  first = makeCert(dir, 'first.test');
  second = makeCert(dir, 'second.test');
  copyFileSync(first.cert, live.cert);
  copyFileSync(first.key, live.key);
  d = await startDaemon(`[admin]\nlisten = "127.0.0.1:0"\ntoken = "${TOKEN}"\ntls_cert = "${live.cert}"\ntls_key = "${live.key}"\n`);
});
t.teardown(async () => { await d.stop(); rmSync(dir, { recursive: true, force: true }); });

const port = (): number => d.daemon.admin!.port;
const fingerprint = (file: string): string => new X509Certificate(readFileSync(file)).fingerprint256;

interface Reply { status: number; headers: Record<string, string | string[] | undefined>; body: string }
function https(method: string, path: string, ca: string, body?: unknown): Promise<Reply> {
  const payload = body === undefined ? undefined : JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const req = request({
      host: '127.0.0.1', port: port(), method, path, ca: readFileSync(ca), checkServerIdentity: () => undefined, agent: false,
      headers: { authorization: `Bearer ${TOKEN}`, ...(payload ? { 'content-type': 'application/json' } : {}) },
    }, (res) => {
      let text = '';
      res.on('data', (c: Buffer) => { text += c; });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text }));
    });
    req.on('error', reject);
    req.end(payload);
  });
}

/** The certificate a fresh TLS connection to the admin port is shown. */
function presented(): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = connect({ host: '127.0.0.1', port: port(), rejectUnauthorized: false }, () => { resolve(s.getPeerCertificate().fingerprint256); s.end(); });
    s.on('error', reject);
  });
}

t.test('the API answers over HTTPS and not over plain HTTP', async (t) => {
  const r = await https('GET', '/api/v1/status', first.cert);
  t.equal(r.status, 200, r.body);
  t.equal((JSON.parse(r.body) as { state: string }).state, 'running');
  const plain = await new Promise<string>((resolve) => {
    const req = httpRequest({ host: '127.0.0.1', port: port(), path: '/api/v1/status', headers: { authorization: `Bearer ${TOKEN}` } }, (res) => resolve(`HTTP ${res.statusCode}`));
    req.on('error', (e) => resolve(`error ${(e as NodeJS.ErrnoException).code ?? e.message}`));
    req.end();
  });
  t.match(plain, /^error|^HTTP 400/, `plain HTTP gets no API answer (${plain})`);
  t.same(JSON.parse(readFileSync(join(d.dir, 'data', 'admin.json'), 'utf8')).tls, true, 'admin.json tells the CLI to use HTTPS');
});

t.test('the CLI reaches the daemon over HTTPS, and sends its token only to the configured certificate', async (t) => {
  const ok = await runMta(['status', '--json', '--config', d.configPath]);
  t.equal(ok.code, 0, ok.err);
  t.equal((JSON.parse(ok.out) as { state: string }).state, 'running');

  // The same data dir and address, but the configuration names another certificate: as if
  // something else answered on the daemon's port with a certificate of its own.
  const other = join(dir, 'other.toml');
  writeFileSync(other, readFileSync(d.configPath, 'utf8').replace(live.cert, second.cert).replace(live.key, second.key));
  const refused = await runMta(['status', '--json', '--config', other]);
  t.not(refused.code, 0);
  t.match(refused.err, /presents a certificate other than admin\.tls_cert: the token was not sent/);
});

/**
 * A stranger on the daemon's address, and the CLI asked to talk to it: a configuration with
 * admin.tls_cert, whose data dir's admin.json (pid: a live process) points at the stranger.
 * What the stranger received, decrypted where it speaks TLS.
 */
async function stranger(t: Test, label: string, server: (got: Buffer[]) => Server, addressFile: Record<string, unknown>): Promise<{ code: number | null; err: string; got: string }> {
  const got: Buffer[] = [];
  const srv = server(got);
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
  t.teardown(() => srv.close());
  const p = (srv.address() as AddressInfo).port;
  const data = join(dir, `${label}-data`);
  mkdirSync(data, { recursive: true });
  writeFileSync(join(data, 'admin.json'), JSON.stringify({ host: '127.0.0.1', port: p, pid: process.pid, ...addressFile }));
  const cfg = join(dir, `${label}.toml`);
  writeFileSync(cfg, `hostname = "mta.test"\ndata_dir = "${data}"\n[[smtp.listen]]\naddress = "127.0.0.1:0"\ntls = "none"\n[smtp]\nallow_insecure_auth = true\n`
    + `[admin]\nlisten = "127.0.0.1:${p}"\ntoken = "${TOKEN}"\ntls_cert = "${first.cert}"\ntls_key = "${first.key}"\n`);
  const r = await runMta(['status', '--json', '--config', cfg]);
  return { code: r.code, err: r.err, got: Buffer.concat(got).toString('latin1') };
}

t.test('the token never reaches a stranger: not one with another certificate, not one speaking plain HTTP', async (t) => {
  const tlsStranger = await stranger(t, 'tls-stranger', (got) => createTlsServer({ cert: readFileSync(second.cert), key: readFileSync(second.key) }, (s) => {
    s.on('data', (c: Buffer) => got.push(c));
    s.on('error', () => undefined);
  }), { tls: true });
  t.not(tlsStranger.code, 0);
  t.match(tlsStranger.err, /presents a certificate other than admin\.tls_cert: the token was not sent/);
  t.equal(tlsStranger.got, '', 'not one byte of a request reached it');

  // An address file without "tls" (an older daemon, a restart still pending): the configuration's admin.tls_cert still holds.
  const plainStranger = await stranger(t, 'plain-stranger', (got) => createTcpServer((s) => {
    s.on('data', (c: Buffer) => { got.push(c); s.end('HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 2\r\n\r\n{}'); });
    s.on('error', () => undefined);
  }), {});
  t.not(plainStranger.code, 0, plainStranger.err);
  t.notMatch(plainStranger.got, TOKEN, 'the token was not sent in clear text');
  t.notMatch(plainStranger.got, /^GET /, 'no plain HTTP request at all (only a TLS hello)');
});

t.test('the console\'s session cookie is Secure over HTTPS', async (t) => {
  const add = await runMta(['user', 'add', 'ops', '--role', 'admin', '--password-stdin', '--config', d.configPath], 'a long console password\n');
  t.equal(add.code, 0, add.err);
  const r = await https('POST', '/api/v1/session', first.cert, { name: 'ops', password: 'a long console password' });
  t.equal(r.status, 200, r.body);
  const cookie = [r.headers['set-cookie'] ?? []].flat().find((c) => c.startsWith('mta_session='));
  t.ok(cookie, 'a session cookie was set');
  t.match(cookie, /;\s*Secure/i);
  t.match(cookie, /HttpOnly/i);
});

t.test('a reload takes a renewed certificate at the same paths; an unusable one is refused and the old one stays', async (t) => {
  t.equal(await presented(), fingerprint(first.cert));
  copyFileSync(second.cert, live.cert);
  copyFileSync(second.key, live.key);
  t.equal(d.daemon.reload(), undefined, 'the reload is accepted');
  t.equal(await presented(), fingerprint(second.cert), 'new connections get the renewed certificate');

  writeFileSync(live.key, 'not a key\n');
  t.match(d.daemon.reload(), /admin\.tls_cert, admin\.tls_key/, 'a key that cannot be used refuses the reload');
  t.equal(await presented(), fingerprint(second.cert), 'the certificate in force stays');
  copyFileSync(second.key, live.key);
});

t.test('admin.tls_cert and admin.tls_key go together; with them an admin listener off loopback is not warned about', async (t) => {
  const base = `hostname = "mta.test"\ndata_dir = "${join(dir, 'data2')}"\n[[smtp.listen]]\naddress = "127.0.0.1:0"\ntls = "none"\n[smtp]\nallow_insecure_auth = true\n`;
  const problem = (toml: string): string => {
    try { compileConfig(toml, 'a.toml'); } catch (e) { if (e instanceof ConfigError) return e.message; throw e; }
    return '';
  };
  t.match(problem(`${base}[admin]\ntls_cert = "${first.cert}"\n`), /admin\.tls_key: admin\.tls_cert and admin\.tls_key go together/);
  t.match(problem(`${base}[admin]\ntls_key = "${first.key}"\n`), /admin\.tls_cert: admin\.tls_cert and admin\.tls_key go together/);
  const tls = compileConfig(`${base}[admin]\nlisten = "0.0.0.0:8025"\ntls_cert = "${first.cert}"\ntls_key = "${first.key}"\n`, 'a.toml');
  t.same(configWarnings(tls, undefined), []);
  t.same(configProblems(tls).filter((p) => p.path.startsWith('admin')), [], 'usable certificate and key: no problem');
  const missing = compileConfig(`${base}[admin]\ntls_cert = "${join(dir, 'nowhere.crt')}"\ntls_key = "${first.key}"\n`, 'a.toml');
  t.match(configProblems(missing), [{ path: 'admin.tls_cert', message: /cannot read .*nowhere\.crt: ENOENT/ }], 'mta config check refuses a certificate it cannot read, as start would');
  const mismatched = compileConfig(`${base}[admin]\ntls_cert = "${first.cert}"\ntls_key = "${second.key}"\n`, 'a.toml');
  t.match(configProblems(mismatched), [{ path: 'admin.tls_cert', message: /cannot be used/ }], 'and a key that is not the certificate\'s');
  const plain = compileConfig(`${base}[admin]\nlisten = "0.0.0.0:8025"\n`, 'a.toml');
  t.match(configWarnings(plain, undefined).join('\n'), /plain HTTP.*admin\.tls_cert and admin\.tls_key/);
});

t.test('a daemon started without HTTPS: adding it to the configuration waits for a restart, reload after reload', async (t) => {
  const plain = await startDaemon(`[admin]\nlisten = "127.0.0.1:0"\ntoken = "${TOKEN}"\n`);
  t.teardown(() => plain.stop());
  writeFileSync(plain.configPath, readFileSync(plain.configPath, 'utf8').replace(/^\[admin\]\n/m, `[admin]\ntls_cert = "${first.cert}"\ntls_key = "${first.key}"\n`));
  t.equal(plain.daemon.reload(), undefined, 'the first reload is accepted');
  t.equal(plain.daemon.reload(), undefined, 'and the second (it threw before: a plain server has no certificate to replace)');
  t.same(plain.daemon.pendingRestart, ['admin.tls_cert']);
  const status = await new Promise<number>((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port: plain.daemon.admin!.port, path: '/api/v1/status', headers: { authorization: `Bearer ${TOKEN}` } }, (res) => { res.resume(); resolve(res.statusCode ?? 0); });
    req.on('error', reject);
    req.end();
  });
  t.equal(status, 200, 'still plain HTTP until the restart');
});

t.test('a connection that never starts its TLS handshake does not hold up a stop', async (t) => {
  const own = await startDaemon(`[admin]\nlisten = "127.0.0.1:0"\ntoken = "${TOKEN}"\ntls_cert = "${first.cert}"\ntls_key = "${first.key}"\n`);
  const idle = tcpConnect({ host: '127.0.0.1', port: own.daemon.admin!.port });
  await new Promise<void>((resolve) => idle.once('connect', resolve));
  const closed = new Promise<void>((resolve) => idle.once('close', () => resolve()));
  idle.on('error', () => undefined);
  await own.stop();
  await closed;
  t.pass('the stop closed the half-open connection and finished');
});
