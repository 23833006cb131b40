// Console users and sessions on the real daemon: `mta user` (a real CLI process), sign-in
// with the session cookie, CSRF on every change from a session, roles enforced by the
// server on every route of the route table (so routes added later are covered), idle and
// absolute session expiry, sign-out, and the sign-in rate limit.
import t from 'tap';
import { startDaemon, type TestDaemon } from './helpers/daemon.js';
import { apiClient } from './helpers/api.js';
import { runMta } from './helpers/run.js';
import { sessionHash } from '../src/admin/session.js';
import { requiredRole } from '../src/admin/roles.js';

let d: TestDaemon;
let base: string;
const ATTEMPTS = 20;
t.before(async () => {
  // Every sign-in of this file comes from 127.0.0.1: room for them all before the throttle test.
  d = await startDaemon(`[admin]\nlisten = "127.0.0.1:0"\nsign_in_attempts = ${ATTEMPTS}\n`);
  base = `http://127.0.0.1:${d.daemon.admin!.port}`;
  apiClient(d); // every response checked against its schema
});
t.teardown(async () => { await d.stop(); });

const mta = (args: string[], stdin?: string): ReturnType<typeof runMta> => runMta([...args, '--config', d.configPath], stdin);

/** A browser's cookie jar for one user, and the CSRF token the session was given. */
class Browser {
  jar = new Map<string, string>();
  csrf = '';
  setCookies: string[] = [];

