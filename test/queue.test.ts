// Queue control on the running daemon: the admin API (auth, errors, routes), the CLI that
// uses it (flush, retry, hold, release, delete, summary, status), the running scheduler
// acting at once on a flush, and the direct-spool fallback when no daemon answers.
import t from 'tap';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { startDaemon, tempDir, PASSWORD, type TestDaemon } from './helpers/daemon.js';
import { RawSmtp, message } from './helpers/smtp-client.js';
import { runMta, type RunResult } from './helpers/run.js';
import { adminAuth } from './helpers/api.js';
import { isLoopback } from '../src/admin/auth.js';
import { openTestStore } from './helpers/store.js';
import type { QueueId } from '../src/util/ids.js';
import type { MessageDetail } from '../src/spool/types-queue.js';

const ADMIN = '[admin]\nlisten = "127.0.0.1:0"\n';
const UNKNOWN = '01M8337DMG00AB2ATA';

async function submit(d: TestDaemon, rcpts: string[]): Promise<QueueId> {
  const c = await RawSmtp.connect(d.port);
  await c.greet(); await c.ehlo();
  if ((await c.authPlain('app@example.com', PASSWORD)).code !== 235) throw new Error('auth failed');
  await c.cmd('MAIL FROM:<app@example.com>');
  for (const r of rcpts) await c.cmd(`RCPT TO:<${r}>`);
  const r = await c.data(message('app@example.com', rcpts[0]!) + '.\r\n');
  await c.quit();
  if (r.code !== 250) throw new Error(`DATA: ${r.text}`);
  return r.text.split(' ').pop() as QueueId;
}

const mta = (d: TestDaemon | string, args: string): Promise<RunResult> =>
  runMta([...args.split(' '), '--config', typeof d === 'string' ? d : d.configPath]);

async function msg(d: TestDaemon, id: QueueId): Promise<MessageDetail> {
  const m = await d.daemon.store.getMessage(id);
  if (!m) throw new Error(`no message ${id}`);
  return m;
}

async function waitFor<T>(what: string, fn: () => Promise<T | false | undefined>, timeoutMs = 60_000): Promise<T> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Waits until the (single-recipient) message is at rest in `state` after `attempts` attempts. */
const settled = (d: TestDaemon, id: QueueId, state: string, attempts: number): Promise<MessageDetail> =>
  waitFor(`${id} ${state} after ${attempts} attempts`, async () => {
    const m = await msg(d, id);
    return m.recipients[0]!.state === state && m.recipients[0]!.attempts === attempts && m;
  });

