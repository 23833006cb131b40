// The ports beside the queue, for every backend: what outcomes count (per sender, tag and
// recipient domain, with failure categories and latency), send details and refusals paged
// newest first, idempotency records (first response wins), quota usage and the daily
// figures, reputation written compare-and-set, the quota mark taken once with its webhook
// event, operator queue operations and the queue's shape, webhooks with their attempt log,
// the audit digest, and the retention purge. The same calls give the same answers on
// SQLite and PostgreSQL.
import { utcDay } from '../../src/util/time.js';
import { conformance, incoming, outcome, states } from './suite.js';

const DAY_MS = 86_400_000;

conformance('outcomes count per sender, tag and recipient domain, with categories, latency and spam bounces', async (t, s) => {
  const store = await s.open();
  const m = incoming(['a@one.test', 'b@one.test', 'c@two.test', 'd@two.test'], { tag: 'news' });
  await store.commitIncoming(m);
  const at = m.receivedAt + 1500;
  const [a, b, c, d] = (await store.claimDue({ now: at, limit: 10 })).sort((x, y) => x.rcpt.localeCompare(y.rcpt));
  t.equal(await store.recordOutcomes([
    outcome(a!, 'delivered', at), outcome(b!, 'failed', at, { detail: { status: 2, category: 'unknown-user' } }),
    outcome(c!, 'failed', at, { detail: { status: 3, category: 'spam' } }), outcome(d!, 'deferred', at),
  ]), 4);
  const day = utcDay(m.receivedAt);
  const [row] = await store.queryStats({ fromDay: day, toDay: day, by: 'tag' });
  t.match(row, { key: 'news', requests: 4, delivered: 1, invalid: 1, failed: 1, deferred: 1, expired: 0, cancelled: 0 }, 'per tag');
  t.same((await store.queryStats({ fromDay: day, toDay: day, by: 'sender', sender: 'APP@example.com' })).map((r) => [r.key, r.requests]),
    [['app@example.com', 4]], 'per sender, the filter ignoring case');
  const rcpt = await store.queryRcptStats({ fromDay: day, toDay: day });
  t.same(rcpt.map((r) => [r.rcpt_domain, r.requests, r.delivered, r.invalid, r.failed, r.deferred, r.categories]),
    [['one.test', 2, 1, 1, 0, 0, { 'unknown-user': 1 }], ['two.test', 2, 0, 0, 1, 1, { spam: 1 }]], 'per recipient domain, with the categories');
  t.same([...rcpt[0]!.latency], [[3, 1]], 'the delivery in the latency bucket of 1.5 s (1-2 s)');
  t.match(await store.dailyFigures('example.com', day), { volume: 4, delivered: 1, invalid: 1, failed: 1, spamBounces: 1, opens: 0 }, 'the reputation\'s figures');
  t.same(await store.quotaUsage('example.com', day, day, day), { day: 4, month: 4 }, 'quota usage is the accepted recipients');
  t.same(await store.domainsActiveOn(day), ['example.com']);
});

conformance('send details and refusals page newest first with opaque cursors', async (t, s) => {
  const store = await s.open();
  const m = incoming(['x1@dest.test', 'x2@dest.test', 'x3@dest.test'], { messageId: '<id-1@app>' });
  await store.commitIncoming(m);
  const range = { from: m.receivedAt - 1, to: m.receivedAt + 1 };
  const first = await store.listSendDetails({ ...range, limit: 2, messageId: 'id-1@app' });
  t.same(first.map((d) => d.rcpt), ['x3@dest.test', 'x2@dest.test'], 'newest first, found by Message-ID without brackets');
  const rest = await store.listSendDetails({ ...range, limit: 2, before: first[1]!.cursor });
  t.same(rest.map((d) => d.rcpt), ['x1@dest.test'], 'the next page after the cursor');
  t.same((await store.listSendDetails({ ...range, limit: 10, rcpt: { like: 'X2%' } })).map((d) => d.rcpt), ['x2@dest.test'], 'a pattern ignores case');
  await t.rejects(store.listSendDetails({ ...range, limit: 2, before: 'not-a-cursor' }), { code: 'MTA_ERR_INVALID', field: 'cursor' });

  const suppression = { address: 'gone@dest.test', scope: '', reason: 'bounce', source: 'bounce' as const, createdAt: 1 };
  for (const [i, rcpt] of ['gone@dest.test', 'gone2@dest.test'].entries()) {
    await store.recordRefusal({ at: 1000 + i, sender: 'app@example.com', authUser: null, rcpt, reply: '550 5.1.1 suppressed', suppression, via: 'smtp' });
  }
  const refusals = await store.listRejections({ from: 0, to: 2000, limit: 1 });
  t.same(refusals.map((r) => [r.rcpt, r.at, r.reply]), [['gone2@dest.test', 1001, '550 5.1.1 suppressed']]);
  t.same((await store.listRejections({ from: 0, to: 2000, limit: 5, before: refusals[0]!.cursor })).map((r) => r.rcpt), ['gone@dest.test']);
});

