// Queue operations heard across nodes (types-queue.ts onRemoteQueueChange), for every
// backend: recipients node b claimed are 'sending', so node a's hold does not reach them;
// b hears the hold after a's commit (never its own operations), hands its claims back and
// applies it again without announcing it (else the nodes would echo it to each other for
// ever), and then they are held. PostgreSQL carries it by NOTIFY; SQLite to the other stores
// of the process on the same file. No timing: each step waits for what it expects to hear,
// and "never heard" is read from the order operations are heard in (commit order).
import type { RemoteQueueChange } from '../../src/spool/types-queue.js';
import { conformance, incoming, states } from './suite.js';

/** What a node heard, and a wait for the moment it has heard `n` changes. */
function listener(): { heard: RemoteQueueChange[]; observe(c: RemoteQueueChange): void; count(n: number): Promise<void> } {
  const heard: RemoteQueueChange[] = [];
  const waiting: { n: number; done: () => void }[] = [];
  return {
    heard,
    observe(c) { heard.push(c); for (const w of waiting) if (heard.length >= w.n) w.done(); },
    count(n) {
      if (heard.length >= n) return Promise.resolve();
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`heard ${heard.length} changes, waited for ${n}`)), 20_000);
        waiting.push({ n, done: () => { clearTimeout(timer); resolve(); } });
      });
    },
  };
}

conformance("a queue operation reaches another node's claims once that node, hearing it, hands them back and applies it unannounced", async (t, s) => {
  const a = await s.open('node-a');
  const b = await s.open('node-b');
  const onA = listener();
  const onB = listener();
  a.onRemoteQueueChange((c) => onA.observe(c));
  b.onRemoteQueueChange((c) => onB.observe(c));
  const m = incoming(['r1@dest.test', 'r2@dest.test']);
  await a.commitIncoming(m);
  const now = m.receivedAt + 1;
  const claimed = await b.claimDue({ now, limit: 10 });
  t.equal(claimed.length, 2, 'node b claimed both recipients');

  t.equal(await a.applyQueueOp('hold', { domain: 'dest.test' }, now), 0, "node b's claims are out of node a's reach");
  await onB.count(1);
  t.same(onB.heard, [{ kind: 'op', op: 'hold', target: { domain: 'dest.test' } }], 'node b heard the hold, with its target');
  // What node b's scheduler does on hearing it (scheduler.heard).
  t.equal(await b.requeue(claimed.map((e) => e.recipientId), now, 'withdrawn'), 2, 'node b hands its claims back');
  t.equal(await b.applyQueueOp('hold', { domain: 'dest.test' }, now, { announce: false }), 2, 'and applies the hold to them');
  t.same(await states(a), { 'r1@dest.test': 'held', 'r2@dest.test': 'held' }, 'both are held, as node a asked');

  // Announced after that: node a hears it alone (node b's unannounced hold, had it been sent, would come first).
  await b.applyQueueOp('release', { queueId: m.id }, now);
  await onA.count(1);
  t.same(onA.heard, [{ kind: 'op', op: 'release', target: { queueId: m.id } }], "node a heard node b's release, and never its own hold");
  // Node b's own release, had it come back, would come before node a's flush.
  await a.applyQueueOp('flush', { all: true }, now);
  await onB.count(2);
  t.same(onB.heard.map((c) => c.kind === 'op' && c.op), ['hold', 'flush'], 'node b heard node a\'s hold and flush, not its own release');
  t.same(await states(b), { 'r1@dest.test': 'queued', 'r2@dest.test': 'queued' }, 'released');
});
