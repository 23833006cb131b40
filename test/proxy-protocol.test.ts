// The PROXY protocol on the submission listener, over real TCP to the real daemon: a
// "load balancer" on 127.0.0.1 (the one proxy_trusted address) opens each connection with
// a v1 or v2 header, and the client address it names is the one the queue records, the
// Received header shows, allowed_ips checks and the failed-login throttle counts. A direct
// client on 127.0.0.2 keeps its own address and cannot pass a header off; a trusted peer
// without a valid header is refused with a log line saying why, and the listener goes on.
import t from 'tap';
import { Writable } from 'node:stream';
import { rmSync } from 'node:fs';
import { connect as netConnect, createServer, type AddressInfo } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { startDaemon, tempDir, PASSWORD, type TestDaemon } from './helpers/daemon.js';
import { makeCert } from './helpers/tls.js';
import { apiClient, type Call } from './helpers/api.js';
import { RawSmtp, message } from './helpers/smtp-client.js';
import { v2Header } from './helpers/proxy.js';
import { createLogger } from '../src/util/log.js';
import { compileConfig, ConfigError } from '../src/config/config.js';
import { v1Line, type ProxyHeader } from '../src/submission/proxy-header.js';
import { installProxyGate } from '../src/submission/proxy-gate.js';
import { IpSet } from '../src/util/ipset.js';

const logLines: Record<string, unknown>[] = [];
const sink = new Writable({ write(chunk: Buffer, _enc, done) { for (const l of chunk.toString().split('\n')) if (l) logLines.push(JSON.parse(l) as Record<string, unknown>); done(); } });

let d: TestDaemon;
let api: Call;
const certDir = tempDir();
t.before(async () => {
  const { cert, key } = makeCert(certDir);
  const listeners = '[[smtp.listen]]\naddress = "127.0.0.1:0"\ntls = "none"\n[[smtp.listen]]\naddress = "127.0.0.1:0"\ntls = "implicit"\n';
  d = await startDaemon([
    `[smtp.tls]\ncert = "${cert}"\nkey = "${key}"`,
    '[smtp]', 'allow_insecure_auth = true', 'proxy_protocol = true', 'proxy_trusted = ["127.0.0.1/32"]',
    // The proxied clients live in 203.0.113.0/25 and 2001:db8::/32; 203.0.113.200 is outside.
    'allowed_ips = ["127.0.0.0/8", "203.0.113.0/25", "2001:db8::/32"]',
    'auth_failure_limit = 3', 'auth_failure_window = "10m"', 'auth_cooldown = "1h"', '',
  ].join('\n'), { logger: createLogger('info', sink), listeners });
  api = apiClient(d);
});
t.teardown(async () => { await d.stop(); rmSync(certDir, { recursive: true, force: true }); });

const proxied = (address: string): ProxyHeader => address.includes(':')
  ? { version: 2, family: 'tcp6', source: { address, port: 40001 }, destination: { address: '2001:db8::1', port: 587 } }
  : { version: 1, family: 'tcp4', source: { address, port: 40001 }, destination: { address: '192.0.2.1', port: 587 } };

/** Connects from `from` and sends `header` (in pieces, one write each) before anything else. */
async function through(header: Buffer[], from = '127.0.0.1'): Promise<RawSmtp> {
  const c = await RawSmtp.connect(d.port, { localAddress: from });
  c.socket.setNoDelay(true);
  for (const part of header) await new Promise<void>((resolve) => c.socket.write(part, () => resolve()));
  return c;
}

async function submit(c: RawSmtp, rcpt: string): Promise<string> {
  const g = await c.greet();
  if (g.code !== 220) throw new Error(`greeting: ${g.text}`);
  await c.ehlo();
  const auth = await c.authPlain('app@example.com', PASSWORD);
  if (auth.code !== 235) throw new Error(`AUTH: ${auth.text}`);
  await c.cmd('MAIL FROM:<app@example.com>');
  await c.cmd(`RCPT TO:<${rcpt}>`);
  const r = await c.data(`${message('app@example.com', rcpt)}.\r\n`);
  await c.quit();
  if (r.code !== 250) throw new Error(`DATA: ${r.text}`);
  return r.text.split(' ').pop()!;
}

