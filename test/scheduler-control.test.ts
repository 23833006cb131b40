// An operator's queue operation against a claim in flight. With the spool writer thread a
// claim is asynchronous: its rows are already 'sending' in the spool while the reply is on its
// way to the scheduler. A delete issued in that gap must still find and delete them, and
// nothing of it may be delivered afterwards. The gap is widened by holding the claim's reply
// (the claim itself runs for real on the real spool).
import t from 'tap';
import { startWorld } from './helpers/delivery.js';
import type { QueueEntry } from '../src/spool/types-queue.js';

t.test('a delete issued while a claim is on its way deletes the claimed recipients', async (t) => {
  const w = await startWorld();
  t.teardown(() => w.stop());
  const sink = await w.addDomain('gap.test', 2);
  const store = w.daemon.daemon.store;
  const scheduler = w.daemon.daemon.scheduler!;

  const realClaim = store.claimDue.bind(store);
  let release!: () => void;
  const held = new Promise<void>((r) => { release = r; });
  let claimedRows: QueueEntry[] | undefined;
  store.claimDue = async (req) => {
    const rows = await realClaim(req);
    if (rows.length > 0 && claimedRows === undefined) { claimedRows = rows; await held; }
    return rows;
  };
  t.teardown(() => { store.claimDue = realClaim; });

  const id = await w.submit(['a@gap.test', 'b@gap.test']);
  await w.waitFor('the claim of the new mail', () => claimedRows !== undefined);
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
