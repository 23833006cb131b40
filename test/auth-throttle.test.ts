// The failed-login throttle counts per client IP and per target account (security review
// 14.2): a success forgives only failures against that same account, so an attacker who
// logs in to its own account between guesses is still throttled, and guesses spread over
// several IPs still lock the account.
import t from 'tap';
import { RawSmtp } from './helpers/smtp-client.js';
import { startDaemon, PASSWORD, type TestDaemon } from './helpers/daemon.js';

const VICTIM = 'victim@example.com';
const ATTACKER = 'mallory@example.com';
let d: TestDaemon;
t.before(async () => {
  d = await startDaemon('[smtp]\nallow_insecure_auth = true\nauth_failure_limit = 5\nauth_failure_window = "10m"\nauth_cooldown = "1h"\nmax_connections_per_ip = 50\n');
  await d.addSender(VICTIM);
  await d.addSender(ATTACKER);
});
t.teardown(() => d.stop());

async function session(ip = '127.0.0.1'): Promise<RawSmtp> {
  const c = await RawSmtp.connect(d.port, { localAddress: ip });
  const g = await c.greet();
  if (g.code !== 220) return c; // refused at connect: the caller looks at c.closed
  await c.ehlo();
  return c;
}

const guards = (): { ips: { cooling: Map<string, number>; failures: Map<string, unknown> }; accounts: { cooling: Map<string, number>; failures: Map<string, unknown> } } =>
  (d.daemon.submission as unknown as { guards: never }).guards;
const reset = (): void => { const g = guards(); for (const w of [g.ips, g.accounts]) { w.cooling.clear(); w.failures.clear(); } };

t.test('interleaving successful logins to another account does not reset the per-IP count', async (t) => {
  t.teardown(reset);
  const codes: number[] = [];
  let throttled: string | undefined;
  for (let round = 0; round < 4 && !throttled; round++) {
    const c = await session();
    if (c.closed) { throttled = 'refused at connect'; break; }
    for (let i = 0; i < 4; i++) {
      const r = await c.authPlain(VICTIM, `guess ${round}-${i}`);
      codes.push(r.code);
      if (r.code === 421) { throttled = r.text; break; }
    }
    if (!throttled) t.equal((await c.authPlain(ATTACKER, PASSWORD)).code, 235, `round ${round}: attacker's own login`);
    c.socket.destroy();
  }
  t.ok(throttled, `throttled after ${codes.length} guesses (codes ${codes.join(',')})`);
  t.same(codes, [535, 535, 535, 535, 421], 'the fifth failure from the IP is answered 421');
  t.match(throttled ?? '', /^421 4\.7\.0 /);
  const again = await RawSmtp.connect(d.port);
  t.match((await again.read())?.text ?? '', /^421 4\.7\.0 /, 'the IP cools off: refused at connect');
  again.socket.destroy();
});

t.test('guesses against one account from several IPs lock that account, not others', async (t) => {
  t.teardown(reset);
  const ips = ['127.0.0.2', '127.0.0.3', '127.0.0.4', '127.0.0.5', '127.0.0.6'];
  for (const ip of ips) {
    const c = await session(ip);
    const r = await c.authPlain(VICTIM, `guess from ${ip}`);
    if (ip === ips.at(-1)) t.match(r.text, /^421 4\.7\.0 Too many failed logins for this account/, `${ip}: the fifth guess reaches the account's limit`);
    else t.equal(r.code, 535, `${ip}: one guess`);
    c.socket.destroy();
  }
  const c = await session('127.0.0.7');
  const r = await c.authPlain(VICTIM, PASSWORD);
  t.match(r.text, /^421 4\.7\.0 Too many failed logins for this account/, 'even the right password is not tried while the account cools off');
  c.socket.destroy();
  const other = await session('127.0.0.7');
  t.equal((await other.authPlain(ATTACKER, PASSWORD)).code, 235, 'another account from a fresh IP logs in');
  await other.quit();
});

t.test('a success forgives the failures against that same account', async (t) => {
  t.teardown(reset);
  for (let round = 0; round < 3; round++) {
    const c = await session('127.0.0.8');
    t.equal((await c.authPlain(VICTIM, 'typo one')).code, 535);
    t.equal((await c.authPlain(VICTIM, 'typo two')).code, 535);
    t.equal((await c.authPlain(VICTIM, PASSWORD)).code, 235, `round ${round}: the owner logs in after two typos`);
    await c.quit();
  }
  t.equal(guards().ips.failures.size, 0, 'nothing left counted against the IP');
  t.equal(guards().accounts.failures.size, 0, 'nothing left counted against the account');
});
