// Statistics per recipient domain after real deliveries to sinks that accept, defer once
// then accept, refuse as unknown user, refuse as spam and defer until the recipient expires:
// the counters, failure categories and latency median/p95 (from the histogram buckets,
// checked against the delivery times in the events), over the service, `mta stats --by
// rcpt-domain` and GET /api/v1/stats?by=rcpt-domain; the percentile arithmetic; the purge.
import t from 'tap';
import { startWorld, allFinal, type World } from './helpers/delivery.js';
import { apiClient } from './helpers/api.js';
import { runMta } from './helpers/run.js';
import { StatsService } from '../src/stats/stats.js';
import { LATENCY_BUCKETS_MS, latencyBucket, percentileOf } from '../src/stats/latency.js';
import type { RcptReportRow } from '../src/stats/rcpt-stats.js';
import type { QueueId } from '../src/util/ids.js';

let w: World;
let stats: StatsService;
let today: string;
const ids: QueueId[] = [];

t.before(async () => {
  w = await startWorld('send_dsn = false\nmax_queue_lifetime = "3s"\n');
  stats = new StatsService(w.daemon.daemon.store);
  await w.addDomain('ok.test', 2);
  await w.addDomain('late.test', 3, { rcpt: (_a, n) => (n === 1 ? '451 4.7.1 greylisted, come back later' : undefined) });
  await w.addDomain('gone.test', 4, { rcpt: (a) => `550 5.1.1 <${a}>: Recipient address rejected: User unknown` });
  await w.addDomain('spam.test', 5, { rcpt: () => '554 5.7.1 Message rejected as spam' });
  await w.addDomain('slow.test', 6, { rcpt: () => '451 4.3.0 try again later' });
  ids.push(await w.submit(['a@ok.test', 'b@ok.test', 'x@gone.test', 'l@late.test']));
  ids.push(await w.submit(['c@ok.test', 'y@spam.test', 'z@slow.test', 'w@gone.test']));
  for (const q of ids) await w.waitFor(`${q} final`, async () => allFinal(await w.message(q)), 30_000);
  today = new Date((await w.message(ids[0]!)).receivedAt).toISOString().slice(0, 10);
});
t.teardown(async () => { await w.stop(); });

/** Receipt-to-delivery times of the delivered recipients at `domain`, from their events. */
async function latencies(domain: string): Promise<number[]> {
  const out: number[] = [];
  for (const q of ids) {
    const m = await w.message(q);
    for (const r of m.recipients) {
      if (r.state !== 'delivered' || !r.rcpt.endsWith(`@${domain}`)) continue;
      const [ev] = await w.daemon.daemon.store.eventsOfRecipients([r.recipientId]).then((es) => es.filter((e) => e.type === 'delivered'));
      out.push(ev!.at - m.receivedAt);
    }
  }
  return out.sort((a, b) => a - b);
}

/** Nearest-rank percentile of the sorted latencies, as the upper bound of its bucket. */
function expectedBound(sorted: number[], p: number): number {
  const v = sorted[Math.max(1, Math.ceil(p * sorted.length)) - 1]!;
  return LATENCY_BUCKETS_MS.find((b) => Math.max(v, 0) <= b) ?? LATENCY_BUCKETS_MS[LATENCY_BUCKETS_MS.length - 1]!;
}

const pick = (r: RcptReportRow): Record<string, unknown> => ({
  day: r.day, key: r.key, requests: r.requests, delivered: r.delivered, deferred: r.deferred, failed: r.failed,
  invalid: r.invalid, expired: r.expired, failed_by_category: r.failed_by_category,
});

t.test('one row per day and recipient domain with counters, categories and latency', async (t) => {
  const r = await stats.query({ by: 'rcpt-domain', from: today, to: today });
  t.equal(r.by, 'rcpt-domain');
  t.same(r.rows.map(pick), [
    { day: today, key: 'gone.test', requests: 2, delivered: 0, deferred: 0, failed: 0, invalid: 2, expired: 0, failed_by_category: { user_unknown: 2 } },
    { day: today, key: 'late.test', requests: 1, delivered: 1, deferred: 1, failed: 0, invalid: 0, expired: 0, failed_by_category: {} },
    { day: today, key: 'ok.test', requests: 3, delivered: 3, deferred: 0, failed: 0, invalid: 0, expired: 0, failed_by_category: {} },
    { day: today, key: 'slow.test', requests: 1, delivered: 0, deferred: 1, failed: 0, invalid: 0, expired: 1, failed_by_category: { expired: 1 } },
    { day: today, key: 'spam.test', requests: 1, delivered: 0, deferred: 0, failed: 1, invalid: 0, expired: 0, failed_by_category: { spam_block: 1 } },
  ]);
  const row = (k: string): RcptReportRow => r.rows.find((x) => x.key === k)!;
  const ok = await latencies('ok.test');
  t.equal(ok.length, 3);
  t.equal(row('ok.test').latency_median_ms, expectedBound(ok, 0.5), `median of ${ok.join(', ')} ms`);
  t.equal(row('ok.test').latency_p95_ms, expectedBound(ok, 0.95));
  const late = await latencies('late.test');
  t.ok(late[0]! >= 400, 'the greylisted delivery waited for its retry');
  t.equal(row('late.test').latency_median_ms, expectedBound(late, 0.5));
  t.equal(row('late.test').latency_p95_ms, expectedBound(late, 0.95));
  t.equal(row('gone.test').latency_median_ms, null, 'no deliveries, no latency');
  t.equal(row('ok.test').delivery_rate, 1);
  t.equal(row('gone.test').invalid_rate, 1);
  const all = [...ok, ...late].sort((a, b) => a - b);
  t.match(r.total, {
    day: '', key: 'TOTAL', requests: 8, delivered: 4, deferred: 2, failed: 1, invalid: 2, expired: 1, delivery_rate: 0.5,
    failed_by_category: { expired: 1, spam_block: 1, user_unknown: 2 },
    latency_median_ms: expectedBound(all, 0.5), latency_p95_ms: expectedBound(all, 0.95),
  });
  t.same((await stats.query({ by: 'rcpt-domain', domain: 'other.test' })).rows, [], 'the sender-domain filter applies');
  t.equal((await stats.query({ by: 'rcpt-domain', from: today, to: today, domain: 'EXAMPLE.com' })).rows.length, 5);
  await t.rejects(stats.query({ by: 'rcpt-domain', tag: 'promo' }), { code: 'MTA_ERR_INVALID', field: 'tag', message: /tag cannot filter statistics by rcpt-domain/ });
  await t.rejects(stats.query({ by: 'rcpt-domain', sender: 'app@example.com' }), { code: 'MTA_ERR_INVALID', field: 'sender' });
  await t.rejects(stats.query({ by: 'mx' }), { message: /by must be one of day, domain, sender, tag, rcpt-domain/ });
});

