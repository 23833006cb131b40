// Sending quotas: the [quota] keys compiled, usage per sending domain per UTC day and month
// read from the spool with a controllable clock, and end to end on a real daemon: 552 with
// the exact texts at RCPT over SMTP, 429 MTA_ERR_QUOTA on the send API with nothing stored,
// usage that survives a restart, and quota.reached sent once to a real webhook receiver.
import t from 'tap';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { startDaemon, PASSWORD, tempDir, type TestDaemon } from './helpers/daemon.js';
import { RawSmtp, message } from './helpers/smtp-client.js';
import { apiClient, metricValue } from './helpers/api.js';
import { startReceiver } from './helpers/receiver.js';
import { compileConfig, type Config } from '../src/config/config.js';
import { Daemon } from '../src/daemon/daemon.js';
import { createLogger } from '../src/util/log.js';
import { openTestStore } from './helpers/store.js';
import { newQueueId } from '../src/util/ids.js';
import { QuotaService, monthOf } from '../src/quota/quota.js';
import { limitsFor } from '../src/quota/limits.js';

const BASE = 'hostname = "mta.test"\n[[smtp.listen]]\naddress = "127.0.0.1:2587"\ntls = "none"\n';

t.test('[quota] compiles: unlimited by default, monthly = daily × 30, per-domain overrides', async (t) => {
  const q = (extra: string): Config['quota'] => compileConfig(BASE + extra, 'x.toml').quota;
  t.same(limitsFor(q(''), 'a.test'), { daily: null, monthly: null }, 'no limit unless configured');
  t.same(limitsFor(q('[quota]\ndaily = 100\n'), 'a.test'), { daily: 100, monthly: 3000 });
  t.same(limitsFor(q('[quota]\ndaily = 100\nmonthly = 0\n'), 'a.test'), { daily: 100, monthly: null }, 'monthly = 0: unlimited');
  t.same(limitsFor(q('[quota]\nmonthly = 50\n'), 'a.test'), { daily: null, monthly: 50 });
  const o = q('[quota]\ndaily = 100\n[[quota.domain]]\nname = "Big.Test"\ndaily = 1000\n[[quota.domain]]\nname = "m.test"\nmonthly = 7\n');
  t.same(limitsFor(o, 'big.test'), { daily: 1000, monthly: 30_000 }, 'a domain daily brings its own daily × 30');
  t.same(limitsFor(o, 'M.TEST'), { daily: 100, monthly: 7 }, 'names compare in lower case; daily from [quota]');
  t.same(limitsFor(o, 'other.test'), { daily: 100, monthly: 3000 });
  t.throws(() => compileConfig(`${BASE}[quota]\ndaily = -1\n`, 'x.toml'), /quota\.daily/);
  t.throws(() => compileConfig(`${BASE}[[quota.domain]]\nname = "a b"\n`, 'x.toml'), /quota\.domain/);
  t.throws(() => compileConfig(`${BASE}[quota]\nweekly = 3\n`, 'x.toml'), /unknown key/);
});

