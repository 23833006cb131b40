// Async notifications end to end: real deliveries to sinks on loopback produce outbox rows
// in the outcome's transaction; the daemon's dispatcher POSTs them, signed, to a real HTTP
// receiver. Retries, restarts, sender-level targeting, the deferred rule, the form body,
// and the `mta webhook` CLI.
import t from 'tap';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { startWorld, allFinal, type World } from './helpers/delivery.js';
import { startReceiver, verifySignature, type Receiver } from './helpers/receiver.js';
import { RawSmtp, message } from './helpers/smtp-client.js';
import { PASSWORD, tempDir } from './helpers/daemon.js';
import { runMta } from './helpers/run.js';
import { WebhookService } from '../src/events/webhooks.js';
import { Daemon } from '../src/daemon/daemon.js';
import { createLogger } from '../src/util/log.js';
import { openTestStore } from './helpers/store.js';
import type { Store } from '../src/spool/types.js';
import { newQueueId, type QueueId } from '../src/util/ids.js';
import type { RecipientEventPayload } from '../src/events/payload.js';

const WEBHOOKS = '[webhooks]\nallow_private = true\nretry_schedule = ["50ms"]\nretry_jitter = 0\ntimeout = "3s"\nmax_age = "10m"\n';
const SECRET = 'a-test-secret-of-some-length';

let w: World;
let rx: Receiver;
let hooks: WebhookService;
t.before(async () => {
  w = await startWorld('send_dsn = false\n', { extraToml: WEBHOOKS });
  rx = await startReceiver();
  hooks = new WebhookService(w.daemon.daemon.store, () => w.daemon.daemon.config);
  await w.addDomain('ok.test', 2);
  await w.addDomain('gone.test', 3, { rcpt: () => '550 5.1.1 <x@gone.test>: Recipient address rejected: User unknown' });
  await w.daemon.addSender('news@example.com');
});
t.teardown(async () => { await w.stop(); await rx.close(); });

/** Submits over SMTP as `from` (a sender added with the test password). */
async function submitAs(from: string, to: string[], extra = ''): Promise<QueueId> {
  const c = await RawSmtp.connect(w.daemon.port);
  await c.greet(); await c.ehlo();
  t.equal((await c.authPlain(from, PASSWORD)).code, 235);
  await c.cmd(`MAIL FROM:<${from}>`);
  for (const r of to) t.equal((await c.cmd(`RCPT TO:<${r}>`)).code, 250);
  const d = await c.data(Buffer.from(message(from, to[0]!, 'hello', 'hi\r\n', extra) + '.\r\n'));
  await c.quit();
  return d.text.split(' ').pop() as QueueId;
}

const events = (path: string): RecipientEventPayload[] => rx.acked(path).map((r) => JSON.parse(r.body) as RecipientEventPayload);

t.test('events are signed and carry the DirectMail fields', async (t) => {
  const { webhook } = await hooks.add({ url: rx.url('/signed'), secret: SECRET });
  t.teardown(() => hooks.remove(webhook.id));
  const id = await w.submit(['a@ok.test', 'b@gone.test'], { extra: 'X-Mta-Tag: welcome\r\n' });
  const m = await w.waitFor('delivery', async () => { const m = await w.message(id); return allFinal(m) && m; });
  await w.waitFor('two events', () => rx.acked('/signed').length === 2);
  for (const r of rx.acked('/signed')) {
    t.ok(verifySignature(r, SECRET), 'signature verifies');
    t.notOk(verifySignature(r, 'another-secret-of-16+'), 'and not with another secret');
    t.equal(r.headers['content-type'], 'application/json');
    t.match(r.headers['x-mta-delivery'], /^\d+$/);
  }
  const byRcpt = Object.fromEntries(events('/signed').map((e) => [e.rcpt, e]));
  const time = /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$/;
  t.match(byRcpt['a@ok.test'], {
    event: 'delivered', env_id: id, msg_id: m.messageId.replace(/[<>]/g, ''), account: 'app@example.com', from: 'app@example.com',
    recv_time: time, end_time: time, status: 0, err_code: 250, err_msg: /^250 /, tag: 'welcome', attempts: 1, bounce_category: null,
  });
  t.match(byRcpt['b@gone.test'], { event: 'failed', status: 2, err_code: 550, err_msg: /User unknown/, bounce_category: 'user_unknown', attempts: 1 });
  t.equal(rx.acked('/signed')[0]!.headers['x-mta-event'], events('/signed')[0]!.event);
});

