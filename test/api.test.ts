// The admin REST API over a real loopback listener: auth on every route (401 without a
// token, 403 with a wrong one, admin.allowed_ips; the generated token: admin-token.test.ts),
// every endpoint's happy path and a malformed body each, cursor pagination, the error
// shape, /healthz, and the OpenAPI document checked against the routes it describes.
// Every response is also checked by the server against its declared schema.
import t from 'tap';
import Database from 'better-sqlite3';
import { join } from 'node:path';
import { startDaemon, PASSWORD, type TestDaemon } from './helpers/daemon.js';
import { startDnsServer, type TestDnsServer } from './helpers/dns-server.js';
import { RawSmtp, message } from './helpers/smtp-client.js';
import { apiClient, checkJsonSchema } from './helpers/api.js';
import type { Route } from '../src/admin/router.js';

const TOKEN = 'api-test-token-0123456789';
const UNKNOWN = '01M8337DMG00AB2ATA';
const SAMPLE: Record<string, string> = { id: UNKNOWN, name: 'example.com', address: 'app@example.com' };

const routesOf = (d: TestDaemon): readonly Route[] => d.daemon.admin!.router.routes;
const concrete = (r: Route): string => r.path.replace(/:([a-z]+)/g, (_m, p: string) => encodeURIComponent(SAMPLE[p]!));

async function smtpSend(d: TestDaemon, rcpts: string[], user = 'app@example.com', pass = PASSWORD): Promise<{ code: number; text: string }> {
  const c = await RawSmtp.connect(d.port);
  await c.greet(); await c.ehlo();
  const a = await c.authPlain(user, pass);
  if (a.code !== 235) { await c.quit(); return a; }
  const m = await c.cmd(`MAIL FROM:<${user}>`);
  if (m.code !== 250) { await c.quit(); return m; }
  for (const r of rcpts) await c.cmd(`RCPT TO:<${r}>`);
  const r = await c.data(message(user, rcpts[0]!) + '.\r\n');
  await c.quit();
  return r;
}

t.test('auth: every route but /healthz needs the token; 401 without, 403 wrong', async (t) => {
  const d = await startDaemon(`[admin]\nlisten = "127.0.0.1:0"\ntoken = "${TOKEN}"\n`);
  t.teardown(() => d.stop());
  const anon = apiClient(d, '');
  const wrong = apiClient(d, 'not-the-token');
  const routes = routesOf(d);
  t.ok(routes.length >= 30, `${routes.length} routes`);
  for (const r of routes) {
    const path = concrete(r);
    const body = r.method === 'GET' || r.method === 'DELETE' ? undefined : {};
    const a = await anon(r.method, path, body);
    const w = await wrong(r.method, path, body);
    if (r.access === 'public') {
      t.equal(a.status, 200, `${r.method} ${r.path} is public`);
      continue;
    }
    if (r.access === 'login') {
      t.not(a.status, 401, `${r.method} ${r.path} is the console sign-in: no token asked`);
      continue;
    }
    t.equal(a.status, 401, `${r.method} ${r.path} without a token → 401`);
    t.equal(a.headers.get('www-authenticate'), 'Bearer realm="mta"');
    t.match(a.json, { error: { code: 'MTA_ERR_AUTH', message: /missing admin token/ } });
    t.equal(w.status, 403, `${r.method} ${r.path} with a wrong token → 403`);
    t.match(w.json, { error: { code: 'MTA_ERR_FORBIDDEN', message: 'wrong admin token' } });
  }
  t.equal((await anon('GET', '/api/v1/no-such-thing')).status, 401, 'unknown paths are not revealed without a token');
  t.equal((await wrong('GET', '/metrics')).status, 403, '/metrics needs the token unless metrics_public');
  const ok = apiClient(d, TOKEN);
  t.equal((await ok('GET', '/api/v1/status')).status, 200);
  t.equal((await ok('GET', '/api/v1/no-such-thing')).status, 404);
  t.equal((await ok('GET', '/metrics')).status, 200);
  t.same(await d.daemon.store.listQueue({}), [], 'the refused calls sent nothing');
});

