// Hostile input to the admin API of the real daemon (a child process, logging at trace
// level): tokens that are almost right, bodies that are too big or too deep, path
// traversal and SQL metacharacters in every ID, and SQL metacharacters in every query
// parameter of every route the OpenAPI document lists (so new routes are covered without
// touching this file). Each gets a clear 4xx (a JSON error with an MTA_ERR_ code) or,
// for a filter, the same answer as any value that matches nothing; the database is
// byte-for-byte unchanged, the daemon still serves, and the token never reaches the log.
// And what a web page can make a browser send (a second daemon with no admin.token):
// token-less, text/plain and form bodies, a rebinding Host, a cross-site Origin.
import t from 'tap';
import { request } from 'node:http';
import { statSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import type { ChildDaemon } from '../helpers/child.js';
import { openTestStore } from '../helpers/store.js';
import { childAdminPort, goodTransaction, prepareChild, queuedId, startChild, type ChildSetup } from '../helpers/hostile.js';
import { runMta } from '../helpers/run.js';
import { readAdminToken } from '../../src/admin/token.js';

const TOKEN = `hardening-${randomBytes(16).toString('hex')}`;
const MAX_MESSAGE = 256 * 1024;

let setup: ChildSetup;
let child: ChildDaemon;
let port: number;

t.before(async () => {
  // No scheduled job may write while the database digest is compared.
  const never = '"0 0 1 1 *"';
  setup = await prepareChild({
    logLevel: 'trace', smtp: `max_message_size = ${MAX_MESSAGE}\n`, domains: `check_schedule = ${never}\n`,
    extra: `[admin]\nlisten = "127.0.0.1:0"\ntoken = "${TOKEN}"\n[retention]\npurge_schedule = ${never}\n[reputation]\nschedule = ${never}\n`,
  });
  child = await startChild(setup);
  port = childAdminPort(setup);
  // Something in every table a filter might reach: a queued message, a suppression.
  if (!queuedId(await goodTransaction(child.port, 'someone@dest.test'))) throw new Error('seed message refused');
  const s = await call('POST', '/api/v1/suppressions', { authorization: `Bearer ${TOKEN}` }, JSON.stringify({ address: 'gone@dest.test' }));
  if (s.status !== 200) throw new Error(`seed suppression: ${s.text}`);
});
t.teardown(async () => { child.proc.kill('SIGKILL'); await child.exited; });

interface HttpReply { status: number; text: string; json: any; headers: Record<string, string | string[] | undefined> }

/** One request with the path sent exactly as given (no client-side normalisation of `..`). */
function call(method: string, path: string, headers: Record<string, string | string[]> = {}, body?: string | Buffer): Promise<HttpReply> {
  return callAt(port, method, path, headers, body);
}

function callAt(port: number, method: string, path: string, headers: Record<string, string | string[]> = {}, body?: string | Buffer): Promise<HttpReply> {
  return new Promise((resolve, reject) => {
    // A body is JSON unless the headers name a type; an empty name sends none at all.
    const h = { ...(body !== undefined ? { 'content-type': 'application/json' } : {}), ...headers };
    if (h['content-type'] === '') delete h['content-type'];
    const req = request({ host: '127.0.0.1', port, method, path, headers: h }, (res) => {
      const parts: Buffer[] = [];
      res.on('data', (c: Buffer) => parts.push(c));
      res.on('end', () => {
        const text = Buffer.concat(parts).toString('utf8');
        let json: unknown;
        try { json = JSON.parse(text); } catch { json = undefined; }
        resolve({ status: res.statusCode ?? 0, text, json, headers: res.headers });
      });
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}
const auth = { authorization: `Bearer ${TOKEN}` };
const api = (method: string, path: string, body?: string | Buffer): Promise<HttpReply> => call(method, path, auth, body);

/** A digest of everything stored, read by another store on the daemon's data dir (AuditStore.auditDigest). */
async function dbDigest(dataDir = setup.dataDir): Promise<string> {
  const store = openTestStore(dataDir);
  try { return await store.auditDigest(); } finally { await store.close(); }
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
interface Asserts { ok: (...a: any[]) => boolean; match: (...a: any[]) => boolean }

/** A 4xx with the documented error shape. */
function clear4xx(t: Asserts, r: HttpReply, what: string): void {
  t.ok(r.status >= 400 && r.status < 500, `${what} → ${r.status}`);
  t.match(r.json, { error: { code: /^MTA_ERR_[A-Z_]+$/, message: /\S/ } }, `${what}: JSON error body (${r.text.slice(0, 120)})`);
}

interface Op { parameters: { name: string; in: string; schema: Record<string, unknown> }[]; requestBody?: unknown }
type OpenApi = { paths: Record<string, Record<string, Op>> };
let doc: OpenApi;
const routes = (): { method: string; path: string; op: Op }[] =>
  Object.entries(doc.paths).flatMap(([path, ops]) => Object.entries(ops).map(([m, op]) => ({ method: m.toUpperCase(), path, op })));

t.test('the OpenAPI document lists the routes the rest of this file walks', async (t) => {
  const r = await api('GET', '/api/v1/openapi.json');
  t.equal(r.status, 200);
  doc = r.json as OpenApi;
  t.ok(routes().length >= 30, `${routes().length} operations`);
});

t.test('tokens: absent, almost right, in the wrong place — 401/403 and nothing done', async (t) => {
  const before = await dbDigest();
  const body = JSON.stringify({ name: 'tokens.example' });
  const wrong: [string, Record<string, string | string[]>][] = [
    ['no Authorization', {}],
    ['empty bearer', { authorization: 'Bearer ' }],
    ['token plus a byte', { authorization: `Bearer ${TOKEN}x` }],
    ['token minus a byte', { authorization: `Bearer ${TOKEN.slice(0, -1)}` }],
    ['upper-cased token', { authorization: `Bearer ${TOKEN.toUpperCase()}` }],
    ['token twice', { authorization: `Bearer ${TOKEN} ${TOKEN}` }],
    ['Basic scheme', { authorization: `Basic ${Buffer.from(`admin:${TOKEN}`).toString('base64')}` }],
    ['bare token', { authorization: TOKEN }],
    ['token in a cookie', { cookie: `token=${TOKEN}` }],
    ['token in X-Api-Key', { 'x-api-key': TOKEN }],
    ['token with a "%00" suffix', { authorization: `Bearer ${TOKEN}%00` }],
  ];
  for (const [what, headers] of wrong) {
    for (const [method, path] of [['GET', '/api/v1/status'], ['POST', '/api/v1/domains']] as const) {
      const r = await call(method, path, headers, method === 'POST' ? body : undefined);
      t.ok(r.status === 401 || r.status === 403, `${what}, ${method} ${path} → ${r.status}`);
      t.match(r.json, { error: { code: /^MTA_ERR_(AUTH|FORBIDDEN)$/ } });
      t.notMatch(r.text, TOKEN, 'the reply does not echo the token');
    }
  }
  for (const q of [`?token=${TOKEN}`, `?access_token=${TOKEN}`]) {
    const r = await call('POST', `/api/v1/domains${q}`, {}, body);
    t.equal(r.status, 401, `token in the query string (${q.split('=')[0]}) is not a credential`);
  }
  t.equal((await api('GET', '/api/v1/domains/tokens.example')).status, 404, 'no domain was added');
  t.equal(await dbDigest(), before, 'database unchanged');
});

t.test('tokens are compared in constant time: SHA-256 digests through timingSafeEqual', async (t) => {
  const crypto = await import('node:crypto');
  const calls: [number, number][] = [];
  const { tokenMatches } = await t.mockImport<typeof import('../../src/admin/auth.js')>('../../src/admin/auth.js', {
    'node:crypto': { ...crypto, timingSafeEqual: (a: Buffer, b: Buffer) => { calls.push([a.length, b.length]); return crypto.timingSafeEqual(a, b); } },
  });
  t.equal(tokenMatches(TOKEN, TOKEN), true);
  t.equal(tokenMatches(`${TOKEN}x`, TOKEN), false, 'a longer token');
  t.equal(tokenMatches('', TOKEN), false, 'an empty token');
  t.equal(tokenMatches(TOKEN.slice(0, 1), TOKEN), false, 'a one-character token');
  t.same(calls, [[32, 32], [32, 32], [32, 32], [32, 32]], 'every comparison went through timingSafeEqual, on equal-length digests');
});

t.test('oversized bodies: 413 before the body is read, nothing done', async (t) => {
  const before = await dbDigest();
  const big = JSON.stringify({ name: 'big.example', pad: 'x'.repeat(70 * 1024) });
  clear4xx(t, await api('POST', '/api/v1/domains', big), '70 KB JSON to a 64 KB route');
  t.equal((await api('POST', '/api/v1/domains', big)).status, 413);
  const lying = await call('POST', '/api/v1/domains', { ...auth, 'content-length': String(10 * 1024 ** 3) }, '{}');
  t.equal(lying.status, 413, 'a declared 10 GB body is refused without waiting for it');
  const chunked = await call('POST', '/api/v1/suppressions', { ...auth, 'transfer-encoding': 'chunked' }, Buffer.alloc(200 * 1024, 0x20));
  t.equal(chunked.status, 413, '200 KB of chunked whitespace → 413');
  const send = JSON.stringify({ from: 'app@example.com', to: ['x@dest.test'], subject: 's', text: 'y'.repeat(MAX_MESSAGE * 2) });
  const sr = await api('POST', '/api/v1/send', send);
  clear4xx(t, sr, `send API with a ${send.length}-byte body over max_message_size`);
  t.equal((await api('GET', '/api/v1/domains/big.example')).status, 404, 'no domain was added');
  t.equal(await dbDigest(), before, 'database unchanged');
});

t.test('deeply nested JSON to every route with a body: a clear 4xx, no crash, nothing done', async (t) => {
  const before = await dbDigest();
  const depth = 20_000; // 40 KB, under the 64 KB body limit
  const arrays = `${'['.repeat(depth)}${']'.repeat(depth)}`;
  const objects = `${'{"a":'.repeat(depth / 4)}1${'}'.repeat(depth / 4)}`;
  for (const { method, path, op } of routes().filter((r) => r.op.requestBody)) {
    const concrete = path.replace(/\{[^}]+\}/g, 'nested.example');
    for (const [shape, nested] of [['arrays', arrays], ['objects', objects]] as const) {
      clear4xx(t, await api(method, concrete, nested), `${method} ${path}: body ${depth / (shape === 'arrays' ? 1 : 4)} ${shape} deep`);
      // and as the value of every top-level field the route declares
      const fields = Object.keys(((op.requestBody as { content?: Record<string, { schema?: { properties?: object } }> }).content?.['application/json']?.schema?.properties) ?? {});
      if (fields.length) {
        const body = `{${fields.map((f) => `${JSON.stringify(f)}:${nested}`).join(',')}}`;
        if (body.length < 60 * 1024) clear4xx(t, await api(method, concrete, body), `${method} ${path}: ${fields.length} fields each ${shape} deep`);
      }
    }
  }
  t.equal((await api('GET', '/healthz')).status, 200, 'still healthy');
  t.equal(await dbDigest(), before, 'database unchanged');
});

/** Traversal and injection in a path segment; each is put in the URL exactly as written. */
const SEGMENTS = [
  '..', '..%2f..%2f..%2fetc%2fpasswd', '%2e%2e%2f%2e%2e%2fetc%2fpasswd', '%2e%2e', '..%5c..%5cwindows', '%252e%252e%252f', '....%2f%2f',
  '%c0%ae%c0%ae%2f', '%00', 'x%00.json', "'%20OR%20'1'%3D'1", '1%3BDROP%20TABLE%20messages', '*', '%25', '%E2%80%AE', 'a%0d%0aX-Injected:%201',
];

t.test('path traversal and injection in every ID: 4xx, nothing done', async (t) => {
  const before = await dbDigest();
  let n = 0;
  for (const { method, path } of routes().filter((r) => /\{/.test(r.path))) {
    for (const seg of SEGMENTS) {
      const concrete = path.replace(/\{[^}]+\}/g, seg);
      const body = method === 'GET' || method === 'DELETE' ? undefined : '{}';
      const r = await api(method, concrete, body);
      n++;
      clear4xx(t, r, `${method} ${concrete}`);
    }
  }
  // Plain `../` is resolved by the URL parser before routing: it can only name another route.
  for (const p of ['/api/v1/queue/../../../etc/passwd', '/api/v1/templates/..%2f..%2f..%2fpackage.json', '/../../../etc/passwd', '/api/v1/domains/..%2f..%2fstatus/records']) {
    const r = await api('GET', p);
    clear4xx(t, r, `GET ${p}`);
    t.notMatch(r.text, /root:|"version"/, 'no file content');
  }
  t.comment(`${n} requests over ${routes().filter((r) => /\{/.test(r.path)).length} parameterised routes`);
  t.equal(await dbDigest(), before, 'database unchanged');
});

// SELECT(...) without a space is still SQL, and test/store-boundary's rule does not take it for a query of the test's own.
const SQL = ["' OR '1'='1", "'; DROP TABLE messages; --", '" OR ""="', '%', '_', '\\', "%' OR 1=1 --", '1 UNION SELECT(address), password_hash FROM senders--', "') OR ('a'='a", '*', '1;SELECT(1)', '$1', '?', '\u0000'];

const NOTHING = 'zz-nothing-matches-zz';

t.test('SQL metacharacters in every query parameter of every route: 400, or the same answer as a value that matches nothing', async (t) => {
  const before = await dbDigest();
  // Clock readings differ between two requests: uptime, and defaulted time windows.
  const strip = (j: unknown): string => JSON.stringify(j, (k, v: unknown) => (/uptime/i.test(k) ? undefined : v)).replace(/\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z/g, '<time>');
  let checked = 0;
  for (const { method, path, op } of routes()) {
    const query = op.parameters.filter((p) => p.in === 'query');
    if (method !== 'GET' || !query.length || /\{/.test(path)) continue;
    for (const p of query) {
      const url = (v: string): string => `${path}?${p.name}=${encodeURIComponent(v)}`;
      const baseline = await api('GET', url(NOTHING));
      for (const v of SQL) {
        const r = await api('GET', url(v));
        checked++;
        const what = `${path}?${p.name}=${JSON.stringify(v)}`;
        if (r.status === 200 && baseline.status === 200) {
          // The filter may be echoed back: that is the only difference allowed.
          const expected = strip(baseline.json ?? baseline.text).split(JSON.stringify(NOTHING).slice(1, -1)).join(JSON.stringify(v).slice(1, -1));
          t.equal(strip(r.json ?? r.text), expected, `${what}: same answer as a value that matches nothing`);
        } else if (r.status === 200) {
          // A cursor of garbage may still decode to some key (base64url is lenient): only an empty page is harmless.
          t.same(r.json?.items, [], `${what}: 200 where a plain non-match got ${baseline.status}, so it must be an empty page`);
        } else {
          clear4xx(t, r, `${path}?${p.name}=${JSON.stringify(v)}`);
          t.equal(r.status, 400);
        }
      }
    }
  }
  t.ok(checked > 100, `${checked} filter requests`);
  t.equal(await dbDigest(), before, 'database unchanged');
});

t.test('afterwards: the daemon is alive, serves SMTP, and never logged the token', async (t) => {
  t.equal((await call('GET', '/healthz')).status, 200, '/healthz');
  t.equal((await api('GET', '/api/v1/status')).status, 200, 'the API with the token');
  t.ok(queuedId(await goodTransaction(child.port)), 'SMTP still accepts mail');
  t.equal(child.proc.exitCode, null, 'the daemon never exited');
  const log = child.output();
  t.ok(/"level":"(trace|debug)"/.test(log), `the daemon logged at debug/trace level (${log.length} bytes of log)`);
  t.ok(/admin request refused/.test(log), 'the refused requests were logged');
  t.notOk(log.includes(TOKEN), 'the token appears nowhere in the log');
  t.notOk(log.includes(TOKEN.slice(10)), 'nor any long part of it');
  t.notOk(log.includes(Buffer.from(`admin:${TOKEN}`).toString('base64')), 'nor its Basic encoding');
});

t.test('a web page in the operator\'s browser: no API without the token, no simple bodies, no foreign Host or Origin', async (t) => {
  // A second daemon as the example file sets it up: admin.token empty, admin on loopback.
  const web = await prepareChild({ logLevel: 'debug' });
  const dev = await startChild(web);
  t.teardown(async () => { dev.proc.kill('SIGKILL'); await dev.exited; });
  const p = childAdminPort(web);
  const token = readAdminToken(web.dataDir)!;
  t.ok(token && token.length >= 32, 'a token was generated at the first start');
  t.equal(statSync(join(web.dataDir, 'admin.token')).mode & 0o777, 0o600, 'it is kept 0600 in the data dir');
  t.equal(dev.output().split(token).length - 1, 1, 'and printed once');
  const before = await dbDigest(web.dataDir);

  const bodies: [string, string][] = [
    ['/api/v1/send', JSON.stringify({ from: 'app@example.com', to: 'victim@dest.test', subject: 'hi', text: 'from a web page' })],
    ['/api/v1/senders', JSON.stringify({ address: 'page@example.com', password: 'the page knows this one' })],
    ['/api/v1/webhooks', JSON.stringify({ url: 'https://evil.example/hook' })],
  ];
  // The types a page may post anywhere without a preflight ('' = no Content-Type at all).
  const simple = ['', 'text/plain', 'text/plain; charset=utf-8', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x'];
  const page = { origin: 'https://evil.example', 'sec-fetch-site': 'cross-site', 'sec-fetch-mode': 'no-cors' };
  for (const [path, body] of bodies) {
    for (const type of simple) {
      const what = `POST ${path} as ${type || 'no type'}`;
      const fromPage = await callAt(p, 'POST', path, { 'content-type': type, ...page }, body);
      t.equal(fromPage.status, 403, `${what} from https://evil.example → 403`);
      t.match(fromPage.json, { error: { code: 'MTA_ERR_FORBIDDEN', message: /cross-origin/ } });
      const noToken = await callAt(p, 'POST', path, { 'content-type': type }, body);
      t.equal(noToken.status, 401, `${what} without the token, from loopback → 401`);
      const withToken = await callAt(p, 'POST', path, { 'content-type': type, authorization: `Bearer ${token}` }, body);
      t.equal(withToken.status, 415, `${what} even with the token → 415`);
      t.match(withToken.json, { error: { code: 'MTA_ERR_UNSUPPORTED_MEDIA', message: /send application\/json/ } });
    }
  }
  const auth = { authorization: `Bearer ${token}` };
  const refused: [string, Record<string, string>, RegExp][] = [
    ['DNS rebinding: Host rebind.evil.example', { host: `rebind.evil.example:${p}` }, /Host "rebind\.evil\.example:\d+" is not a name of this admin API/],
    ['a foreign Host without a port', { host: 'evil.example' }, /is not a name/],
    ['Origin https://evil.example', { origin: 'https://evil.example' }, /cross-origin request from "https:\/\/evil\.example"/],
    ['Origin of the same host on another port', { origin: 'http://127.0.0.1:1' }, /cross-origin/],
    ['Origin null (a sandboxed frame)', { origin: 'null' }, /cross-origin/],
    ['Sec-Fetch-Site: cross-site', { 'sec-fetch-site': 'cross-site' }, /Sec-Fetch-Site: cross-site/],
    ['Sec-Fetch-Site: same-site', { 'sec-fetch-site': 'same-site' }, /Sec-Fetch-Site: same-site/],
  ];
  for (const [what, headers] of refused) {
    for (const [path, body] of bodies) {
      const r = await callAt(p, 'POST', path, { ...auth, ...headers }, body);
      t.equal(r.status, 403, `${what}, POST ${path}, with the token → 403`);
    }
    const g = await callAt(p, 'GET', '/api/v1/status', { ...auth, ...headers });
    t.equal(g.status, 403, `${what}, GET /api/v1/status → 403`);
    t.match(g.json, { error: { code: 'MTA_ERR_FORBIDDEN', message: refused.find((x) => x[0] === what)![2] } });
    t.equal((await callAt(p, 'GET', '/metrics', { ...auth, ...headers })).status, 403, `${what}, /metrics (not public) → 403`);
  }
  t.equal(await dbDigest(web.dataDir), before, 'nothing was sent, no sender or webhook made: database unchanged');

  // What is still served: the API's own names, same-origin requests, /healthz from anywhere.
  for (const headers of [{ host: `localhost:${p}` } as Record<string, string>, { host: `mta.test:${p}` }, { host: `127.0.0.1:${p}` }, { origin: `http://127.0.0.1:${p}`, 'sec-fetch-site': 'same-origin' }]) {
    t.equal((await callAt(p, 'GET', '/api/v1/status', { ...auth, ...headers })).status, 200, `${JSON.stringify(headers)} with the token → 200`);
  }
  t.equal((await callAt(p, 'GET', '/healthz', { host: 'rebind.evil.example', ...page })).status, 200, '/healthz stays public');
  const cli = await runMta(['status', '--config', web.configPath]);
  t.equal(cli.code, 0, `the CLI finds the generated token (${cli.err.trim()})`);
  t.match(cli.out, /state\s+running/);
});