t.test('form format reproduces DirectMail\'s key=value body', async (t) => {
  const { webhook } = await hooks.add({ url: rx.url('/form'), format: 'form', events: 'delivered', secret: SECRET });
  t.teardown(() => hooks.remove(webhook.id));
  const id = await w.submit('c@ok.test');
  await w.waitFor('form event', () => rx.acked('/form').length === 1);
  const r = rx.acked('/form')[0]!;
  t.equal(r.headers['content-type'], 'application/x-www-form-urlencoded');
  t.ok(verifySignature(r, SECRET), 'the signature covers the form body as sent');
  t.match(r.body, /^event=delivered&env_id=/);
  const f = new URLSearchParams(r.body);
  t.equal(f.get('env_id'), id);
  t.equal(f.get('rcpt'), 'c@ok.test');
  t.equal(f.get('status'), '0');
  t.equal(f.get('err_code'), '250');
  t.equal(f.get('tag'), '', 'null is an empty value');
  t.match(f.get('recv_time'), /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$/);
});

t.test('an endpoint that fails five times, then succeeds, gets every event exactly once', async (t) => {
  rx.on('/flaky', (n) => (n <= 5 ? 500 : 200));
  const { webhook } = await hooks.add({ url: rx.url('/flaky'), secret: SECRET });
  t.teardown(() => hooks.remove(webhook.id));
  const rcpts = ['f1@ok.test', 'f2@ok.test', 'f3@ok.test'];
  await w.submit(rcpts);
  const store = w.daemon.daemon.store;
  await w.waitFor('the outbox to drain', async () => {
    const b = await store.webhookBacklog();
    return rx.acked('/flaky').length >= 3 && b.pending + b.failed === 0;
  });
  // Let any stray retry show itself before counting.
  await new Promise((r) => setTimeout(r, 300));
  const got = events('/flaky').map((e) => `${e.event} ${e.rcpt}`).sort();
  t.same(got, rcpts.map((r) => `delivered ${r}`), 'each event acknowledged once');
  const all = rx.requests.filter((r) => r.path === '/flaky');
  t.equal(all.filter((r) => r.status === 500).length, 5, 'after five failures');
  const ids = new Set(all.map((r) => r.headers['x-mta-delivery']));
  t.equal(ids.size, 3, 'retries carry the same delivery id');
  const log = await hooks.log({ id: webhook.id, limit: 100 });
  t.equal(log.filter((a) => a.status === 500).length, 5, 'the log has every failure with its status');
  t.equal(log.filter((a) => a.status === 200).length, 3);
  t.match(log.find((a) => a.status === 500), { error: /^nope \d/, event: 'delivered' });
});

t.test('a sender-level webhook takes its sender\'s events; account-level ones hear the rest', async (t) => {
  const account = await hooks.add({ url: rx.url('/account'), secret: SECRET });
  const news = await hooks.add({ url: rx.url('/news'), sender: 'News@Example.com', secret: SECRET });
  t.teardown(async () => { await hooks.remove(account.webhook.id); await hooks.remove(news.webhook.id); });
  t.equal(news.webhook.scope, 'news@example.com');
  await submitAs('news@example.com', ['n1@ok.test']);
  await submitAs('app@example.com', ['a1@ok.test']);
  await w.waitFor('both events', () => rx.acked('/account').length + rx.acked('/news').length === 2);
  await new Promise((r) => setTimeout(r, 200));
  t.same(events('/news').map((e) => [e.from, e.rcpt]), [['news@example.com', 'n1@ok.test']]);
  t.same(events('/account').map((e) => [e.from, e.rcpt]), [['app@example.com', 'a1@ok.test']]);
});

