// Password hashing (security review 14.13): new hashes use OWASP's scrypt parameters
// (N=2^17, r=8, p=1) unless a test lowers N explicitly; older hashes still verify with the
// parameters they record and are upgraded at the next successful login, never by a wrong
// password and never over a password changed meanwhile; an unknown user is verified
// against a dummy hash made with the current parameters.
import t from 'tap';
import { randomBytes, scryptSync } from 'node:crypto';
import { RawSmtp } from './helpers/smtp-client.js';
import { startDaemon, PASSWORD, type TestDaemon } from './helpers/daemon.js';
import { DEFAULT_COST, Senders, TEST_COST_ENV, hashPassword, needsRehash, passwordCost, verifyPassword } from '../src/accounts/senders.js';

const params = (hash: string | null | undefined): string => (hash ?? '').split('$').slice(1, 4).join('$');

/** A hash as an older version stored it (scrypt at N), written straight into the spool. */
function legacyHash(password: string, N: number): string {
  const salt = randomBytes(16);
  return `scrypt$${N}$8$1$${salt.toString('base64')}$${scryptSync(password, salt, 32, { N, r: 8, p: 1, maxmem: 256 * N * 8 }).toString('base64')}`;
}

let d: TestDaemon;
t.before(async () => { d = await startDaemon(); });
t.teardown(() => d.stop());

t.test('the default cost is N=2^17, r=8, p=1; a lower one only when set explicitly', async (t) => {
  t.same(passwordCost({}), { N: 131072, r: 8, p: 1 }, 'nothing set: OWASP parameters');
  t.same(DEFAULT_COST, { N: 2 ** 17, r: 8, p: 1 });
  t.same(passwordCost({ [TEST_COST_ENV]: '1024' }), { N: 1024, r: 8, p: 1 });
  for (const bad of ['1000', '512', '262144', 'cheap']) {
    t.throws(() => passwordCost({ [TEST_COST_ENV]: bad }), { code: 'MTA_ERR_CONFIG' }, `${bad} refused`);
  }
  // One real hash at the default cost: Node's default maxmem (32 MiB) would refuse it.
  const h = await hashPassword('a long enough password', passwordCost({}));
  t.equal(params(h), '131072$8$1', 'parameters recorded with the hash');
  t.ok(await verifyPassword('a long enough password', h), 'verifies');
  t.notOk(needsRehash(h, passwordCost({})));
});

t.test('a right password on an older hash is upgraded at login; a wrong one changes nothing', async (t) => {
  const prev = process.env[TEST_COST_ENV];
  process.env[TEST_COST_ENV] = '4096';
  t.teardown(() => { process.env[TEST_COST_ENV] = prev; });
  const store = d.daemon.store;
  const old = legacyHash(PASSWORD, 1024);
  await store.setSenderPassword('app@example.com', old);
  t.ok(needsRehash(old), 'older than the current cost');
  t.notOk(needsRehash(legacyHash(PASSWORD, 8192)), 'a stronger hash is never downgraded');

  const c = await RawSmtp.connect(d.port);
  await c.greet(); await c.ehlo();
  t.equal((await c.authPlain('app@example.com', 'not the password')).code, 535);
  t.equal((await store.getSender('app@example.com'))!.passwordHash, old, 'a failed login leaves the hash alone');
  t.equal((await c.authPlain('app@example.com', PASSWORD)).code, 235, 'the old hash still verifies');
  await c.quit();
  const now = (await store.getSender('app@example.com'))!.passwordHash!;
  t.equal(params(now), '4096$8$1', 'stored again with the current parameters');
  t.ok(await verifyPassword(PASSWORD, now), 'and it is the same password');
});

t.test('a rehash never overwrites a password changed meanwhile', async (t) => {
  const store = d.daemon.store;
  const old = legacyHash(PASSWORD, 1024);
  await store.setSenderPassword('app@example.com', old);
  const changed = await hashPassword('a brand new password');
  await store.setSenderPassword('app@example.com', changed);
  t.notOk(await store.setSenderPassword('app@example.com', await hashPassword(PASSWORD), old), 'conditional update refused');
  t.equal((await store.getSender('app@example.com'))!.passwordHash, changed, 'the new password stays');
  await store.setSenderPassword('app@example.com', await hashPassword(PASSWORD));
});

t.test('an unknown user is verified against a dummy hash with the current parameters', async (t) => {
  const prev = process.env[TEST_COST_ENV];
  t.teardown(() => { process.env[TEST_COST_ENV] = prev; });
  const senders = new Senders(d.daemon.store);
  const dummy = (): Promise<string> | undefined => (senders as unknown as { dummyHash?: { hash: Promise<string> } }).dummyHash?.hash;
  t.equal(await senders.verifyLogin('nobody@example.com', 'whatever it is'), undefined);
  t.equal(params(await dummy()), `${passwordCost().N}$8$1`);
  process.env[TEST_COST_ENV] = '2048';
  t.equal(await senders.verifyLogin('nobody@example.com', 'whatever it is'), undefined);
  t.equal(params(await dummy()), '2048$8$1', 'follows the cost new hashes get');
});
