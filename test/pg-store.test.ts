// The PostgreSQL store as the daemon would hold it (openStoreAsync), on a real server that
// goes away: while PostgreSQL is down intake, claims and outcomes are refused with
// MTA_ERR_SPOOL_BUSY (451 4.3.0 at submission, retryable) and nothing half-written stays;
// once it is back the same store takes the same calls without being reopened.
import t from 'tap';
import { errorEntry, type ErrorCode } from '../src/mail/errors.js';
import { REPLIES } from '../src/mail/replies.js';
import { openStoreAsync } from '../src/spool/index.js';
import { startPostgres } from './helpers/postgres.js';
import { incoming, outcome, states } from './store/suite.js';

const cluster = await startPostgres((fn) => t.teardown(fn));

function smtpReplyFor(e: unknown): string {
  const smtp = errorEntry((e as { code: ErrorCode }).code).smtp;
  const r = smtp ? REPLIES[smtp] : undefined;
  return r ? `${r.code} ${r.enhanced}` : 'none';
}

t.test('PostgreSQL down: refusals are 451 4.3.0 and store nothing; back up: the same store recovers without a restart', async (t) => {
  const url = await cluster.createDatabase();
  const store = await openStoreAsync({
    dataDir: '/nonexistent', timeZone: 'UTC', spool: { commitWindowMs: 0, maxCommitBatch: 64, writerThread: false },
    storage: { nodeId: 'n1', backend: 'postgres', postgres: { url, poolSize: 2 } },
  });
  t.teardown(() => store.close());
  const first = incoming(['a@dest.test']);
  await store.commitIncoming(first);
  const [claimed] = await store.claimDue({ now: first.receivedAt + 1, limit: 1 });

  cluster.pause();
  let resumed = false;
  t.teardown(() => { if (!resumed) cluster.resume(); });
  const m = incoming(['b@dest.test']);
  const refused = await store.commitIncoming(m).then(() => undefined, (e: unknown) => e);
  t.match(refused, { name: 'MtaError', code: 'MTA_ERR_SPOOL_BUSY', retryable: true }, 'intake');
  t.equal(smtpReplyFor(refused), '451 4.3.0', 'a temporary refusal at submission');
  await t.rejects(store.recordOutcomes([outcome(claimed!, 'delivered', first.receivedAt + 2)]), { code: 'MTA_ERR_SPOOL_BUSY', retryable: true }, 'an outcome');
  await t.rejects(store.claimDue({ now: first.receivedAt + 2, limit: 1 }), { code: 'MTA_ERR_SPOOL_BUSY', retryable: true }, 'a claim');

  cluster.resume();
  resumed = true;
  t.equal(await store.getMessage(m.id), undefined, 'the refused message was not stored');
  await store.commitIncoming(m);
  t.equal(await store.recordOutcomes([outcome(claimed!, 'delivered', first.receivedAt + 3)]), 1, 'the outcome goes through on the same store');
  t.same(await states(store), { 'a@dest.test': 'delivered', 'b@dest.test': 'queued' });
});

t.test('two nodes recording outcomes at once on the same counters never deadlock', async (t) => {
  const url = await cluster.createDatabase();
  const open = (nodeId: string) => openStoreAsync({
    dataDir: '/nonexistent', timeZone: 'UTC', spool: { commitWindowMs: 0, maxCommitBatch: 64, writerThread: false },
    storage: { nodeId, backend: 'postgres', postgres: { url, poolSize: 4 } },
  });
  const [a, b] = await Promise.all([open('node-a'), open('node-b')]);
  t.teardown(() => Promise.all([a.close(), b.close()]));
  const domains = ['d1.test', 'd2.test', 'd3.test', 'd4.test', 'd5.test'];
  const all = Array.from({ length: 40 }, (_, i) => incoming(domains.map((d) => `r${i}@${d}`), { tag: 'same', sender: i % 2 ? 'one@example.com' : 'two@example.com' }));
  await Promise.all(all.map((m) => a.commitIncoming(m)));
  const now = Date.now() + 60_000;
  const [mine, theirs] = [await a.claimDue({ now, limit: 100 }), await b.claimDue({ now, limit: 100 })];
  t.same([mine.length, theirs.length], [100, 100]);
  // Each node's batches touch the same counter rows (two senders, five recipient domains), node-a's in one order, node-b's in the other.
  const batches = (claimed: typeof mine, first: string) => Array.from({ length: 10 }, (_, i) => claimed.slice(i * 10, i * 10 + 10)
    .map((e, j) => outcome(e, j % 2 ? 'failed' : 'delivered', now))
    .sort((x, y) => Number(claimed.find((e) => e.recipientId === y.recipientId)!.sender === first) - Number(claimed.find((e) => e.recipientId === x.recipientId)!.sender === first)));
  const results = await Promise.allSettled([
    ...batches(mine, 'one@example.com').map((o) => a.recordOutcomes(o)), ...batches(theirs, 'two@example.com').map((o) => b.recordOutcomes(o)),
  ]);
  t.same(results.filter((r) => r.status === 'rejected').map((r) => (r as PromiseRejectedResult).reason), [], 'no outcome refused');
  t.equal(results.reduce((n, r) => n + (r.status === 'fulfilled' ? r.value : 0), 0), 200, 'every outcome recorded once');
  const day = new Date(all[0]!.receivedAt).toISOString().slice(0, 10);
  t.match((await a.queryStats({ fromDay: day, toDay: day, by: 'tag' }))[0], { key: 'same', requests: 200, delivered: 100, failed: 100 }, 'and counted once');
});
