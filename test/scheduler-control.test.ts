// An operator's queue operation against a claim in flight. A claim is asynchronous: its rows
// are already 'sending' in the spool while they are on their way to the scheduler's ready set,
// whether a claim of the scheduler's took them (claimDue, on the spool writer thread) or
// intake's own commit did (the fresh-mail handoff, scheduler/fresh.ts). A delete issued in
// that gap must still find and delete them, and nothing of it may be delivered afterwards.
// The gap is widened by holding the reply (the claim itself runs for real on the real spool).
import t from 'tap';
import { startWorld } from './helpers/delivery.js';
import type { FreshTaker, QueueEntry } from '../src/spool/types-queue.js';

type World = Awaited<ReturnType<typeof startWorld>>;

/** Holds the first non-empty claim of the way under test; `claimed` says when it is in the spool. */
type Gap = (w: World, held: Promise<void>) => { claimed: () => QueueEntry[] | undefined; undo: () => void };

/** The scheduler's own claim (the handoff off, so fresh mail waits for claimDue). */
const claimDue: Gap = (w, held) => {
  const store = w.daemon.daemon.store;
  const realClaim = store.claimDue.bind(store);
  let claimed: QueueEntry[] | undefined;
  store.handFresh(undefined);
  store.claimDue = async (req) => {
    const rows = await realClaim(req);
    if (rows.length > 0 && claimed === undefined) { claimed = rows; await held; }
    return rows;
  };
  return { claimed: () => claimed, undo: () => { store.claimDue = realClaim; } };
};

/** Intake's commit claiming for the scheduler: what it claimed reaches the ready set late. */
const handoff: Gap = (w, held) => {
  const store = w.daemon.daemon.store;
  const inner = w.daemon.daemon.scheduler!.fresh;
  let claimed: QueueEntry[] | undefined;
  const late: FreshTaker = {
    offer: (has) => inner.offer(has),
    taken: (granted, entries) => {
      if (entries.length > 0 && claimed === undefined) { claimed = [...entries]; void held.then(() => inner.taken(granted, entries)); return; }
      inner.taken(granted, entries);
    },
  };
  store.handFresh(late);
  return { claimed: () => claimed, undo: () => store.handFresh(inner) };
};

for (const [way, gap] of [['the scheduler\'s claim', claimDue], ['intake\'s commit (the fresh-mail handoff)', handoff]] as const) {
  t.test(`a delete issued while ${way} is on its way deletes the claimed recipients`, async (t) => {
    const w = await startWorld();
    t.teardown(() => w.stop());
    const sink = await w.addDomain('gap.test', 2);
    const scheduler = w.daemon.daemon.scheduler!;
    // The scheduler's first look at the spool ends before the mail comes (until then fresh mail is left to a claim).
    await w.waitFor('the scheduler idle', () => !scheduler.claimInFlight);
    let release!: () => void;
    const held = new Promise<void>((r) => { release = r; });
    const g = gap(w, held);
    t.teardown(g.undo);

    const id = await w.submit(['a@gap.test', 'b@gap.test']);
    await w.waitFor('the claim of the new mail', () => g.claimed() !== undefined);
    t.same((await w.message(id)).recipients.map((r) => r.state), ['sending', 'sending'], 'claimed in the spool, not yet in the ready set');

    let controlDone = false;
    const control = scheduler.control('delete', { queueId: id }).then((n) => { controlDone = true; return n; });
    await new Promise((r) => setTimeout(r, 100));
    t.notOk(controlDone, 'the delete waits for the claim in flight');
    release();
    t.equal(await control, 2, 'both claimed recipients were deleted');

    const m = await w.message(id);
    t.same(m.recipients.map((r) => [r.state, r.lastReply]), [['failed', 'deleted by the operator'], ['failed', 'deleted by the operator']]);
    await new Promise((r) => setTimeout(r, 500));
    t.equal(sink.messages.length, 0, 'nothing was delivered');
    t.equal(m.events.filter((e) => e.type === 'deleted').length, 2, 'one deleted event per recipient');

    // The scheduler goes on claiming after the operation.
    const id2 = await w.submit('c@gap.test');
    const m2 = await w.waitFor('the next message', async () => { const x = await w.message(id2); return x.recipients[0]!.state === 'delivered' && x; });
    t.equal(m2.recipients[0]!.state, 'delivered');
    t.equal(sink.messages.length, 1);
  });
}