async function recorded(queueId: string): Promise<{ ip: string; received: string }> {
  const r = await api('GET', `/api/v1/queue/${queueId}`);
  const received = /^Received: [^\r\n]*(?:\r?\n[ \t][^\r\n]*)*/m.exec(r.json.headers as string)?.[0] ?? '';
  return { ip: r.json.client_ip as string, received };
}

t.test('a v1 header split over TCP segments: the queue and Received name the proxied client', async (t) => {
  const line = Buffer.from(v1Line(proxied('203.0.113.7')));
  const id = await submit(await through([line.subarray(0, 4), line.subarray(4, 20), line.subarray(20)]), 'one@dest.test');
  const r = await recorded(id);
  t.equal(r.ip, '203.0.113.7', 'client_ip is the proxied address');
  t.match(r.received, /from client\.test \(\[203\.0\.113\.7\]\)/, `Received: ${r.received}`);
});

t.test('a v2 header (TCP over IPv6, with a TLV) the same way', async (t) => {
  const header = v2Header(proxied('2001:db8::25'), Buffer.from([0x02, 0x00, 0x08, ...Buffer.from('mta.test')]));
  const id = await submit(await through([header.subarray(0, 10), header.subarray(10)]), 'two@dest.test');
  const r = await recorded(id);
  t.equal(r.ip, '2001:db8::25');
  t.match(r.received, /\[2001:db8::25\]/);
});

t.test('implicit TLS (port 465 style): the header comes first, the TLS handshake after it', async (t) => {
  const secure = await new Promise<RawSmtp>((resolve, reject) => {
    const raw = netConnect({ port: d.ports[1]!, host: '127.0.0.1' }, () => {
      raw.write(v2Header(proxied('203.0.113.11')));
      const s = tlsConnect({ socket: raw, rejectUnauthorized: false }, () => resolve(RawSmtp.over(s)));
      s.once('error', reject);
    });
    raw.once('error', reject);
  });
  t.equal((await recorded(await submit(secure, 'tls@dest.test'))).ip, '203.0.113.11', 'client_ip through TLS is the proxied one');
});

t.test('a v2 LOCAL header (a health check) and v1 UNKNOWN keep the proxy\'s own address', async (t) => {
  t.equal((await recorded(await submit(await through([v2Header({ family: 'local' })]), 'three@dest.test'))).ip, '127.0.0.1', 'v2 LOCAL');
  t.equal((await recorded(await submit(await through([Buffer.from('PROXY UNKNOWN\r\n')]), 'four@dest.test'))).ip, '127.0.0.1', 'v1 UNKNOWN');
});

t.test('allowed_ips judges the proxied address', async (t) => {
  const c = await through([Buffer.from(v1Line(proxied('203.0.113.200')))]);
  const g = await c.read();
  t.match(g?.text, /^554 5\.7\.1 Your address is not allowed to connect/, 'a client outside allowed_ips behind an allowed proxy is refused');
  c.socket.destroy();
});

t.test('the failed-login throttle counts the proxied address, not the proxy', async (t) => {
  const c = await through([v2Header(proxied('203.0.113.9'))]);
  t.equal((await c.greet()).code, 220);
  await c.ehlo();
  const codes: number[] = [];
  // Guesses at an account no other test uses: the per-account throttle must not lock app@.
  for (let i = 0; i < 3; i++) codes.push((await c.authPlain('nobody@example.com', `wrong ${i}`)).code);
  t.same(codes, [535, 535, 421], 'the third failure from 203.0.113.9 is answered 421');
  c.socket.destroy();
  const again = await through([Buffer.from(v1Line(proxied('203.0.113.9')))]);
  t.match((await again.read())?.text, /^421 4\.7\.0 Too many failed logins from your address/, '203.0.113.9 cools off: refused at connect');
  again.socket.destroy();
  const other = await through([Buffer.from(v1Line(proxied('203.0.113.10')))]);
  t.equal((await other.greet()).code, 220, 'another client behind the same proxy connects');
  await other.ehlo();
  t.equal((await other.authPlain('app@example.com', PASSWORD)).code, 235, 'and logs in');
  await other.quit();
  const local = await through([v2Header({ family: 'local' })]);
  t.equal((await local.greet()).code, 220, 'the proxy\'s own address is not throttled');
  await local.quit();
});