t.test('usage per domain per UTC day and month, from committed mail (controllable clock)', async (t) => {
  const dir = tempDir();
  const store = openTestStore(join(dir, 'data'));
  t.teardown(async () => { await store.close(); rmSync(dir, { recursive: true, force: true }); });
  const at = (iso: string): number => Date.parse(iso);
  const commit = async (receivedAt: number, sender: string, n: number): Promise<void> => {
    const id = newQueueId(receivedAt);
    const body = Buffer.from('Subject: x\r\n\r\nx\r\n');
    await store.commitIncoming({
      id, receivedAt, sender, authUser: sender, clientIp: null, helo: null, messageId: `<${id}@x>`, subject: 'x', size: body.length,
      lane: 'batch', tag: null, chunks: [body], recipients: Array.from({ length: n }, (_, i) => `r${i}@dest.test`),
    });
  };
  await commit(at('2026-02-28T23:59:59Z'), 'a@q.test', 5); // last month
  await commit(at('2026-03-01T00:00:00Z'), 'a@q.test', 3);
  await commit(at('2026-03-19T12:00:00Z'), 'B@Q.test', 4); // other sender, same domain, any case
  await commit(at('2026-03-20T08:00:00Z'), 'a@q.test', 2);
  await commit(at('2026-03-20T09:00:00Z'), 'a@other.test', 9);
  const now = at('2026-03-20T10:00:00Z');
  t.same(monthOf(now), { period: '2026-03', from: '2026-03-01', to: '2026-03-31' });

  let config = compileConfig(`${BASE}[quota]\ndaily = 3\nmonthly = 10\n`, 'x.toml');
  const quota = new QuotaService(() => config, store);
  t.same(await quota.usage('Q.test', now), { day: 2, month: 9 }, 'today 2; this month 3 + 4 + 2, not February');
  t.same(await quota.check('q.test', 1, now), { ok: true, left: 1 }, 'left counts the asked recipients in');
  t.same(await quota.check('q.test', 0, now), { ok: true, left: 1 });
  t.same(await quota.check('q.test', 2, now), { ok: false, which: 'daily', limit: 3, used: 2 }, 'a message that cannot go whole is refused');
  t.same(await quota.check('q.test', 1, at('2026-03-21T00:00:00Z')), { ok: true, left: 1 }, 'a new day: monthly room is what is left');
  t.same(await quota.check('q.test', 2, at('2026-03-21T00:00:00Z')), { ok: false, which: 'monthly', limit: 10, used: 9 });
  t.same(await quota.check('q.test', 3, at('2026-04-01T00:00:00Z')), { ok: true, left: 3 }, 'a new month starts from zero');
  t.same((await quota.report('q.test', now)).daily, { limit: 3, used: 2, quota: 3, reputationCap: null });

  config = compileConfig(BASE, 'x.toml');
  t.same(await quota.check('q.test', 1000, now), { ok: true, left: Infinity }, 'no limit: always ok, left Infinity');
});

// quota.reached goes to a receiver on loopback: allowed explicitly.
const QUOTA = '[webhooks]\nallow_private = true\n[quota]\ndaily = 3\n[[quota.domain]]\nname = "monthly.test"\ndaily = 100\nmonthly = 2\n';

async function session(d: TestDaemon, from: string): Promise<RawSmtp> {
  const c = await RawSmtp.connect(d.port);
  await c.greet(); await c.ehlo();
  const a = await c.authPlain(from, PASSWORD);
  if (a.code !== 235) throw new Error(a.text);
  const m = await c.cmd(`MAIL FROM:<${from}>`);
  if (m.code !== 250) throw new Error(m.text);
  return c;
}

async function queued(d: TestDaemon): Promise<number> {
  return Object.values(await d.daemon.store.countByState()).reduce((a, b) => a + b, 0);
}

