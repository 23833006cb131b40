// Webhook targets (security review 14.9, 14.12), against the real daemon and a real HTTP
// receiver on loopback: by default a webhook may not point at private, loopback or
// link-local addresses — refused when added (the URL's resolved addresses) and again on
// every connection (the address actually dialled, so a name that resolves to loopback
// later is refused too), so the admin API and 169.254.169.254 cannot be probed and their
// answers never reach `webhook log`. `webhooks.allow_private` and
// `webhooks.allowed_private_ips` open it for internal receivers. Credentials in a URL are
// never shown; webhook ids are never reused, also on a database made before that rule.
import t from 'tap';
import { Writable } from 'node:stream';
import { join } from 'node:path';
import { startDaemon, tempDir } from './helpers/daemon.js';
import { apiClient } from './helpers/api.js';
import { startReceiver, type Receiver } from './helpers/receiver.js';
import { IpSet } from '../src/util/ipset.js';
import { checkedLookup, refusedAddress, type TargetPolicy } from '../src/events/target.js';
import { WebhookDispatcher } from '../src/events/dispatcher.js';
import { createLogger } from '../src/util/log.js';
import { MIGRATIONS } from '../src/spool/migrations.js';
import { SqliteStore } from '../src/spool/sqlite-store.js';
import Database from 'better-sqlite3';
import { DB_FILE } from '../src/spool/db.js';

const FAST = 'retry_schedule = ["50ms"]\nretry_jitter = 0\ntimeout = "3s"\n';

let rx: Receiver;
t.before(async () => { rx = await startReceiver(); });
t.teardown(() => rx.close());