t.test('CLI queue control through the admin API (delivery disabled)', async (t) => {
  const d = await startDaemon(ADMIN);
  t.teardown(() => d.stop());
  const port = d.daemon.admin!.port;
  t.ok(port > 0, 'admin bound an ephemeral port');
  t.same(JSON.parse(readFileSync(join(d.dir, 'data', 'admin.json'), 'utf8')), { host: '127.0.0.1', port, pid: process.pid }, 'admin.json names it');
  const id1 = await submit(d, ['a@dest.test', 'b@dest.test']);
  const id2 = await submit(d, ['c@other.test']);

  let r = await mta(d, `queue hold ${id1}`);
  t.same([r.code, r.out, r.err], [0, `held 2 recipients of ${id1}\n`, ''], 'through the daemon: no fallback note');
  t.same((await msg(d, id1)).recipients.map((x) => x.state), ['held', 'held']);
  r = await mta(d, `queue hold ${id1}`);
  t.equal(r.out, `held 0 recipients of ${id1} (no recipient was queued or deferred)\n`);
  r = await mta(d, 'queue flush --json');
  t.same(JSON.parse(r.out), { affected: 0 }, '--json prints the API result');
  r = await mta(d, `queue release ${id1}`);
  t.equal(r.out, `released 2 recipients of ${id1}\n`);
  t.same((await msg(d, id1)).recipients.map((x) => x.state), ['queued', 'queued']);

  r = await mta(d, `queue delete ${id2} --json`);
  t.same(JSON.parse(r.out), { affected: 1 });
  const m2 = await msg(d, id2);
  t.equal(m2.recipients[0]!.state, 'failed');
  t.equal(m2.recipients[0]!.lastReply, 'deleted by the operator');
  t.same(m2.events.map((e) => e.type), ['reception', 'deleted'], 'exactly one final event');
  r = await mta(d, `queue delete ${id2}`);
  t.equal(r.out, `deleted 0 recipients of ${id2} (no recipient was queued, deferred or held)\n`);
  t.same((await msg(d, id2)).events.map((e) => e.type), ['reception', 'deleted'], 'a second delete writes nothing');

  r = await mta(d, `queue hold ${UNKNOWN}`);
  t.same([r.code, r.out, r.err], [1, '', `mta: no message ${UNKNOWN} in the queue (MTA_ERR_NOT_FOUND)\n`]);
  r = await mta(d, 'queue retry ../etc/passwd');
  t.same([r.code, r.err], [1, 'mta: "../etc/passwd" is not a queue id (MTA_ERR_INVALID)\n']);
  r = await mta(d, `queue flush ${id1} --domain dest.test`);
  t.same([r.code, r.err], [1, 'mta: give a queue id or selectors (--domain, --sender, --task, --state), not both (MTA_ERR_INVALID)\n']);
  r = await mta(d, 'queue flush --domain not_a_domain');
  t.same([r.code, r.err], [1, 'mta: "not_a_domain" is not a valid domain name (MTA_ERR_INVALID)\n']);
  r = await mta(d, 'queue flush --domain DEST.test');
  t.equal(r.out, 'flushed 0 recipients matching domain=dest.test (nothing was waiting for a later retry)\n');

  r = await mta(d, 'queue summary --json');
  const s = JSON.parse(r.out) as { counts: Record<string, number>; waiting: number; buckets: string[]; domains: { domain: string; total: number; queued: number; age: Record<string, number> }[] };
  t.match(s.counts, { queued: 2, failed: 1, held: 0 });
  t.equal(s.waiting, 2);
  t.same(s.buckets, ['0-5m', '5-60m', '1-4h', '4-24h', '1d+']);
  t.same(s.domains, [{ domain: 'dest.test', total: 2, queued: 2, sending: 0, deferred: 0, held: 0, age: { '0-5m': 2, '5-60m': 0, '1-4h': 0, '4-24h': 0, '1d+': 0 } }]);
  r = await mta(d, 'queue summary');
  t.equal(r.code, 0, r.err);
  t.match(r.out, /^QUEUED\s+SENDING\s+DEFERRED\s+HELD\s+DELIVERED\s+FAILED\s+SUPPRESSED\s+EXPIRED\n2\s+0\s+0\s+0\s+0\s+1\s+0\s+0\n/);
  t.match(r.out, /\nDOMAIN\s+TOTAL\s+QUEUED\s+SENDING\s+DEFERRED\s+HELD\s+0-5m\s+5-60m\s+1-4h\s+4-24h\s+1d\+\nTOTAL\s+2\s+2\s+0\s+0\s+0\s+2\s+0\s+0\s+0\s+0\ndest\.test\s+2\s+2\s+0\s+0\s+0\s+2\s+0\s+0\s+0\s+0\n$/);

  r = await mta(d, 'status --json');
  t.equal(r.code, 0, r.err);
  t.match(JSON.parse(r.out), { state: 'running', pid: process.pid, hostname: 'mta.test', delivery: 'disabled', ready: null, counts: { queued: 2 } });
  r = await mta(d, 'status');
  t.equal(r.code, 0);
  t.match(r.out, /^FIELD\s+VALUE\nstate\s+running\n/);
  t.match(r.out, /\ndelivery\s+disabled/);
  t.match(r.out, /\nwaiting\s+queued 2, sending 0, deferred 0, held 0\n/);
});