t.test('admin.allowed_ips refuses other clients with 403 on every path; metrics_public opens /metrics', async (t) => {
  const shut = await startDaemon(`[admin]\nlisten = "127.0.0.1:0"\ntoken = "${TOKEN}"\nallowed_ips = ["10.0.0.0/8", "2001:db8::/32"]\n`);
  t.teardown(() => shut.stop());
  const call = apiClient(shut, TOKEN);
  for (const p of ['/api/v1/status', '/healthz', '/metrics', '/api/v1/nothing']) {
    const r = await call('GET', p);
    t.equal(r.status, 403, `${p} → 403`);
    t.match(r.json, { error: { code: 'MTA_ERR_FORBIDDEN', message: /not in admin\.allowed_ips/ } });
  }
  const open = await startDaemon(`[admin]\nlisten = "127.0.0.1:0"\ntoken = "${TOKEN}"\nallowed_ips = ["127.0.0.1"]\nmetrics_public = true\n`);
  t.teardown(() => open.stop());
  t.equal((await apiClient(open, TOKEN)('GET', '/api/v1/status')).status, 200, 'an allowed client is served');
  const m = await apiClient(open, '')('GET', '/metrics');
  t.equal(m.status, 200, 'metrics_public: no token needed');
  t.match(m.headers.get('content-type'), /^text\/plain/);
  t.equal((await apiClient(open, '')('GET', '/api/v1/status')).status, 401, 'the rest still needs it');
});