  async call(method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<{ status: number; json: any }> {
    const h: Record<string, string> = { ...headers };
    if (this.jar.size) h['cookie'] = [...this.jar].map(([k, v]) => `${k}=${v}`).join('; ');
    if (body !== undefined) h['content-type'] = 'application/json';
    const res = await fetch(base + path, { method, headers: h, ...(body !== undefined ? { body: JSON.stringify(body) } : {}) });
    this.setCookies = res.headers.getSetCookie();
    for (const c of this.setCookies) {
      const [pair] = c.split(';');
      const i = pair!.indexOf('=');
      const [k, v] = [pair!.slice(0, i), pair!.slice(i + 1)];
      if (v === '' || /expires=Thu, 01 Jan 1970/i.test(c)) this.jar.delete(k); else this.jar.set(k, v);
    }
    const text = await res.text();
    let json: unknown;
    try { json = JSON.parse(text); } catch { json = undefined; }
    return { status: res.status, json };
  }

  /** A change, with the session's CSRF token. */
  change(method: string, path: string, body?: unknown): Promise<{ status: number; json: any }> {
    return this.call(method, path, body, { 'x-csrf-token': this.csrf });
  }

  async signIn(name: string, password: string): Promise<{ status: number; json: any }> {
    const r = await this.call('POST', '/api/v1/session', { name, password });
    if (r.status === 200) this.csrf = r.json.csrf_token;
    return r;
  }
}

const PASSWORDS = { alice: 'alice has a long password', oscar: 'oscar operates the queue', vera: 'vera only looks around' };

t.test('mta user add/list/passwd/remove: roles, passwords from stdin, precise errors', async (t) => {
  for (const [name, role] of [['alice', 'admin'], ['oscar', 'operator'], ['vera', 'viewer']] as const) {
    const r = await mta(['user', 'add', name, '--role', role, '--password-stdin'], `${PASSWORDS[name]}\n`);
    t.equal(r.code, 0, `user add ${name}: ${r.err}`);
    t.match(r.out, `added ${name} (${role})`);
  }
  const list = await mta(['user', 'list', '--json']);
  t.equal(list.code, 0, list.err);
  const users = JSON.parse(list.out) as { name: string; role: string; created: string }[];
  t.same(users.map((u) => [u.name, u.role]), [['alice', 'admin'], ['oscar', 'operator'], ['vera', 'viewer']]);
  t.match(users[0]!.created, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/, 'times are ISO 8601');
  t.notMatch(list.out, /scrypt|password_hash/, 'no hash is shown');

  const dup = await mta(['user', 'add', 'alice', '--role', 'viewer', '--password-stdin'], 'another long password');
  t.not(dup.code, 0);
  t.match(dup.err, /MTA_ERR_EXISTS|exists already/);
  const short = await mta(['user', 'add', 'sam', '--role', 'viewer', '--password-stdin'], 'short');
  t.not(short.code, 0);
  t.match(short.err, /at least 8 characters/);
  const badRole = await mta(['user', 'add', 'sam', '--role', 'root', '--password-stdin'], 'a long enough password');
  t.not(badRole.code, 0);
  t.match(badRole.err, /root/);
  const badName = await mta(['user', 'add', 'no spaces', '--role', 'viewer', '--password-stdin'], 'a long enough password');
  t.not(badName.code, 0);
  t.match(badName.err, /not a valid user name/);
  t.same((await d.daemon.store.listUsers()).map((u) => u.name), ['alice', 'oscar', 'vera'], 'the refused commands added nobody');

  const tmp = await mta(['user', 'add', 'tmp', '--role', 'viewer', '--password-stdin'], 'temporary password');
  t.equal(tmp.code, 0, tmp.err);
  const b = new Browser();
  t.equal((await b.signIn('tmp', 'temporary password')).status, 200);
  const pw = await mta(['user', 'passwd', 'tmp', '--password-stdin'], 'a brand new password');
  t.equal(pw.code, 0, pw.err);
  t.equal((await b.call('GET', '/api/v1/status')).status, 401, 'a new password ends the user\'s sessions');
  t.equal((await new Browser().signIn('tmp', 'temporary password')).status, 401, 'the old password no longer works');
  t.equal((await b.signIn('tmp', 'a brand new password')).status, 200, 'the new one does');
  const rm = await mta(['user', 'remove', 'tmp']);
  t.equal(rm.code, 0, rm.err);
  t.equal((await b.call('GET', '/api/v1/status')).status, 401, 'removing the user ends their sessions');
  const gone = await mta(['user', 'remove', 'tmp']);
  t.not(gone.code, 0);
  t.match(gone.err, /no user tmp/);
});

t.test('sign in and out: the cookie, who am I, wrong passwords, sign-out ends the session on the server', async (t) => {
  const b = new Browser();
  t.equal((await b.call('GET', '/api/v1/status')).status, 401, 'nothing without a session or the token');
  const wrong = await b.signIn('alice', 'not her password');
  t.equal(wrong.status, 401);
  t.match(wrong.json, { error: { code: 'MTA_ERR_AUTH', message: 'wrong user name or password' } });
  const nobody = await b.signIn('nobody', 'not her password');
  t.same(nobody, wrong, 'an unknown name gets the same answer');
  t.equal(b.jar.size, 0, 'no cookie for a failed sign-in');

  const ok = await b.signIn('Alice', PASSWORDS.alice);
  t.equal(ok.status, 200);
  t.match(ok.json, { kind: 'session', user: 'alice', role: 'admin', csrf_token: /\S{20,}/, expires_at: /Z$/ });
  const cookie = b.setCookies.find((c) => c.startsWith('mta_session='))!;
  t.ok(cookie, 'a session cookie');
  t.match(cookie, /HttpOnly/i);
  t.match(cookie, /SameSite=Strict/i);
  t.match(cookie, /Path=\//);
  t.notMatch(cookie, /Secure/i, 'not Secure over plain HTTP');
  const value = b.jar.get('mta_session')!;
  t.ok(await d.daemon.store.getSession(sessionHash(value)), 'the session is stored');
  t.notOk(await d.daemon.store.getSession(value), 'by its hash only');

  t.equal((await b.call('GET', '/api/v1/status')).status, 200, 'the API with the session');
  t.match((await b.call('GET', '/api/v1/session')).json, { kind: 'session', user: 'alice', role: 'admin' });

  const out = await b.change('DELETE', '/api/v1/session');
  t.equal(out.status, 200);
  t.same(out.json, { signed_out: true });
  t.notOk(b.jar.has('mta_session'), 'the cookie is cleared');
  t.notOk(await d.daemon.store.getSession(sessionHash(value)), 'and the session is gone from the server');
  b.jar.set('mta_session', value);
  const replay = await b.call('GET', '/api/v1/status');
  t.equal(replay.status, 401, 'the old cookie, sent again, is refused');
  t.match(replay.json, { error: { code: 'MTA_ERR_AUTH', message: /sign in again/ } });
});

t.test('CSRF: a change from a session without its token is refused and changes nothing', async (t) => {
  const b = new Browser();
  await b.signIn('oscar', PASSWORDS.oscar);
  const body = { address: 'csrf@dest.test' };
  for (const [what, headers] of [['no token', {}], ['a wrong token', { 'x-csrf-token': 'forged' }]] as const) {
    const r = await b.call('POST', '/api/v1/suppressions', body, headers);
    t.equal(r.status, 403, `${what} → 403`);
    t.match(r.json, { error: { code: 'MTA_ERR_FORBIDDEN', message: /CSRF token/ } });
  }
  const other = new Browser();
  await other.signIn('alice', PASSWORDS.alice);
  const stolen = await b.call('POST', '/api/v1/suppressions', body, { 'x-csrf-token': other.csrf });
  t.equal(stolen.status, 403, 'another session\'s token does not fit this session');
  t.equal(await d.daemon.store.isSuppressed('csrf@dest.test', 'example.com'), undefined, 'nothing was suppressed');
  const good = await b.change('POST', '/api/v1/suppressions', body);
  t.equal(good.status, 200, 'with its token the operator may');
  t.ok(await d.daemon.store.isSuppressed('csrf@dest.test', 'example.com'), 'suppressed');
  const tokenCall = await apiClient(d)('DELETE', '/api/v1/suppressions/csrf@dest.test');
  t.equal(tokenCall.status, 200, 'the bearer token needs no CSRF token (scripts)');
});

/** Every route of the table as a concrete request. */
function concreteRoutes(): { method: string; path: string; template: string; need: string }[] {
  return d.daemon.admin!.router.routes.map((r) => ({
    method: r.method, template: r.path, path: r.path.replace(/:[A-Za-z_]+/g, 'x'), need: requiredRole(r, r.method),
  }));
}

t.test('roles: a viewer changes nothing on any route; an operator cannot manage users or configuration', async (t) => {
  const viewer = new Browser();
  await viewer.signIn('vera', PASSWORDS.vera);
  const operator = new Browser();
  await operator.signIn('oscar', PASSWORDS.oscar);
  const before = JSON.stringify([await d.daemon.store.listUsers(), await d.daemon.store.listSenders(), await d.daemon.store.listDomains()]);
  let n = 0;
  for (const r of concreteRoutes()) {
    if (r.method === 'GET') continue;
    if (r.template === '/api/v1/session') continue; // signing in and out is for everyone
    const v = await viewer.change(r.method, r.path, {});
    t.equal(v.status, 403, `viewer: ${r.method} ${r.template} → 403`);
    t.equal(v.json?.error?.code, 'MTA_ERR_FORBIDDEN');
    n++;
    if (r.need === 'admin') {
      const o = await operator.change(r.method, r.path, {});
      t.equal(o.status, 403, `operator: ${r.method} ${r.template} → 403`);
    }
  }
  t.ok(n >= 40, `${n} mutating routes refused to the viewer`);
  // Crafted: the same routes with a method override header, HEAD, a trailing slash.
  t.equal((await viewer.change('POST', '/api/v1/suppressions/', { address: 'v@dest.test' }, )).status, 403, 'a trailing slash changes nothing');
  t.equal((await viewer.call('POST', '/api/v1/suppressions', { address: 'v@dest.test' }, { 'x-csrf-token': viewer.csrf, 'x-http-method-override': 'GET' })).status, 403, 'a method override header changes nothing');
  for (const p of ['/api/v1/users']) t.equal((await operator.call('GET', p)).status, 403, `operator: GET ${p} → 403 (users are the admin's)`);
  t.equal((await viewer.call('GET', '/api/v1/status')).status, 200, 'a viewer reads');
  t.equal((await viewer.call('GET', '/api/v1/queue/summary')).status, 200, 'a viewer reads the queue');
  t.equal((await operator.change('POST', '/api/v1/users', { name: 'eve', role: 'admin', password: 'eve wants to be admin' })).status, 403, 'an operator cannot make an admin');
  t.equal((await operator.change('POST', '/api/v1/domains', { name: 'op.example' })).status, 403, 'nor add a domain');
  const after = JSON.stringify([await d.daemon.store.listUsers(), await d.daemon.store.listSenders(), await d.daemon.store.listDomains()]);
  t.equal(after, before, 'users, senders and domains unchanged');
  t.equal((await viewer.change('DELETE', '/api/v1/session')).status, 200, 'a viewer may sign out');

  const admin = new Browser();
  await admin.signIn('alice', PASSWORDS.alice);
  const add = await admin.change('POST', '/api/v1/users', { name: 'walt', role: 'viewer', password: 'walt reads everything' });
  t.equal(add.status, 200, 'an admin adds users through the API');
  t.match((await admin.call('GET', '/api/v1/users')).json, { items: [{ name: 'alice' }, { name: 'oscar' }, { name: 'vera' }, { name: 'walt', role: 'viewer' }] });
  t.equal((await admin.change('DELETE', '/api/v1/users/walt')).status, 200);
});

t.test('expiry: idle and absolute limits end a session on the server', async (t) => {
  const cfg = d.daemon.config.admin;
  const b = new Browser();
  await b.signIn('vera', PASSWORDS.vera);
  const hash = sessionHash(b.jar.get('mta_session')!);
  t.equal((await b.call('GET', '/api/v1/status')).status, 200);
  // Last seen just over the idle timeout ago.
  await d.daemon.store.touchSession(hash, Date.now() - cfg.sessionIdleMs - 1000);
  const idle = await b.call('GET', '/api/v1/status');
  t.equal(idle.status, 401, 'idle too long → 401');
  t.match(idle.json, { error: { code: 'MTA_ERR_AUTH' } });
  t.notOk(await d.daemon.store.getSession(hash), 'and the session is removed');

  // Used a moment ago, but signed in longer ago than the lifetime.
  const now = Date.now();
  await d.daemon.store.addSession({ idHash: sessionHash('old-but-busy'), user: 'vera', createdAt: now - cfg.sessionLifetimeMs - 1000, lastSeenAt: now });
  await d.daemon.store.addSession({ idHash: sessionHash('fresh'), user: 'vera', createdAt: now - 1000, lastSeenAt: now });
  const old = new Browser();
  old.jar.set('mta_session', 'old-but-busy');
  t.equal((await old.call('GET', '/api/v1/status')).status, 401, 'past the lifetime → 401, however recently used');
  const fresh = new Browser();
  fresh.jar.set('mta_session', 'fresh');
  t.equal((await fresh.call('GET', '/api/v1/status')).status, 200, 'a session within both limits works');
  const sessions = d.daemon.admin!.sessions;
  t.equal(await sessions.purge(), 0, 'housekeeping now keeps the live sessions');
  t.ok(await sessions.purge(Date.now() + cfg.sessionLifetimeMs + 1) > 0, 'and removes them once past the limits');
  t.equal((await fresh.call('GET', '/api/v1/status')).status, 401, 'so the cookie no longer works');
});

t.test('sign-in is rate-limited per address: wrong passwords are throttled', async (t) => {
  const b = new Browser();
  // The earlier tests used some of this minute's attempts: guess until throttled, at most the limit.
  const statuses: number[] = [];
  let next = await b.signIn('alice', 'guess number 0');
  while (next.status === 401 && statuses.length <= ATTEMPTS) {
    statuses.push(next.status);
    next = await b.signIn('alice', `guess number ${statuses.length}`);
  }
  t.ok(statuses.length > 0 && statuses.length < ATTEMPTS, `${statuses.length} wrong passwords answered 401 first`);
  t.equal(next.status, 429, 'then the attempts are throttled');
  t.match(next.json, { error: { code: 'MTA_ERR_THROTTLED', message: /too many sign-in attempts/ } });
  const right = await b.signIn('alice', PASSWORDS.alice);
  t.equal(right.status, 429, 'even the right password waits');
  t.equal(b.jar.has('mta_session'), false, 'no session was made');
  t.equal((await apiClient(d)('GET', '/api/v1/status')).status, 200, 'the token still works for scripts');
});
