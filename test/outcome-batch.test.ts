// Delivery outcomes and hand-backs share the spool's group commit (spool/sqlite-queue.ts):
// callers that write in the same turn share one transaction, each gets its own count, and
// a batch that fails writes nothing and rejects every caller in it. No timing: every
// caller submits before the first await, so they are all pending when the batch runs.
import t from 'tap';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { SqliteStore } from '../src/spool/sqlite-store.js';
import { newQueueId } from '../src/util/ids.js';
import type { IncomingMessage, QueueEntry, RecipientOutcome } from '../src/spool/types-queue.js';
import type { CommitSample } from '../src/spool/group-commit.js';
import { tempDir } from './helpers/daemon.js';

const dir = tempDir('mta-outcome-batch-');
t.teardown(() => rmSync(dir, { recursive: true, force: true }));

function msg(rcpts: string[]): IncomingMessage {
  const body = Buffer.from('Subject: x\r\n\r\nhi\r\n');
  return {
    id: newQueueId(), receivedAt: Date.now(), sender: 'app@example.com', authUser: 'app@example.com', clientIp: '127.0.0.1',
    helo: 'c', messageId: '<x@y>', subject: 'x', size: body.length, lane: 'trigger', tag: null, chunks: [body], recipients: rcpts,
  };
}

/** A store with `n` messages of two recipients each, all claimed (state 'sending'). */
async function claimed(name: string, n: number): Promise<{ store: SqliteStore; jobs: QueueEntry[][] }> {
  const store = SqliteStore.open(join(dir, name));
  const ms = Array.from({ length: n }, (_, i) => msg([`a${i}@dest.test`, `b${i}@dest.test`]));
  await Promise.all(ms.map((m) => store.commitIncoming(m)));
  const rows = await store.claimDue({ now: Date.now() + 1, limit: 100 });
  return { store, jobs: ms.map((m) => rows.filter((r) => r.queueId === m.id)) };
}

function delivered(r: QueueEntry, reply = '250 ok'): RecipientOutcome {
  return { recipientId: r.recipientId, queueId: r.queueId, kind: 'delivered', at: Date.now(), reply, attempted: true, detail: { status: 0 } };
}

/** Outcome commits seen on the diagnostics channel while `fn` runs. */
async function outcomeCommits(fn: () => Promise<unknown>): Promise<number[]> {
  const sizes: number[] = [];
  const on = (m: unknown): void => { const s = m as CommitSample; if (s.name === 'outcomes') sizes.push(s.size); };
  subscribe('mta:spool:commit', on);
  try { await fn(); } finally { unsubscribe('mta:spool:commit', on); }
  return sizes;
}

t.test('outcomes of concurrent callers share one commit; each caller gets its own count', async (t) => {
  const { store, jobs } = await claimed('share', 4);
  const [j0, j1, j2, j3] = jobs as [QueueEntry[], QueueEntry[], QueueEntry[], QueueEntry[]];
  let counts: number[] = [];
  const sizes = await outcomeCommits(async () => {
    counts = await Promise.all([
      store.recordOutcomes(j0.map((r) => delivered(r))), // 2 apply
      store.recordOutcomes([delivered(j1[0]!)]), // 1 applies
      store.recordOutcomes([delivered(j2[0]!), delivered(j2[0]!)]), // the second finds it delivered: 1
      store.requeue(j3.map((r) => r.recipientId), Date.now(), 'test'), // a hand-back in the same batch: 2
      store.requeue([j0[0]!.recipientId], Date.now()), // after j0's outcome in the batch, so nothing to requeue: 0
    ]);
  });
  t.same(sizes, [5], 'one transaction for five callers');
  t.same(counts, [2, 1, 1, 2, 0]);
  const q = await store.listQueue({});
  const state = (r: QueueEntry): string => q.find((x) => x.recipientId === r.recipientId)!.state;
  t.same([...j0, j1[0]!, j2[0]!].map(state), ['delivered', 'delivered', 'delivered', 'delivered']);
  t.same([j1[1]!, j2[1]!].map(state), ['sending', 'sending'], 'recipients without an outcome stay in delivery');
  t.same(j3.map(state), ['queued', 'queued']);
  const events = (await store.getMessage(j0[0]!.queueId))!.events.map((e) => e.type);
  t.same(events.filter((e) => e === 'delivered').length, 2, 'the events are written with the outcomes');
  await store.close();
});

t.test('a failing batch writes nothing and rejects every caller in it', async (t) => {
  const { store, jobs } = await claimed('fail', 3);
  const [j0, j1, j2] = jobs as [QueueEntry[], QueueEntry[], QueueEntry[]];
  // One outcome in the batch makes SQLite abort its statement (as a full disk would).
  SqliteStore.connectionOf(store).exec(`CREATE TEMP TRIGGER boom BEFORE UPDATE ON recipients WHEN NEW.last_reply = '250 boom'
                 BEGIN SELECT RAISE(ABORT, 'boom'); END`);
  const written = SqliteStore.connectionOf(store).prepare(`SELECT (SELECT COUNT(*) FROM events) AS events, (SELECT SUM(delivered) FROM stats_daily) AS delivered,
                                           (SELECT COUNT(*) FROM recipients WHERE state = 'queued') AS queued`);
  const before = written.get();
  const results = await Promise.allSettled([
    store.recordOutcomes(j0.map((r) => delivered(r))),
    store.recordOutcomes([delivered(j1[0]!, '250 boom')]),
    store.requeue(j2.map((r) => r.recipientId), Date.now(), 'test'),
  ]);
  t.same(results.map((r) => r.status), ['rejected', 'rejected', 'rejected']);
  for (const r of results) t.match((r as PromiseRejectedResult).reason, { message: /boom/ });
  const q = await store.listQueue({});
  t.ok(q.every((r) => r.state === 'sending' && r.attempts === 0), 'every recipient is still in delivery');
  t.same(written.get(), before, 'no event, no statistic, no hand-back');
  // The next batch, without the poisoned outcome, goes through.
  SqliteStore.connectionOf(store).exec('DROP TRIGGER boom');
  t.same(await Promise.all([store.recordOutcomes(j0.map((r) => delivered(r))), store.recordOutcomes([delivered(j1[0]!)])]), [2, 1]);
  await store.close();
});
