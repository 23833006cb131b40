// Logins and scrypt (issue 23): a burst of SMTP logins held every DKIM signature for half a
// second, because each scrypt (128 MiB, 100+ ms) took one of libuv's four pool threads,
// the ones crypto.sign runs on. Now one scrypt runs at a time process-wide, and a login
// already verified is not verified again for an hour: a right password costs one scrypt,
// a wrong one costs one every time, and a changed password never matches an old entry.
import t from 'tap';
import { RawSmtp } from './helpers/smtp-client.js';
import { startDaemon, PASSWORD, type TestDaemon } from './helpers/daemon.js';
import { Gate } from '../src/util/gate.js';
import { LoginCache } from '../src/accounts/login-cache.js';
import { SCRYPT_GATE, Senders, hashPassword, verifyPassword } from '../src/accounts/senders.js';
import { registry } from '../src/metrics/metrics.js';

const pending = async (): Promise<number> => (await registry.getSingleMetric('mta_password_checks_pending')!.get()).values[0]!.value;

function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => { resolve = r; });
  return { promise, resolve };
}

t.test('a gate runs N at once, in arrival order, and a late arrival never jumps the queue', async (t) => {
  const g = new Gate(1);
  const order: string[] = [];
  const a = deferred(), b = deferred(), c = deferred();
  const pa = g.run(async () => { order.push('a'); await a.promise; });
  const pb = g.run(async () => { order.push('b'); await b.promise; });
  t.equal(g.running, 1); t.equal(g.queued, 1);
  a.resolve();
  // Arrives while a's slot is being handed to b.
  const pc = g.run(async () => { order.push('c'); await c.promise; });
  await pa;
  t.equal(g.running, 1, 'b holds the slot, c waits');
  b.resolve(); await pb; c.resolve(); await pc;
  t.same(order, ['a', 'b', 'c']);
  t.equal(g.peak, 1, 'never two at once');
  t.equal(g.started, 3);
  await t.rejects(g.run(async () => { throw new Error('boom'); }), /boom/);
  t.equal(g.running, 0, 'a failure frees its slot');
  t.throws(() => new Gate(0), RangeError);
});

t.test('scrypt runs one at a time across the process', async (t) => {
  const hash = await hashPassword('a long enough password');
  const before = SCRYPT_GATE.started;
  SCRYPT_GATE.peak = 0;
  const asked = Array.from({ length: 6 }, (_, i) => verifyPassword(i % 2 ? 'a long enough password' : 'wrong password', hash));
  t.equal(await pending(), 6, 'the gauge: six checks pending (one running, five waiting)');
  const results = await Promise.all(asked);
  t.equal(await pending(), 0, 'and none once they are done');
  t.same(results, [false, true, false, true, false, true]);
  t.equal(SCRYPT_GATE.started - before, 6, 'each verification is one scrypt');
  t.equal(SCRYPT_GATE.peak, 1, 'six asked at once, one ran at a time');
});

t.test('the login cache: positive entries only, per stored hash, with a lifetime and a bound', async (t) => {
  let now = 1_000_000;
  const cache = new LoginCache(60_000, 2, () => now);
  let checks = 0;
  const check = (ok: boolean) => async (): Promise<boolean> => { checks++; return ok; };
  t.equal(await cache.verify('u', 'hash1', 'pw', check(true)), true);
  t.equal(await cache.verify('u', 'hash1', 'pw', check(true)), true);
  t.equal(checks, 1, 'verified once');
  t.equal(await cache.verify('u', 'hash1', 'other', check(false)), false);
  t.equal(await cache.verify('u', 'hash1', 'other', check(false)), false);
  t.equal(checks, 3, 'a wrong password is checked every time');
  t.equal(await cache.verify('u', 'hash2', 'pw', check(false)), false, 'a new stored hash (the password changed) is checked again');
  t.equal(checks, 4);
  now += 60_001;
  t.equal(await cache.verify('u', 'hash1', 'pw', check(true)), true);
  t.equal(checks, 5, 'an entry past its lifetime is checked again');
  await cache.verify('v', 'h', 'pw', check(true));
  await cache.verify('w', 'h', 'pw', check(true));
  t.equal(cache.size, 2, 'the oldest entry went');
  checks = 0;
  await cache.verify('u', 'hash1', 'pw', check(true));
  t.equal(checks, 1, 'u was the least recently used');
  // Several at once share one check.
  checks = 0;
  const gate = deferred();
  const slow = async (): Promise<boolean> => { checks++; await gate.promise; return true; };
  const all = Promise.all([1, 2, 3, 4].map(() => cache.verify('x', 'h', 'pw', slow)));
  gate.resolve();
  t.same(await all, [true, true, true, true]);
  t.equal(checks, 1, 'four logins at once, one check');
});

let d: TestDaemon;
t.test('over SMTP: a reconnecting application costs one scrypt; a changed password ends the old entry', async (t) => {
  d = await startDaemon();
  t.teardown(() => d.stop());
  const login = async (user: string, pass: string): Promise<number> => {
    const c = await RawSmtp.connect(d.port);
    await c.greet(); await c.ehlo();
    const code = (await c.authPlain(user, pass)).code;
    await c.quit();
    return code;
  };
  const scrypts = async (f: () => Promise<unknown>): Promise<number> => { const before = SCRYPT_GATE.started; await f(); return SCRYPT_GATE.started - before; };

  t.equal(await scrypts(async () => t.equal(await login('app@example.com', PASSWORD), 235)), 1, 'first login: one scrypt');
  t.equal(await scrypts(async () => t.equal(await login('app@example.com', PASSWORD), 235)), 0, 'again: none');
  t.equal(await scrypts(async () => t.same(await Promise.all([1, 2, 3, 4, 5].map(() => login('app@example.com', PASSWORD))), [235, 235, 235, 235, 235])), 0, 'five sessions at once: none');
  t.equal(await scrypts(async () => t.equal(await login('app@example.com', 'not the password'), 535)), 1, 'a wrong password: one scrypt');
  t.equal(await scrypts(async () => t.equal(await login('app@example.com', 'not the password'), 535)), 1, 'and one again: failures are never cached');

  await new Senders(d.daemon.store).setPassword('app@example.com', 'a brand new password');
  t.equal(await login('app@example.com', PASSWORD), 535, 'the old password no longer logs in');
  t.equal(await login('app@example.com', 'a brand new password'), 235, 'the new one does');
});