t.test('admin API: routes, statuses and bad input', async (t) => {
  const d = await startDaemon(ADMIN);
  t.teardown(() => d.stop());
  const base = `http://127.0.0.1:${d.daemon.admin!.port}`;
  const call = async (method: string, path: string, body?: string): Promise<{ status: number; json: { error?: { code: string; message: string; field?: string }; [k: string]: unknown }; headers: Headers }> => {
    const res = await fetch(base + path, { method, headers: { ...adminAuth(d), ...(body !== undefined ? { 'content-type': 'application/json' } : {}) }, ...(body !== undefined ? { body } : {}) });
    return { status: res.status, json: await res.json() as never, headers: res.headers };
  };
  const id = await submit(d, ['x@dest.test']);

  let r = await call('GET', '/api/v1/status');
  t.equal(r.status, 200);
  t.match(r.headers.get('content-type'), /^application\/json/);
  t.match(r.json, { state: 'running', version: /^\d+\.\d+\.\d+/, active_connections: null });
  r = await call('GET', '/api/v1/queue/summary');
  t.match(r.json, { counts: { queued: 1 }, domains: [{ domain: 'dest.test', total: 1 }] });
  r = await call('POST', `/api/v1/queue/${id}/hold`);
  t.same([r.status, r.json], [200, { affected: 1 }]);
  r = await call('POST', `/api/v1/queue/${id.toLowerCase()}/release`, '{}');
  t.same([r.status, r.json], [200, { affected: 1 }], 'ids are case-insensitive; {} is an empty body');
  r = await call('POST', '/api/v1/queue/flush', JSON.stringify({ queue_id: id }));
  t.same([r.status, r.json], [200, { affected: 0 }]);

  const refused: [string, string, string | undefined, number, string, RegExp][] = [
    ['GET', '/api/v1/nothing', undefined, 404, 'MTA_ERR_NOT_FOUND', /no such endpoint: GET \/api\/v1\/nothing/],
    ['POST', `/api/v1/queue/${id}/explode`, undefined, 404, 'MTA_ERR_NOT_FOUND', /no such endpoint/],
    ['GET', '/api/v1/queue/flush', undefined, 400, 'MTA_ERR_INVALID', /"flush" is not a queue id/],
    ['GET', '/api/v1/send', undefined, 405, 'MTA_ERR_METHOD', /GET is not allowed on \/api\/v1\/send \(allowed: POST\)/],
    ['DELETE', `/api/v1/queue/${id}/hold`, undefined, 405, 'MTA_ERR_METHOD', /allowed: POST/],
    ['POST', '/api/v1/queue/flush', '{"queue_id": ', 400, 'MTA_ERR_INVALID', /request body is not valid JSON: /],
    ['POST', '/api/v1/queue/flush', '[1]', 400, 'MTA_ERR_INVALID', /expected object/],
    ['POST', '/api/v1/queue/flush', '{"queue": 1}', 400, 'MTA_ERR_INVALID', /unknown field "queue"/],
    ['POST', '/api/v1/queue/flush', JSON.stringify({ queue_id: id, domain: 'dest.test' }), 400, 'MTA_ERR_INVALID', /not both/],
    ['POST', '/api/v1/queue/flush', '{"domain": "-bad-"}', 400, 'MTA_ERR_INVALID', /not a valid domain name/],
    ['POST', '/api/v1/queue/flush', '{"queue_id": 7}', 400, 'MTA_ERR_INVALID', /queue_id: .*expected string/],
    ['POST', '/api/v1/queue/not-an-id/hold', undefined, 400, 'MTA_ERR_INVALID', /"not-an-id" is not a queue id/],
    ['POST', '/api/v1/queue/%E0%A4%A/hold', undefined, 400, 'MTA_ERR_INVALID', /malformed path segment/],
    ['POST', `/api/v1/queue/${id}/hold`, '{"queue_id": "x"}', 400, 'MTA_ERR_INVALID', /takes no request body/],
    ['POST', `/api/v1/queue/${UNKNOWN}/delete`, undefined, 404, 'MTA_ERR_NOT_FOUND', new RegExp(`no message ${UNKNOWN} in the queue`)],
    ['POST', '/api/v1/queue/flush', JSON.stringify({ domain: 'x'.repeat(100_000) }), 413, 'MTA_ERR_TOO_LARGE', /over the 65536-byte limit/],
    ['POST', '/api/v1/queue/flush', JSON.stringify({ domain: 'x'.repeat(300) }), 400, 'MTA_ERR_INVALID', /domain: /],
  ];
  for (const [method, path, body, status, code, message] of refused) {
    r = await call(method, path, body);
    t.equal(r.status, status, `${method} ${path} → ${status}`);
    t.same(Object.keys(r.json), ['error']);
    t.equal(r.json.error?.code, code);
    t.match(r.json.error?.message, message);
  }
  t.equal((await call('GET', '/api/v1/send')).headers.get('allow'), 'POST');
  t.same((await msg(d, id)).events.map((e) => e.type), ['reception', 'held', 'released'], 'refused calls changed nothing');

  for (const a of ['127.0.0.1', '127.9.8.7', '::1', '::ffff:127.0.0.1']) t.ok(isLoopback(a), `${a} is loopback`);
  for (const a of ['10.0.0.1', '128.0.0.1', '::ffff:10.0.0.1', '::2', undefined]) t.notOk(isLoopback(a), `${String(a)} is not loopback`);
});

