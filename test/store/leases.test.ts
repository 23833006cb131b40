// Leased claims (spool/types-leases.ts), for every backend: two nodes sharing one store
// never hold the same recipient or outbox row, a claim whose lease ran out is taken back
// (at another node's claim or at start-up), another node's live claim survives recovery,
// this node's own claims are recovered when it starts again, renewal keeps a claim alive,
// and the late outcome of a lost claim is not recorded over the new claimer's. No timing:
// every call is given its `now`.
import { CLAIM_LEASE_MS } from '../../src/spool/types-leases.js';
import type { OpenStore } from '../../src/spool/index.js';
import type { IncomingMessage, QueueEntry } from '../../src/spool/types-queue.js';
import { conformance, incoming, outcome, states, type Suite } from './suite.js';

// Later than any message of the test is received: everything is due at T.
const T = Date.now() + 3_600_000;
const ids = (rows: readonly QueueEntry[]): number[] => rows.map((r) => r.recipientId).sort((x, y) => x - y);
const byRcpt = (rows: readonly QueueEntry[], rcpt: string): QueueEntry => rows.find((r) => r.rcpt === rcpt)!;

/** Nodes a and b on one storage, and a message to `rcpts` committed through a. */
async function twoNodes(s: Suite, rcpts: string[]): Promise<{ a: OpenStore; b: OpenStore; m: IncomingMessage }> {
  const a = await s.open('node-a');
  const b = await s.open('node-b');
  const m = incoming(rcpts);
  await a.commitIncoming(m);
  return { a, b, m };
}

conformance('two nodes claiming at once never hold the same recipient', async (t, s) => {
  const a = await s.open('node-a');
  const b = await s.open('node-b');
  const all = Array.from({ length: 20 }, (_, i) => incoming(Array.from({ length: 10 }, (_, j) => `r${i}-${j}@dest.test`)));
  await Promise.all(all.map((m) => a.commitIncoming(m)));
  const took: Record<'a' | 'b', QueueEntry[]> = { a: [], b: [] };
  // Both keep claiming small batches side by side until the queue is empty.
  const drain = async (name: 'a' | 'b'): Promise<void> => {
    for (;;) {
      const rows = await (name === 'a' ? a : b).claimDue({ now: T, limit: 7 });
      if (rows.length === 0) return;
      took[name].push(...rows);
    }
  };
  await Promise.all([drain('a'), drain('b'), drain('a'), drain('b')]);
  const shared = ids(took.a).filter((id) => ids(took.b).includes(id));
  t.same(shared, [], 'no recipient is held by both');
  t.equal(new Set([...ids(took.a), ...ids(took.b)]).size, 200, 'every recipient is held by one of them');
  t.equal(took.a.length + took.b.length, 200, 'and handed out once');
  t.ok(took.a.length > 0 && took.b.length > 0, `both claimed (${took.a.length}, ${took.b.length})`);
});

conformance("start-up recovery takes back this node's own claims and leaves another node's live claim", async (t, s) => {
  const { a, b, m } = await twoNodes(s, ['mine@dest.test', 'theirs@dest.test']);
  const mine = await a.claimDue({ now: T, limit: 1 });
  const theirs = await b.claimDue({ now: T, limit: 1 });
  t.same([mine.length, theirs.length], [1, 1]);
  await a.close();
  const again = await s.open('node-a'); // node-a restarts after a crash
  t.equal(again.nodeId, 'node-a');
  t.equal(await again.recoverSending(T + 1, 'test restart'), 1, 'one recipient recovered: its own');
  t.same(await states(again), { [mine[0]!.rcpt]: 'queued', [theirs[0]!.rcpt]: 'sending' }, "node-b's claim is still node-b's");
  const events = (await again.getMessage(m.id))!.events.filter((e) => e.type === 'requeued');
  t.same(events.map((e) => [e.recipientId, e.detail['reason']]), [[mine[0]!.recipientId, 'test restart']], 'the recovered one has its requeued event');
  t.same(await again.claimDue({ now: T + 1, limit: 10 }).then(ids), ids(mine), 'the restarted node claims only what it recovered');
  t.equal(await b.recordOutcomes([outcome(theirs[0]!, 'delivered', T + 2)]), 1, "node-b's outcome still counts");
});

