// TLS under hostile clients: TLS 1.0 and 1.1 refused on implicit TLS and on STARTTLS
// (with a control server proving the probing client really speaks them), the certificate
// replaced by a real SIGHUP to the daemon in a child process (and a broken one refused
// with the old kept), and clients that abort the handshake midway, by the dozen, while a
// good client in the middle of its transaction finishes it undisturbed.
// (test/tls-reload.test.ts covers AUTH-after-STARTTLS and the reload of limits.)
import t from 'tap';
import { connect as netConnect, createServer as netServer, type Socket } from 'node:net';
import { connect as tlsConnect, createServer as tlsServer, type ConnectionOptions } from 'node:tls';
import { copyFileSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { RawSmtp, message } from '../helpers/smtp-client.js';
import { startDaemon, tempDir, PASSWORD, type TestDaemon } from '../helpers/daemon.js';
import { makeCert } from '../helpers/tls.js';
import { SENDER, prepareChild, queuedId, startChild, until } from '../helpers/hostile.js';
import type { SMTPServer } from 'smtp-server';

const certDir = tempDir('mta-tls-hard-');
const first = makeCert(certDir, 'first.mta.test');
const second = makeCert(certDir, 'second.mta.test');
const listeners = '[[smtp.listen]]\naddress = "127.0.0.1:0"\ntls = "implicit"\n[[smtp.listen]]\naddress = "127.0.0.1:0"\ntls = "starttls"\n';
const tlsConf = (c: { cert: string; key: string }): string => `[smtp.tls]\ncert = "${c.cert}"\nkey = "${c.key}"\n`;

type Version = 'TLSv1' | 'TLSv1.1' | 'TLSv1.2' | 'TLSv1.3';
/** Old protocols need the lowest OpenSSL security level on the client side. */
const pinned = (v: Version): ConnectionOptions => ({ rejectUnauthorized: false, minVersion: v, maxVersion: v, ciphers: 'DEFAULT@SECLEVEL=0' });

function handshake(opts: ConnectionOptions): Promise<{ ok: boolean; text: string; cn?: string }> {
  return new Promise((resolve) => {
    const s = tlsConnect(opts, () => {
      const cn = s.getPeerCertificate().subject?.CN;
      resolve({ ok: true, text: s.getProtocol() ?? '?', ...(typeof cn === 'string' ? { cn } : {}) });
      s.destroy();
    });
    s.on('error', (e) => resolve({ ok: false, text: e.message }));
  });
}

const implicit = (port: number, o: ConnectionOptions): ReturnType<typeof handshake> => handshake({ port, host: '127.0.0.1', ...o });

/** EHLO, STARTTLS, then the handshake on the same socket. */
async function starttls(port: number, o: ConnectionOptions): ReturnType<typeof handshake> {
  const c = await RawSmtp.connect(port);
  await c.greet();
  await c.ehlo();
  const r = await c.cmd('STARTTLS');
  if (r.code !== 220) throw new Error(`STARTTLS: ${r.text}`);
  c.socket.removeAllListeners('data');
  return handshake({ socket: c.socket, ...o });
}

const portsOf = (d: TestDaemon): { implicit: number; starttls: number } => ({ implicit: d.ports[0]!, starttls: d.ports[1]! });

t.test('only TLS 1.2 and 1.3, on implicit TLS and on STARTTLS', async (t) => {
  // Control: the same client options do speak 1.0 and 1.1 to a server that allows them.
  const control = tlsServer({ key: readFileSync(first.key), cert: readFileSync(first.cert), minVersion: 'TLSv1', ciphers: 'DEFAULT@SECLEVEL=0' }, (s) => s.end());
  control.on('tlsClientError', () => undefined);
  await new Promise<void>((r) => control.listen(0, '127.0.0.1', r));
  t.teardown(() => { control.close(); });
  const cport = (control.address() as { port: number }).port;
  for (const v of ['TLSv1', 'TLSv1.1'] as const) t.same(await implicit(cport, pinned(v)), { ok: true, text: v, cn: 'first.mta.test' }, `control: the probe negotiates ${v}`);

  const d = await startDaemon(tlsConf(first), { listeners });
  t.teardown(() => d.stop());
  const p = portsOf(d);
  for (const v of ['TLSv1', 'TLSv1.1'] as const) {
    const a = await implicit(p.implicit, pinned(v));
    t.notOk(a.ok, `implicit TLS: ${v} refused (${a.text})`);
    const b = await starttls(p.starttls, pinned(v));
    t.notOk(b.ok, `STARTTLS: ${v} refused (${b.text})`);
  }
  for (const v of ['TLSv1.2', 'TLSv1.3'] as const) {
    t.same(await implicit(p.implicit, pinned(v)), { ok: true, text: v, cn: 'first.mta.test' }, `implicit TLS: ${v} accepted`);
    t.same(await starttls(p.starttls, pinned(v)), { ok: true, text: v, cn: 'first.mta.test' }, `STARTTLS: ${v} accepted`);
  }
});

t.test('SIGHUP swaps the certificate on both listeners; a broken one is refused and the old one kept', async (t) => {
  const dir = tempDir('mta-tls-hup-');
  const cert = join(dir, 'live.crt');
  const key = join(dir, 'live.key');
  copyFileSync(first.cert, cert);
  copyFileSync(first.key, key);
  const setup = await prepareChild({ listeners, extra: `${tlsConf({ cert, key })}[admin]\nlisten = "127.0.0.1:0"\n` });
  const child = await startChild(setup);
  t.teardown(async () => { child.proc.kill('SIGKILL'); await child.exited; });
  const listening = (): (readonly [string | undefined, number])[] => [...child.output().matchAll(/"tls":"(implicit|starttls)","port":(\d+)/g)].map((m) => [m[1], Number(m[2])] as const);
  await until(() => listening().length === 2, 15_000, 'both listeners up');
  const ports = listening();
  const imp = ports.find(([k]) => k === 'implicit')![1];
  const st = ports.find(([k]) => k === 'starttls')![1];
  const names = async (): Promise<[string?, string?]> =>
    [(await implicit(imp, pinned('TLSv1.3'))).cn, (await starttls(st, pinned('TLSv1.3'))).cn];
  t.same(await names(), ['first.mta.test', 'first.mta.test'], 'the first certificate is served');

  const hup = async (): Promise<void> => {
    const n = (child.output().match(/configuration reload/g) ?? []).length;
    child.proc.kill('SIGHUP');
    await until(() => (child.output().match(/configuration reload/g) ?? []).length > n, 15_000, 'the reload to be logged');
  };
  copyFileSync(second.cert, cert);
  copyFileSync(second.key, key);
  await hup();
  t.same(await names(), ['second.mta.test', 'second.mta.test'], 'after SIGHUP the new certificate is served on both listeners');

  writeFileSync(cert, '-----BEGIN CERTIFICATE-----\nnot a certificate\n-----END CERTIFICATE-----\n');
  await hup();
  t.equal(child.proc.exitCode, null, 'a broken certificate does not bring the daemon down');
  t.match(child.output(), /configuration reload refused/, 'the refusal is logged');
  t.same(await names(), ['second.mta.test', 'second.mta.test'], 'the last good certificate is still served');
});

/** The first flight of a real TLS client (its ClientHello), captured from a dummy server. */
async function clientHello(): Promise<Buffer> {
  const srv = netServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const got = new Promise<Buffer>((resolve) => srv.once('connection', (s) => s.once('data', (b: Buffer) => { resolve(b); s.destroy(); })));
  const c = tlsConnect({ port: (srv.address() as { port: number }).port, host: '127.0.0.1', rejectUnauthorized: false });
  c.on('error', () => undefined);
  const hello = await got;
  c.destroy();
  srv.close();
  return hello;
}

/** A raw TCP connection from which a handshake is begun and abandoned in one of several ways. */
async function abortHandshake(port: number, how: 'half-hello' | 'after-server-hello' | 'garbage' | 'starttls-half-hello' | 'silence', hello: Buffer): Promise<void> {
  const s: Socket = netConnect({ port, host: '127.0.0.1' });
  s.on('error', () => undefined);
  await new Promise<void>((r) => s.once('connect', () => r()));
  const next = (): Promise<Buffer | undefined> => new Promise((r) => { s.once('data', r); s.once('close', () => r(undefined)); });
  if (how === 'starttls-half-hello') {
    await next(); // greeting
    s.write('EHLO x\r\n'); await next();
    s.write('STARTTLS\r\n'); await next();
  }
  if (how === 'half-hello' || how === 'starttls-half-hello') s.write(hello.subarray(0, Math.floor(hello.length / 2)));
  if (how === 'after-server-hello') { s.write(hello); await next(); }
  if (how === 'garbage') s.write(Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n\x16\x03\x01\xff\xff'));
  await new Promise((r) => setTimeout(r, 20));
  s.resetAndDestroy(); // RST, mid-handshake
}

t.test('clients aborting the handshake midway do not disturb a good client mid-transaction', async (t) => {
  const d = await startDaemon(`${tlsConf(first)}[smtp]\nallow_insecure_auth = true\nmax_connections_per_ip = 500\n`, { listeners });
  t.teardown(() => d.stop());
  const p = portsOf(d);
  const hello = await clientHello();
  t.equal(hello[0], 0x16, 'a TLS handshake record was captured');

  // The good client: TLS up, authenticated, envelope given, about to send DATA.
  const good = await RawSmtp.connect(p.implicit, { tls: true });
  await good.greet(); await good.ehlo();
  t.equal((await good.authPlain(SENDER, PASSWORD)).code, 235);
  t.equal((await good.cmd(`MAIL FROM:<${SENDER}>`)).code, 250);
  t.equal((await good.cmd('RCPT TO:<tls-good@dest.test>')).code, 250);

  const ways = ['half-hello', 'after-server-hello', 'garbage', 'silence'] as const;
  const aborts = [
    ...Array.from({ length: 40 }, (_, i) => abortHandshake(p.implicit, ways[i % ways.length]!, hello)),
    ...Array.from({ length: 20 }, () => abortHandshake(p.starttls, 'starttls-half-hello', hello)),
  ];
  // DATA goes out while the aborts are in flight.
  const r = await good.data(message(SENDER, 'tls-good@dest.test') + '.\r\n');
  await Promise.all(aborts);
  t.ok(queuedId(r), `the good client's message was accepted (${r.text})`);
  t.equal((await good.cmd('NOOP')).code, 250, 'and its session goes on');
  await good.quit();

  const again = await starttls(p.starttls, pinned('TLSv1.3'));
  t.ok(again.ok, 'a new STARTTLS client completes its handshake');
  const fresh = await RawSmtp.connect(p.implicit, { tls: true });
  await fresh.greet(); await fresh.ehlo();
  t.equal((await fresh.authPlain(SENDER, PASSWORD)).code, 235, 'a new implicit-TLS client logs in');
  await fresh.quit();
  // Nothing left behind by the aborted handshakes.
  const servers = (d.daemon.submission as unknown as { servers: { server: SMTPServer & { _pendingSockets: Map<unknown, unknown> } }[] }).servers;
  const guards = (d.daemon.submission as unknown as { guards: { connections: Map<string, number> } }).guards;
  await until(() => servers.every((s) => s.server._pendingSockets.size === 0 && s.server.connections.size === 0) && guards.connections.size === 0,
    15_000, 'aborted handshakes released');
  t.pass('no pending handshake, connection or per-IP count left behind');
});
