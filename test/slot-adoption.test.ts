// A worker about to start takes over the slot an idle session to its destination carries
// (scheduler/slots.ts SlotGate, delivery/pool.ts adoptSlot) only if it may hold that slot
// under the limit it starts with: a slot beyond a lowered limit, or one of the trigger
// reserve while no trigger mail waits, is left to the idle session, and the worker takes a
// slot from the store as before. An adopted slot is the first worker's lease: no row written.
import t from 'tap';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import pino from 'pino';
import { SlotGate, Slots, type SlotLease } from '../src/scheduler/slots.js';
import { Destination } from '../src/scheduler/destination.js';
import { destinationSlotKey } from '../src/scheduler/shared-limits.js';
import type { CarriedSlot } from '../src/delivery/pool.js';
import { newQueueId } from '../src/util/ids.js';
import { openTestStore } from './helpers/store.js';
import { tempDir } from './helpers/daemon.js';

const dir = tempDir('mta-slot-adoption-');
t.teardown(() => rmSync(dir, { recursive: true, force: true }));

t.test('an idle session\'s slot is adopted only when it fits the starting worker\'s limit', async (t) => {
  const store = openTestStore(join(dir, 'a'), { nodeId: 'n1' });
  t.teardown(() => store.close());
  const dest = new Destination('d.test');
  const key = destinationSlotKey(dest.domain);
  /** the one idle session's slot, as the pool holds it; taken away when adopted */
  let idle: CarriedSlot | undefined;
  const asked: number[] = [];
  const gate = new SlotGate(new Slots(store, 'n1', pino({ level: 'silent' })), {
    adoptSlot: (k, fits) => {
      if (!idle || idle.key !== k) return undefined;
      asked.push(idle.slot);
      if (!fits(idle.slot)) return undefined;
      const c = idle;
      idle = undefined;
      return c;
    },
    evict: async () => false,
  }, () => undefined);
  t.teardown(() => gate.stop());
  const held = async (): Promise<number> => (await store.slotsByNode(Date.now())).reduce((n, r) => n + r.slots, 0);

  const first = (await gate.take(dest, 'any', 2)) as SlotLease;
  t.equal(first.slot, 0, 'the first worker takes slot 0 from the store');
  idle = gate.carry(first, () => undefined);
  const second = (await gate.take(dest, 'any', 2)) as SlotLease;
  t.equal(second.slot, 0, 'the next worker adopts it');
  t.equal(second.kind, 'any');
  t.equal(idle, undefined, 'the idle session no longer carries it');
  t.equal(await held(), 1, 'nothing written: still one slot row');

  // The limit was lowered (a slowed-down destination, a reload) below the carried slot.
  const extra = (await gate.take(dest, 'any', 2)) as SlotLease;
  t.equal(extra.slot, 1);
  idle = gate.carry(extra, () => undefined);
  const lowered = await gate.take(dest, 'any', 1);
  t.same(asked.slice(-1), [1], 'slot 1 was offered');
  t.equal(lowered, null, 'not adopted beyond the limit of 1, and the store has none free (slot 0 is held)');
  t.ok(idle, 'the idle session keeps its slot');
  t.equal(await held(), 2);

  // A slot of the trigger reserve (limit 1: slot 1) goes to a worker only while trigger mail waits.
  dest.push({ queueId: newQueueId(), domain: dest.domain, lane: 'trigger', sender: 'a@example.com', size: 1, receivedAt: 0, recipients: [] });
  const reserve = (await gate.take(dest, 'any', 1)) as SlotLease;
  t.equal(reserve.slot, 1, 'with a login code waiting, the reserve slot is adopted');
  t.equal(reserve.kind, 'trigger', 'and its worker takes trigger mail only');
  t.equal(await held(), 2, 'still nothing written');

  await second.release();
  await reserve.release();
  t.equal(await held(), 0, 'each lease given back once, by whoever holds it last');
});