t.test('deferred: reported for the first deferral only, then the outcome', async (t) => {
  await w.addDomain('slow.test', 4, { rcpt: (_a, n) => (n <= 3 ? '451 4.3.0 try again later' : undefined) });
  const { webhook } = await hooks.add({ url: rx.url('/deferred'), events: ['deferred', 'delivered'], secret: SECRET });
  t.teardown(() => hooks.remove(webhook.id));
  const id = await w.submit('d@slow.test');
  const m = await w.waitFor('delivery after three deferrals', async () => { const m = await w.message(id); return allFinal(m) && m; });
  t.equal(m.recipients[0]!.attempts, 4);
  await w.waitFor('events', () => rx.acked('/deferred').some((r) => r.body.includes('"delivered"')));
  t.same(events('/deferred').map((e) => e.event).sort(), ['deferred', 'delivered']);
  t.match(events('/deferred').find((e) => e.event === 'deferred'), { status: 4, err_code: 451, attempts: 1, bounce_category: 'receiver_temporary' });
});

t.test('a restart loses nothing: failing, in-flight and leased events are all delivered once', async (t) => {
  const w2 = await startWorld('send_dsn = false\n', { extraToml: WEBHOOKS });
  await w2.addDomain('ok.test', 5);
  let mode: 'fail' | 'hang' | 'ok' = 'fail';
  rx.on('/restart', () => (mode === 'fail' ? 503 : mode === 'hang' ? 'hang' : 200));
  const svc = (store: Store): WebhookService => new WebhookService(store, () => w2.daemon.daemon.config);
  const { webhook } = await svc(w2.daemon.daemon.store).add({ url: rx.url('/restart'), secret: SECRET });
  const id = await w2.submit(['r1@ok.test', 'r2@ok.test', 'r3@ok.test']);
  await w2.waitFor('delivery', async () => { const m = await w2.message(id); return allFinal(m) && m; });
  await w2.waitFor('every event refused at least once', async () => {
    const log = await svc(w2.daemon.daemon.store).log({ id: webhook.id, limit: 1000 });
    return new Set(log.map((a) => a.outbox_id)).size === 3;
  });
  mode = 'hang';
  await w2.waitFor('a request in flight', () => rx.requests.some((r) => r.path === '/restart' && r.status === 'hang'));
  await w2.daemon.daemon.stop();

  // Between the runs: a dispatcher that "crashed" holding leases on every row.
  const dataDir = w2.daemon.daemon.config.dataDir;
  const between = openTestStore(dataDir);
  const leased = await between.claimWebhookDue({ now: Date.now() + 3_600_000, limit: 100, leaseMs: 86_400_000 });
  t.equal(leased.length, 3, 'all three events are still in the outbox');
  await between.close();

  mode = 'ok';
  const again = new Daemon({ configPath: w2.daemon.configPath, config: w2.daemon.daemon.config, logger: createLogger('silent') });
  await again.start();
  t.teardown(async () => { await again.stop(); await w2.stop(); });
  await w2.waitFor('all three acknowledged and recorded', async () => {
    const b = await again.store.webhookBacklog();
    return rx.acked('/restart').length >= 3 && b.pending + b.failed === 0;
  });
  await new Promise((r) => setTimeout(r, 300));
  t.same(events('/restart').map((e) => e.rcpt).sort(), ['r1@ok.test', 'r2@ok.test', 'r3@ok.test'], 'each exactly once');
  const backlog = await again.store.webhookBacklog();
  t.same(backlog, { pending: 0, failed: 0, delivered: 3, dead: 0 });
});