/** Polls `f` until it gives something truthy (a deadline, not a measurement). */
async function waitFor<T>(what: string, f: () => T | false | undefined | Promise<T | false | undefined>, ms = 20_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await f();
    if (v) return v;
    if (Date.now() > end) throw new Error(`not within ${ms} ms: ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

t.test('the address rule: public unicast only, unless allowed', async (t) => {
  const strict: TargetPolicy = { allowPrivate: false, allowedPrivateIps: IpSet.parse([]) };
  const refused = ['127.0.0.1', '127.8.9.10', '::1', '::ffff:127.0.0.1', '10.1.2.3', '172.16.0.1', '192.168.1.1', '169.254.169.254',
    'fe80::1', 'fd00::1', '0.0.0.0', '::', '100.64.0.1', '224.0.0.1', '255.255.255.255'];
  for (const ip of refused) t.match(refusedAddress(ip, strict), /address: webhooks go to public addresses only/, `${ip} refused`);
  for (const ip of ['93.184.216.34', '8.8.8.8', '2606:2800:220:1:248:1893:25c8:1946']) t.equal(refusedAddress(ip, strict), undefined, `${ip} allowed`);
  const some: TargetPolicy = { allowPrivate: false, allowedPrivateIps: IpSet.parse(['10.1.2.0/24']) };
  t.equal(refusedAddress('10.1.2.3', some), undefined, 'allowed_private_ips opens its own addresses');
  t.ok(refusedAddress('10.1.3.1', some), 'and no others');
  t.equal(refusedAddress('127.0.0.1', { allowPrivate: true, allowedPrivateIps: IpSet.parse([]) }), undefined, 'allow_private opens all');

  // The connection's own lookup: what is checked is what is dialled.
  const lookup = checkedLookup(strict);
  const one = await new Promise<{ err: NodeJS.ErrnoException | null }>((resolve) => lookup('localhost', { all: false }, (err) => resolve({ err })));
  t.match(one.err, { code: 'EWEBHOOKTARGET', message: /^refused: localhost resolves to (127\.0\.0\.1|::1) is a loopback address/ });
  const all = await new Promise<{ err: NodeJS.ErrnoException | null }>((resolve) => lookup('localhost', { all: true }, (err) => resolve({ err })));
  t.match(all.err, { code: 'EWEBHOOKTARGET' }, 'also when asked for every address (autoSelectFamily)');
  const open = checkedLookup({ allowPrivate: true, allowedPrivateIps: IpSet.parse([]) });
  const ok = await new Promise<{ err: NodeJS.ErrnoException | null; address: unknown }>((resolve) => open('localhost', { all: false }, (err, address) => resolve({ err, address })));
  t.same([ok.err, typeof ok.address], [null, 'string'], 'allowed: the looked-up address is handed on');
});

t.test('SSRF: the admin API, loopback and link-local are refused by default, when added and when connecting', async (t) => {
  const d = await startDaemon(`[webhooks]\n${FAST}`);
  t.teardown(() => d.stop());
  const api = apiClient(d);
  const adminPort = d.daemon.admin!.port;
  const targets = [
    `http://127.0.0.1:${adminPort}/api/v1/status`, `http://localhost:${adminPort}/api/v1/senders`, 'http://169.254.169.254/latest/meta-data/',
    'http://[::1]:8025/', 'http://[::ffff:127.0.0.1]:8025/', 'http://10.0.0.5/hook', 'http://192.168.0.1/', 'http://0.0.0.0:8025/', rx.url('/private'),
  ];
  for (const url of targets) {
    const r = await api('POST', '/api/v1/webhooks', { url });
    t.equal(r.status, 400, `${url} → 400`);
    t.match(r.json.error, { code: 'MTA_ERR_INVALID', field: 'url', message: /is refused: .*address: webhooks go to public addresses only/ });
  }
  t.same((await api('GET', '/api/v1/webhooks')).json.items, [], 'nothing added');

  // Stored without the add-time check (before it existed, or while its name resolved to a
  // public address): the connection is refused all the same, and nothing of the target's
  // answer reaches the log.
  const store = d.daemon.store;
  const byName = await store.addWebhook({ url: rx.url('/by-name').replace('127.0.0.1', 'localhost'), sender: null, events: '*', format: 'json', secret: 'x'.repeat(32), createdAt: Date.now() });
  const byIp = await store.addWebhook({ url: `http://127.0.0.1:${adminPort}/api/v1/status`, sender: null, events: '*', format: 'json', secret: 'x'.repeat(32), createdAt: Date.now() });
  for (const [w, why] of [[byName, /^refused: localhost resolves to .* is a loopback address/], [byIp, /^refused: 127\.0\.0\.1 is a loopback address/]] as const) {
    const r = await api('POST', `/api/v1/webhooks/${w.id}/test`);
    t.equal(r.status, 502, `test event to webhook ${w.id} → 502`);
    const log = (await api('GET', `/api/v1/webhooks/${w.id}/log`)).json.items;
    t.match(log, [{ status: null, error: why }], 'the log says why, and holds no answer');
    t.notMatch(JSON.stringify(log), /"state"|running|version/, 'nothing of the admin API\'s answer');
  }
  // The dispatcher's deliveries too: a real event (a webhook's own deletion fires nothing, a queue delete does).
  const m = await api('POST', '/api/v1/send', { from: 'app@example.com', to: 'r@dest.test', subject: 's', text: 'x' });
  t.equal(m.status, 200);
  t.equal((await api('POST', `/api/v1/queue/${m.json.queue_id}/delete`)).status, 200);
  const attempts = await waitFor('the dispatcher tried both webhooks', async () => {
    const items = (await api('GET', '/api/v1/webhooks/log')).json.items as { webhook_id: number; outbox_id: number | null; error: string }[];
    const fromOutbox = items.filter((a) => a.outbox_id !== null);
    return new Set(fromOutbox.map((a) => a.webhook_id)).size === 2 && fromOutbox;
  });
  for (const a of attempts) t.match(a.error, /^refused: /, `outbox delivery to webhook ${a.webhook_id} refused`);
  t.equal(rx.requests.filter((r) => r.path === '/by-name' || r.path === '/private').length, 0, 'the loopback receiver got nothing');
});

t.test('allow_private and allowed_private_ips open internal receivers; redirects are not followed', async (t) => {
  const all = await startDaemon(`[webhooks]\nallow_private = true\n${FAST}`);
  t.teardown(() => all.stop());
  let r = await apiClient(all)('POST', '/api/v1/webhooks', { url: rx.url('/internal') });
  t.equal(r.status, 201, 'allow_private: a loopback receiver may be added');
  r = await apiClient(all)('POST', `/api/v1/webhooks/${r.json.id}/test`);
  t.match([r.status, r.json], [200, { ok: true, status: 200 }], 'and is reached');
  t.equal(rx.acked('/internal').length, 1);

  const some = await startDaemon(`[webhooks]\nallowed_private_ips = ["127.0.0.1"]\n${FAST}`);
  t.teardown(() => some.stop());
  const api = apiClient(some);
  r = await api('POST', '/api/v1/webhooks', { url: rx.url('/listed') });
  t.equal(r.status, 201, 'allowed_private_ips: a listed address may be added');
  t.match((await api('POST', `/api/v1/webhooks/${r.json.id}/test`)).json, { ok: true });
  t.equal((await api('POST', '/api/v1/webhooks', { url: 'http://10.9.9.9/' })).status, 400, 'others stay refused');
  rx.on('/moved', () => 302);
  r = await api('POST', '/api/v1/webhooks', { url: rx.url('/moved') });
  const moved = await api('POST', `/api/v1/webhooks/${r.json.id}/test`);
  t.match([moved.status, moved.json.error], [502, { code: 'MTA_ERR_WEBHOOK' }], 'a 302 is a failure, not followed');
});

