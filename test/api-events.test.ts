// The admin API's webhook, statistics, send-detail and suppression-export routes over a
// real loopback listener: each route's happy path and a malformed input, 401 without the
// token, the OpenAPI document, a webhook added through the API receiving a signed `test`
// event, and the webhook backlog gauge in /metrics. Every response is also checked by the
// server against its declared schema (apiClient turns checkResponses on).
import t from 'tap';
import { startDaemon, PASSWORD, type TestDaemon } from './helpers/daemon.js';
import { startReceiver, verifySignature, type Receiver } from './helpers/receiver.js';
import { RawSmtp, message } from './helpers/smtp-client.js';
import { apiClient, metricValue, type Call } from './helpers/api.js';
import { StatsService } from '../src/stats/stats.js';

const TOKEN = 'api-events-token-0123456789';

let d: TestDaemon;
let rx: Receiver;
let call: Call;
let anon: Call;

t.before(async () => {
  d = await startDaemon(`[admin]\nlisten = "127.0.0.1:0"\ntoken = "${TOKEN}"\n[webhooks]\nallow_private = true\ntimeout = "3s"\n`);
  rx = await startReceiver();
  call = apiClient(d, TOKEN);
  anon = apiClient(d, '');
});
t.teardown(async () => { await d.stop(); await rx.close(); });

async function submit(rcpts: string[], tag?: string): Promise<string> {
  const c = await RawSmtp.connect(d.port);
  await c.greet(); await c.ehlo();
  t.equal((await c.authPlain('app@example.com', PASSWORD)).code, 235);
  await c.cmd('MAIL FROM:<app@example.com>');
  for (const r of rcpts) t.equal((await c.cmd(`RCPT TO:<${r}>`)).code, 250);
  const r = await c.data(message('app@example.com', rcpts[0]!, 'hello', 'hi\r\n', tag ? `X-Mta-Tag: ${tag}\r\n` : '') + '.\r\n');
  await c.quit();
  t.equal(r.code, 250, 'accepted');
  return r.text.split(' ').pop()!;
}

const NEW_ROUTES: [string, string][] = [
  ['GET', '/api/v1/webhooks'], ['POST', '/api/v1/webhooks'], ['DELETE', '/api/v1/webhooks/1'], ['POST', '/api/v1/webhooks/1/test'],
  ['GET', '/api/v1/webhooks/1/log'], ['GET', '/api/v1/webhooks/log'], ['GET', '/api/v1/stats'], ['GET', '/api/v1/messages'],
  ['GET', '/api/v1/suppressions/export'],
];

t.test('401 without the token on every new route', async (t) => {
  for (const [m, p] of NEW_ROUTES) {
    const r = await anon(m, p, m === 'POST' ? {} : undefined);
    t.equal(r.status, 401, `${m} ${p}`);
    t.equal(r.json.error.code, 'MTA_ERR_AUTH');
  }
});

t.test('the OpenAPI document lists the new paths', async (t) => {
  const doc = (await call('GET', '/api/v1/openapi.json')).json as { paths: Record<string, Record<string, any>> };
  const want: [string, string][] = [
    ['/api/v1/webhooks', 'get'], ['/api/v1/webhooks', 'post'], ['/api/v1/webhooks/{id}', 'delete'], ['/api/v1/webhooks/{id}/test', 'post'],
    ['/api/v1/webhooks/{id}/log', 'get'], ['/api/v1/webhooks/log', 'get'], ['/api/v1/stats', 'get'], ['/api/v1/messages', 'get'],
    ['/api/v1/suppressions/export', 'get'],
  ];
  for (const [p, m] of want) t.ok(doc.paths[p]?.[m], `${m.toUpperCase()} ${p} documented`);
  t.ok(doc.paths['/api/v1/suppressions/export']!['get'].responses['200'].content['text/csv'], 'the export is text/csv');
  t.ok(doc.paths['/api/v1/webhooks']!['post'].requestBody.content['application/json'].schema.properties.url, 'the add body is described');
  t.same(doc.paths['/api/v1/stats']!['get'].parameters.map((x: { name: string }) => x.name), ['from', 'to', 'domain', 'sender', 'tag', 'by']);
});

