// Storage conditions arrive as catalogue errors, for every backend (spool/errors.ts): a
// full disk is MTA_ERR_SPOOL_FULL, a write lock held elsewhere MTA_ERR_SPOOL_BUSY, both
// retryable; the refused write changed nothing, and the same write goes through once the
// condition is gone. The factory's hooks make the condition; the store is used as is.
import { conformance, incoming, outcome, states } from './suite.js';

conformance('a full disk: intake is refused with MTA_ERR_SPOOL_FULL, retryable, and stores nothing', async (t, s) => {
  const store = await s.open();
  const body = Buffer.alloc(512 * 1024, 'b');
  const m = incoming(['r@dest.test'], { chunks: [body], size: body.length });
  const undo = await s.storage.fillDisk(store);
  const err = await store.commitIncoming(m).then(() => undefined, (e: unknown) => e);
  await undo();
  t.match(err, { name: 'MtaError', code: 'MTA_ERR_SPOOL_FULL', retryable: true });
  t.equal(await store.getMessage(m.id), undefined, 'nothing stored');
  await store.commitIncoming(m);
  t.ok(await store.getMessage(m.id), 'stored once there is room');
});

conformance('a write lock held elsewhere: claims and outcomes are refused with MTA_ERR_SPOOL_BUSY, retryable, and change nothing', async (t, s) => {
  const store = await s.open();
  const m = incoming(['a@dest.test', 'b@dest.test']);
  await store.commitIncoming(m);
  const now = m.receivedAt + 1;
  const [first] = await store.claimDue({ now, limit: 1 });
  let release = await s.storage.holdWriteLock(store);
  const claimErr = await store.claimDue({ now, limit: 10 }).then(() => undefined, (e: unknown) => e);
  const outcomeErr = await store.recordOutcomes([outcome(first!, 'delivered', now)]).then(() => undefined, (e: unknown) => e);
  await release();
  t.match(claimErr, { name: 'MtaError', code: 'MTA_ERR_SPOOL_BUSY', retryable: true }, 'the claim');
  t.match(outcomeErr, { name: 'MtaError', code: 'MTA_ERR_SPOOL_BUSY', retryable: true }, 'the outcome');
  t.same(await states(store), { [first!.rcpt]: 'sending', [first!.rcpt === 'a@dest.test' ? 'b@dest.test' : 'a@dest.test']: 'queued' }, 'nothing changed');

  release = await s.storage.holdWriteLock(store);
  const renewErr = await store.renewClaims(now).then(() => undefined, (e: unknown) => e);
  await release();
  t.match(renewErr, { code: 'MTA_ERR_SPOOL_BUSY', retryable: true }, 'a lease renewal too');

  t.equal(await store.recordOutcomes([outcome(first!, 'delivered', now)]), 1, 'the outcome goes through once the lock is gone');
  t.equal((await store.claimDue({ now, limit: 10 })).length, 1, 'and the claim');
});