t.test('credentials in a webhook URL are shown as ***, in answers, listings and the debug log', async (t) => {
  const d = await startDaemon(`[webhooks]\nallow_private = true\n${FAST}`);
  t.teardown(() => d.stop());
  const api = apiClient(d);
  const url = rx.url('/creds').replace('http://', 'http://hookuser:s3cr3t-pass@');
  const added = await api('POST', '/api/v1/webhooks', { url });
  t.equal(added.status, 201);
  t.equal(added.json.url, rx.url('/creds').replace('http://', 'http://***@'), 'the add answer');
  t.equal((await api('GET', '/api/v1/webhooks')).json.items[0].url, added.json.url, 'the listing');
  const tested = await api('POST', `/api/v1/webhooks/${added.json.id}/test`);
  t.match(tested.json, { ok: true, url: added.json.url }, 'the test answer');
  t.equal(rx.acked('/creds')[0]?.headers.authorization, `Basic ${Buffer.from('hookuser:s3cr3t-pass').toString('base64')}`, 'the receiver still gets them');

  // The dispatcher's debug line, from a dispatcher of our own (the daemon's is stopped).
  await d.daemon.webhooks!.stop();
  const lines: string[] = [];
  const sink = new Writable({ write(c: Buffer, _e, cb) { lines.push(c.toString('utf8')); cb(); } });
  const own = new WebhookDispatcher(d.daemon.config, d.daemon.store, createLogger('debug', sink));
  await own.start();
  const m = await api('POST', '/api/v1/send', { from: 'app@example.com', to: 'r@dest.test', subject: 's', text: 'x' });
  t.equal((await api('POST', `/api/v1/queue/${m.json.queue_id}/delete`)).status, 200);
  await waitFor('the deleted event delivered', () => lines.some((l) => /webhook delivered/.test(l)));
  const log = lines.join('');
  t.match(log, /"url":"http:\/\/\*\*\*@127\.0\.0\.1:\d+\/creds"/, 'the log line names the URL redacted');
  t.notOk(log.includes('s3cr3t-pass') || log.includes('hookuser'), 'and never the credentials');
  await own.stop();
});

t.test('webhook ids are never reused after a delete, also on a database made before that rule', async (t) => {
  const d = await startDaemon(`[webhooks]\n${FAST}`);
  t.teardown(() => d.stop());
  const api = apiClient(d);
  const add = async (): Promise<number> => (await api('POST', '/api/v1/webhooks', { url: 'https://hooks.example.com/x' })).json.id as number;
  const a = await add();
  const b = await add();
  t.equal((await api('DELETE', `/api/v1/webhooks/${b}`)).status, 200);
  const c = await add();
  t.equal(c, b + 1, `the highest id deleted (${b}) is not given out again: ${c}`);
  for (const id of [a, c]) await api('DELETE', `/api/v1/webhooks/${id}`);
  t.equal(await add(), c + 1, 'nor after every webhook is gone');

  // A database at the schema before the rule, with webhooks 1-3 and 3 deleted there.
  const dir = tempDir();
  t.teardown(() => import('node:fs').then((fs) => fs.rmSync(dir, { recursive: true, force: true })));
  const step = MIGRATIONS.findIndex((m) => m.includes('CREATE TABLE webhook_ids'));
  t.ok(step > 0, `the rule is migration ${step + 1}`);
  const old = new Database(join(dir, DB_FILE));
  old.pragma('journal_mode = WAL');
  for (let v = 0; v < step; v++) { old.exec(MIGRATIONS[v]!); old.pragma(`user_version = ${v + 1}`); }
  const ins = old.prepare("INSERT INTO webhooks (url, secret, created_at) VALUES ('https://hooks.example.com/old', 's', 0)");
  for (let i = 0; i < 3; i++) ins.run();
  old.close();
  const migrated = SqliteStore.open(dir);
  t.teardown(() => migrated.close());
  const before = await migrated.listWebhooks();
  t.same(before.map((w) => w.id), [1, 2, 3], 'the old webhooks keep their ids');
  await migrated.removeWebhook(3);
  const next = await migrated.addWebhook({ url: 'https://hooks.example.com/new', sender: null, events: '*', format: 'json', secret: 's'.repeat(16), createdAt: 0 });
  t.equal(next.id, 4, 'after the migration, a deleted id is not reused');
});