t.test('store: outbox rows are written with the outcome; deferred at most hourly; deletes and domain events', async (t) => {
  const dir = tempDir();
  const store = openTestStore(join(dir, 'data'));
  t.teardown(async () => { await store.close(); rmSync(dir, { recursive: true, force: true }); });
  const account = await store.addWebhook({ url: 'http://127.0.0.1:1/a', sender: null, events: '*', format: 'json', secret: SECRET, createdAt: 0 });
  const t0 = Date.UTC(2026, 2, 1, 10);
  const id = newQueueId(t0);
  const body = Buffer.from('From: s@x.test\r\nSubject: s\r\n\r\nhi\r\n');
  await store.commitIncoming({
    id, receivedAt: t0, sender: 's@x.test', authUser: 's@x.test', clientIp: null, helo: null, messageId: '<m1@x.test>',
    subject: 's', size: body.length, lane: 'trigger', tag: 't1', chunks: [body], recipients: ['r1@y.test', 'r2@y.test'],
  });
  // Every look sees every row: each claim's 1 ms lease has run out by the next look.
  let look = t0 + 86_400_000;
  const claimAll = (): ReturnType<typeof store.claimWebhookDue> => store.claimWebhookDue({ now: (look += 10), limit: 100, leaseMs: 1 });
  const outbox = async (): Promise<{ hook: number; event: string; rcpt: unknown }[]> =>
    (await claimAll()).map((o) => ({ hook: o.webhookId, event: o.event, rcpt: o.payload['rcpt'] ?? o.payload['domain'] }));
  const defer = async (rcpt: string, at: number): Promise<void> => {
    const claimed = await store.claimDue({ now: at, limit: 10 });
    const e = claimed.find((x) => x.rcpt === rcpt);
    t.ok(e, `${rcpt} claimed`);
    t.equal(await store.recordOutcomes([{ recipientId: e!.recipientId, queueId: id, kind: 'deferred', at, nextAttemptAt: at, reply: '451 4.7.1 later', attempted: true, detail: { status: 4, category: 'greylisted' } }]), 1);
    await store.requeue(claimed.filter((x) => x !== e).map((x) => x.recipientId), at);
  };
  await defer('r1@y.test', t0 + 1000);
  await defer('r2@y.test', t0 + 1000);
  t.equal((await outbox()).length, 2, 'first deferral of each recipient: one event each');
  await defer('r1@y.test', t0 + 10 * 60_000);
  t.equal((await outbox()).length, 2, 'a second deferral ten minutes later: none');
  await defer('r1@y.test', t0 + 61 * 60_000);
  t.same((await outbox()).slice(2), [{ hook: account.id, event: 'deferred', rcpt: 'r1@y.test' }], 'an hour after the last report: again');

  const sender = await store.addWebhook({ url: 'http://127.0.0.1:1/s', sender: 'S@x.test', events: ['deleted', 'domain.dns_error'], format: 'form', secret: SECRET, createdAt: 0 });
  t.equal(await store.applyQueueOp('delete', { queueId: id }, t0 + 62 * 60_000), 2);
  t.same((await outbox()).slice(3), [
    { hook: sender.id, event: 'deleted', rcpt: 'r1@y.test' }, { hook: sender.id, event: 'deleted', rcpt: 'r2@y.test' },
  ], 'operator deletes are final events, for the sender-level webhook only');
  await store.saveDomainChecks('x.test', [], 'unverified', [{ at: t0, type: 'domain.dns_error', domain: 'x.test', detail: { failing: [{ check: 'spf', status: 'missing' }] } }]);
  const rows = await claimAll();
  const dns = rows.find((r) => r.event === 'domain.dns_error')!;
  t.equal(dns.webhookId, account.id, 'domain events go to account-level webhooks only');
  t.match(dns.payload, { event: 'domain.dns_error', domain: 'x.test', failing: [{ check: 'spf' }] });
  // A failed POST holds back that webhook's other events until its retry; others go on.
  const due = await claimAll();
  const first = due.find((r) => r.webhookId === account.id)!;
  await store.recordWebhookAttempt({ webhookId: account.id, outboxId: first.id, event: first.event, at: look + 5, status: 503, error: null, durationMs: 1 },
    { state: 'failed', nextAttemptAt: look + 60_000 });
  const after = await claimAll();
  t.equal(due.filter((r) => r.webhookId === account.id).length, 4);
  t.same(after.filter((r) => r.webhookId === account.id), [], 'the failing endpoint\'s other events wait for its retry');
  t.equal(after.filter((r) => r.webhookId === sender.id).length, 2, 'another webhook is not held back');
  const stats = await store.queryStats({ fromDay: '2026-03-01', toDay: '2026-03-01', by: 'tag' });
  t.same(stats, [{ key: 't1', requests: 2, delivered: 0, failed: 2, invalid: 0, deferred: 2, expired: 0, cancelled: 0, complaints: 0, late_bounces: 0, late_invalid: 0 }], 'counted in the same transactions');
});