conformance('an expired claim is taken back by another node; the first claimer\'s late outcome and hand-back change nothing', async (t, s) => {
  const { a, b, m } = await twoNodes(s, ['x@dest.test', 'y@dest.test']);
  const first = await a.claimDue({ now: T, limit: 10 });
  t.equal(first.length, 2);
  t.same(await b.claimDue({ now: T + CLAIM_LEASE_MS - 1, limit: 10 }), [], 'a live lease is not taken');
  t.equal(await b.recoverSending(T + CLAIM_LEASE_MS - 1, 'b starts'), 0, 'nor recovered by another node starting');
  const second = await b.claimDue({ now: T + CLAIM_LEASE_MS, limit: 10 });
  t.same(ids(second), ids(first), 'once the lease ran out, node-b claims both');
  const requeued = (await b.getMessage(m.id))!.events.filter((e) => e.type === 'requeued');
  t.equal(requeued.length, 2, 'each taken-back recipient has a requeued event');
  t.match(requeued[0]!.detail, { reason: /node-a/ }, 'naming the node whose claim ran out');

  const x = byRcpt(first, 'x@dest.test');
  const y = byRcpt(first, 'y@dest.test');
  t.equal(await a.recordOutcomes([outcome(x, 'delivered', T + CLAIM_LEASE_MS + 1)]), 0, "node-a's late outcome is not recorded");
  t.equal(await a.requeue([y.recipientId], T, 'late hand-back'), 0, "node-a's late hand-back is not either");
  t.same(await states(b), { 'x@dest.test': 'sending', 'y@dest.test': 'sending' }, 'both still node-b\'s');
  t.equal(await b.recordOutcomes([outcome(byRcpt(second, 'x@dest.test'), 'failed', T + CLAIM_LEASE_MS + 2)]), 1);
  t.equal(await b.requeue([byRcpt(second, 'y@dest.test').recipientId], T + CLAIM_LEASE_MS + 2), 1);
  t.same(await states(b), { 'x@dest.test': 'failed', 'y@dest.test': 'queued' }, "node-b's outcome and hand-back stand");
  const finals = (await b.getMessage(m.id))!.events.filter((e) => e.type === 'delivered' || e.type === 'failed');
  t.same(finals.map((e) => e.type), ['failed'], 'one final event: node-b\'s');
});

conformance('a node starting after another node\'s lease ran out takes those recipients back', async (t, s) => {
  const { a, b } = await twoNodes(s, ['z@dest.test']);
  t.equal((await a.claimDue({ now: T, limit: 10 })).length, 1);
  t.equal(await b.recoverSending(T + CLAIM_LEASE_MS, 'b starts'), 1, 'the expired claim is recovered');
  t.same(await states(b), { 'z@dest.test': 'queued' });
});

conformance('nextDueAt names when another node\'s claim runs out, so a quiet node takes a dead node\'s work then', async (t, s) => {
  const { a, b } = await twoNodes(s, ['w@dest.test']);
  const [first] = await a.claimDue({ now: T, limit: 10 });
  t.equal(await a.nextDueAt(), undefined, 'nothing is due for node-a: the claim is its own');
  t.equal(await b.nextDueAt(), T + CLAIM_LEASE_MS, 'node-b looks again when node-a\'s lease runs out');
  t.same(ids(await b.claimDue({ now: T + CLAIM_LEASE_MS, limit: 10 })), [first!.recipientId], 'and claims the recipient then');
  t.equal(await b.nextDueAt(), undefined, 'now nothing is due for node-b');
  t.equal(await a.nextDueAt(), T + 2 * CLAIM_LEASE_MS, 'and node-a would look when node-b\'s lease runs out');
});

