// Wake-ups across nodes on PostgreSQL (spool/pg-wakeups.ts), two stores on one database as
// two nodes: mail one node commits wakes the other's scheduler (onCommit, with the ids) and
// never its own twice; an outbox row one node writes wakes the other's dispatcher; a queue
// operation one node applies is heard by the other (mta_change), and after a PostgreSQL
// restart every change observer hears `reset`. No timing: each step waits for the
// notification it expects.
import t from 'tap';
import type { OpenStore } from '../src/spool/index.js';
import { openStoreAsync } from '../src/spool/index.js';
import { startPostgres } from './helpers/postgres.js';
import { incoming, outcome } from './store/suite.js';

const cluster = await startPostgres((fn) => t.teardown(fn));

async function node(url: string, nodeId: string): Promise<OpenStore> {
  return openStoreAsync({
    dataDir: '/nonexistent', timeZone: 'UTC', spool: { commitWindowMs: 0, maxCommitBatch: 64, writerThread: false },
    storage: { nodeId, backend: 'postgres', postgres: { url, poolSize: 2 } },
  });
}

/** Every call's ids, and a promise for the moment `until` holds. */
function recorder(): { calls: string[][]; when(until: (calls: string[][]) => boolean): Promise<void>; observe(ids: readonly string[]): void } {
  const calls: string[][] = [];
  const waiting: Array<[(c: string[][]) => boolean, () => void]> = [];
  return {
    calls,
    observe(ids) {
      calls.push([...ids]);
      for (const [cond, done] of waiting) if (cond(calls)) done();
    },
    when(until) { return until(calls) ? Promise.resolve() : new Promise((r) => waiting.push([until, r])); },
  };
}

t.test('fresh mail committed on one node wakes the other, with its ids; a node hears its own once', async (t) => {
  const url = await cluster.createDatabase();
  const a = await node(url, 'node-a');
  const b = await node(url, 'node-b');
  t.teardown(() => Promise.all([a.close(), b.close()]));
  const onA = recorder();
  const onB = recorder();
  a.onCommit((ids) => onA.observe(ids));
  b.onCommit((ids) => onB.observe(ids));
  const m1 = incoming(['one@dest.test']);
  const m2 = incoming(['two@dest.test']);
  await a.commitIncoming(m1);
  await onB.when((c) => c.some((ids) => ids.includes(m1.id)));
  await b.commitIncoming(m2);
  await onA.when((c) => c.some((ids) => ids.includes(m2.id)));
  // Notifications reach a listener in commit order: had node-a heard its own m1, that call would come before m2's.
  t.same(onA.calls, [[m1.id], [m2.id]], 'node-a: its own commit once, then node-b\'s');
  await onB.when((c) => c.length >= 2);
  t.same(onB.calls, [[m1.id], [m2.id]], 'node-b: node-a\'s commit, then its own once');
});

t.test('an outbox row written on one node wakes the other node\'s dispatcher', async (t) => {
  const url = await cluster.createDatabase();
  const a = await node(url, 'node-a');
  const b = await node(url, 'node-b');
  t.teardown(() => Promise.all([a.close(), b.close()]));
  const heard = new Promise<void>((resolve) => b.onWebhookEnqueued(resolve));
  await a.addWebhook({ url: 'http://127.0.0.1:1/h', sender: null, events: '*', format: 'json', secret: 's'.repeat(48), createdAt: 0 });
  const m = incoming(['r@dest.test']);
  await a.commitIncoming(m);
  const [e] = await a.claimDue({ now: m.receivedAt + 1, limit: 1 });
  await a.recordOutcomes([outcome(e!, 'delivered', m.receivedAt + 1)]);
  await heard;
  t.equal((await b.claimWebhookDue({ now: m.receivedAt + 2, limit: 10, leaseMs: 30_000 })).length, 1, 'and node-b finds the row');
});

t.test('a queue operation one node applies is heard by the other; after PostgreSQL restarts, every change observer hears reset', async (t) => {
  const url = await cluster.createDatabase();
  const a = await node(url, 'node-a');
  const b = await node(url, 'node-b');
  t.teardown(() => Promise.all([a.close(), b.close()]));
  const heard: string[] = [];
  let next: (() => void) | undefined;
  b.onRemoteQueueChange((c) => { heard.push(c.kind === 'op' ? `${c.op} ${JSON.stringify(c.target)}` : c.kind); next?.(); });
  // The listener's retry timer is unref'd (it must not keep a daemon alive): this one keeps the test's process up meanwhile.
  const hear = (): Promise<void> => new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`heard only ${JSON.stringify(heard)}`)), 30_000);
    next = () => { clearTimeout(timer); resolve(); };
  });

  let heardOne = hear();
  await a.applyQueueOp('delete', { taskId: 'T0000000000000000000000000' }, Date.now());
  await heardOne;
  t.same(heard, ['delete {"taskId":"T0000000000000000000000000"}'], 'the operation, with its target');

  heardOne = hear();
  cluster.pause();
  let resumed = false;
  t.teardown(() => { if (!resumed) cluster.resume(); });
  cluster.resume();
  resumed = true;
  await heardOne;
  t.same(heard.slice(1), ['reset'], 'reset once the listener is back: operations announced meanwhile may be lost');
});