t.test('mta webhook add|list|test|log|remove, and their errors', async (t) => {
  const cfg = w.daemon.configPath;
  const mta = (...args: string[]): ReturnType<typeof runMta> => runMta([...args, '--config', cfg]);
  rx.on('/cli-bad', () => 500);
  const add = await mta('webhook', 'add', rx.url('/cli'), '--events', 'delivered,failed');
  t.equal(add.code, 0, add.err);
  const secret = /secret: ([0-9a-f]{48})\n/.exec(add.out)?.[1];
  t.ok(secret, 'a generated secret is printed');
  const hookId = /added webhook (\d+):/.exec(add.out)![1]!;
  const bad = JSON.parse((await mta('webhook', 'add', rx.url('/cli-bad'), '--format', 'form', '--secret', SECRET, '--json')).out) as { id: number; secret?: string };
  t.notOk('secret' in bad, 'a given secret is not echoed');
  const list = await mta('webhook', 'list');
  t.match(list.out, /^ID\s+URL\s+SCOPE\s+EVENTS\s+FORMAT\s+STATE\s+BACKLOG\s+DEAD\s+CREATED_AT\n/);
  t.match(list.out, new RegExp(`\\n${hookId}\\s+http://127\\.0\\.0\\.1:\\d+/cli\\s+account\\s+delivered,failed\\s+json\\s+enabled\\s+0\\s+0`));
  t.notOk(list.out.includes(secret!), 'the secret is never listed');
  const json = JSON.parse((await mta('webhook', 'list', '--json')).out) as Record<string, unknown>[];
  t.notOk(json.some((h) => 'secret' in h));

  const ok = await mta('webhook', 'test', hookId);
  t.equal(ok.code, 0, ok.err);
  t.match(ok.out, new RegExp(`^webhook ${hookId}: http://127\\.0\\.0\\.1:\\d+/cli answered HTTP 200 in \\d+ ms\\n$`));
  const sent = rx.acked('/cli').find((r) => r.headers['x-mta-event'] === 'test')!;
  t.ok(verifySignature(sent, secret!), 'the test event is signed with the generated secret');
  t.match(JSON.parse(sent.body), { event: 'test', webhook_id: Number(hookId) });
  const ko = await mta('webhook', 'test', String(bad.id));
  t.equal(ko.code, 1);
  t.match(ko.out, /answered HTTP 500 in \d+ ms: nope 1/);
  t.match(ko.err, /did not accept the test event \(HTTP 500\) \(MTA_ERR_WEBHOOK\)/);
  const log = await mta('webhook', 'log', String(bad.id));
  t.match(log.out, /^AT\s+WEBHOOK\s+EVENT\s+DELIVERY\s+STATUS\s+MS\s+RESULT\n\S+Z\s+\d+\s+test\s+test\s+500\s+\d+\s+refused: HTTP 500 \(body: nope 1\)\n$/);

  for (const [args, re] of [
    [['webhook', 'test', '999'], /no webhook 999 .*MTA_ERR_NOT_FOUND/],
    [['webhook', 'remove', '999'], /no webhook 999/],
    [['webhook', 'log', 'x1'], /"x1" is not a webhook id/],
    [['webhook', 'add', 'ftp://example.com/x'], /must be an http:\/\/ or https:\/\/ URL/],
    [['webhook', 'add', 'not a url'], /is not a URL/],
    [['webhook', 'add', rx.url('/x'), '--events', 'delivered,opened'], /unknown event "opened"; known: delivered, failed/],
    [['webhook', 'add', rx.url('/x'), '--format', 'xml'], /format must be "json" or "form"/],
    [['webhook', 'add', rx.url('/x'), '--secret', 'short'], /at least 16 characters/],
    [['webhook', 'add', rx.url('/x'), '--sender', 'nobody@example.com'], /nobody@example\.com is not a sender address/],
  ] as [string[], RegExp][]) {
    const r = await mta(...args);
    t.equal(r.code, 1, args.join(' '));
    t.match(r.err, re);
  }
  t.equal((JSON.parse((await mta('webhook', 'list', '--json')).out) as unknown[]).length, 2, 'refused adds changed nothing');
  const rm = await mta('webhook', 'remove', hookId);
  t.equal(rm.code, 0, rm.err);
  t.match(rm.out, new RegExp(`^removed webhook ${hookId}`));
  t.equal((await mta('webhook', 'remove', String(bad.id))).code, 0);
  t.match((await mta('webhook', 'list')).out, /no webhooks/);
});
