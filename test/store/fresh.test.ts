// The fresh-mail handoff (FreshTaker, spool/types-queue.ts), for every backend: intake's own
// commit claims for the scheduler as many recipients per lane as it was granted, exactly as
// claimDue would (state 'sending', this node's lease and token: outcomes apply, another node
// cannot take them, recovery gives them back), leaves the rest to claimDue, tells the commit
// observers how many wait, and answers every offer once, with nothing when the write failed.
import type { FreshTaker, LaneCounts, QueueEntry } from '../../src/spool/types-queue.js';
import type { QueueId } from '../../src/util/ids.js';
import { conformance, incoming, outcome, states } from './suite.js';

// Every message of a test is due by then, and every lease of it still runs.
const soon = (): number => Date.now() + 1000;
const T = soon();

/** A taker granting what `grant` says of each offer, and what it heard. */
function taker(grant: (has: LaneCounts) => LaneCounts) {
  const heard = { offers: [] as LaneCounts[], granted: [] as LaneCounts[], entries: [] as QueueEntry[], answers: 0 };
  const t: FreshTaker = {
    offer: (has) => { heard.offers.push(has); return grant(has); },
    taken: (granted, entries) => { heard.answers++; heard.granted.push(granted); heard.entries.push(...entries); },
  };
  return { t, heard };
}

const sum = (xs: readonly LaneCounts[]): LaneCounts => xs.reduce((a, x) => ({ trigger: a.trigger + x.trigger, batch: a.batch + x.batch }), { trigger: 0, batch: 0 });

conformance('intake claims what the scheduler grants in its own commit, and leaves the rest to claimDue', async (t, s) => {
  const a = await s.open('node-a');
  const b = await s.open('node-b');
  // Each offer: every trigger recipient, one batch recipient.
  const { t: take, heard } = taker((has) => ({ trigger: has.trigger, batch: Math.min(1, has.batch) }));
  a.handFresh(take);
  const waiting: number[] = [];
  a.onCommit((_ids, w) => { if (w !== undefined) waiting.push(w); });
  const code = incoming(['code@dest.test'], { lane: 'trigger' });
  const news = incoming(['n1@dest.test', 'n2@dest.test', 'n3@dest.test'], { lane: 'batch', size: 4321 });
  await Promise.all([a.commitIncoming(code), a.commitIncoming(news)]);

  t.same(sum(heard.offers), { trigger: 1, batch: 3 }, 'the offers counted every recipient by lane');
  t.equal(heard.answers, heard.offers.length, 'every offer answered once');
  const claimed = heard.entries;
  t.same(claimed.length, sum(heard.granted).trigger + sum(heard.granted).batch, 'as many claimed as granted');
  const got = byRcpt(claimed);
  t.ok(got['code@dest.test'], 'the trigger recipient was claimed');
  t.match(got['code@dest.test'], { queueId: code.id, state: 'sending', lane: 'trigger', attempts: 0, sender: code.sender, domain: 'dest.test', receivedAt: code.receivedAt, size: code.size, nextAttemptAt: code.receivedAt });
  t.equal(claimed.filter((e) => e.lane === 'batch').length, heard.offers.length, 'one batch recipient per offer');
  t.match(claimed.find((e) => e.lane === 'batch'), { queueId: news.id, size: 4321, state: 'sending' });
  t.same(waiting.reduce((x, y) => x + y, 0), 4 - claimed.length, 'the observers heard how many wait for claimDue');

  const st = await states(a);
  for (const e of claimed) t.equal(st[e.rcpt], 'sending', `${e.rcpt} is 'sending' in the store`);
  const left = Object.keys(st).filter((r) => !got[r]);
  t.same(left.map((r) => st[r]), left.map(() => 'queued'), 'the others are queued');
  t.same(await b.claimDue({ now: soon(), limit: 10 }).then((rs) => rs.map((r) => r.rcpt).sort()), left.sort(), 'another node claims only those: the fresh claims are held');
  t.equal(await a.recordOutcomes(claimed.map((e) => outcome(e, 'delivered', T))), claimed.length, 'outcomes of the fresh claims apply (the token is held)');
  t.equal((await states(a))['code@dest.test'], 'delivered');
});