t.test('webhooks: add (secret once), list, signed test event, log, remove; malformed input', async (t) => {
  // add
  let r = await call('POST', '/api/v1/webhooks', { url: rx.url('/hook'), events: ['delivered', 'failed'] });
  t.equal(r.status, 201, r.text);
  const secret = r.json.secret as string;
  t.match(r.json, { id: Number, url: rx.url('/hook'), scope: 'account', sender: null, events: ['delivered', 'failed'], format: 'json', disabled: false });
  t.match(secret, /^[0-9a-f]{48}$/, 'a generated secret is returned');
  const id = r.json.id as number;
  r = await call('POST', '/api/v1/webhooks', { url: rx.url('/bad'), secret: 'given-secret-0123456789', format: 'form', sender: 'app@example.com' });
  t.equal(r.status, 201);
  t.notOk('secret' in r.json, 'a given secret is not echoed');
  t.equal(r.json.scope, 'app@example.com');
  const bad = r.json.id as number;
  rx.on('/bad', () => 500);

  // malformed adds: the service's checks, with the field at fault
  for (const [body, field] of [
    [{ url: 'ftp://example.com/x' }, 'url'], [{ url: rx.url('/x'), events: ['nope'] }, 'events'], [{ url: rx.url('/x'), secret: 'short' }, 'secret'],
    [{ url: rx.url('/x'), format: 'xml' }, 'format'], [{ url: rx.url('/x'), bogus: 1 }, 'bogus'], [{}, 'url'],
  ] as [Record<string, unknown>, string][]) {
    r = await call('POST', '/api/v1/webhooks', body);
    t.equal(r.status, 400, `${JSON.stringify(body)} → 400`);
    t.match(r.json.error, { code: 'MTA_ERR_INVALID', field });
  }
  r = await call('POST', '/api/v1/webhooks', { url: rx.url('/x'), sender: 'nobody@example.com' });
  t.match([r.status, r.json.error], [404, { code: 'MTA_ERR_NOT_FOUND', field: 'sender' }], 'an unknown sender is 404');

  // list: secrets never shown; paged by id
  r = await call('GET', '/api/v1/webhooks');
  t.equal(r.status, 200);
  t.same(r.json.items.map((w: { id: number }) => w.id), [id, bad]);
  t.equal(r.json.next_cursor, null);
  t.notOk(JSON.stringify(r.json).includes(secret), 'the secret is not listed');
  t.match(r.json.items[0], { backlog: 0, dead: 0 });
  r = await call('GET', '/api/v1/webhooks?limit=1');
  t.same(r.json.items.map((w: { id: number }) => w.id), [id]);
  r = await call('GET', `/api/v1/webhooks?limit=1&cursor=${r.json.next_cursor as string}`);
  t.same([r.json.items.map((w: { id: number }) => w.id), r.json.next_cursor], [[bad], null]);
  r = await call('GET', '/api/v1/webhooks?cursor=garbage');
  t.match([r.status, r.json.error], [400, { code: 'MTA_ERR_INVALID', field: 'cursor' }]);
  r = await call('GET', '/api/v1/webhooks?limit=0');
  t.match([r.status, r.json.error], [400, { field: 'limit' }]);

  // test: the receiver gets a signed `test` event
  r = await call('POST', `/api/v1/webhooks/${id}/test`);
  t.equal(r.status, 200, r.text);
  t.match(r.json, { id, url: rx.url('/hook'), ok: true, status: 200, error: null, duration_ms: Number });
  const got = rx.requests.filter((q) => q.path === '/hook');
  t.equal(got.length, 1, 'one request at the receiver');
  t.match(JSON.parse(got[0]!.body), { event: 'test', webhook_id: id });
  t.ok(verifySignature(got[0]!, secret), 'signed with the secret the API returned');
  r = await call('POST', `/api/v1/webhooks/${bad}/test`);
  t.match([r.status, r.json.error], [502, { code: 'MTA_ERR_WEBHOOK', message: /HTTP 500/ }], 'a refused test event is 502');
  r = await call('POST', '/api/v1/webhooks/abc/test');
  t.match([r.status, r.json.error], [400, { code: 'MTA_ERR_INVALID', field: 'id' }]);
  r = await call('POST', '/api/v1/webhooks/999/test');
  t.match([r.status, r.json.error], [404, { code: 'MTA_ERR_NOT_FOUND', field: 'id' }]);
  r = await call('POST', `/api/v1/webhooks/${id}/test`, { now: true });
  t.equal(r.status, 400, 'test takes no body');

  // log: one webhook, and all, newest first
  r = await call('GET', `/api/v1/webhooks/${id}/log`);
  t.equal(r.status, 200);
  t.match(r.json.items, [{ webhook_id: id, outbox_id: null, event: 'test', status: 200, error: null }]);
  t.equal(r.json.items.length, 1);
  r = await call('GET', '/api/v1/webhooks/log');
  t.same(r.json.items.map((a: { webhook_id: number }) => a.webhook_id), [bad, id]);
  t.equal(r.json.items[0].status, 500);
  t.equal((await call('GET', '/api/v1/webhooks/log?limit=1')).json.items.length, 1);
  r = await call('GET', '/api/v1/webhooks/log?limit=0');
  t.match([r.status, r.json.error], [400, { field: 'limit' }]);
  r = await call('GET', '/api/v1/webhooks/abc/log');
  t.match([r.status, r.json.error], [400, { field: 'id' }]);
  r = await call('GET', '/api/v1/webhooks/999/log');
  t.equal(r.status, 404);

  // remove
  r = await call('DELETE', `/api/v1/webhooks/${bad}`);
  t.same([r.status, r.json], [200, { deleted: true, id: bad, dropped: 0 }]);
  r = await call('DELETE', `/api/v1/webhooks/${bad}`);
  t.match([r.status, r.json.error], [404, { code: 'MTA_ERR_NOT_FOUND' }]);
  r = await call('DELETE', '/api/v1/webhooks/-1');
  t.match([r.status, r.json.error], [400, { field: 'id' }]);
  t.same((await call('GET', '/api/v1/webhooks')).json.items.map((w: { id: number }) => w.id), [id]);
});