conformance('renewal keeps a claim alive past its first expiry, and renews only the node\'s own', async (t, s) => {
  const { a, b } = await twoNodes(s, ['p@dest.test', 'q@dest.test']);
  const mine = await a.claimDue({ now: T, limit: 1 });
  const theirs = await b.claimDue({ now: T, limit: 1 });
  t.equal(await a.renewClaims(T + CLAIM_LEASE_MS - 1), 1, 'node-a renews its one claim');
  t.same(ids(await b.claimDue({ now: T + CLAIM_LEASE_MS, limit: 10 })), [], 'node-a\'s renewed claim is not taken at the first expiry');
  t.same(ids(await a.claimDue({ now: T + CLAIM_LEASE_MS, limit: 10 })), ids(theirs), 'node-b\'s unrenewed one is');
  t.same(ids(await b.claimDue({ now: T + 2 * CLAIM_LEASE_MS - 2, limit: 10 })), [], 'still held until the renewed lease runs out');
  t.equal(await a.recordOutcomes([outcome(mine[0]!, 'delivered', T + 2 * CLAIM_LEASE_MS - 2)]), 1, 'and its outcome is recorded');
  t.equal(await b.renewClaims(T + 2 * CLAIM_LEASE_MS), 0, 'node-b holds nothing to renew');
});

conformance('webhook outbox: two nodes never hold one row; recovery voids only this node\'s leases; a lost claim does not move the row', async (t, s) => {
  const a = await s.open('node-a');
  const b = await s.open('node-b');
  await a.addWebhook({ url: 'http://127.0.0.1:1/h', sender: null, events: '*', format: 'json', secret: 's'.repeat(48), createdAt: 0 });
  // Six deliveries, six webhook events in the outbox; two nodes claiming three each at once take disjoint halves.
  await a.commitIncoming(incoming(Array.from({ length: 6 }, (_, i) => `w${i}@dest.test`)));
  const delivered = await a.recordOutcomes((await a.claimDue({ now: T, limit: 10 })).map((e) => outcome(e, 'delivered', T)));
  t.equal(delivered, 6);
  const lease = 30_000;
  const [fromA, fromB] = await Promise.all([a.claimWebhookDue({ now: T, limit: 3, leaseMs: lease }), b.claimWebhookDue({ now: T, limit: 3, leaseMs: lease })]);
  t.same([fromA.length, fromB.length], [3, 3], 'the six rows are split');
  t.same(fromA.map((r) => r.id).filter((id) => fromB.some((x) => x.id === id)), [], 'no row held by both');

  await a.close();
  const again = await s.open('node-a');
  t.equal(await again.recoverWebhookClaims(), 3, 'node-a, restarted, voids its own three leases');
  const retaken = await again.claimWebhookDue({ now: T + 1, limit: 10, leaseMs: lease });
  t.same(retaken.map((r) => r.id).sort(), fromA.map((r) => r.id).sort(), "and claims them again; node-b's stay node-b's");

  const lost = fromB[0]!;
  const taken = await again.claimWebhookDue({ now: T + lease, limit: 10, leaseMs: lease });
  t.ok(taken.some((r) => r.id === lost.id), "node-b's expired lease is taken by node-a");
  const attempt = (at: number) => ({ webhookId: lost.webhookId, outboxId: lost.id, event: lost.event, at, status: 200, error: null, durationMs: 1 });
  await b.recordWebhookAttempt(attempt(T + lease + 1), { state: 'delivered' });
  t.equal((await again.webhookBacklog()).delivered, 0, "node-b's late success does not move node-a's row");
  await again.recordWebhookAttempt(attempt(T + lease + 2), { state: 'delivered' });
  t.equal((await again.webhookBacklog()).delivered, 1, "node-a's does");
  t.equal((await again.listWebhookAttempts({ webhookId: lost.webhookId })).length, 2, 'both attempts are in the log');
});