conformance('a fresh claim is this node\'s like any other: recovered at its restart, renewed with its leases', async (t, s) => {
  const a = await s.open('node-a');
  const { t: take } = taker((has) => has);
  a.handFresh(take);
  const m = incoming(['x@dest.test', 'y@dest.test']);
  await a.commitIncoming(m);
  t.same(Object.values(await states(a)), ['sending', 'sending'], 'both claimed at intake');
  t.equal(await a.renewClaims(Date.now()), 2, 'renewed with the node\'s other claims');
  await a.close();
  const again = await s.open('node-a');
  t.equal(await again.recoverSending(Date.now(), 'test restart'), 2, 'recovered when the node starts again');
  t.same(Object.values(await states(again)), ['queued', 'queued']);
});

conformance('a grant beyond the batch is cut to it, a negative one to nothing; no taker claims nothing', async (t, s) => {
  const a = await s.open('node-a');
  const big = taker(() => ({ trigger: 1000, batch: 1000 }));
  a.handFresh(big.t);
  await a.commitIncoming(incoming(['one@dest.test'], { lane: 'batch' }));
  t.same(big.heard.granted, [{ trigger: 0, batch: 1 }], 'cut to what the batch had');
  t.equal(big.heard.entries.length, 1);
  const neg = taker(() => ({ trigger: -5, batch: Number.NaN }));
  a.handFresh(neg.t);
  await a.commitIncoming(incoming(['two@dest.test']));
  t.same([neg.heard.granted, neg.heard.entries.length], [[{ trigger: 0, batch: 0 }], 0], 'nothing claimed');
  a.handFresh(undefined);
  const waiting: number[] = [];
  a.onCommit((_ids, w) => { if (w !== undefined) waiting.push(w); });
  await a.commitIncoming(incoming(['three@dest.test']));
  t.same(waiting, [1], 'without a taker every recipient waits for claimDue');
  t.same(await states(a), { 'one@dest.test': 'sending', 'two@dest.test': 'queued', 'three@dest.test': 'queued' });
});

conformance('a refused write answers the offer with nothing and stores nothing', async (t, s) => {
  const a = await s.open('node-a');
  const { t: take, heard } = taker((has) => has);
  a.handFresh(take);
  const refused = incoming(['lost@dest.test'], { chunks: [Buffer.alloc(512 * 1024, 'a')], size: 512 * 1024 });
  const undo = await s.storage.fillDisk(a);
  const err = await a.commitIncoming(refused).then(() => undefined, (e: unknown) => e);
  await undo();
  t.match(err, { code: 'MTA_ERR_SPOOL_FULL' }, 'the caller gets the refusal');
  t.same([heard.answers, heard.granted], [1, [{ trigger: 1, batch: 0 }]], 'answered once, with the grant and no entries');
  t.equal(heard.entries.length, 0);
  t.equal(await a.getMessage(refused.id as QueueId), undefined, 'nothing stored');
  await a.commitIncoming(incoming(['next@dest.test']));
  t.equal(heard.entries.length, 1, 'the next commit claims again');
});

function byRcpt(rows: readonly QueueEntry[]): Record<string, QueueEntry> {
  return Object.fromEntries(rows.map((r) => [r.rcpt, r]));
}

conformance('a taker that throws claims nothing and refuses nothing: the mail is stored and waits for claimDue', async (t, s) => {
  const a = await s.open('node-a');
  let answers = 0;
  a.handFresh({ offer: () => { throw new Error('scheduler bug'); }, taken: () => { answers++; } });
  const waiting: number[] = [];
  a.onCommit((_ids, w) => { if (w !== undefined) waiting.push(w); });
  const m = incoming(['kept@dest.test']);
  await a.commitIncoming(m);
  t.same(await states(a), { 'kept@dest.test': 'queued' }, 'stored, queued');
  t.same(waiting, [1], 'the observers hear it waits');
  t.equal(answers, 1, 'the offer is still answered once (with nothing)');
  a.handFresh({ offer: (has) => has, taken: () => { throw new Error('scheduler bug'); } });
  const n = incoming(['also@dest.test']);
  await a.commitIncoming(n);
  t.equal((await states(a))['also@dest.test'], 'sending', 'a taker failing after the commit does not undo it');
});
