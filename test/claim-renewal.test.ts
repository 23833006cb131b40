// The scheduler renews the leases of the recipients it holds while their delivery is on the
// wire (spool/types-leases.ts), so a slow delivery is not taken by another node when its
// first lease runs out. The renewal interval is shortened for the test (MTA_TEST_CLAIM_RENEW_MS);
// the lease is the real one: another node is asked to claim at a time past the first lease
// and inside the renewed one (times are passed, not waited for).
import t from 'tap';
import { join } from 'node:path';
import { startWorld } from './helpers/delivery.js';
import { openTestStore } from './helpers/store.js';
import { TEST_RENEW_ENV } from '../src/scheduler/scheduler.js';
import { CLAIM_LEASE_MS } from '../src/spool/types-leases.js';

t.test('a delivery on the wire keeps its claim past the first lease; another node cannot take it', async (t) => {
  process.env[TEST_RENEW_ENV] = '50';
  t.teardown(() => { delete process.env[TEST_RENEW_ENV]; });
  const w = await startWorld();
  t.teardown(() => w.stop());
  let heldAt = 0;
  let release!: () => void;
  const held = new Promise<void>((r) => { release = r; });
  const sink = await w.addDomain('slow.test', 2, { dataDelayMs: () => { heldAt = Date.now(); return held; } });
  const store = w.daemon.daemon.store;
  const renewals: { now: number; n: number }[] = [];
  const realRenew = store.renewClaims.bind(store);
  store.renewClaims = async (now) => { const n = await realRenew(now); renewals.push({ now, n }); return n; };
  t.teardown(() => { store.renewClaims = realRenew; });

  const id = await w.submit('a@slow.test');
  await w.waitFor('the sink holding the DATA reply', () => heldAt > 0);
  // A renewal that started after the claim (the sink has the message) and renewed it.
  const renewal = await w.waitFor('a renewal while the delivery is on the wire', () => renewals.find((r) => r.now > heldAt && r.n === 1));
  const other = openTestStore(join(w.daemon.dir, 'data'), { nodeId: 'node-b' });
  t.teardown(() => other.close());
  t.not(other.nodeId, store.nodeId);
  const probe = renewal.now + CLAIM_LEASE_MS - 1; // past the first lease (the claim was before heldAt), inside the renewed one
  t.same(await other.claimDue({ now: probe, limit: 10 }), [], 'another node cannot take the renewed claim');
  t.equal(await other.recoverSending(probe, 'node-b starts'), 0, 'nor recover it when it starts');

  release();
  const m = await w.waitFor('delivered', async () => { const x = await w.message(id); return x.recipients[0]!.state === 'delivered' && x; });
  t.equal(m.events.filter((e) => e.type === 'delivered').length, 1, "the daemon's outcome is recorded");
  t.equal(m.events.filter((e) => e.type === 'requeued').length, 0, 'the recipient was never taken back');
  t.equal(sink.messages.length, 1);
});
