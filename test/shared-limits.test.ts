// The rules of the cluster-wide limits (src/scheduler/shared-limits.ts) and how a
// destination waits for a slot (src/scheduler/destination.ts): which slot indices a worker
// tries (the cap first, the trigger reserve when trigger mail waits), the retry delays, the
// pace arithmetic, and a destination that found no slot starting no worker until its wait
// ends — except for trigger mail that arrived after a try that did not ask the reserve.
// Pure: no store, no clock (the store side: test/store/throttles.test.ts).
import t from 'tap';
import { Destination, type DeliveryJob } from '../src/scheduler/destination.js';
import { paceStep, slotChoices, slotRetryDelay, SLOT_RETRY_MAX_MS, SLOT_RETRY_MS } from '../src/scheduler/shared-limits.js';
import { loadConfig } from '../src/config/config.js';
import { newQueueId } from '../src/util/ids.js';

const cfg = { ...loadConfig({ discover: false }).delivery, maxConnectionsPerDomain: 2 };
const NOW = Date.parse('2026-12-05T03:00:00Z');

function job(lane: 'trigger' | 'batch'): DeliveryJob {
  return { queueId: newQueueId(), domain: 'dest.test', lane, sender: 'a@example.com', size: 10, receivedAt: NOW, recipients: [] };
}

t.test('slot indices: the cap first, then the trigger reserve when trigger mail waits', async (t) => {
  const batchOnly = slotChoices('any', 10, false);
  t.same(batchOnly.slots, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9], 'a cap of 10 is slots 0–9');
  const withTrigger = slotChoices('any', 10, true);
  t.same(withTrigger.slots, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 'then the reserve (a tenth: slot 10)');
  t.equal(withTrigger.kindOf(9), 'any');
  t.equal(withTrigger.kindOf(10), 'trigger', 'a reserve slot makes a worker that takes trigger mail only');
  t.same(slotChoices('trigger', 2, true).slots, [2], "a 'trigger' worker (the node's own workers fill the cap) asks the reserve only");
  t.same(slotChoices('any', 25, true).slots.slice(25), [25, 26, 27], 'a reserve of a tenth, rounded up');
});

t.test('retry delays double from SLOT_RETRY_MS up to SLOT_RETRY_MAX_MS', async (t) => {
  t.same([1, 2, 3, 4, 5, 6, 20].map(slotRetryDelay), [SLOT_RETRY_MS, 2 * SLOT_RETRY_MS, 4 * SLOT_RETRY_MS, 8 * SLOT_RETRY_MS, 16 * SLOT_RETRY_MS, SLOT_RETRY_MAX_MS, SLOT_RETRY_MAX_MS]);
});

t.test('pace: a message starts now or at the stored start, the next one interval later', async (t) => {
  t.same(paceStep(undefined, NOW, 4), { at: NOW, next: NOW + 250 }, 'no row yet: now');
  t.same(paceStep(NOW + 500, NOW, 4), { at: NOW + 500, next: NOW + 750 }, 'a start reserved ahead: after it');
  t.same(paceStep(NOW - 10_000, NOW, 4), { at: NOW, next: NOW + 250 }, 'a pace behind the clock: now');
});

t.test('a destination that found no slot starts no worker until its wait ends', async (t) => {
  const d = new Destination('dest.test');
  d.push(job('batch'));
  d.push(job('batch'));
  t.equal(d.workerWanted(cfg, NOW, 0, false), 'any', 'mail waits, the cap has room on this node');
  d.noSlot(NOW, 200, false);
  t.equal(d.slotFailures, 1);
  t.equal(d.workerWanted(cfg, NOW + 199, 0, false), undefined, 'no slot was free: no worker before the wait ends');
  t.equal(d.workerWanted(cfg, NOW + 200, 0, false), 'any', 'the wait is over: try again');
  d.push(job('trigger'));
  t.equal(d.workerWanted(cfg, NOW + 100, 0, true), 'any', 'trigger mail that came after a try without the reserve does not wait');
  d.noSlot(NOW, 400, true);
  t.equal(d.workerWanted(cfg, NOW + 100, 0, true), undefined, 'once the reserve was asked too, trigger mail waits for the timer as well');
  d.slotFreed();
  t.equal(d.slotFailures, 0);
  t.equal(d.workerWanted(cfg, NOW + 100, 0, false), 'any', 'a slot given back by this node: workers may start at once');
});

t.test('a worker narrowed to the trigger reserve takes trigger mail only', async (t) => {
  const d = new Destination('dest.test');
  const batch = job('batch');
  const trigger = job('trigger');
  d.push(batch);
  d.push(trigger);
  const w = d.startWorker('any');
  w.narrow();
  t.equal(w.next(), trigger);
  t.equal(w.next(), undefined, 'the batch job stays for a worker within the cap');
  t.equal(d.batch[0], batch);
  w.ended();
  t.equal(d.active, 0);
});