conformance('idempotency: the first response to a key wins until it expires', async (t, s) => {
  const store = await s.open();
  const rec = { account: 'app', key: 'k', fingerprint: 'a'.repeat(64), status: 200, response: '{"id":1}', createdAt: 1000 };
  t.equal(await store.saveIdempotency(rec, 0), true);
  t.equal(await store.saveIdempotency({ ...rec, response: '{"id":2}' }, 0), false, 'a second response is not kept');
  t.same(await store.getIdempotency('app', 'k', 0), rec);
  t.equal(await store.getIdempotency('app', 'k', 1001), undefined, 'older than notBefore: not answered');
  t.equal(await store.saveIdempotency({ ...rec, response: '{"id":3}', createdAt: 5000 }, 2000), true, 'an expired record gives way');
  t.equal((await store.getIdempotency('app', 'k', 0))?.response, '{"id":3}');
  await store.probeWritable();
  t.equal(await store.getIdempotency('', 'healthz-probe', 0), undefined, 'the probe leaves nothing behind');
});

conformance('reputation is written compare-and-set with its history; a quota mark is taken once, with its webhook event', async (t, s) => {
  const store = await s.open();
  const rep = { domain: 'example.com', level: 5, day: '2026-01-01', bannedUntil: null, banReason: null, updatedAt: 1 };
  const up = { domain: 'example.com', at: 2, fromLevel: 5, toLevel: 6, change: 'up' as const, reason: 'good day' };
  t.equal(await store.saveReputation(rep, undefined, []), true);
  t.equal(await store.saveReputation(rep, undefined, []), false, 'a second first write loses');
  t.equal(await store.saveReputation({ ...rep, level: 6, updatedAt: 2 }, rep, [up]), true);
  t.equal(await store.saveReputation({ ...rep, level: 7, updatedAt: 3 }, rep, [up]), false, 'a stale write loses and writes no history');
  t.same(await store.getReputation('example.com'), { ...rep, level: 6, updatedAt: 2 });
  t.same(await store.listReputationHistory('example.com', 10), [up]);

  await store.addWebhook({ url: 'http://127.0.0.1:1/h', sender: null, events: ['quota.reached'], format: 'json', secret: 's'.repeat(48), createdAt: 0 });
  const mark = { domain: 'example.com', which: 'daily' as const, period: '2026-01-01', at: 10, detail: { limit: 5 } };
  t.equal(await store.markQuotaReached(mark), true);
  t.equal(await store.markQuotaReached({ ...mark, at: 11 }), false, 'once per period');
  t.same((await store.auditEvents('quota.reached')).map((e) => [e.queueId, e.detail]), [[null, { domain: 'example.com', limit: 5 }]]);
  t.equal((await store.webhookBacklog()).pending, 1, 'one webhook event');
});

