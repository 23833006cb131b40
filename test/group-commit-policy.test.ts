// spool/group-commit: when a batch starts (batchStart), as decisions, not durations.
import t from 'tap';
import { batchStart, BUSY_MS, BUSY_WINDOW_MS, GroupCommit } from '../src/spool/group-commit.js';

const busy = BUSY_MS / 2;
const idle = BUSY_MS * 2;

t.test('a configured window always applies', async (t) => {
  for (const eager of [true, false]) for (const asyncWriter of [true, false]) {
    t.equal(batchStart({ windowMs: 5, sinceLastCommitMs: idle, asyncWriter, eager }), 5);
    t.equal(batchStart({ windowMs: 5, sinceLastCommitMs: busy, asyncWriter, eager }), 5);
  }
});

t.test('an idle spool commits in this turn', async (t) => {
  for (const eager of [true, false]) for (const asyncWriter of [true, false]) {
    t.equal(batchStart({ windowMs: 0, sinceLastCommitMs: idle, asyncWriter, eager }), 'this-turn');
  }
  t.equal(batchStart({ windowMs: 0, sinceLastCommitMs: Infinity, asyncWriter: false, eager: false }), 'this-turn', 'nothing committed yet');
});

t.test('a busy spool waits the busy window, except an eager one with an asynchronous writer', async (t) => {
  t.equal(batchStart({ windowMs: 0, sinceLastCommitMs: busy, asyncWriter: false, eager: false }), BUSY_WINDOW_MS);
  t.equal(batchStart({ windowMs: 0, sinceLastCommitMs: busy, asyncWriter: true, eager: false }), BUSY_WINDOW_MS, 'outcomes keep the window');
  t.equal(batchStart({ windowMs: 0, sinceLastCommitMs: busy, asyncWriter: false, eager: true }), BUSY_WINDOW_MS, 'a synchronous commit stops the loop');
  t.equal(batchStart({ windowMs: 0, sinceLastCommitMs: busy, asyncWriter: true, eager: true }), 'this-turn');
});

t.test('what arrives while an asynchronous commit runs goes in the next batch, and every caller settles after its own commit', async (t) => {
  const batches: number[][] = [];
  const releases: (() => void)[] = [];
  const g = new GroupCommit<number>((items) => {
    batches.push([...items]);
    return new Promise<void>((resolve) => releases.push(resolve));
  }, { name: 'test', windowMs: 0, maxBatch: 100, eager: true });
  const settled: number[] = [];
  const first = g.submit(1).then(() => settled.push(1));
  while (batches.length < 1) await new Promise((r) => setImmediate(r));
  const rest = [2, 3, 4].map((n) => g.submit(n).then(() => settled.push(n)));
  // nothing starts beside the running commit, however long it takes
  for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
  t.same(batches, [[1]]);
  releases[0]!();
  await first;
  while (batches.length < 2) await new Promise((r) => setImmediate(r));
  t.same(batches, [[1], [2, 3, 4]]);
  t.same(settled, [1], 'the second batch has not committed yet');
  releases[1]!();
  await Promise.all(rest);
  t.same(settled, [1, 2, 3, 4]);
});