t.test('mta stats --by rcpt-domain prints the table; --json is the service\'s report; the API too', async (t) => {
  const mta = (...a: string[]): ReturnType<typeof runMta> => runMta([...a, '--config', w.daemon.configPath]);
  const out = await mta('stats', '--by', 'rcpt-domain', '--from', today, '--to', today);
  t.equal(out.code, 0, out.err);
  const lines = out.out.trimEnd().split('\n');
  t.match(lines[0], /^DAY\s+RCPT_DOMAIN\s+REQUESTS\s+DELIVERED\s+DEFERRED\s+FAILED\s+INVALID\s+EXPIRED\s+DELIVERY_RATE\s+LATENCY_P50\s+LATENCY_P95\s+FAILED_BY_CATEGORY$/);
  t.match(lines[1], new RegExp(`^${today}\\s+gone\\.test\\s+2\\s+0\\s+0\\s+0\\s+2\\s+0\\s+0\\.00%\\s+-\\s+-\\s+user_unknown=2$`));
  t.match(lines[3], new RegExp(`^${today}\\s+ok\\.test\\s+3\\s+3\\s+0\\s+0\\s+0\\s+0\\s+100\\.00%\\s+<=\\d+(ms|s)\\s+<=\\d+(ms|s)\\s+-$`));
  t.match(lines[6], /^\s+TOTAL\s+8\s+4\s+2\s+1\s+2\s+1\s+50\.00%\s+<=\S+\s+<=\S+\s+expired=1 spam_block=1 user_unknown=2$/);
  t.match(out.out, /latency: receipt to delivery, upper bound of its histogram bucket/);
  const json = JSON.parse((await mta('stats', '--by', 'rcpt-domain', '--from', today, '--to', today, '--json')).out) as unknown;
  const service = await stats.query({ by: 'rcpt-domain', from: today, to: today });
  t.same(json, service);
  const api = apiClient(w.daemon); // checks each response against the route's schema
  const r = await api('GET', `/api/v1/stats?by=rcpt-domain&from=${today}&to=${today}`);
  t.equal(r.status, 200, r.text);
  t.same(r.json, service);
  const bad = await api('GET', '/api/v1/stats?by=rcpt-domain&tag=x');
  t.equal(bad.status, 400);
  t.match(bad.json, { error: { code: 'MTA_ERR_INVALID', field: 'tag' } });
  const e = await mta('stats', '--by', 'rcpt-domain', '--sender', 'app@example.com');
  t.equal(e.code, 1);
  t.equal(e.out, '');
  t.match(e.err, /sender cannot filter statistics by rcpt-domain \(only domain can\)/);
});

t.test('percentiles come from the bucket upper bounds (nearest rank)', async (t) => {
  t.equal(latencyBucket(0), 0);
  t.equal(latencyBucket(250), 0);
  t.equal(latencyBucket(251), 1);
  t.equal(latencyBucket(-5), 0, 'a clock step back counts as no time');
  t.equal(latencyBucket(10 * 86_400_000), LATENCY_BUCKETS_MS.length, 'beyond the last bound');
  const h = new Map([[0, 50], [3, 45], [6, 5]]);
  t.equal(percentileOf(h, 0.5), 250);
  t.equal(percentileOf(h, 0.51), 2_000);
  t.equal(percentileOf(h, 0.95), 2_000);
  t.equal(percentileOf(h, 0.96), 30_000);
  t.equal(percentileOf(new Map([[LATENCY_BUCKETS_MS.length, 1]]), 0.5), 432_000_000, 'the open bucket reports the last bound');
  t.equal(percentileOf(new Map(), 0.5), null);
});

t.test('the retention purge removes old per-domain rows', async (t) => {
  const store = w.daemon.daemon.store;
  const before = await store.queryRcptStats({ fromDay: today, toDay: today });
  const rows = before.length + before.reduce((n, r) => n + Object.keys(r.categories).length + r.latency.size, 0);
  t.equal(before.length, 5);
  const tomorrow = Date.parse(`${today}T00:00:00Z`) + 86_400_000 + 1;
  // Statistics kept 1 ms, purged at the start of tomorrow: every row of today goes.
  const res = await stats.purge({ detailsMs: 365 * 86_400_000, statisticsMs: 1, purgeSchedule: '' }, tomorrow);
  t.equal(res.rcptStatsRows, rows, 'counter, category and histogram rows');
  t.same(await store.queryRcptStats({ fromDay: today, toDay: today }), []);
});
