// The spool's writer thread (spool/writer.ts, `spool.writer_thread`): intake commits, claims
// and outcomes run on a worker's own connection, and the main connection reads what they
// wrote as soon as their promises settle. Errors keep their SQLite codes, a failed batch
// writes nothing, and a dead thread fails every write with MTA_ERR_SPOOL_WRITER. Its claims
// are the opening store's node's (leased claims): the main connection renews them.
import t from 'tap';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import Database from 'better-sqlite3';
import { SqliteStore } from '../src/spool/sqlite-store.js';
import { BUSY_TIMEOUT_MS, DB_FILE } from '../src/spool/db.js';
import { newQueueId } from '../src/util/ids.js';
import type { IncomingMessage, QueueEntry, RecipientOutcome } from '../src/spool/types-queue.js';
import type { CommitSample } from '../src/spool/group-commit.js';
import { tempDir } from './helpers/daemon.js';
import { CLAIM_LEASE_MS } from '../src/spool/types-leases.js';

const dir = tempDir('mta-spool-writer-');
t.teardown(() => rmSync(dir, { recursive: true, force: true }));

function msg(rcpts: string[], id = newQueueId()): IncomingMessage {
  const body = Buffer.from(`Subject: x\r\n\r\n${'body line\r\n'.repeat(20)}`);
  return {
    id, receivedAt: Date.now(), sender: 'app@example.com', authUser: 'app@example.com', clientIp: '127.0.0.1',
    helo: 'c', messageId: '<x@y>', subject: 'x', size: body.length, lane: 'trigger', tag: null, chunks: [body.subarray(0, 7), body.subarray(7)], recipients: rcpts,
  };
}

function delivered(r: QueueEntry): RecipientOutcome {
  return { recipientId: r.recipientId, queueId: r.queueId, kind: 'delivered', at: Date.now(), reply: '250 ok', attempted: true, detail: { status: 0 } };
}

async function bodyOf(store: SqliteStore, id: IncomingMessage['id']): Promise<string> {
  const parts: Buffer[] = [];
  for await (const c of store.readBody(id)) parts.push(c);
  return Buffer.concat(parts).toString();
}

t.test('intake, claim and outcomes on the writer thread; the main connection reads them', async (t) => {
  const store = SqliteStore.open(join(dir, 'flow'), { writerThread: true });
  t.teardown(() => store.close());
  t.ok(store.writesOffThread, 'the writer thread is in use');
  const committed: string[] = [];
  store.onCommit((ids) => committed.push(...ids));
  const ms = Array.from({ length: 50 }, (_, i) => msg([`a${i}@dest.test`, `b${i}@dest.test`]));
  const sizes: number[] = [];
  const on = (m: unknown): void => { const s = m as CommitSample; if (s.name === 'intake') sizes.push(s.size); };
  subscribe('mta:spool:commit', on);
  try {
    await Promise.all(ms.map((m) => store.commitIncoming(m)));
  } finally { unsubscribe('mta:spool:commit', on); }
  t.same(committed.sort(), ms.map((m) => m.id).sort(), 'the commit observer saw every message once');
  t.equal(sizes.reduce((a, b) => a + b, 0), 50, 'every message in some commit');
  t.ok(sizes.length < 50, `messages shared commits (${sizes.join(',')})`);
  t.equal(await bodyOf(store, ms[7]!.id), `Subject: x\r\n\r\n${'body line\r\n'.repeat(20)}`, 'the body reads back whole from the main connection');
  t.equal((await store.countByState()).queued, 100);

  const claimed = await store.claimDue({ now: Date.now() + 1, limit: 1000 });
  t.equal(claimed.length, 100, 'claimDue on the writer thread returns every due recipient');
  t.ok(claimed.every((r) => r.state === 'sending'), 'as sending');
  t.equal((await store.countByState()).sending, 100, 'and the main connection sees them claimed');
  t.same(await store.claimDue({ now: Date.now() + 1, limit: 1000 }), [], 'nothing is claimed twice');

  const counts = await Promise.all([
    store.recordOutcomes(claimed.slice(0, 60).map(delivered)),
    store.recordOutcomes([delivered(claimed[0]!)]), // already delivered in the batch before: 0
    store.requeue(claimed.slice(60).map((r) => r.recipientId), Date.now(), 'test'),
  ]);
  t.same(counts, [60, 0, 40], 'each caller gets its own count back from the thread');
  const by = await store.countByState();
  t.equal(by.delivered, 60);
  t.equal(by.queued, 40);
  const detail = await store.getMessage(claimed[0]!.queueId);
  t.ok(detail?.events.some((e) => e.type === 'delivered'), 'the outcome event was written in the same transaction');
});

