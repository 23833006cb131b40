// Resource abuse against the submission listener: password guessing from many addresses
// at once (each throttled, the limiter's memory bounded), slowloris clients (cut off by
// the session deadline, not kept alive by their trickle), and a flood of 10,000 idle
// connections against the real daemon in a child process (refused past the per-IP and
// global caps while a well-behaved client is still served; 400 attempts in flight at a
// time, since more only overflow the kernel's accept queue before the daemon sees them).
import t from 'tap';
import { connect, type Socket } from 'node:net';
import { startDaemon, type TestDaemon } from '../helpers/daemon.js';
import { RawSmtp } from '../helpers/smtp-client.js';
import {
  SENDER, authedSession, cheapenPassword, goodTransaction, prepareChild, queuedId, rssKiB, session, startChild, storedIds, until,
} from '../helpers/hostile.js';
import { ClientGuards, MAX_TRACKED_IPS } from '../../src/submission/guards.js';
import { IpSet } from '../../src/util/ipset.js';

interface FailureState { failures: Map<string, unknown[]>; cooling: Map<string, number> }
interface GuardState { connections: Map<string, number>; ips: FailureState }
const guardsOf = (d: TestDaemon): GuardState => (d.daemon.submission as unknown as { guards: GuardState }).guards;
const sessionsOf = (d: TestDaemon): Map<string, unknown> => (d.daemon.submission as unknown as { sessions: Map<string, unknown> }).sessions;

