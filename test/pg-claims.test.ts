// Leased claims on PostgreSQL (spool/pg-claims.ts) on a real server, nodes sharing one
// database: nodes claiming at once never hold one recipient and between them take all;
// the trigger lane first; an expired claim goes to another node with a `requeued` event,
// a live one never does; renewal keeps a claim alive past its first expiry; start-up
// recovery takes back this node's own claims and expired ones only.
import t, { type Test } from 'tap';
import { PgClaims } from '../src/spool/pg-claims.js';
import { PgMessages } from '../src/spool/pg-messages.js';
import { PgIntake, type PgIntakeOptions } from '../src/spool/pg-intake.js';
import { createRules } from '../src/spool/default-rules.js';
import { PgEffects } from '../src/spool/pg-effects.js';
import { PgIdempotency } from '../src/spool/pg-idempotency.js';
import { PgWebhooks } from '../src/spool/pg-webhooks.js';
import { migratePg } from '../src/spool/pg-migrations.js';
import { createPgPool, type PgPool } from '../src/spool/pg-pool.js';
import { startPostgres } from './helpers/postgres.js';
import { incoming } from './store/suite.js';

const cluster = await startPostgres((fn) => t.teardown(fn));
const rules = createRules({ timeZone: 'UTC' });

/** Intake with the ports a message commits with (its counters, its idempotency record). */
function pgIntake(pool: PgPool, opts: PgIntakeOptions): PgIntake {
  return PgIntake.open(pool, opts, { effects: new PgEffects(rules, new PgWebhooks(pool, rules, 'test')), idempotency: new PgIdempotency(pool) });
}
const LEASE = 60_000;

/** A fresh database with `n` one-recipient messages; a pool per node on it. */
async function world(t: Test, n: number, lane: 'trigger' | 'batch' = 'trigger'): Promise<{ pool(): PgPool; now: number }> {
  const url = await cluster.createDatabase();
  const pool = (): PgPool => { const p = createPgPool({ url, poolSize: 4 }); t.teardown(() => p.end()); return p; };
  const first = pool();
  await migratePg(first);
  const intake = pgIntake(first, { windowMs: 0, maxBatch: 500 });
  const now = Date.now();
  await Promise.all(Array.from({ length: n }, (_, i) => intake.commitIncoming(incoming([`r${i}@dest.test`], { receivedAt: now - 1000, lane }))));
  return { pool, now };
}

/** A fresh, empty database: one pool, intake on it, and the time. */
async function emptyWorld(t: Test): Promise<{ pool: PgPool; intake: PgIntake; now: number }> {
  const pool = createPgPool({ url: await cluster.createDatabase(), poolSize: 2 });
  t.teardown(() => pool.end());
  await migratePg(pool);
  return { pool, intake: pgIntake(pool, { windowMs: 0, maxBatch: 10 }), now: Date.now() };
}

async function requeuedEvents(pool: PgPool): Promise<string[]> {
  const { rows } = await pool.query<{ reason: string }>(`SELECT detail->>'reason' AS reason FROM events WHERE type = 'requeued' ORDER BY id`);
  return rows.map((r) => r.reason);
}

t.test('three nodes claiming at once take disjoint recipients, and all of them', async (t) => {
  const w = await world(t, 120);
  const nodes = ['n1', 'n2', 'n3'].map((id) => PgClaims.open(w.pool(), id, LEASE));
  const held = new Map<number, string>();
  let doubles = 0;
  await Promise.all(nodes.map(async (node) => {
    for (;;) {
      const got = await node.claimDue({ now: w.now, limit: 7 });
      if (got.length === 0) return;
      for (const e of got) { if (held.has(e.recipientId)) doubles++; held.set(e.recipientId, node.nodeId); }
    }
  }));
  t.equal(doubles, 0, 'no recipient claimed twice');
  t.equal(held.size, 120, 'every recipient claimed');
  t.ok(new Set(held.values()).size >= 2, 'more than one node took work');
});