t.test('stats and messages after a couple of submissions', async (t) => {
  const q1 = await submit(['a@dest.test', 'b@dest.test'], 'welcome');
  const q2 = await submit(['c@other.test']);
  const stats = new StatsService(d.daemon.store);

  // stats: the report mta stats --json prints
  let r = await call('GET', '/api/v1/stats');
  t.equal(r.status, 200, r.text);
  t.same(r.json, JSON.parse(JSON.stringify(await stats.query({}))), 'the same report as the service (mta stats --json)');
  t.equal(r.json.by, 'day');
  t.equal(r.json.total.requests, 3, 'requests counted at intake, per recipient');
  r = await call('GET', '/api/v1/stats?by=tag');
  t.same(r.json, JSON.parse(JSON.stringify(await stats.query({ by: 'tag' }))));
  t.ok(r.json.rows.some((x: { key: string; requests: number }) => x.key === 'welcome' && x.requests === 2), 'grouped by tag');
  r = await call('GET', '/api/v1/stats?sender=app@example.com&domain=example.com&tag=welcome');
  t.match(r.json, { filter: { sender: 'app@example.com', domain: 'example.com', tag: 'welcome' }, total: { requests: 2 } });
  for (const [q, field] of [['from=2026-13-45', 'from'], ['by=week', 'by'], ['from=2020-01-01&to=2020-03-01', 'to'], ['sender=not-an-address', 'sender'], ['bogus=1', 'bogus']]) {
    r = await call('GET', `/api/v1/stats?${q}`);
    t.equal(r.status, 400, `stats?${q} → 400`);
    t.match(r.json.error, { code: 'MTA_ERR_INVALID', field });
  }

  // messages: the page mta log --json prints
  r = await call('GET', '/api/v1/messages');
  t.equal(r.status, 200, r.text);
  t.same(r.json, JSON.parse(JSON.stringify(await stats.details({ from: r.json.from, to: r.json.to }))), 'the same page as the service (mta log --json)');
  t.equal(r.json.items.length, 3);
  t.same(r.json.items.map((i: { rcpt: string }) => i.rcpt).sort(), ['a@dest.test', 'b@dest.test', 'c@other.test']);
  t.match(r.json.items[0], { queue_id: q2, sender: 'app@example.com', result: 'queued', state: 'queued', tag: null });
  t.notOk('events' in r.json.items[0], 'no history unless asked');
  r = await call('GET', '/api/v1/messages?rcpt=b@dest.test&events=true');
  t.match(r.json.items, [{ queue_id: q1, rcpt: 'b@dest.test', tag: 'welcome', events: Array }]);
  t.equal(r.json.items.length, 1);
  t.ok(r.json.items[0].events.length >= 1, 'events are included');
  r = await call('GET', '/api/v1/messages?tag=welcome&result=queued&sender=app@example.com');
  t.equal(r.json.items.length, 2);
  t.equal((await call('GET', '/api/v1/messages?result=delivered')).json.items.length, 0);
  // paging
  r = await call('GET', '/api/v1/messages?limit=2');
  t.equal(r.json.items.length, 2);
  t.type(r.json.next_cursor, 'string');
  const r2 = await call('GET', `/api/v1/messages?limit=2&cursor=${r.json.next_cursor as string}`);
  t.equal(r2.json.items.length, 1);
  t.equal(r2.json.next_cursor, null);
  for (const [q, field] of [['result=bogus', 'result'], ['cursor=abc', 'cursor'], ['limit=0', 'limit'], ['from=yesterday', 'from'], ['events=yes', 'events'], ['rcpt=a%01b', 'rcpt']]) {
    r = await call('GET', `/api/v1/messages?${q}`);
    t.equal(r.status, 400, `messages?${q} → 400`);
    t.match(r.json.error, { code: 'MTA_ERR_INVALID', field });
  }
});