const refusals = (): Record<string, unknown>[] => logLines.filter((l) => /PROXY/.test(String(l['msg'])));

t.test('a trusted peer without a valid header is refused, logged, and the listener goes on', async (t) => {
  const cases: [string, Buffer, RegExp][] = [
    ['SMTP without a header', Buffer.from('EHLO client.test\r\n'), /^no PROXY header: the connection began with "EHLO client\.test\.\."$/],
    ['a v1 header with a bad address', Buffer.from('PROXY TCP4 999.1.1.1 192.0.2.1 1 2\r\n'), /"999\.1\.1\.1" is not an IPv4 address/],
    ['a v1 header too long', Buffer.from(`PROXY UNKNOWN ${'x'.repeat(120)}\r\n`), /^v1 header longer than 107 bytes$/],
    ['a v2 header of version 3', Buffer.concat([v2Header(proxied('2001:db8::25')).subarray(0, 12), Buffer.from([0x31, 0x21, 0, 0])]), /^v2 header with version 3$/],
  ];
  for (const [name, bytes, reason] of cases) {
    const before = refusals().length;
    const c = await through([bytes]);
    const r = await c.read();
    t.equal(r?.text, '554 5.7.1 PROXY protocol header refused', `${name}: refused`);
    t.equal(await c.read(), undefined, `${name}: and closed`);
    const logged = refusals().slice(before);
    t.equal(logged.length, 1, `${name}: one log line`);
    t.match(logged[0], { level: 'warn', client_ip: '127.0.0.1', msg: /a trusted proxy sent no valid PROXY protocol header/, reason }, `${name}: the log line says why`);
  }
  const id = await submit(await through([Buffer.from(v1Line(proxied('203.0.113.8')))]), 'five@dest.test');
  t.equal((await recorded(id)).ip, '203.0.113.8', 'the listener still takes proxied mail afterwards');
});

t.test('a direct client outside proxy_trusted keeps its address and cannot pass a header off', async (t) => {
  t.equal((await recorded(await submit(await RawSmtp.connect(d.port, { localAddress: '127.0.0.2' }), 'six@dest.test'))).ip, '127.0.0.2',
    'a direct client submits as itself');
  const before = refusals().length;
  const c = await RawSmtp.connect(d.port, { localAddress: '127.0.0.2' });
  t.equal((await c.greet()).code, 220);
  const r = await c.cmd(v1Line(proxied('203.0.113.7')).trimEnd());
  t.equal(r.text, '554 5.7.1 PROXY protocol header refused', 'a PROXY line after the greeting is refused');
  t.equal(await c.read(), undefined, 'and the connection closed');
  t.match(refusals().slice(before), [{ client_ip: '127.0.0.2', msg: /PROXY header from an address outside smtp\.proxy_trusted/ }], 'logged');
  // Sent at once, before the greeting, as a proxy would: refused before or after the greeting, never believed.
  const early = await through([Buffer.from(v1Line(proxied('203.0.113.7')))], '127.0.0.2');
  const replies: string[] = [];
  for (let x = await early.read(); x; x = await early.read()) replies.push(x.text);
  t.ok(replies.length > 0 && /^(421|554) /.test(replies.at(-1)!), `refused: ${replies.join(' | ')}`);
  t.notOk(replies.some((x) => /^250/.test(x)), 'nothing of it was taken');
});