t.test('the trigger lane is claimed first; triggerOnly leaves the batch lane', async (t) => {
  const { pool, intake, now } = await emptyWorld(t);
  await intake.commitIncoming(incoming(['batch@dest.test'], { lane: 'batch', receivedAt: now - 2000 }));
  await intake.commitIncoming(incoming(['trigger@dest.test'], { lane: 'trigger', receivedAt: now - 1000 }));
  const claims = PgClaims.open(pool, 'n1', LEASE);
  t.equal(await claims.nextDueAt(), now - 2000, 'the oldest waiting recipient is due first');
  t.same((await claims.claimDue({ now, limit: 5, triggerOnly: true })).map((e) => e.rcpt), ['trigger@dest.test']);
  const rest = await claims.claimDue({ now, limit: 5 });
  t.same(rest.map((e) => [e.rcpt, e.state, e.lane]), [['batch@dest.test', 'sending', 'batch']]);
  t.equal(await claims.nextDueAt(), undefined, 'nothing waits');
});

t.test('an expired claim goes to another node with a requeued event; a live one never does', async (t) => {
  const w = await world(t, 2);
  const a = PgClaims.open(w.pool(), 'node-a', LEASE);
  const b = PgClaims.open(w.pool(), 'node-b', LEASE);
  const [first] = await a.claimDue({ now: w.now, limit: 1 });
  t.same(await b.claimDue({ now: w.now + LEASE - 1, limit: 5 }).then((es) => es.map((e) => e.recipientId)).then((ids) => ids.includes(first!.recipientId)), false, 'live: left to node-a');
  const taken = await b.claimDue({ now: w.now + LEASE, limit: 5 });
  t.same(taken.map((e) => e.recipientId), [first!.recipientId], 'expired: node-b takes it');
  t.same(await requeuedEvents(w.pool()), ['the claim of node node-a ran out']);
});

t.test('renewal keeps a claim alive past its first expiry, and renews only the node\'s own', async (t) => {
  const w = await world(t, 2);
  const a = PgClaims.open(w.pool(), 'node-a', LEASE);
  const b = PgClaims.open(w.pool(), 'node-b', LEASE);
  await a.claimDue({ now: w.now, limit: 1 });
  await b.claimDue({ now: w.now, limit: 1 });
  t.equal(await a.renewClaims(w.now + LEASE / 2), 1, 'node-a renews its one claim');
  const c = PgClaims.open(w.pool(), 'node-c', LEASE);
  const taken = await c.claimDue({ now: w.now + LEASE, limit: 5 });
  t.equal(taken.length, 1, 'only node-b\'s unrenewed claim expired');
  t.same(await requeuedEvents(w.pool()), ['the claim of node node-b ran out']);
});

t.test('recovery takes back this node\'s own claims and expired ones, not another node\'s live claim', async (t) => {
  const w = await world(t, 3);
  const a = PgClaims.open(w.pool(), 'node-a', LEASE);
  const b = PgClaims.open(w.pool(), 'node-b', LEASE);
  const c = PgClaims.open(w.pool(), 'node-c', LEASE);
  await a.claimDue({ now: w.now, limit: 1 });
  await b.claimDue({ now: w.now + 10_000, limit: 1 });
  await c.claimDue({ now: w.now, limit: 1 });
  // node-a restarts at now + LEASE: its own claim back, node-c's expired one too, node-b's (until now + 10 s + LEASE) stays.
  const restarted = PgClaims.open(w.pool(), 'node-a', LEASE);
  t.equal(await restarted.recoverSending(w.now + LEASE, 'restart'), 2);
  const { rows } = await w.pool().query<{ claimed_by: string | null; state: string }>('SELECT claimed_by, state FROM recipients ORDER BY id');
  t.same(rows.filter((r) => r.state === 'sending').map((r) => r.claimed_by), ['node-b']);
  t.equal(rows.filter((r) => r.state === 'queued').length, 2);
});

