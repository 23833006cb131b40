// Cursors and the audit, for every backend. Paging with a cursor while others insert
// returns every row that was there exactly once, in order (new rows come after the cursor
// or not at all, never twice). And whatever happens to a recipient — delivered, failed,
// deferred and retried, deleted by the operator, lost by one node and finished by another
// — it gets exactly one final event, and a recipient still waiting gets none.
import type { RecipientId } from '../../src/util/ids.js';
import type { Store } from '../../src/spool/types.js';
import { CLAIM_LEASE_MS } from '../../src/spool/types-leases.js';
import { isFinal } from '../../src/spool/states.js';
import { conformance, incoming, outcome } from './suite.js';

const FINAL = new Set(['delivered', 'failed', 'expired', 'deleted']);

conformance('a queue cursor is stable while messages are committed between pages', async (t, s) => {
  const store = await s.open();
  for (let i = 0; i < 5; i++) await store.commitIncoming(incoming(Array.from({ length: 6 }, (_, j) => `old${i}-${j}@dest.test`)));
  const there = (await store.listQueue({ limit: 1000 })).map((e) => e.recipientId);
  const seen: RecipientId[] = [];
  let after: string | undefined;
  for (let page = 0; page < 100; page++) {
    const rows = await store.listQueue({ limit: 7, ...(after !== undefined ? { after } : {}) });
    if (rows.length === 0) break;
    seen.push(...rows.map((r) => r.recipientId));
    after = rows[rows.length - 1]!.cursor; // opaque: the backend's, passed back unchanged
    await store.commitIncoming(incoming([`new${page}@dest.test`])); // another writer, between pages
  }
  t.same(seen.filter((id) => there.includes(id)), there, 'every recipient that was there, once, in order');
  t.equal(new Set(seen).size, seen.length, 'none twice');
});

conformance('a suppression cursor is stable while suppressions are added between pages', async (t, s) => {
  const store = await s.open();
  const at = Date.now();
  for (let i = 0; i < 20; i++) await store.addSuppression({ address: `s${String(i).padStart(2, '0')}@x.test`, scope: '', reason: 'test', source: 'manual', createdAt: at });
  const seen: string[] = [];
  let after: { after: string; afterScope: string } | undefined;
  for (let page = 0; page < 100; page++) {
    const rows = await store.listSuppressions({ limit: 6, ...after });
    if (rows.length === 0) break;
    seen.push(...rows.map((r) => r.address));
    after = { after: rows[rows.length - 1]!.address, afterScope: rows[rows.length - 1]!.scope };
    // before and after the cursor, as an import would
    await store.addSuppression({ address: `a${page}@x.test`, scope: '', reason: 'test', source: 'manual', createdAt: at });
    await store.addSuppression({ address: `t${page}@x.test`, scope: '', reason: 'test', source: 'manual', createdAt: at });
  }
  const old = Array.from({ length: 20 }, (_, i) => `s${String(i).padStart(2, '0')}@x.test`);
  t.same(seen.filter((a) => old.includes(a)), old, 'every suppression that was there, once, in order');
  t.equal(new Set(seen).size, seen.length, 'none twice');
});

/** Each recipient's final events, by recipient. */
async function finals(store: Store, ids: readonly RecipientId[]): Promise<Map<RecipientId, string[]>> {
  const out = new Map<RecipientId, string[]>(ids.map((id) => [id, []]));
  for (const e of await store.eventsOfRecipients(ids)) if (e.recipientId !== null && FINAL.has(e.type)) out.get(e.recipientId)!.push(e.type);
  return out;
}

conformance('one final event per recipient, whatever happened to it (two nodes, a lost claim, operator deletes)', async (t, s) => {
  const a = await s.open('node-a');
  const b = await s.open('node-b');
  const m = incoming(Array.from({ length: 12 }, (_, i) => `r${i}@dest.test`));
  await a.commitIncoming(m);
  const T = m.receivedAt + 1;
  const claimed = await a.claimDue({ now: T, limit: 8 }); // r0..r7 with node-a; r8..r11 wait
  const [d0, f1, x2, def3, lost4, lost5, back6, back7] = claimed;
  await a.recordOutcomes([outcome(d0!, 'delivered', T), outcome(f1!, 'failed', T), outcome(x2!, 'expired', T), outcome(def3!, 'deferred', T)]);
  t.equal(await a.recordOutcomes([outcome(d0!, 'failed', T + 1)]), 0, 'a second outcome for a final recipient is not recorded');
  await a.requeue([back6!.recipientId, back7!.recipientId], T);
  // node-a stalls; its lease on r4 and r5 runs out and node-b takes them (and the rest that is due).
  const later = T + CLAIM_LEASE_MS;
  const taken = await b.claimDue({ now: later, limit: 100 });
  t.ok([lost4, lost5].every((e) => taken.some((x) => x.recipientId === e!.recipientId)), 'node-b took the lost claims');
  t.equal(await a.recordOutcomes([outcome(lost4!, 'delivered', later), outcome(lost5!, 'failed', later)]), 0, "node-a's late outcomes are not recorded");
  const keep = taken.filter((e) => e.rcpt === 'r8@dest.test' || e.rcpt === 'r9@dest.test');
  await b.recordOutcomes(taken.filter((e) => !keep.includes(e)).map((e) => outcome(e, 'delivered', later)));
  await b.requeue(keep.map((e) => e.recipientId), later + 3_600_000);
  await b.applyQueueOp('delete', { select: { domain: 'dest.test' } }, later + 1); // r8, r9 and whatever is not final
  const queue = await b.listQueue({ limit: 100 });
  t.equal(queue.length, 12);
  t.same(queue.filter((e) => !isFinal(e.state)).map((e) => e.rcpt), [], 'every recipient is final');
  const byRecipient = await finals(b, queue.map((e) => e.recipientId));
  t.same([...byRecipient.values()].map((f) => f.length), queue.map(() => 1), 'each has exactly one final event');
  t.same(byRecipient.get(lost4!.recipientId), ['delivered'], "the lost claim's final event is node-b's");
});