conformance('operator queue operations follow the states, and the queue\'s shape counts what waits', async (t, s) => {
  const store = await s.open();
  const m = incoming(['h1@hold.test', 'h2@hold.test', 'o@other.test']);
  await store.commitIncoming(m);
  const now = m.receivedAt + 10;
  t.equal(await store.applyQueueOp('hold', { domain: 'HOLD.test' }, now), 2);
  t.same(await states(store), { 'h1@hold.test': 'held', 'h2@hold.test': 'held', 'o@other.test': 'queued' });
  const shape = await store.queueShape(now + 5_000, [1_000, 60_000]);
  t.same(shape.map((r) => [r.domain, r.total, r.byState, r.byAge]),
    [['hold.test', 2, { queued: 0, sending: 0, deferred: 0, held: 2 }, [0, 2, 0]], ['other.test', 1, { queued: 1, sending: 0, deferred: 0, held: 0 }, [0, 1, 0]]]);
  t.equal(await store.applyQueueOp('release', { queueId: m.id }, now), 2, 'release takes only the held ones');
  t.equal(await store.applyQueueOp('flush', { all: true }, now + DAY_MS), 0, 'nothing waits beyond that time');
  t.equal(await store.applyQueueOp('delete', { select: { domain: 'hold.test', states: ['queued'] } }, now), 2);
  const day = utcDay(m.receivedAt);
  t.match((await store.queryStats({ fromDay: day, toDay: day, by: 'day' }))[0], { requests: 3, failed: 2 }, 'each delete counted as failed');
  t.same((await store.queryRcptStats({ fromDay: day, toDay: day })).map((r) => [r.rcpt_domain, r.categories]), [['hold.test', { deleted: 2 }], ['other.test', {}]]);
  t.equal(await store.countQueue({ states: ['queued'] }), 1);
});

conformance('webhooks: listed with their backlog, attempts logged, removal drops the backlog; the audit digest moves only with writes', async (t, s) => {
  const store = await s.open();
  const hook = await store.addWebhook({ url: 'http://127.0.0.1:1/h', sender: 'App@Example.com', events: '*', format: 'form', secret: 's'.repeat(48), createdAt: 5 });
  t.match(hook, { sender: 'app@example.com', events: '*', format: 'form', disabled: false });
  const m = incoming(['r@dest.test']);
  await store.commitIncoming(m);
  const [e] = await store.claimDue({ now: m.receivedAt + 1, limit: 1 });
  await store.recordOutcomes([outcome(e!, 'delivered', m.receivedAt + 1)]);
  t.same((await store.listWebhooks()).map((w) => [w.id, w.backlog, w.dead]), [[hook.id, 1, 0]], 'the sender\'s webhook heard of its delivery');
  const digest = await store.auditDigest();
  t.equal(await store.auditDigest(), digest, 'reading changes nothing');
  await store.recordWebhookAttempt({ webhookId: hook.id, outboxId: null, event: 'test', at: 7, status: 500, error: null, durationMs: 3 });
  t.not(await store.auditDigest(), digest, 'a write changes the digest');
  t.same((await store.listWebhookAttempts({ webhookId: hook.id })).map((a) => [a.event, a.status, a.outboxId]), [['test', 500, null]]);
  t.same(await store.removeWebhook(hook.id), { removed: true, dropped: 1 });
  t.same(await store.auditOutbox(), { rows: 0, attempts: 0, dead: 0 }, 'its outbox went with it');
  const second = await store.addWebhook({ url: 'http://127.0.0.1:1/h', sender: null, events: '*', format: 'json', secret: 's'.repeat(48), createdAt: 6 });
  t.ok(second.id > hook.id, 'a removed webhook\'s id is never given again');
});

conformance('the retention purge drops finished messages and old counters, and keeps what still waits', async (t, s) => {
  const store = await s.open();
  const old = incoming(['done@dest.test'], { receivedAt: Date.now() - 40 * DAY_MS });
  const waiting = incoming(['wait@dest.test'], { receivedAt: Date.now() - 40 * DAY_MS });
  await store.commitIncoming(old);
  await store.commitIncoming(waiting);
  const claimed = await store.claimDue({ now: Date.now(), limit: 10 });
  await store.recordOutcomes([outcome(claimed.find((e) => e.rcpt === 'done@dest.test')!, 'delivered', Date.now())]);
  await store.requeue(claimed.filter((e) => e.rcpt === 'wait@dest.test').map((e) => e.recipientId), Date.now() + DAY_MS);
  const r = await store.purge({ detailsBefore: Date.now() - 30 * DAY_MS, statsBeforeDay: utcDay(Date.now() - 30 * DAY_MS) });
  t.match(r, { messages: 1, statsRows: 1 });
  t.ok(r.rcptStatsRows >= 1, 'the per-recipient-domain counters too');
  t.same(await store.auditMessageIds(), [waiting.id], 'the waiting message stays');
  t.equal(await store.getMessage(old.id), undefined);
});