t.test('domains: add, list, show, records, check, last checks, dkim-rotate, remove', async (t) => {
  const dns: TestDnsServer = await startDnsServer({});
  const d = await startDaemon(`[admin]\nlisten = "127.0.0.1:0"\ntoken = "${TOKEN}"\n[delivery]\nenabled = false\nsending_ips = ["192.0.2.10"]\n[dns]\nservers = ["${dns.server}"]\n`);
  t.teardown(async () => { await d.stop(); await dns.close(); });
  const call = apiClient(d, TOKEN);

  let r = await call('POST', '/api/v1/domains', { name: 'News.Example.NET', dkim_algorithm: 'ed25519', selector: 's1' });
  t.equal(r.status, 201);
  t.match(r.json, { name: 'news.example.net', status: 'unverified', dkim_selector: 's1', dkim_algorithm: 'ed25519', checked_at: null, failing: [] });
  t.notMatch(r.text, /PRIVATE KEY/, 'the private key never leaves');
  t.ok(r.json.records.some((x: { purpose: string; status: string }) => x.purpose === 'dkim' && x.status === 'unchecked'));
  t.match(r.json.zone.join('\n'), /^s1\._domainkey\.news\.example\.net\.\t3600\tIN\tTXT\t"v=DKIM1; k=ed25519; p=/m);
  const token = r.json.ownership_token as string;

  r = await call('POST', '/api/v1/domains', { name: 'news.example.net' });
  t.same([r.status, r.json.error.code, r.json.error.field], [409, 'MTA_ERR_EXISTS', 'domain']);
  for (const [body, field, msg] of [
    [{}, 'name', /name: required/], [{ name: 'x', bogus: 1 }, 'bogus', /unknown field "bogus"/],
    [{ name: 'not_a_domain' }, 'domain', /not a valid domain name/], [{ name: 'a.example', dkim_algorithm: 'dsa' }, 'dkim_algorithm', /dkim_algorithm/],
    [{ name: 'a.example', selector: 'bad selector' }, 'selector', /must be a DNS label/],
  ] as const) {
    r = await call('POST', '/api/v1/domains', body);
    t.same([r.status, r.json.error.code, r.json.error.field], [400, 'MTA_ERR_INVALID', field], JSON.stringify(body));
    t.match(r.json.error.message, msg);
  }
  r = await call('POST', '/api/v1/domains', '{"name": "a.example",');
  t.match([r.status, r.json.error.message], [400, /not valid JSON/]);
  r = await call('POST', '/api/v1/domains', 'name=a.example', { 'content-type': 'application/x-www-form-urlencoded' });
  t.same([r.status, r.json.error.code], [415, 'MTA_ERR_UNSUPPORTED_MEDIA']);

  r = await call('GET', '/api/v1/domains');
  t.same(r.json.items.map((x: { name: string }) => x.name), ['example.com', 'news.example.net']);
  t.equal(r.json.next_cursor, null);
  r = await call('GET', '/api/v1/domains/NEWS.example.net');
  t.match(r.json, { name: 'news.example.net', dkim_selector: 's1' });
  t.same((await call('GET', '/api/v1/domains/none.example')).status, 404);
  r = await call('GET', '/api/v1/domains/news.example.net/records?offline=true');
  t.same(r.json.records.map((x: { purpose: string }) => x.purpose), ['ownership', 'spf', 'dkim', 'dmarc', 'mx']);
  t.match(r.json.records[1], { type: 'TXT', host: 'news.example.net', value: 'v=spf1 ip4:192.0.2.10 ~all' });
  t.same((await call('GET', '/api/v1/domains/news.example.net/records?offline=maybe')).json.error.field, 'offline');
  t.same((await call('GET', '/api/v1/domains/news.example.net/records?color=red')).json.error, { code: 'MTA_ERR_INVALID', message: 'unknown query parameter "color"', field: 'color' });

  // Publish what it asked for, then check: verified.
  const dom = (await d.daemon.store.getDomain('news.example.net'))!;
  dns.set('_mta.news.example.net', { TXT: [`mta-verification=${token}`] });
  dns.set('news.example.net', { TXT: ['v=spf1 ip4:192.0.2.10 -all'] });
  dns.set('s1._domainkey.news.example.net', { TXT: [`v=DKIM1; k=ed25519; p=${dom.dkimPublicKey}`] });
  r = await call('POST', '/api/v1/domains/news.example.net/check');
  t.equal(r.status, 200, r.text);
  t.match(r.json, { domain: 'news.example.net', status: 'verified', previous: 'unverified', rotated_from: null });
  t.same(r.json.checks.filter((c: { name: string }) => ['ownership', 'spf', 'dkim'].includes(c.name)).map((c: { status: string }) => c.status), ['ok', 'ok', 'ok']);
  r = await call('GET', '/api/v1/domains/news.example.net/checks');
  t.match(r.json, { domain: 'news.example.net', status: 'verified', checked_at: /^\d{4}-/ });
  t.ok(r.json.checks.length >= 3);
  r = await call('GET', '/api/v1/domains/news.example.net/records');
  t.equal(r.json.records.find((x: { purpose: string }) => x.purpose === 'dkim').status, 'ok', 'records carry the last check status');

  r = await call('POST', '/api/v1/domains/news.example.net/dkim-rotate', { selector: 's2', algorithm: 'ed25519' });
  t.match(r.json, { domain: 'news.example.net', current_selector: 's1', next_selector: 's2', record: { type: 'TXT', host: 's2._domainkey.news.example.net' } });
  t.match(r.json.zone[0], /^s2\._domainkey\.news\.example\.net\./);
  r = await call('POST', '/api/v1/domains/news.example.net/dkim-rotate', { selector: 's1' });
  t.same([r.status, r.json.error.field], [400, 'selector'], 'the current selector is refused');
  r = await call('POST', '/api/v1/domains/news.example.net/dkim-rotate', { selectr: 's3' });
  t.same([r.status, r.json.error.field], [400, 'selectr']);
  r = await call('GET', '/api/v1/domains/news.example.net');
  t.equal(r.json.next_dkim_selector, 's2');

  r = await call('POST', '/api/v1/senders', { address: 'x@news.example.net' });
  t.equal(r.status, 201);
  r = await call('DELETE', '/api/v1/domains/news.example.net');
  t.same([r.status, r.json.error.code], [409, 'MTA_ERR_IN_USE'], 'a domain with senders stays');
  await call('DELETE', '/api/v1/senders/x@news.example.net');
  r = await call('DELETE', '/api/v1/domains/news.example.net');
  t.same([r.status, r.json], [200, { deleted: true }]);
  t.equal((await call('GET', '/api/v1/domains/news.example.net')).status, 404);
});

t.test('senders: add, list (paged), show, password, disable/enable (SMTP sees it), remove', async (t) => {
  const d = await startDaemon(`[admin]\nlisten = "127.0.0.1:0"\ntoken = "${TOKEN}"\n[public]\nlisten = "127.0.0.1:0"\nbase_url = "https://links.example.com"\n`);
  t.teardown(() => d.stop());
  const call = apiClient(d, TOKEN);
  let r = await call('POST', '/api/v1/senders', { address: 'News@Example.com', type: 'batch', reply_to: 'help@example.com', password: 'first password' });
  t.equal(r.status, 201);
  t.match(r.json, { address: 'news@example.com', domain: 'example.com', type: 'batch', reply_to: 'help@example.com', reply_to_state: 'pending', smtp_enabled: true, disabled: false });
  t.notMatch(r.text, /scrypt|password/i, 'no password or hash in replies');
  for (const a of ['a', 'b', 'c', 'd']) t.equal((await call('POST', '/api/v1/senders', { address: `${a}@example.com` })).status, 201);
  for (const [body, field] of [
    [{ address: 'x@example.com', password: 'short' }, 'password'], [{ address: 'x@unknown.test' }, 'address'],
    [{ address: 'x@example.com', type: 'bulk' }, 'type'], [{ address: 7 }, 'address'], [{ adress: 'x@example.com' }, 'adress'],
    [{ address: 'x@example.com', reply_to: 'nope' }, 'reply_to'],
  ] as const) {
    r = await call('POST', '/api/v1/senders', body);
    t.equal(r.json.error.field, field, `${JSON.stringify(body)} → ${r.status} ${r.json.error.message}`);
    t.ok(r.status === 400 || r.status === 404);
  }
  t.same((await call('POST', '/api/v1/senders', { address: 'a@example.com' })).status, 409);

  // Pagination: 6 senders, 4 pages of 2 (the last one empty is never produced).
  const seen: string[] = [];
  let cursor: string | null = null;
  let pages = 0;
  do {
    r = await call('GET', `/api/v1/senders?limit=2${cursor ? `&cursor=${cursor}` : ''}`);
    t.equal(r.status, 200);
    t.ok(r.json.items.length <= 2);
    seen.push(...r.json.items.map((s: { address: string }) => s.address));
    cursor = r.json.next_cursor;
    pages++;
  } while (cursor);
  t.same(seen, ['a@example.com', 'app@example.com', 'b@example.com', 'c@example.com', 'd@example.com', 'news@example.com']);
  t.equal(pages, 3);
  t.same((await call('GET', '/api/v1/senders?domain=other.example')).json.items, []);
  t.same((await call('GET', '/api/v1/senders?cursor=garbage')).json.error, { code: 'MTA_ERR_INVALID', message: 'cursor is not one this server returned', field: 'cursor' });
  t.same((await call('GET', '/api/v1/senders?limit=0')).json.error.field, 'limit');
  t.same((await call('GET', '/api/v1/senders?limit=1001')).json.error.field, 'limit');

  r = await call('GET', '/api/v1/senders/NEWS@example.com');
  t.match(r.json, { address: 'news@example.com', type: 'batch' });
  r = await call('PUT', '/api/v1/senders/news@example.com/password', { password: 'second password' });
  t.match([r.status, r.json.smtp_enabled], [200, true]);
  t.equal((await call('PUT', '/api/v1/senders/news@example.com/password', { password: 'x' })).json.error.field, 'password');
  t.equal((await call('PUT', '/api/v1/senders/news@example.com/password', {})).json.error.field, 'password');
  t.equal((await smtpSend(d, ['x@dest.test'], 'news@example.com', 'first password')).code, 535, 'the old password is gone');
  t.equal((await smtpSend(d, ['x@dest.test'], 'news@example.com', 'second password')).code, 250, 'the new one works');

  r = await call('POST', '/api/v1/senders/news@example.com/disable');
  t.match(r.json, { disabled: true });
  const refused = await smtpSend(d, ['x@dest.test'], 'news@example.com', 'second password');
  t.match(refused.text, /^551 5\.7\.1 Main account unavailable/, 'SMTP refuses a disabled sender');
  t.equal((await call('POST', '/api/v1/senders/news@example.com/disable', { why: 1 })).status, 400, 'actions take no body');
  r = await call('POST', '/api/v1/senders/news@example.com/enable', {});
  t.match(r.json, { disabled: false });
  t.equal((await smtpSend(d, ['x@dest.test'], 'news@example.com', 'second password')).code, 250);
  t.equal((await call('POST', '/api/v1/senders/nobody@example.com/enable')).status, 404);

  r = await call('DELETE', '/api/v1/senders/news@example.com');
  t.same([r.status, r.json], [200, { deleted: true }]);
  t.equal((await call('DELETE', '/api/v1/senders/news@example.com')).status, 404);
});

t.test('suppression: add, list with search and cursor, remove', async (t) => {
  const d = await startDaemon(`[admin]\nlisten = "127.0.0.1:0"\ntoken = "${TOKEN}"\n`);
  t.teardown(() => d.stop());
  const call = apiClient(d, TOKEN);
  let r = await call('POST', '/api/v1/suppressions', { address: 'Gone@Dest.test', reason: 'user unknown' });
  t.match([r.status, r.json], [200, { address: 'gone@dest.test', scope: null, reason: 'user unknown', source: 'manual', added: true }]);
  t.equal((await call('POST', '/api/v1/suppressions', { address: 'gone@dest.test' })).json.added, false, 'adding twice is not an error');
  r = await call('POST', '/api/v1/suppressions', { address: 'gone@dest.test', scope: 'example.com' });
  t.match(r.json, { scope: 'example.com', added: true });
  for (const a of ['a', 'b', 'c']) await call('POST', '/api/v1/suppressions', { address: `${a}@other.test` });
  for (const [body, field] of [[{}, 'address'], [{ address: 'nope' }, 'address'], [{ address: 'a@b.test', scope: '-' }, 'scope'], [{ address: 'a@b.test', source: 'bounce' }, 'source']] as const) {
    r = await call('POST', '/api/v1/suppressions', body);
    t.same([r.status, r.json.error.field], [400, field], JSON.stringify(body));
  }
  t.not((await smtpSend(d, ['gone@dest.test'])).code, 250, 'SMTP refuses the suppressed recipient too');

  // Five entries, two of them for the same address (two scopes): pages of 2 lose none.
  const seen: string[] = [];
  let cursor: string | null = null;
  do {
    r = await call('GET', `/api/v1/suppressions?limit=2${cursor ? `&cursor=${cursor}` : ''}`);
    seen.push(...r.json.items.map((x: { address: string; scope: string | null }) => `${x.address}/${x.scope ?? '*'}`));
    cursor = r.json.next_cursor;
  } while (cursor);
  t.same(seen, ['a@other.test/*', 'b@other.test/*', 'c@other.test/*', 'gone@dest.test/*', 'gone@dest.test/example.com']);
  r = await call('GET', '/api/v1/suppressions?search=gone');
  t.equal(r.json.items.length, 2);
  r = await call('GET', `/api/v1/suppressions?since=${encodeURIComponent(new Date(Date.now() + 60_000).toISOString())}`);
  t.same(r.json.items, [], 'time range');
  t.equal((await call('GET', '/api/v1/suppressions?since=yesterday')).json.error.field, 'since');

  r = await call('DELETE', '/api/v1/suppressions/gone@dest.test?scope=example.com');
  t.same(r.json, { removed: 1 });
  r = await call('DELETE', '/api/v1/suppressions/gone@dest.test');
  t.same(r.json, { removed: 1 });
  t.equal((await call('DELETE', '/api/v1/suppressions/gone@dest.test')).status, 404);
  t.equal((await smtpSend(d, ['gone@dest.test'])).code, 250, 'no longer suppressed');
});

t.test('queue: list with filters and cursor, show with events, summary, hold/release/retry/flush/delete', async (t) => {
  const d = await startDaemon(`[admin]\nlisten = "127.0.0.1:0"\ntoken = "${TOKEN}"\n`);
  t.teardown(() => d.stop());
  const call = apiClient(d, TOKEN);
  const ids: string[] = [];
  for (const rcpts of [['a@one.test', 'b@one.test'], ['c@two.test'], ['d@one.test']]) {
    const r = await smtpSend(d, rcpts);
    ids.push(r.text.split(' ').pop()!);
  }
  let r = await call('GET', '/api/v1/queue?limit=3');
  t.same(r.json.items.map((x: { rcpt: string }) => x.rcpt), ['a@one.test', 'b@one.test', 'c@two.test']);
  t.match(r.json.items[0], { queue_id: ids[0], state: 'queued', sender: 'app@example.com', domain: 'one.test', lane: 'trigger', attempts: 0 });
  r = await call('GET', `/api/v1/queue?limit=3&cursor=${r.json.next_cursor}`);
  t.same([r.json.items.map((x: { rcpt: string }) => x.rcpt), r.json.next_cursor], [['d@one.test'], null]);
  // A cursor is the store's opaque string: a recipient id (what a cursor held before), a
  // string the store did not make, or garbage is a 400 on `cursor`, not a page.
  const wrapped = (v: unknown): string => Buffer.from(JSON.stringify(v), 'utf8').toString('base64url');
  for (const bad of [wrapped(1), wrapped('x1'), wrapped(''), 'garbage']) {
    r = await call('GET', `/api/v1/queue?cursor=${bad}`);
    t.match([r.status, r.json.error], [400, { code: 'MTA_ERR_INVALID', field: 'cursor' }], `cursor ${bad}`);
  }
  r = await call('GET', '/api/v1/queue?domain=ONE.test&state=queued');
  t.equal(r.json.items.length, 3);
  t.equal((await call('GET', '/api/v1/queue?state=lost')).json.error.field, 'state');
  t.equal((await call('GET', '/api/v1/queue?domain=-x-')).json.error.field, 'domain');

  r = await call('GET', `/api/v1/queue/${ids[0]}`);
  t.match(r.json, { queue_id: ids[0], sender: 'app@example.com', auth_user: 'app@example.com', client_ip: '127.0.0.1', subject: 'test', lane: 'trigger' });
  t.match(r.json.headers, /^Received: from client\.test/);
  t.same(r.json.events.map((e: { type: string; rcpt: string }) => `${e.type} ${e.rcpt}`), ['reception a@one.test', 'reception b@one.test']);
  t.equal((await call('GET', `/api/v1/queue/${UNKNOWN}`)).status, 404);
  t.equal((await call('GET', '/api/v1/queue/nonsense')).json.error.field, 'id');

  r = await call('GET', '/api/v1/queue/summary');
  t.match(r.json, { counts: { queued: 4 }, waiting: 4, domains: [{ domain: 'one.test', total: 3 }, { domain: 'two.test', total: 1 }] });

  t.same((await call('POST', `/api/v1/queue/${ids[0]}/hold`)).json, { affected: 2 });
  t.same((await call('GET', '/api/v1/queue?state=held')).json.items.length, 2);
  t.same((await call('POST', `/api/v1/queue/${ids[0]}/release`)).json, { affected: 2 });
  t.same((await call('POST', `/api/v1/queue/${ids[1]}/retry`)).json, { affected: 0 });
  t.same((await call('POST', '/api/v1/queue/flush', { domain: 'one.test' })).json, { affected: 0 });
  t.same((await call('POST', '/api/v1/queue/flush', { queue_id: ids[0], domain: 'one.test' })).status, 400);
  t.same((await call('POST', '/api/v1/queue/flush', { queue_id: 'x' })).json.error.field, 'queue_id');
  t.same((await call('POST', `/api/v1/queue/${ids[2]}/delete`)).json, { affected: 1 });
  r = await call('GET', `/api/v1/queue/${ids[2]}`);
  t.same([r.json.recipients[0].state, r.json.events.map((e: { type: string }) => e.type)], ['failed', ['reception', 'deleted']]);
  t.same((await call('POST', `/api/v1/queue/${ids[2]}/delete`, { now: true })).status, 400, 'per-message actions take no body');
});

t.test('every route with a body refuses a malformed one, and bad JSON, with 400 and the error shape', async (t) => {
  const d = await startDaemon(`[admin]\nlisten = "127.0.0.1:0"\ntoken = "${TOKEN}"\n`);
  t.teardown(() => d.stop());
  const call = apiClient(d, TOKEN);
  for (const r of routesOf(d).filter((x) => x.method === 'POST' || x.method === 'PUT')) {
    const path = concrete(r);
    for (const body of ['{"__bogus": 1}', '[]', '{"truncated": ']) {
      const res = await call(r.method, path, body);
      t.equal(res.status, 400, `${r.method} ${r.path} ${body} → 400 (${res.json?.error?.message})`);
      t.same(Object.keys(res.json), ['error']);
      t.equal(res.json.error.code, 'MTA_ERR_INVALID');
      t.type(res.json.error.message, 'string');
    }
  }
  t.equal((await call('GET', '/api/v1/queue?bogus=1')).json.error.field, 'bogus');
  t.equal((await call('PATCH', '/api/v1/status')).status, 405);
});

t.test('/healthz: ok while running; 503 with reasons when the database or a listener fails', async (t) => {
  const d = await startDaemon(`[admin]\nlisten = "127.0.0.1:0"\ntoken = "${TOKEN}"\n`);
  t.teardown(() => d.stop());
  const anon = apiClient(d, '');
  const stored = await d.daemon.store.auditDigest();
  let r = await anon('GET', '/healthz');
  t.same([r.status, r.json], [200, { ok: true }]);
  t.equal(await d.daemon.store.auditDigest(), stored, 'the probe write was rolled back: nothing stored changed');

  // Another connection holds the write lock: the probe fails fast instead of blocking.
  const other = new Database(join(d.dir, 'data', 'spool.sqlite'));
  other.exec('BEGIN IMMEDIATE');
  const started = Date.now();
  r = await anon('GET', '/healthz');
  t.ok(Date.now() - started < 3000, 'the probe does not wait out busy_timeout');
  t.equal(r.status, 503);
  t.match(r.json, { ok: false, reasons: [/^database does not take writes: MTA_ERR_SPOOL_BUSY/] });
  other.exec('ROLLBACK');
  other.close();
  t.same((await anon('GET', '/healthz')).status, 200);

  await d.daemon.submission.stop();
  r = await anon('GET', '/healthz');
  t.equal(r.status, 503);
  t.match(r.json.reasons, [/^smtp listener 127\.0\.0\.1:0 is not bound$/]);
});

t.test('OpenAPI document: every route, valid JSON Schemas, resolvable refs', async (t) => {
  const d = await startDaemon(`[admin]\nlisten = "127.0.0.1:0"\ntoken = "${TOKEN}"\n`);
  t.teardown(() => d.stop());
  const r = await apiClient(d, TOKEN)('GET', '/api/v1/openapi.json');
  t.equal(r.status, 200);
  const doc = r.json as { openapi: string; info: { version: string }; paths: Record<string, Record<string, Op>>; components: Record<string, Record<string, unknown>> };
  interface Op { operationId: string; parameters: { name: string; in: string; required: boolean; schema: unknown }[]; requestBody?: { content: Record<string, { schema: unknown }> }; responses: Record<string, { content?: Record<string, { schema: unknown }>; $ref?: string }>; security?: unknown[] }
  t.equal(doc.openapi, '3.1.0');
  t.match(doc.info.version, /^\d+\.\d+\.\d+/);
  const routes = routesOf(d);
  const ops: [string, string, Op][] = Object.entries(doc.paths).flatMap(([p, methods]) => Object.entries(methods).map(([m, op]) => [p, m, op] as [string, string, Op]));
  t.equal(ops.length, routes.length, 'one operation per route');
  for (const route of routes) {
    const p = route.path.replace(/:([a-z]+)/g, '{$1}');
    const op = doc.paths[p]?.[route.method.toLowerCase()];
    if (!t.ok(op, `${route.method} ${route.path} documented`) || !op) continue;
    const inPath = [...p.matchAll(/\{([a-z]+)\}/g)].map((m) => m[1]);
    t.same(op.parameters.filter((x) => x.in === 'path').map((x) => x.name), inPath, `${p}: path parameters`);
    t.ok(op.responses[String(route.status)], `${p}: success response`);
    t.equal(op.security !== undefined && op.security.length === 0, route.access === 'public' || route.access === 'login', `${p}: security`);
  }
  t.equal(new Set(ops.map(([, , op]) => op.operationId)).size, ops.length, 'operationIds are unique');
  t.ok(doc.paths['/api/v1/send']?.['post']?.requestBody?.content['application/json'], 'the send body is described');
  t.ok(doc.paths['/api/v1/send/raw']?.['post']?.requestBody?.content['message/rfc822'], 'raw takes message/rfc822 too');

  const problems: string[] = [];
  const resolve = (ref: string): unknown => ref.slice(2).split('/').reduce<unknown>((o, k) => (o as Record<string, unknown> | undefined)?.[k], doc);
  const check = (s: unknown, where: string): void => checkJsonSchema(s, where, problems, resolve);
  for (const [p, m, op] of ops) {
    for (const prm of op.parameters) check(prm.schema, `${m} ${p} parameter ${prm.name}`);
    for (const [type, c] of Object.entries(op.requestBody?.content ?? {})) check(c.schema, `${m} ${p} body ${type}`);
    for (const [status, resp] of Object.entries(op.responses)) {
      if (resp.$ref) { if (!resolve(resp.$ref)) problems.push(`${m} ${p} ${status}: unresolved ${resp.$ref}`); continue; }
      for (const [type, c] of Object.entries(resp.content ?? {})) check(c.schema, `${m} ${p} ${status} ${type}`);
    }
  }
  check(doc.components['schemas']!['Error'], 'components.schemas.Error');
  t.same(problems, [], 'every schema is a valid JSON Schema object');
  t.match(doc.paths['/api/v1/send']!['post']!.requestBody!.content['application/json']!.schema, {
    type: 'object', required: ['from', 'to'], additionalProperties: false,
    properties: { subject: { type: 'string' }, template: { type: 'string' }, variables: { type: 'object' }, cc: {}, bcc: {} },
  });
});