t.test('admin token: the API refuses a missing or wrong token; the CLI sends the configured one', async (t) => {
  const token = 'a-long-admin-token-for-tests';
  const d = await startDaemon(`[admin]\nlisten = "127.0.0.1:0"\ntoken = "${token}"\n`);
  t.teardown(() => d.stop());
  const url = `http://127.0.0.1:${d.daemon.admin!.port}/api/v1/status`;
  for (const auth of [undefined, `Basic ${token}`]) {
    const res = await fetch(url, auth ? { headers: { authorization: auth } } : {});
    t.equal(res.status, 401, `${auth ?? 'no header'} → 401`);
    t.equal(res.headers.get('www-authenticate'), 'Bearer realm="mta"');
    t.match(await res.json(), { error: { code: 'MTA_ERR_AUTH', message: /missing admin token/ } });
  }
  for (const auth of ['Bearer wrong-token', `Bearer ${token}x`]) {
    const res = await fetch(url, { headers: { authorization: auth } });
    t.equal(res.status, 403, `${auth} → 403`);
    t.match(await res.json(), { error: { code: 'MTA_ERR_FORBIDDEN', message: /wrong admin token/ } });
  }
  const ok = await fetch(url, { headers: { authorization: `Bearer ${token}` } });
  t.equal(ok.status, 200);
  t.equal((await mta(d, 'status')).code, 0, 'the CLI uses admin.token from the configuration');

  // Same spool, another token: the CLI reaches the daemon (admin.json) and is refused.
  const other = join(d.dir, 'other.toml');
  writeFileSync(other, readFileSync(d.configPath, 'utf8').replace(`token = "${token}"`, 'token = "not-the-token"'));
  const r = await mta(other, `queue flush`);
  t.same([r.code, r.out], [1, '']);
  t.match(r.err, /^mta: wrong admin token \(MTA_ERR_FORBIDDEN\)\n$/);
});

t.test('with delivery running, a flush makes the scheduler try again at once; held mail is not tried', async (t) => {
  // DNS on a closed loopback port: every attempt defers for an hour, nothing leaves the machine.
  const d = await startDaemon(`${ADMIN}[delivery]\nenabled = true\nretry_schedule = ["1h"]\n[dns]\nservers = ["127.0.0.1:1"]\n`);
  t.teardown(() => d.stop());
  const a = await submit(d, ['a@dest.test']);
  const b = await submit(d, ['b@dest.test']);
  await settled(d, a, 'deferred', 1);
  const mb = await settled(d, b, 'deferred', 1);
  t.ok(mb.recipients[0]!.nextAttemptAt > Date.now() + 30 * 60_000, 'next attempt is an hour away');

  let r = await mta(d, `queue flush ${b}`);
  t.equal(r.out, `flushed 1 recipient of ${b}\n`, r.err);
  await settled(d, b, 'deferred', 2);
  t.pass('the flushed message was tried again at once');

  r = await mta(d, `queue hold ${a}`);
  t.equal(r.out, `held 1 recipient of ${a}\n`);
  r = await mta(d, 'queue flush');
  t.equal(r.out, 'flushed 1 recipient\n', 'a flush of everything leaves held mail alone');
  await settled(d, b, 'deferred', 3);
  const held = await msg(d, a);
  t.same([held.recipients[0]!.state, held.recipients[0]!.attempts], ['held', 1], 'the held message had no attempt meanwhile');

  r = await mta(d, `queue release ${a}`);
  t.equal(r.out, `released 1 recipient of ${a}\n`);
  await settled(d, a, 'deferred', 2);
  t.pass('a released message is tried at once');

  r = await mta(d, `queue retry ${b}`);
  t.equal(r.out, `retried 1 recipient of ${b}\n`);
  await settled(d, b, 'deferred', 4);

  r = await mta(d, `queue delete ${a}`);
  t.match(r.out, new RegExp(`^deleted 1 recipient of ${a}: they end as failed`));
  const gone = await msg(d, a);
  t.equal(gone.recipients[0]!.state, 'failed');
  t.same(gone.events.map((e) => e.type).filter((e) => ['delivered', 'failed', 'expired', 'deleted'].includes(e)), ['deleted'], 'exactly one final event');

  r = await mta(d, 'status --json');
  t.match(JSON.parse(r.out), { state: 'running', delivery: 'enabled', ready: Number, active_connections: Number, counts: { deferred: 1, failed: 1 } });
});

