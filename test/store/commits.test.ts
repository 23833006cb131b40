// Compound commits are atomic, for every backend: intake stores a message with its alias
// tasks and its idempotency record, or none of them; an outcome comes with its suppression,
// its webhook event and its statistics, or none of them; a batch the backend refuses
// writes nothing and rejects every caller in it, and the same writes go through after.
import { newTaskId } from '../../src/util/ids.js';
import { utcDay } from '../../src/util/time.js';
import { conformance, incoming, outcome, states } from './suite.js';

const big = Buffer.alloc(512 * 1024, 'a');

conformance('intake commits the message, its alias tasks and its idempotency record together, or none of them', async (t, s) => {
  const store = await s.open();
  await store.addList({ name: 'news', alias: 'news@lists.test', description: null, createdAt: Date.now() });
  const withAll = (key: string) => {
    const m = incoming(['r@dest.test'], { chunks: [big], size: big.length });
    const record = { account: 'app@example.com', key, fingerprint: 'f'.repeat(64), status: 200, response: JSON.stringify({ id: m.id }), createdAt: m.receivedAt };
    return { ...m, aliasTasks: [{ id: newTaskId(), list: 'news' }], idempotency: { record, expireBefore: 0 } };
  };
  const stored = async (m: ReturnType<typeof withAll>) => ({
    message: (await store.getMessage(m.id)) !== undefined,
    task: (await store.getTask(m.aliasTasks[0]!.id)) !== undefined,
    idempotency: (await store.getIdempotency('app@example.com', m.idempotency.record.key, 0)) !== undefined,
  });

  const refused = withAll('k1');
  const undo = await s.storage.fillDisk(store);
  const err = await store.commitIncoming(refused).then(() => undefined, (e: unknown) => e);
  await undo();
  t.match(err, { code: 'MTA_ERR_SPOOL_FULL', retryable: true }, 'the refusal is the catalogue error');
  t.same(await stored(refused), { message: false, task: false, idempotency: false }, 'nothing of it is stored');

  const accepted = withAll('k2');
  await store.commitIncoming(accepted);
  t.same(await stored(accepted), { message: true, task: true, idempotency: true }, 'all of it is stored');
});

conformance('intake commits the message with its idempotency record and its counters, or none of them', async (t, s) => {
  const store = await s.open();
  const at = Date.now();
  const withKey = (key: string) => {
    const m = incoming(['r@dest.test', 's@other.test'], { chunks: [big], size: big.length, tag: 'k', receivedAt: at });
    const record = { account: 'app@example.com', key, fingerprint: 'f'.repeat(64), status: 200, response: JSON.stringify({ id: m.id }), createdAt: m.receivedAt };
    return { ...m, idempotency: { record, expireBefore: 0 } };
  };
  const day = utcDay(at);
  const requests = async () => (await store.queryStats({ fromDay: day, toDay: day, by: 'tag' })).map((r) => r.requests);
  const refused = withKey('k1');
  const undo = await s.storage.fillDisk(store);
  const err = await store.commitIncoming(refused).then(() => undefined, (e: unknown) => e);
  await undo();
  t.match(err, { code: 'MTA_ERR_SPOOL_FULL', retryable: true });
  t.same([await store.getMessage(refused.id), await store.getIdempotency('app@example.com', 'k1', 0), await requests()], [undefined, undefined, []], 'nothing of it');
  const accepted = withKey('k2');
  await store.commitIncoming(accepted);
  t.ok(await store.getMessage(accepted.id), 'the message');
  t.equal((await store.getIdempotency('app@example.com', 'k2', 0))?.response, JSON.stringify({ id: accepted.id }), 'its record');
  t.same(await requests(), [2], 'its counters');
});

conformance('an outcome commits with its suppression, webhook event and statistics; a refused batch writes none of them', async (t, s) => {
  const store = await s.open();
  await store.addWebhook({ url: 'http://127.0.0.1:1/h', sender: null, events: '*', format: 'json', secret: 's'.repeat(48), createdAt: 0 });
  const m = incoming(['bad@dest.test', 'good@dest.test'], { tag: 'news' });
  await store.commitIncoming(m);
  const now = m.receivedAt + 1;
  const claimed = await store.claimDue({ now, limit: 10 });
  const bad = claimed.find((e) => e.rcpt === 'bad@dest.test')!;
  const good = claimed.find((e) => e.rcpt === 'good@dest.test')!;
  const day = utcDay(now);
  const written = async () => ({
    suppressed: (await store.isSuppressed('bad@dest.test', 'example.com')) !== undefined,
    outbox: (await store.webhookBacklog()).pending,
    stats: (await store.queryStats({ fromDay: day, toDay: day, by: 'tag' })).map((r) => [r.key, r.delivered, r.failed]),
    finals: (await store.getMessage(m.id))!.events.filter((e) => e.type === 'delivered' || e.type === 'failed').length,
  });
  const before = await written();
  const failing = outcome(bad, 'failed', now, { reply: '550 5.1.1 refused by the test', suppress: { address: 'bad@dest.test', reason: 'hard bounce' } });
  const undo = await s.storage.failOutcome(store, failing.reply);
  const results = await Promise.allSettled([store.recordOutcomes([failing]), store.recordOutcomes([outcome(good, 'delivered', now)])]);
  await undo();
  t.same(results.map((r) => r.status), ['rejected', 'rejected'], 'every caller in the refused batch is rejected');
  t.same(await written(), before, 'no suppression, webhook event, statistic or event was written');
  t.same(await states(store), { 'bad@dest.test': 'sending', 'good@dest.test': 'sending' }, 'both are still in delivery');

  t.same(await Promise.all([store.recordOutcomes([failing]), store.recordOutcomes([outcome(good, 'delivered', now)])]), [1, 1], 'the same batch goes through after');
  const after = await written();
  t.same(after, { suppressed: true, outbox: before.outbox + 2, stats: [['news', 1, 1]], finals: 2 }, 'with everything that belongs to it');
});

conformance('a task chunk\'s mail is announced to the commit observers, as intake\'s is, only once it is committed', async (t, s) => {
  const store = await s.open();
  const heard: string[] = [];
  store.onCommit((ids) => { heard.push(...ids); });
  const at = Date.now();
  const task = { id: newTaskId(), kind: 'template' as const, list: 'news', template: 't', content: null, sourceId: null, sender: 'news@example.com', tag: null,
    addressType: 'sender' as const, tracking: false, unsubscribe: false, state: 'sending' as const, pauseReason: null, resumeAt: null, cursor: null, exhausted: false,
    listSize: null, requested: 0, suppressed: 0, invalid: 0, delivered: 0, failed: 0, bouncedInvalid: 0, bouncedAfterDelivery: 0, createdAt: at, updatedAt: at, finishedAt: null };
  await store.addTask(task);
  const chunk = ['a@dest.test', 'b@dest.test'].map((rcpt) => ({ ...incoming([rcpt], { lane: 'batch', receivedAt: at }), taskId: task.id, returnPath: null }));
  t.equal(await store.commitTaskChunk({ taskId: task.id, after: 'elsewhere', cursor: 'b@dest.test', exhausted: true, messages: chunk, suppressed: 0, invalid: 0, at }), false,
    'a chunk after another cursor is refused');
  t.same(heard, [], 'and nothing is announced');
  t.equal(await store.commitTaskChunk({ taskId: task.id, after: null, cursor: 'b@dest.test', exhausted: true, messages: chunk, suppressed: 0, invalid: 0, at }), true);
  t.same([...new Set(heard)].sort(), chunk.map((m) => m.id).sort(), 'the committed chunk\'s messages are announced by the time it resolves');
});