t.test('a batch that fails on the thread writes nothing and keeps its SQLite code', async (t) => {
  const store = SqliteStore.open(join(dir, 'fail'), { writerThread: true });
  t.teardown(() => store.close());
  const first = msg(['x@dest.test']);
  await store.commitIncoming(first);
  const fresh = msg(['y@dest.test']);
  const results = await Promise.allSettled([store.commitIncoming(fresh), store.commitIncoming(msg(['z@dest.test'], first.id))]);
  t.equal(results[0].status, 'rejected', 'the good message shared the failing batch and was refused with it');
  const err = (results[1] as PromiseRejectedResult).reason as { code?: string; message: string };
  t.equal(err.code, 'SQLITE_CONSTRAINT_PRIMARYKEY', `the SQLite code crosses the thread (${err.message})`);
  t.equal(await store.getMessage(fresh.id), undefined, 'nothing of the failed batch was written');
  await store.commitIncoming(fresh);
  t.ok(await store.getMessage(fresh.id), 'the next batch commits normally');
});

t.test('a writer thread that dies fails waiting and later writes with MTA_ERR_SPOOL_WRITER', async (t) => {
  const store = SqliteStore.open(join(dir, 'dead'), { writerThread: true });
  t.teardown(() => store.close());
  await store.commitIncoming(msg(['x@dest.test']));
  const failures: Error[] = [];
  store.onWriterFailure((e) => failures.push(e));
  // Reaches into the store to kill its worker, as an out-of-memory or native crash would.
  const worker = (store as unknown as { writer: { worker: { terminate(): Promise<number> } } }).writer.worker;
  const waiting = store.commitIncoming(msg(['y@dest.test']));
  await worker.terminate();
  await t.rejects(waiting, { code: 'MTA_ERR_SPOOL_WRITER' }, 'the write in flight fails');
  await t.rejects(store.commitIncoming(msg(['z@dest.test'])), { code: 'MTA_ERR_SPOOL_WRITER' }, 'later writes fail at once');
  await t.rejects(store.claimDue({ now: Date.now() + 1, limit: 10 }), { code: 'MTA_ERR_SPOOL_WRITER' });
  t.equal(failures.length, 1, 'the daemon is told once');
  t.equal((await store.countByState()).queued, 1, 'reads on the main connection still work');
});

t.test('close() writes what was pending, then refuses new writes', async (t) => {
  const p = join(dir, 'close');
  const store = SqliteStore.open(p, { writerThread: true });
  const ms = Array.from({ length: 20 }, (_, i) => msg([`c${i}@dest.test`]));
  const pending = Promise.all(ms.map((m) => store.commitIncoming(m)));
  await store.close();
  await pending;
  await t.rejects(store.commitIncoming(msg(['late@dest.test'])), { code: 'MTA_ERR_SPOOL_WRITER' }, 'a write after close is refused');
  const again = SqliteStore.open(p);
  t.teardown(() => again.close());
  t.equal((await again.countByState()).queued, 20, 'every message submitted before close() is on disk');
});

t.test('threads start without the module hooks of the process (util/threads.ts)', async (t) => {
  const { threadExecArgv } = await import('../src/util/threads.js');
  t.same(threadExecArgv(['--import=file:///x.mjs', '--enable-source-maps', '--import', 'y', '--cpu-prof', '-r', 'z', '--loader=l', '--require=q']),
    ['--enable-source-maps', '--cpu-prof'], 'hooks (both spellings) go, other flags stay');
  t.same(threadExecArgv([]), []);
});

t.test("claims made on the writer thread are the opening store's node's: renewed from the main connection, kept from another node, recorded", async (t) => {
  const dataDir = join(dir, 'lease');
  const store = SqliteStore.open(dataDir, { writerThread: true, nodeId: 'node-a' });
  const other = SqliteStore.open(dataDir, { nodeId: 'node-b' });
  t.teardown(async () => { await store.close(); await other.close(); });
  await store.commitIncoming(msg(['x@dest.test']));
  const now = Date.now() + 1;
  const [claim] = await store.claimDue({ now, limit: 10 });
  t.ok(claim, 'claimed on the thread');
  t.equal(await store.renewClaims(now + CLAIM_LEASE_MS - 1), 1, "the main connection renews the thread's claim");
  t.same(await other.claimDue({ now: now + CLAIM_LEASE_MS, limit: 10 }), [], 'another node cannot take it at the first expiry');
  t.equal(await store.recordOutcomes([delivered(claim!)]), 1, 'the thread records its outcome');
});