t.test('no daemon: control acts on the spool directly and says so; status says "not running" (exit 3)', async (t) => {
  const d = await startDaemon(ADMIN);
  t.teardown(() => rmSync(d.dir, { recursive: true, force: true }));
  const id = await submit(d, ['x@dest.test']);
  const file = join(d.dir, 'data', 'admin.json');
  t.ok(existsSync(file));
  await d.daemon.stop();
  t.notOk(existsSync(file), 'admin.json removed at stop');

  let r = await mta(d, `queue hold ${id}`);
  t.same([r.code, r.out, r.err], [0, `held 1 recipient of ${id}\n`, 'mta: daemon not running; changed the spool directly\n']);
  const store = openTestStore(join(d.dir, 'data'));
  t.equal((await store.getMessage(id))!.recipients[0]!.state, 'held');
  await store.close();
  r = await mta(d, `queue release ${id} --json`);
  t.same(JSON.parse(r.out), { affected: 1, daemon: 'not running' });
  r = await mta(d, `queue delete ${UNKNOWN}`);
  t.same([r.code, r.err], [1, `mta: no message ${UNKNOWN} in the queue (MTA_ERR_NOT_FOUND)\n`], 'the same checks without a daemon');

  r = await mta(d, 'status');
  t.same([r.code, r.out, r.err], [3, 'not running\n', '']);
  // A stale admin.json (its pid is gone: 2^22 + 1 is above any Linux pid_max) is ignored.
  writeFileSync(file, JSON.stringify({ host: '127.0.0.1', port: 1, pid: 4_194_305 }));
  r = await mta(d, 'status --json');
  t.same([r.code, JSON.parse(r.out)], [3, { state: 'not running' }]);
  r = await mta(d, 'queue summary');
  t.equal(r.code, 0, 'summary reads the spool: no daemon needed');
  t.match(r.out, /\ndest\.test\s+1\s+1\s+/);
});

t.test('an admin address that cannot be bound stops start-up with one clear line', async (t) => {
  const dir = tempDir('mta-admin-bind-');
  const busy = createServer();
  await new Promise<void>((r) => busy.listen(0, '127.0.0.1', () => r()));
  t.teardown(() => { busy.close(); rmSync(dir, { recursive: true, force: true }); });
  const port = (busy.address() as { port: number }).port;
  const cfg = join(dir, 'mta.toml');
  writeFileSync(cfg, `data_dir = "${join(dir, 'data')}"\n[log]\nlevel = "silent"\n[[smtp.listen]]\naddress = "127.0.0.1:0"\ntls = "none"\n[delivery]\nenabled = false\n[admin]\nlisten = "127.0.0.1:${port}"\n`);
  const r = await runMta(['start', '--config', cfg]);
  t.equal(r.code, 1);
  t.equal(r.err, `mta: cannot listen on 127.0.0.1:${port} (admin.listen): EADDRINUSE (MTA_ERR_LISTEN)\n`);
});