t.test('SMTP 552 daily and monthly, the send API 429, nothing stored, quota.reached once, usage after a restart', async (t) => {
  const rx = await startReceiver();
  t.teardown(() => rx.close());
  let d = await startDaemon(QUOTA, { domains: ['example.com', 'monthly.test'] });
  const first = d;
  t.teardown(() => first.stop()); // after the restarted daemon stopped (teardowns run in reverse)
  await d.addSender('news@monthly.test');
  await d.daemon.store.addWebhook({ url: rx.url('/q'), sender: null, events: ['quota.reached'], format: 'json', secret: 's3cret-s3cret', createdAt: 0 });

  // 2 of 3, then a message whose second recipient does not fit: per RCPT, the first still goes.
  let c = await session(d, 'app@example.com');
  t.equal((await c.cmd('RCPT TO:<a@dest.test>')).code, 250);
  t.equal((await c.cmd('RCPT TO:<b@dest.test>')).code, 250);
  t.equal((await c.data(message('app@example.com', 'a@dest.test') + '.\r\n')).code, 250);
  t.equal((await c.cmd('MAIL FROM:<app@example.com>')).code, 250);
  t.equal((await c.cmd('RCPT TO:<c@dest.test>')).code, 250, 'the third recipient of the day fits');
  const over = await c.cmd('RCPT TO:<d@dest.test>');
  t.equal(over.text, '552 5.7.0 Daily sending quota exceeded', 'exact reply and enhanced code');
  t.equal((await c.data(message('app@example.com', 'c@dest.test') + '.\r\n')).code, 250, 'the message goes to the recipients that fit');
  await c.quit();
  t.equal(await queued(d), 3);

  c = await session(d, 'app@example.com');
  t.equal((await c.cmd('RCPT TO:<e@dest.test>')).text, '552 5.7.0 Daily sending quota exceeded', 'a new session is refused too');
  t.equal((await c.cmd('DATA')).code, 503, 'no recipient accepted: no DATA');
  await c.quit();

  // Monthly (a domain with monthly = 2 and a high daily).
  c = await session(d, 'news@monthly.test');
  t.equal((await c.cmd('RCPT TO:<a@dest.test>')).code, 250);
  t.equal((await c.cmd('RCPT TO:<b@dest.test>')).code, 250);
  t.equal((await c.cmd('RCPT TO:<c@dest.test>')).text, '552 5.7.0 Monthly sending quota exceeded');
  t.equal((await c.data(message('news@monthly.test', 'a@dest.test') + '.\r\n')).code, 250);
  await c.quit();
  t.equal(await queued(d), 5);

  // The send API: the same text in a JSON error, 429, code MTA_ERR_QUOTA, nothing stored.
  const call = apiClient(d);
  const r = await call('POST', '/api/v1/send', { from: 'app@example.com', to: 'x@dest.test', subject: 's', text: 'x' });
  t.equal(r.status, 429);
  t.equal(r.json.error.code, 'MTA_ERR_QUOTA');
  t.equal(r.json.error.smtp_code, 552);
  t.equal(r.json.error.reason, '5.7.0 Daily sending quota exceeded');
  const m = await call('POST', '/api/v1/send', { from: 'news@monthly.test', to: ['x@dest.test'], subject: 's', text: 'x' });
  t.equal(m.status, 429);
  t.equal(m.json.error.reason, '5.7.0 Monthly sending quota exceeded');
  t.equal(await queued(d), 5, 'nothing stored after a refusal');
  const metrics = await call('GET', '/metrics');
  t.ok(metricValue(metrics.text, 'mta_rejections_total', { source: 'smtp', reason: 'quota' }) >= 3, 'SMTP refusals counted as quota');
  t.ok(metricValue(metrics.text, 'mta_rejections_total', { source: 'api', reason: 'quota' }) >= 2, 'API refusals counted as quota');

  // quota.reached: once per domain and period, however many refusals.
  const events = (): { domain: string }[] => rx.acked('/q').map((x) => JSON.parse(x.body) as { domain: string });
  for (let i = 0; i < 1200 && events().length < 2; i++) await new Promise((res) => setTimeout(res, 25));
  const byDomain = events().sort((a, b) => a.domain.localeCompare(b.domain));
  t.match(byDomain, [
    // the first refusal: 2 committed, and this transaction's c@ plus d@ asked for
    { event: 'quota.reached', domain: 'example.com', which: 'daily', period: /^\d{4}-\d{2}-\d{2}$/, limit: 3, used: 2, requested: 2 },
    // nothing committed yet: a@ and b@ are in the open transaction, c@ makes 3
    { event: 'quota.reached', domain: 'monthly.test', which: 'monthly', period: /^\d{4}-\d{2}$/, limit: 2, used: 0, requested: 3 },
  ]);
  const stored = await d.daemon.store.auditEvents('quota.reached');
  t.equal(stored.length, 2, 'one event per domain and period, not one per refusal');

  // Usage is in the spool: a restart on the same data keeps refusing.
  const config = d.daemon.config;
  await d.daemon.stop();
  const again = new Daemon({ config, logger: createLogger('silent') });
  await again.start();
  t.teardown(() => again.stop());
  d = { ...d, daemon: again, port: again.submission.ports[0]! };
  c = await session(d, 'app@example.com');
  t.equal((await c.cmd('RCPT TO:<f@dest.test>')).text, '552 5.7.0 Daily sending quota exceeded', 'still refused after a restart');
  await c.quit();
  t.same(await again.quota.usage('example.com', Date.now()), { day: 3, month: 3 });
  await again.quota.reached('example.com', 'daily', Date.now());
  t.equal((await again.store.auditEvents('quota.reached')).length, 2, 'not again after the restart');
});

t.test('no [quota]: nothing is refused', async (t) => {
  const d = await startDaemon();
  t.teardown(() => d.stop());
  const c = await session(d, 'app@example.com');
  for (let i = 0; i < 30; i++) t.equal((await c.cmd(`RCPT TO:<r${i}@dest.test>`)).code, 250);
  t.equal((await c.data(message('app@example.com', 'r0@dest.test') + '.\r\n')).code, 250);
  await c.quit();
  t.same(await d.daemon.quota.check('example.com', 1_000_000, Date.now()), { ok: true, left: Infinity });
});
