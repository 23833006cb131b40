// Cluster-wide throttles (spool/types-throttles.ts), for every backend, each node a store of
// its own on one storage: three nodes racing for the 2 slots of a cap get exactly 2; a
// slot's holder renews it, an expired one is taken over, a release frees it at once; a
// starting node drops what its last run left; and three nodes reserving a shared pace at
// once (scheduler/shared-limits.ts reservePace) get distinct starts one interval apart.
// No waiting: every call is given its `now`.
import { reservePace, slotChoices } from '../../src/scheduler/shared-limits.js';
import { conformance } from './suite.js';

const LEASE = 45_000;
const T0 = 1_800_000_000_000;

conformance('three nodes racing for a cap of 2: exactly 2 slots taken each time', async (t, s) => {
  const nodes = await Promise.all(['node-a', 'node-b', 'node-c'].map((id) => s.open(id)));
  const { slots } = slotChoices('any', 2, false);
  t.same(slots, [0, 1], 'a cap of 2 is slots 0 and 1');
  for (let round = 0; round < 10; round++) {
    const key = `dest:race-${round}.test`;
    // Each node asks twice at once (two workers), all in the same turn of the event loop.
    const asks = nodes.flatMap((n) => [0, 1].map((w) => n.takeSlot(key, slots, `${n.nodeId}/w${w}`, n.nodeId, T0, LEASE)));
    const got = await Promise.all(asks);
    const taken = got.filter((g) => g !== undefined).sort();
    t.same(taken, [0, 1], `round ${round}: slots 0 and 1 taken once each, the other four asks refused`);
  }
  const byNode = await nodes[0]!.slotsByNode(T0 + 1);
  t.equal(byNode.reduce((n, r) => n + r.slots, 0), 20, 'every node reads the 20 slots held');
  t.ok(byNode.every((r) => r.expired === 0), 'none expired yet');
});

conformance('a slot is renewed by its node, taken over when its lease ran out, freed at once by a release', async (t, s) => {
  const a = await s.open('node-a');
  const b = await s.open('node-b');
  const key = 'dest:slow.test';
  t.equal(await a.takeSlot(key, [0], 'a/1', 'node-a', T0, LEASE), 0, 'a takes the free slot');
  t.equal(await b.takeSlot(key, [0], 'b/1', 'node-b', T0 + 1000, LEASE), undefined, 'b cannot while a holds it');
  t.equal(await a.takeSlot(key, [0], 'a/1', 'node-a', T0 + 2000, LEASE), 0, 'its holder may take it again');
  t.equal(await a.renewSlots('node-a', T0 + LEASE - 1, LEASE), 1, "the heartbeat renews a's slot");
  t.equal(await b.takeSlot(key, [0], 'b/1', 'node-b', T0 + LEASE + 1, LEASE), undefined, 'renewed: still held past the first end');
  t.same(await b.slotsByNode(T0 + 2 * LEASE), [{ nodeId: 'node-a', slots: 0, expired: 1 }], 'a stopped beating: its slot shows expired');
  t.equal(await b.takeSlot(key, [0, 1], 'b/1', 'node-b', T0 + 2 * LEASE, LEASE), 0, 'the expired slot is taken over, the first tried');
  t.equal(await a.releaseSlot(key, 0, 'a/1'), false, 'a cannot release what b holds now');
  t.equal(await a.takeSlot(key, [0], 'a/2', 'node-a', T0 + 2 * LEASE + 1, LEASE), undefined, 'nor take it back');
  t.equal(await b.releaseSlot(key, 0, 'b/1'), true, 'b releases');
  t.equal(await a.takeSlot(key, [0], 'a/2', 'node-a', T0 + 2 * LEASE + 2, LEASE), 0, 'released: a takes it at once');
  t.equal(await a.takeSlot('dest:other.test', [0, 1], 'a/3', 'node-a', T0 + 2 * LEASE + 2, LEASE), 0, 'another key has slots of its own');
  t.equal(await b.takeSlot('dest:other.test', [0, 1], 'b/2', 'node-b', T0 + 2 * LEASE + 2, LEASE), 1, 'the next free one');
  t.same(await b.slotsByNode(T0 + 2 * LEASE + 3), [{ nodeId: 'node-a', slots: 2, expired: 0 }, { nodeId: 'node-b', slots: 1, expired: 0 }], 'per node, by node id');
  t.equal(await a.releaseNodeSlots('node-a'), 2, 'a starting again drops what its last run held');
  t.same(await b.slotsByNode(T0 + 2 * LEASE + 3), [{ nodeId: 'node-b', slots: 1, expired: 0 }], "only b's slot is left");
});

conformance('three nodes reserving one pace at once get distinct starts, one interval apart', async (t, s) => {
  const nodes = await Promise.all(['node-a', 'node-b', 'node-c'].map((id) => s.open(id)));
  t.equal(await nodes[0]!.readPace('pace:bulk'), undefined, 'no row before the first reservation');
  // 4 messages per second: one every 250 ms. Each node reserves for three workers at once.
  const waits = await Promise.all(nodes.flatMap((n) => [0, 1, 2].map(() => reservePace(n, 'pace:bulk', 4, T0))));
  t.same([...waits].sort((x, y) => x - y), [0, 250, 500, 750, 1000, 1250, 1500, 1750, 2000], 'nine starts, 250 ms apart, none shared');
  t.equal(await nodes[1]!.readPace('pace:bulk'), T0 + 2250, 'the row holds the next free start');
  t.equal(await reservePace(nodes[2]!, 'pace:bulk', 4, T0 + 10_000), 0, 'a pace that fell behind the clock starts now');
  t.equal(await nodes[0]!.readPace('pace:bulk'), T0 + 10_250, 'and the next one interval later');
  t.equal(await nodes[0]!.casPace('pace:bulk', T0, T0 + 1), false, 'a stale compare-and-set moves nothing');
  t.equal(await nodes[0]!.casPace('pace:new', undefined, T0), true, 'a first row is created');
  t.equal(await nodes[1]!.casPace('pace:new', undefined, T0 + 5), false, 'once');
});
