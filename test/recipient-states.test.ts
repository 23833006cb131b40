// One recipient state machine: the declaration in spool/states.ts (TRANSITIONS) is what the
// store does. For every state a store operation can reach and every operation that moves
// recipients (claim, each outcome, hand-back, start-up recovery, flush, hold, release,
// delete), a recipient is brought to the state through the store, the operation applied,
// and the store's count and the recipient's new state compared with transition(). The
// backend's guards (`WHERE state IN (...)`) are checked this way, not read.
import t from 'tap';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { isFinal, QUEUE_OP_STATES, RECIPIENT_STATES, transition, type RecipientEvent, type RecipientState } from '../src/spool/states.js';
import type { OpenStore } from '../src/spool/index.js';
import type { IncomingMessage, RecipientOutcome } from '../src/spool/types-queue.js';
import { newQueueId, type QueueId, type RecipientId } from '../src/util/ids.js';
import { openTestStore } from './helpers/store.js';
import { tempDir } from './helpers/daemon.js';

const dir = tempDir('mta-recipient-states-');
t.teardown(() => rmSync(dir, { recursive: true, force: true }));

/** Received at T0; every time below is placed around it so that what must be due is due. */
const T0 = Date.parse('2026-03-10T12:00:00Z');
const LATER = T0 + 1_000_000;

function msg(): IncomingMessage {
  const body = Buffer.from('Subject: x\r\n\r\nhi\r\n');
  return {
    id: newQueueId(T0), receivedAt: T0, sender: 'app@example.com', authUser: null, clientIp: '127.0.0.1', helo: 'c', messageId: '<x@y>',
    subject: 'x', size: body.length, lane: 'trigger', tag: null, chunks: [body], recipients: ['r@dest.test'],
  };
}

interface One { store: OpenStore; id: QueueId; rid: RecipientId }

async function stateOf(o: One): Promise<RecipientState> { return (await o.store.getMessage(o.id))!.recipients[0]!.state; }

function outcomeOf(o: One, kind: RecipientOutcome['kind'], at: number): RecipientOutcome {
  // A deferral is due again at once (LATER), so the next claim finds it.
  return { recipientId: o.rid, queueId: o.id, kind, at, reply: kind === 'delivered' ? '250 ok' : '451 4.3.0 later', attempted: true, detail: { status: 4 }, ...(kind === 'deferred' ? { nextAttemptAt: LATER } : {}) };
}

/** How a store brings a fresh recipient (queued) to each state; `suppressed` no store operation makes. */
const REACH: Partial<Record<RecipientState, (o: One) => Promise<unknown>>> = {
  queued: async () => undefined,
  sending: (o) => o.store.claimDue({ now: T0 + 10, limit: 10 }),
  deferred: async (o) => { await REACH.sending!(o); await o.store.recordOutcomes([outcomeOf(o, 'deferred', T0 + 20)]); },
  held: (o) => o.store.applyQueueOp('hold', { queueId: o.id }, LATER + 10),
  delivered: async (o) => { await REACH.sending!(o); await o.store.recordOutcomes([outcomeOf(o, 'delivered', T0 + 20)]); },
  failed: async (o) => { await REACH.sending!(o); await o.store.recordOutcomes([outcomeOf(o, 'failed', T0 + 20)]); },
  expired: async (o) => { await REACH.sending!(o); await o.store.recordOutcomes([outcomeOf(o, 'expired', T0 + 20)]); },
};