t.test('intake on the writer thread claims fresh mail for the scheduler: the thread holds those claims, the outcome applies', async (t) => {
  const dataDir = join(dir, 'fresh');
  const store = SqliteStore.open(dataDir, { writerThread: true, nodeId: 'node-a' });
  const other = SqliteStore.open(dataDir, { nodeId: 'node-b' });
  t.teardown(async () => { await store.close(); await other.close(); });
  const taken: QueueEntry[] = [];
  let answers = 0;
  store.handFresh({ offer: (has) => ({ trigger: Math.min(1, has.trigger), batch: 0 }), taken: (_g, entries) => { answers++; taken.push(...entries); } });
  const m = msg(['first@dest.test', 'second@dest.test']);
  await store.commitIncoming(m);
  t.equal(answers, 1, 'the offer answered once');
  t.match(taken, [{ rcpt: 'first@dest.test', queueId: m.id, state: 'sending', lane: 'trigger' }], 'the first recipient was claimed in the commit');
  t.same((await store.getMessage(m.id))!.recipients.map((r) => r.state), ['sending', 'queued'], 'as the main connection reads it');
  const rest = await other.claimDue({ now: Date.now() + 1, limit: 10 });
  t.same(rest.map((r) => r.rcpt), ['second@dest.test'], 'another node takes only the one left');
  t.equal(await store.recordOutcomes([delivered(taken[0]!)]), 1, 'the thread records the outcome of its fresh claim');
});

// A worker takes a connection slot as it starts and gives it back as it ends: a login code
// does both. On the main connection each was a write of its own, waiting in SQLite's busy
// handler, with the event loop stopped, while another connection held the write lock. Now a
// slot write is made there only while the lock is free; otherwise the writer thread waits.
t.test('a connection slot write never waits on the event loop: while the lock is held elsewhere it goes to the writer thread', async (t) => {
  const path = join(dir, 'slots');
  const store = SqliteStore.open(path, { writerThread: true, nodeId: 'n1' });
  t.teardown(() => store.close());
  const main = SqliteStore.connectionOf(store);
  const changesBefore = main.prepare('SELECT total_changes() AS n').get() as { n: number };

  const other = new Database(join(path, DB_FILE));
  t.teardown(() => { if (other.open) other.close(); });
  other.exec('BEGIN IMMEDIATE');
  let settled = false;
  const taking = store.takeSlot('dest:example.com', [0, 1], 'n1/a/1', 'n1', Date.now(), 60_000).finally(() => { settled = true; });
  await new Promise((r) => setImmediate(r));
  t.notOk(settled, 'the slot waits for the lock, and the event loop went on meanwhile');
  other.exec('COMMIT');
  t.equal(await taking, 0, 'the first slot, once the lock is free');
  const changesLocked = main.prepare('SELECT total_changes() AS n').get() as { n: number };
  t.equal(changesLocked.n, changesBefore.n, 'written by the writer thread, not the main connection');

  t.equal(await store.takeSlot('dest:example.com', [0, 1], 'n1/a/2', 'n1', Date.now(), 60_000), 1, 'the next holder gets the next slot');
  t.equal(await store.takeSlot('dest:example.com', [0, 1], 'n1/a/3', 'n1', Date.now(), 60_000), undefined, 'none left');
  t.equal(await store.releaseSlot('dest:example.com', 0, 'n1/a/1'), true, 'given back');
  t.equal(await store.releaseSlot('dest:example.com', 0, 'n1/a/1'), false, 'once');
  t.equal(await store.renewSlots('n1', Date.now(), 60_000), 1, 'the one still held renewed');
  t.same(await store.slotsByNode(Date.now()), [{ nodeId: 'n1', slots: 1, expired: 0 }], 'the main connection reads what the thread wrote');
  t.equal(await store.casPace('pace:example.com', undefined, 100), true, 'a new pace row');
  t.equal(await store.casPace('pace:example.com', 99, 200), false, 'a stale compare-and-set changes nothing');
  t.equal(await store.readPace('pace:example.com'), 100);
  t.equal(await store.releaseNodeSlots('n1'), 1, 'every slot of the node given back');
  const changesAfter = main.prepare('SELECT total_changes() AS n').get() as { n: number };
  t.ok(changesAfter.n > changesBefore.n, 'with the lock free, the main connection wrote them itself');
  t.equal(main.pragma('busy_timeout', { simple: true }), BUSY_TIMEOUT_MS, "the main connection's busy timeout is back");
});