t.test('a message reads back whole on any node: envelope, recipients as claimed, and their history', async (t) => {
  const { pool, intake, now } = await emptyWorld(t);
  const m = incoming(['a@dest.test', 'b@dest.test'], { receivedAt: now - 1000, tag: 'welcome', subject: 'Hi' });
  await intake.commitIncoming(m);
  const a = PgClaims.open(pool, 'node-a', LEASE);
  const [claimed] = await a.claimDue({ now, limit: 1 });
  t.equal((await PgClaims.open(pool, 'node-b', LEASE).claimDue({ now: now + LEASE, limit: 2 })).length, 2, 'node-b takes both, one after node-a\'s lease ran out');
  const other = PgMessages.open(pool);
  const got = await other.getMessage(m.id);
  t.match(got, { id: m.id, receivedAt: m.receivedAt, sender: m.sender, authUser: m.authUser, clientIp: m.clientIp, helo: m.helo, messageId: m.messageId, subject: 'Hi', size: m.size, lane: 'trigger', tag: 'welcome' });
  t.same(got!.recipients.map((r) => [r.rcpt, r.state, r.domain]), [['a@dest.test', 'sending', 'dest.test'], ['b@dest.test', 'sending', 'dest.test']]);
  t.same(got!.events.map((e) => e.type), ['reception', 'reception', 'requeued']);
  t.match(got!.events[0]!.detail, { sender: m.sender, rcpt: 'a@dest.test', size: m.size });
  const history = await other.eventsOfRecipients([claimed!.recipientId]);
  t.same(history.map((e) => [e.type, e.recipientId]), [['reception', claimed!.recipientId], ['requeued', claimed!.recipientId]]);
  t.equal(await other.getMessage('Qnonexistent' as typeof m.id), undefined);
});

t.test('the queue lists by selector a page at a time; a cursor stays stable while mail arrives; a foreign cursor is MTA_ERR_INVALID', async (t) => {
  const { pool, intake, now } = await emptyWorld(t);
  for (let i = 0; i < 5; i++) await intake.commitIncoming(incoming([`r${i}@dest.test`, `x${i}@Other.test`], { sender: i % 2 ? 'App@Example.com' : 'news@example.com', receivedAt: now - 1000 }));
  const q = PgMessages.open(pool);
  const first = await q.listQueue({ domain: 'dest.test', limit: 2 });
  t.same(first.map((e) => e.rcpt), ['r0@dest.test', 'r1@dest.test']);
  await intake.commitIncoming(incoming(['late@dest.test']));
  const second = await q.listQueue({ domain: 'dest.test', limit: 2, after: first[1]!.cursor });
  t.same(second.map((e) => e.rcpt), ['r2@dest.test', 'r3@dest.test'], 'the next page continues where the first ended');
  t.equal(await q.countQueue({ domain: 'OTHER.test' }), 5, 'domains case-insensitive');
  t.equal(await q.countQueue({ sender: 'APP@example.com' }), 5, 'senders case-insensitive (App@Example.com twice, two recipients each, and the late one)');
  t.same((await q.listQueue({ newest: true, limit: 2 })).map((e) => e.rcpt), ['x4@Other.test', 'late@dest.test'], 'the newest, newest last');
  await PgClaims.open(pool, 'n1', LEASE).claimDue({ now, limit: 3 });
  t.equal(await q.countQueue({ states: ['sending'] }), 3);
  t.equal(await q.countQueue({ states: [] }), 0, 'no state: nothing');
  await t.rejects(q.listQueue({ after: 'not-ours' }), { code: 'MTA_ERR_INVALID', message: /not a cursor/ });
});

t.test('a hand-back requeues only what this node still holds; a lost claim stays the new claimer\'s', async (t) => {
  const w = await world(t, 2);
  const a = PgClaims.open(w.pool(), 'node-a', LEASE);
  const b = PgClaims.open(w.pool(), 'node-b', LEASE);
  const mine = await a.claimDue({ now: w.now, limit: 2 });
  t.equal(mine.length, 2);
  // node-a stalls past its lease; node-b takes both; node-a's late hand-back must change nothing.
  t.equal((await b.claimDue({ now: w.now + LEASE, limit: 5 })).length, 2);
  t.equal(await a.requeue(mine.map((e) => e.recipientId), w.now + 1, 'shutdown'), 0, 'nothing handed back');
  t.equal(await PgMessages.open(w.pool()).countQueue({ states: ['sending'] }), 2, 'both still node-b\'s');
  t.equal(await b.requeue([mine[0]!.recipientId], w.now + 5000, 'shutdown'), 1, 'node-b hands back its own');
  const q = PgMessages.open(w.pool());
  t.match(await q.listQueue({ states: ['queued'] }), [{ recipientId: mine[0]!.recipientId, nextAttemptAt: w.now + 5000, attempts: 0 }]);
  t.same((await q.eventsOfRecipients([mine[0]!.recipientId])).map((e) => [e.type, e.detail['reason']]),
    [['reception', undefined], ['requeued', 'the claim of node node-a ran out'], ['requeued', 'shutdown']]);
});