/** Each store operation that moves recipients, the event it is, and how many it says it changed. */
const OPS: Record<string, { event: RecipientEvent; run: (o: One) => Promise<number> }> = {
  claim: { event: 'pick', run: async (o) => (await o.store.claimDue({ now: LATER * 2, limit: 10 })).length },
  delivered: { event: 'delivered', run: (o) => o.store.recordOutcomes([outcomeOf(o, 'delivered', LATER * 2)]) },
  deferred: { event: 'deferred', run: (o) => o.store.recordOutcomes([outcomeOf(o, 'deferred', LATER * 2)]) },
  failed: { event: 'failed', run: (o) => o.store.recordOutcomes([outcomeOf(o, 'failed', LATER * 2)]) },
  expired: { event: 'expired', run: (o) => o.store.recordOutcomes([outcomeOf(o, 'expired', LATER * 2)]) },
  'hand-back': { event: 'requeue', run: (o) => o.store.requeue([o.rid], LATER * 2, 'test') },
  'start-up recovery': { event: 'requeue', run: (o) => o.store.recoverSending(LATER * 2, 'test') },
  hold: { event: 'hold', run: (o) => o.store.applyQueueOp('hold', { queueId: o.id }, LATER * 2) },
  release: { event: 'release', run: (o) => o.store.applyQueueOp('release', { queueId: o.id }, LATER * 2) },
  delete: { event: 'delete', run: (o) => o.store.applyQueueOp('delete', { queueId: o.id }, LATER * 2) },
};

let n = 0;
async function fresh(): Promise<One> {
  const store = openTestStore(join(dir, `s${n++}`));
  const m = msg();
  await store.commitIncoming(m);
  return { store, id: m.id, rid: (await store.getMessage(m.id))!.recipients[0]!.recipientId };
}

t.test('every store operation moves a recipient exactly as transition() says, from every state', async (t) => {
  const reached = Object.keys(REACH) as RecipientState[];
  t.same(RECIPIENT_STATES.filter((s) => !reached.includes(s)), ['suppressed'], 'every state but suppressed is reached through the store');
  for (const s of reached) {
    for (const [name, op] of Object.entries(OPS)) {
      const o = await fresh();
      try {
        await REACH[s]!(o);
        t.equal(await stateOf(o), s, `brought to ${s}`);
        const changed = await op.run(o);
        const to = transition(s, op.event);
        t.same([changed, await stateOf(o)], [to === undefined ? 0 : 1, to ?? s], `${s} + ${name} (${op.event}) → ${to ?? 'unchanged'}`);
      } finally {
        await o.store.close();
      }
    }
  }
});

t.test('flush acts on the states the declaration says (those a claim can pick), and changes no state', async (t) => {
  for (const s of Object.keys(REACH) as RecipientState[]) {
    const o = await fresh();
    try {
      await REACH[s]!(o);
      // Every recipient's next attempt is after T0 - 1 here, so a flush to then changes each one its guard lets through.
      const flushed = await o.store.applyQueueOp('flush', { queueId: o.id }, T0 - 1);
      t.same([flushed, await stateOf(o)], [QUEUE_OP_STATES.flush.includes(s) ? 1 : 0, s], `flush of ${s}`);
    } finally {
      await o.store.close();
    }
  }
});

t.test('final states never change; delete, hold and release act on what QUEUE_OP_STATES lists', async (t) => {
  for (const s of RECIPIENT_STATES) {
    for (const ev of ['pick', 'delivered', 'deferred', 'failed', 'expired', 'requeue', 'hold', 'release', 'suppress', 'delete'] as const) {
      if (isFinal(s)) t.equal(transition(s, ev), undefined, `${s} + ${ev}`);
    }
    for (const op of ['hold', 'release', 'delete'] as const) t.equal(QUEUE_OP_STATES[op].includes(s), transition(s, op) !== undefined, `${op} of ${s}`);
  }
});

t.test('an operator delete leaves mail on the wire alone: its delivery is its one final event', async (t) => {
  const o = await fresh();
  t.teardown(() => o.store.close());
  await REACH.sending!(o);
  t.equal(await o.store.applyQueueOp('delete', { queueId: o.id }, T0 + 15), 0, 'a sending recipient is not deleted');
  t.equal(await o.store.recordOutcomes([outcomeOf(o, 'delivered', T0 + 20)]), 1, 'the attempt in flight records its outcome');
  const m = (await o.store.getMessage(o.id))!;
  t.same(m.recipients.map((r) => r.state), ['delivered']);
  t.same(m.events.map((e) => e.type).filter((e) => e !== 'reception'), ['delivered'], 'one final event, no deleted event');
  t.equal(await o.store.applyQueueOp('delete', { queueId: o.id }, T0 + 30), 0, 'and delivered mail cannot be deleted afterwards');
});