t.test('suppression export: CSV with a header row, filtered like the CLI', async (t) => {
  for (const address of ['one@gone.test', 'two@gone.test', 'three@else.test']) {
    t.equal((await call('POST', '/api/v1/suppressions', { address, reason: 'bounced, hard' })).status, 200);
  }
  let r = await call('GET', '/api/v1/suppressions/export');
  t.equal(r.status, 200);
  t.match(r.headers.get('content-type'), /^text\/csv/);
  t.match(r.headers.get('content-disposition'), /attachment; filename="suppressions\.csv"/);
  const lines = r.text.trim().split('\n');
  t.equal(lines[0], 'address,scope,source,reason,created_at', 'header row');
  t.equal(lines.length, 4);
  t.match(lines[1], /^one@gone\.test,,manual,"bounced, hard",\d{4}-\d\d-\d\dT/);
  r = await call('GET', '/api/v1/suppressions/export?search=gone&format=csv');
  t.same(r.text.trim().split('\n').slice(1).map((l) => l.split(',')[0]), ['one@gone.test', 'two@gone.test']);
  r = await call('GET', '/api/v1/suppressions/export?until=2000-01-01');
  t.equal(r.text.trim(), 'address,scope,source,reason,created_at', 'only the header when nothing matches');
  for (const [q, field] of [['since=yesterday', 'since'], ['format=xlsx', 'format'], ['since=2030-01-02&until=2030-01-01', 'since']]) {
    r = await call('GET', `/api/v1/suppressions/export?${q}`);
    t.equal(r.status, 400, `export?${q} → 400`);
    t.match(r.json.error, { code: 'MTA_ERR_INVALID', field });
  }
});

t.test('/metrics: the webhook backlog gauge (read from the spool) and the failure counter', async (t) => {
  const r = await call('GET', '/metrics');
  t.equal(r.status, 200);
  t.match(r.text, /^# TYPE mta_webhook_backlog gauge$/m);
  t.match(r.text, /^mta_webhook_backlog \d+$/m);
  t.match(r.text, /^mta_webhook_failures_total \d+$/m);
  const outbox = await d.daemon.store.webhookBacklog();
  t.equal(metricValue(r.text, 'mta_webhook_backlog'), outbox.pending + outbox.failed, 'the gauge is the outbox\'s pending + failed rows');
});