/** Runs `fn` over `items`, at most `width` at a time. */
async function pool<T, R>(items: readonly T[], width: number, fn: (x: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array<R>(items.length);
  let next = 0;
  await Promise.all(Array.from({ length: width }, async () => {
    while (next < items.length) { const i = next++; out[i] = await fn(items[i]!); }
  }));
  return out;
}

t.test('password guessing from 300 addresses at once: each throttled, one limiter entry per address, others served', async (t) => {
  const d = await startDaemon('[smtp]\nallow_insecure_auth = true\nauth_failure_limit = 2\nauth_failure_window = "10m"\nauth_cooldown = "1h"\n');
  t.teardown(() => d.stop());
  await cheapenPassword(d.daemon.store); // the KDF's cost is not what is measured here
  const ips = Array.from({ length: 300 }, (_, i) => `127.10.${Math.floor(i / 250)}.${(i % 250) + 1}`);
  const results = await pool(ips, 30, async (ip) => {
    const c = await session(d.port, ip);
    // Each address guesses its own account: one account guessed from everywhere would lock
    // that account after the limit (auth-throttle.test.ts), which is not measured here.
    const first = await c.authPlain(`guess-${ip}@example.com`, 'guess one');
    const second = await c.authPlain(`guess-${ip}@example.com`, 'guess two');
    await c.read(5000).catch(() => undefined);
    c.socket.destroy();
    return `${first.code} ${second.code}`;
  });
  t.same([...new Set(results)], ['535 421'], 'every address: 535, then 421 at the limit');
  const g = guardsOf(d);
  t.equal(g.ips.cooling.size, 300, 'one cooling-off entry per address');
  t.equal(g.ips.failures.size, 0, 'no failure lists left once an address cools off');
  for (const ip of ips.slice(0, 5)) {
    const again = await RawSmtp.connect(d.port, { localAddress: ip });
    t.match((await again.read())?.text ?? '', /^421 4\.7\.0 /, `${ip} refused at connect while cooling off`);
    again.socket.destroy();
  }
  t.ok(queuedId(await goodTransaction(d.port)), 'a client on another address is served meanwhile');
  await until(() => g.connections.size === 0, 10_000, 'connection counts released');
  t.equal(g.connections.size, 0, 'no per-IP connection count left behind');
});

t.test('the failed-login limiter stays bounded however many addresses guess (IPv6 rotation)', async (t) => {
  let now = 1_000_000;
  const settings = { allowedIps: IpSet.parse([]), maxConnectionsPerIp: 20, authFailureLimit: 3, authFailureWindowMs: 600_000, authCooldownMs: 900_000 };
  const g = new ClientGuards(settings, () => now);
  const state = (g as unknown as GuardState).ips;
  const n = MAX_TRACKED_IPS * 2.5;
  let peak = 0;
  // Each address of a /64 fails up to the limit and moves on: the cheapest way to grow the state.
  for (let i = 0; i < n; i++) {
    const ip = `2001:db8::${(i >>> 16).toString(16)}:${(i & 0xffff).toString(16)}`;
    for (let k = 0; k < settings.authFailureLimit; k++) g.recordAuthFailure(ip);
    if (i % 997 === 0) { now += 1; peak = Math.max(peak, state.failures.size + state.cooling.size); }
  }
  peak = Math.max(peak, state.failures.size + state.cooling.size);
  t.ok(peak <= 2 * MAX_TRACKED_IPS + 1, `cooling-off addresses: peak ${peak} entries for ${n} addresses (bound ${2 * MAX_TRACKED_IPS})`);
  // Addresses that fail once each (never reaching the limit).
  for (let i = 0; i < n; i++) g.recordAuthFailure(`2001:db8:1::${(i >>> 16).toString(16)}:${(i & 0xffff).toString(16)}`);
  t.ok(state.failures.size <= MAX_TRACKED_IPS + 1, `single failures: ${state.failures.size} entries for ${n} addresses`);
  // Once the window and the cooling-off have passed, the next sweep forgets everything old.
  now += settings.authCooldownMs + settings.authFailureWindowMs + 1;
  for (let i = 0; i <= MAX_TRACKED_IPS; i++) g.recordAuthFailure(`2001:db8:2::${(i >>> 16).toString(16)}:${(i & 0xffff).toString(16)}`);
  t.equal(state.cooling.size, 0, 'expired cooling-off entries swept');
  t.ok(state.failures.size <= MAX_TRACKED_IPS + 1, 'only the recent failures remain');
});

t.test('slowloris clients are cut off by the session deadline, whatever they trickle', async (t) => {
  // The idle timeout (60s) never fires: each client sends a byte every 700 ms.
  const d = await startDaemon('[smtp]\nallow_insecure_auth = true\nsession_deadline = "2s"\nidle_timeout = "60s"\n');
  t.teardown(() => d.stop());
  const before = (await storedIds(d.daemon.store)).length;
  const trickle = async (c: RawSmtp, text: string): Promise<{ cut: boolean; ms: number; last: string }> => {
    const started = Date.now();
    const replies: string[] = [];
    c.socket.on('data', () => undefined);
    for (let i = 0; !c.closed && Date.now() - started < 30_000; i++) {
      c.write(text[i % text.length]!);
      await new Promise((r) => setTimeout(r, 700));
    }
    for (let r = await c.read(100).catch(() => undefined); r; r = await c.read(100).catch(() => undefined)) replies.push(r.text);
    return { cut: c.closed, ms: Date.now() - started, last: replies.at(-1) ?? '' };
  };
  const inCommand = session(d.port).then((c) => trickle(c, 'NOOP and never a line end '));
  const inAuth = session(d.port).then(async (c) => { await c.cmd('AUTH LOGIN'); return trickle(c, 'YXBwQGV4YW1wbGUuY29t'); });
  const inData = authedSession(d.port).then(async (c) => {
    await c.cmd(`MAIL FROM:<${SENDER}>`); await c.cmd('RCPT TO:<slow@dest.test>'); await c.cmd('DATA');
    return trickle(c, `From: ${SENDER}\r\nSubject: slow\r\n\r\nslow body\r\n`);
  });
  // A well-behaved client is served while the three trickle.
  t.ok(queuedId(await goodTransaction(d.port)), 'a normal client is served meanwhile');
  for (const [name, p] of [['mid-command', inCommand], ['mid-AUTH', inAuth], ['mid-DATA', inData]] as const) {
    const r = await p;
    t.ok(r.cut, `${name}: connection closed by the server`);
    t.ok(r.ms < 30_000, `${name}: cut after ${r.ms} ms, long before the 60 s idle timeout`);
    t.match(r.last, /^421 4\.4\.2 Session deadline exceeded/, `${name}: told why (${r.last})`);
  }
  t.equal((await storedIds(d.daemon.store)).length, before + 1, 'only the normal client\'s message was stored');
  await until(() => sessionsOf(d).size === 0 && guardsOf(d).connections.size === 0, 10_000, 'session state released');
  t.pass('no session state or connection count left behind');
});

t.test('a flood of 10,000 idle connections: refused past the caps, a well-behaved client still served', async (t) => {
  const PER_IP = 10, MAX = 1000, IPS = 40, TOTAL = 10_000;
  const setup = await prepareChild({
    smtp: `max_connections = ${MAX}\nmax_connections_per_ip = ${PER_IP}\nidle_timeout = "10m"\nsession_deadline = "10m"\n`,
  });
  const child = await startChild(setup, { fdLimit: 20_000 });
  t.teardown(async () => { for (const s of held) s.destroy(); child.proc.kill('SIGKILL'); await child.exited; });
  const rssBefore = rssKiB(child.proc.pid!);
  const held: Socket[] = [];
  const open = (localAddress: string): Promise<string> => new Promise((resolve) => {
    const s = connect({ port: child.port, host: '127.0.0.1', localAddress });
    let first = '';
    s.setEncoding('latin1');
    s.on('data', (x: string) => {
      if (first) return;
      first = x.split('\r\n')[0]!;
      if (first.startsWith('220')) held.push(s);
      resolve(first);
    });
    s.on('error', () => resolve(first || 'error'));
    s.on('close', () => resolve(first || 'closed'));
  });
  // 250 connections from each of 40 addresses, none of which ever says a word, 400 in
  // flight at a time (more would only overflow the kernel's accept queue, and those
  // connections never reach the daemon at all). Every held one stays open to the end.
  const addrs = Array.from({ length: TOTAL }, (_, i) => `127.20.0.${(i % IPS) + 1}`);
  let answered = 0;
  const flood = pool(addrs, 400, async (a) => { const r = await open(a); answered++; return r; });
  await until(() => answered >= TOTAL / 4, 120_000, 'a quarter of the flood answered');
  t.ok(queuedId(await goodTransaction(child.port)), `a well-behaved client is served in the middle of the flood (${answered} answered so far)`);
  const firsts = await flood;
  const count = (re: RegExp): number => firsts.filter((x) => re.test(x)).length;
  const perIp = count(/^421 4\.7\.0 Too many connections from your address/);
  const global = count(/^421 .*Too many connected clients/);
  t.comment(`${TOTAL} idle connections: ${held.length} held, ${perIp} refused by the per-IP cap, ${global} by the global cap`);
  t.equal(held.length, IPS * PER_IP, `held: ${IPS} addresses × ${PER_IP}, no more`);
  t.equal(perIp, TOTAL - IPS * PER_IP, 'all the others refused with 421 4.7.0 by the per-IP cap');
  // The flood is still connected; another client gets its mail through.
  t.ok(queuedId(await goodTransaction(child.port)), 'a well-behaved client is served while the idle connections are held');
  const rssAfter = rssKiB(child.proc.pid!);
  t.ok(rssAfter - rssBefore < 300 * 1024, `daemon RSS ${Math.round(rssBefore / 1024)} → ${Math.round(rssAfter / 1024)} MiB`);

  // Fill the global cap exactly (80 more addresses × 10, opened a few at a time).
  const more = Array.from({ length: MAX - held.length }, (_, i) => `127.21.${Math.floor(i / PER_IP / 250)}.${(Math.floor(i / PER_IP) % 250) + 1}`);
  const filled = await pool(more, 50, open);
  t.equal(filled.filter((x) => x.startsWith('220')).length, more.length, `${more.length} more connections held: ${held.length} in all`);
  const extra = await open('127.22.0.1');
  t.match(extra, /^421 .*Too many connected clients/, 'past max_connections a new client gets 421');
  for (const s of held.splice(0)) s.destroy();
  await until(async () => (await open('127.23.0.1')).startsWith('220'), 20_000, 'a slot is free again');
  t.ok(queuedId(await goodTransaction(child.port)), 'once the idle connections are gone, service is back');
  t.equal(child.proc.exitCode, null, 'the daemon is still running');
});