t.test('the gate alone: a silent trusted peer is refused at the deadline; waiting peers are capped', async (t) => {
  // smtp-server's place taken by a plain handler: what reaches it is what the gate passed on.
  const passed: string[] = [];
  // It answers once it has two lines (the header line and the client's first); the gate
  // hands sockets on paused (smtp-server reads with 'readable'), so this one resumes.
  const server = createServer((socket) => {
    let got = '';
    socket.on('data', (b: Buffer) => {
      got += b.toString('latin1');
      if (got.split('\r\n').length > 2) { passed.push(got); socket.end('220 passed\r\n'); }
    }).resume();
  });
  const lines: Record<string, unknown>[] = [];
  const log = createLogger('info', new Writable({ write(chunk: Buffer, _enc, done) { lines.push(JSON.parse(chunk.toString()) as Record<string, unknown>); done(); } }));
  // Read at each connection: each phase below sets what it needs before connecting.
  const settings = { trusted: IpSet.parse(['127.0.0.1']), headerTimeoutMs: 60_000, maxPending: 1 };
  installProxyGate(server, () => settings, log, 'test');
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())));
  const port = (server.address() as AddressInfo).port;

  const waiting = await RawSmtp.connect(port);
  const second = await RawSmtp.connect(port);
  t.equal(await second.read(), undefined, 'while one trusted peer waits for its header, a second over maxPending is dropped');
  t.match(lines, [{ msg: /too many connections waiting for their PROXY header/, client_ip: '127.0.0.1' }], 'and logged');
  waiting.socket.destroy();

  Object.assign(settings, { headerTimeoutMs: 200, maxPending: 10 });
  const silent = await RawSmtp.connect(port);
  t.equal((await silent.read())?.text, '554 5.7.1 PROXY protocol header refused', 'a silent trusted peer is refused once its time is up');
  t.equal(await silent.read(), undefined, 'and closed');
  t.match(lines.at(-1), { reason: 'no PROXY header within 200 ms', client_ip: '127.0.0.1' }, 'logged with the reason');

  const ok = await RawSmtp.connect(port);
  ok.write(`${v1Line(proxied('203.0.113.7'))}EHLO x\r\n`);
  t.equal((await ok.read())?.text, '220 passed');
  t.same(passed, [`${v1Line(proxied('203.0.113.7'))}EHLO x\r\n`], 'the header goes on as one v1 line, with the bytes after it');
  const direct = await RawSmtp.connect(port, { localAddress: '127.0.0.2' });
  direct.write('EHLO y\r\n');
  t.equal((await direct.read())?.text, '220 passed');
  t.equal(passed[1], 'PROXY UNKNOWN\r\nEHLO y\r\n', 'a direct client is passed on as UNKNOWN: its own address');
});

t.test('configuration: precise errors, and proxy_protocol needs a restart', async (t) => {
  const problems = (smtp: string): string => {
    try { compileConfig(`[smtp]\n${smtp}\n[[smtp.listen]]\naddress = "127.0.0.1:1"\ntls = "none"\n`, 'test.toml'); } catch (e) { if (e instanceof ConfigError) return e.message; throw e; }
    return '';
  };
  t.match(problems('proxy_protocol = true'), /smtp\.proxy_trusted: proxy_protocol = true needs the load balancers' addresses here/);
  t.match(problems('proxy_trusted = ["10.0.0.5/32"]'), /smtp\.proxy_trusted: proxy_trusted is for proxy_protocol = true, but proxy_protocol is false/);
  t.match(problems('proxy_protocol = true\nproxy_trusted = ["10.0.0.5/33"]'), /test\.toml:3: smtp\.proxy_trusted\[0\]: "10\.0\.0\.5\/33": prefix length must be 0\.\.32/);
  t.match(problems('proxy_protocol = "yes"'), /smtp\.proxy_protocol: /);
  t.equal(problems('proxy_protocol = true\nproxy_trusted = ["10.0.0.5/32", "2001:db8::/64", "10.1.0.1-10.1.0.9"]'), '', 'IPs, CIDR blocks and ranges');
  const { restartNeeded } = await import('../src/config/restart.js');
  const listen = '[[smtp.listen]]\naddress = "127.0.0.1:1"\ntls = "none"\n';
  const on = compileConfig(`[smtp]\nproxy_protocol = true\nproxy_trusted = ["10.0.0.5"]\n${listen}`, 'a.toml');
  const off = compileConfig(listen, 'b.toml');
  t.same(restartNeeded(off, compileConfig(listen, 'c.toml')), [], 'unchanged: no restart');
  t.ok(restartNeeded(off, on).includes('smtp.proxy_protocol'), 'turning it on needs a restart');
});
