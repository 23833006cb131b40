// The PostgreSQL ports of the accounts aggregates (spool/pg-<aggregate>.ts) answer as the
// SQLite store does: each scenario is written once, run on a real SQLite store (openStore)
// and on the PostgreSQL class over a fresh, migrated database of a real server, and what it
// saw on each (the transcript it returns) must be the same; each scenario also asserts its
// own expectations, so two backends agreeing on a wrong answer still fail. Facts whose
// effects (counters, suppressions, webhooks) belong to the core ports get an effects port
// that writes nothing and fails when asked to (`noEffects`): where the rules decide no
// effect the scenario compares the backends, and where they decide one the PostgreSQL port
// must store nothing at all. Facts with effects are also run through the whole store
// (openStoreAsync, PgEffects composed in) and held to SQLite's counters, suppressions and
// task counts. Without PostgreSQL's binaries startPostgres throws saying why.
import { rmSync } from 'node:fs';
import pg from 'pg';
import t, { type Test } from 'tap';
import { createRules } from '../src/events/effects.js';
import { openStore, openStoreAsync } from '../src/spool/index.js';
import { PgDomains } from '../src/spool/pg-domains.js';
import { PgEgress } from '../src/spool/pg-egress.js';
import type { PgEffectsPort } from '../src/spool/pg-facts.js';
import { PgFeedback } from '../src/spool/pg-feedback.js';
import { PgInbound } from '../src/spool/pg-inbound.js';
import { PgLists } from '../src/spool/pg-lists.js';
import { PgMessages } from '../src/spool/pg-messages.js';
import { migratePg } from '../src/spool/pg-migrations.js';
import { createPgPool, type PgPool } from '../src/spool/pg-pool.js';
import { PgMtaSts } from '../src/spool/pg-mtasts.js';
import { PgSenders } from '../src/spool/pg-senders.js';
import { PgTags } from '../src/spool/pg-tags.js';
import { PgTasks } from '../src/spool/pg-tasks.js';
import { PgTemplates } from '../src/spool/pg-templates.js';
import { PgTlsRpt } from '../src/spool/pg-tlsrpt.js';
import { PgTracking } from '../src/spool/pg-tracking.js';
import { PgUsers } from '../src/spool/pg-users.js';
import type { Store } from '../src/spool/types.js';
import type { IncomingMessage, QueueEntry } from '../src/spool/types-queue.js';
import { newTaskId } from '../src/util/ids.js';
import { tempDir } from './helpers/daemon.js';
import { pgIntake, startPostgres } from './helpers/postgres.js';
import { bothBackends } from './helpers/both-backends.js';
import { incoming } from './store/suite.js';
import { codeOf, domainsScenario, listsScenario, sendersScenario, tagsScenario, taskRecord, tasksScenario, templatesScenario, tlsRptScenario, usersScenario, type Side } from './helpers/accounts-scenarios.js';

const cluster = await startPostgres((fn) => t.teardown(fn));
const rules = createRules({ timeZone: 'UTC' });

/** The effects port of a branch without the core ports' tables: no webhooks, and any effect is a failure. */
const noEffects: PgEffectsPort = {
  rules,
  directory: async () => () => [],
  apply: async (_c, fx) => { if (fx.length) throw new Error(`effects ${fx.map((e) => e.kind).join(', ')} need the core ports' tables`); },
  signal: () => undefined,
};

async function sqliteSide(t: Test): Promise<Side> {
  const dataDir = tempDir('mta-pg-accounts-');
  const store = openStore({ dataDir, timeZone: 'UTC', spool: { commitWindowMs: 0, maxCommitBatch: 64, writerThread: false } });
  t.teardown(async () => { await store.close(); rmSync(dataDir, { recursive: true, force: true }); });
  return { name: 'sqlite', store, intake: (m) => store.commitIncoming(m), queue: () => store.listQueue({ limit: 1000 }) };
}

let databases = 0;

/**
 * A fresh database whose default collation is ICU's en-US, not the test cluster's C: names
 * and addresses sorting as SQLite's bytes there shows the schema's COLLATE "C" at work (a
 * production database is seldom made with locale C).
 */
async function icuDatabase(): Promise<string> {
  const name = `mta_accounts_${process.pid}_${++databases}`;
  const admin = new pg.Client({ connectionString: cluster.url('postgres') });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE "${name}" TEMPLATE template0 LOCALE_PROVIDER icu ICU_LOCALE 'en-US' LOCALE 'C'`);
  } finally { await admin.end(); }
  return cluster.url(name);
}

async function pgPool(t: Test): Promise<PgPool> {
  const pool = createPgPool({ url: await icuDatabase(), poolSize: 4 });
  t.teardown(() => pool.end());
  await migratePg(pool);
  return pool;
}

/** The PostgreSQL ports composed as far as these scenarios need a Store (only the accounts methods are called). */
function pgPorts(pool: PgPool, effects: PgEffectsPort | undefined): Store {
  const parts: object[] = [new PgDomains(pool, effects), new PgSenders(pool), new PgTags(pool), new PgTemplates(pool), new PgLists(pool),
    new PgTasks(pool, effects), new PgInbound(pool, effects), new PgEgress(pool), new PgMtaSts(pool), new PgFeedback(pool, effects),
    new PgTlsRpt(pool), new PgUsers(pool), new PgTracking(pool, effects)];
  const store: Record<string, unknown> = {};
  for (const p of parts) {
    for (const k of Object.getOwnPropertyNames(Object.getPrototypeOf(p))) if (k !== 'constructor') store[k] = (p as Record<string, (...a: unknown[]) => unknown>)[k]!.bind(p);
  }
  return store as unknown as Store;
}

/** `effects` 'none': the ports get no effects port. */
async function pgSide(t: Test, effects: PgEffectsPort | 'none' = noEffects): Promise<Side & { pool: PgPool }> {
  const pool = await pgPool(t);
  const intake = pgIntake(pool);
  const messages = PgMessages.open(pool);
  return { name: 'postgres', pool, store: pgPorts(pool, effects === 'none' ? undefined : effects), intake: (m) => intake.commitIncoming(m), queue: () => messages.listQueue({ limit: 1000 }) };
}

/** Runs `scenario` on SQLite and on PostgreSQL; their transcripts must be the same. */
function both(name: string, scenario: (t: Test, side: Side) => Promise<unknown>): void {
  bothBackends<Side>(name, [sqliteSide, (t) => pgSide(t)], scenario);
}

both('domains: rows, checks, events, DKIM rotation, refusals', domainsScenario);
both('senders: rows, password compare-and-set, disabled flag', sendersScenario);
both('tags: names taken, byte order', tagsScenario);
both('templates: add, update, remove', templatesScenario);
both('lists: imports across batches, duplicates, single members, paging', listsScenario);
both('tasks: rows, paging newest first, guarded state changes, chunks without messages', tasksScenario);
both('TLS reporting: summed counts, one claim per report, prune', tlsRptScenario);
both('console users and sessions', usersScenario);

both('egress counters: deltas summed per key, in order', async (t, { store }) => {
  const row = (source: string, provider: string, sent: number, deferred = 0, blocked = 0) => ({ day: '2026-12-01', source, provider, sent, deferred, blocked });
  await store.addEgressCounts([row('ip2', 'gmail', 3), row('ip1', 'yahoo', 1, 1), row('ip2', 'gmail', 2, 0, 1)]);
  await store.addEgressCounts([row('ip1', 'yahoo', 4)]);
  await store.addEgressCounts([]);
  const got = await store.egressCounts('2026-12-01');
  t.same(got, [row('ip1', 'yahoo', 5, 1), row('ip2', 'gmail', 5, 0, 1)], 'summed by key, ordered by source and provider');
  t.same(await store.egressCounts('2026-12-02'), [], 'another day is empty');
  return got;
});

both('MTA-STS policies: replace, live ones by expiry', async (t, { store }) => {
  const p = (domain: string, expiresAt: number, id = '1') => ({ domain, id, mode: 'enforce' as const, mx: ['mx.' + domain, '*.b.test'], maxAgeS: 86400, fetchedAt: 1000, expiresAt });
  await store.saveMtaStsPolicy(p('a.test', 5000));
  await store.saveMtaStsPolicy(p('b.test', 3000));
  await store.saveMtaStsPolicy(p('c.test', 1500));
  await store.saveMtaStsPolicy(p('a.test', 4000, '2'));
  t.same(await store.mtaStsPolicy('a.test'), p('a.test', 4000, '2'), 'replaced');
  t.equal(await store.mtaStsPolicy('x.test'), undefined);
  const live = await store.liveMtaStsPolicies(2000, 10);
  t.same(live.map((x) => x.domain), ['b.test', 'a.test'], 'expired left out, the first to end first');
  t.same((await store.liveMtaStsPolicies(0, 2)).map((x) => x.domain), ['c.test', 'b.test'], 'limited');
  return live;
});

/** Three messages (one with two recipients), the same ids on both backends. */
const MAIL_AT = Date.UTC(2026, 11, 1, 12);
const mail: IncomingMessage[] = [
  incoming(['one@dest.test'], { receivedAt: MAIL_AT, messageId: '<m1@app>' }),
  incoming(['two@dest.test', 'Three@dest.test'], { receivedAt: MAIL_AT + 1, messageId: 'm2@app' }),
  incoming(['four@dest.test'], { receivedAt: MAIL_AT + 2, messageId: '<m2@app>' }),
];

async function withMail(side: Side): Promise<QueueEntry[]> {
  for (const m of mail) await side.intake(m);
  return side.queue();
}

both('tracking: first hits, reclassified hits, counts', async (t, side) => {
  const q = await withMail(side);
  const { store } = side;
  const [r1, r2, r3] = q;
  const hit = (r: QueueEntry, at: number, kind: 'open' | 'click', extra: object = {}) => store.recordTrackingHit({
    at, kind, queueId: r.queueId, recipientId: r.recipientId, ip: '192.0.2.1', userAgent: 'UA', method: 'GET', class: 'human', reason: null, ...extra,
  });
  const recs = [
    await hit(r1!, MAIL_AT + 10, 'open'), await hit(r1!, MAIL_AT + 11, 'open', { notify: 'first' }),
    await hit(r1!, MAIL_AT + 12, 'click', { link: 0, url: 'https://a.test/' }), await hit(r2!, MAIL_AT + 9, 'open', { class: 'machine', reason: 'proxy' }),
    await hit(r3!, MAIL_AT + 13, 'click', { link: 1, url: 'https://b.test/' }),
  ];
  t.same(recs.map((r) => r.first), [true, false, true, true, true], 'first per recipient and kind');
  await store.reclassifyTrackingHits([recs[4]!.id], 'scanner', 'honeypot');
  const of1 = await store.trackingHitsOf(r1!.recipientId);
  t.same(of1.map((h) => h.kind), ['open', 'open', 'click']);
  const many = await store.trackingHitsOfRecipients([r2!.recipientId, r3!.recipientId, r1!.recipientId]);
  t.same(many.map((h) => h.at), [MAIL_AT + 9, MAIL_AT + 10, MAIL_AT + 11, MAIL_AT + 12, MAIL_AT + 13], 'oldest first across recipients');
  t.equal(many[4]!.class, 'scanner', 'reclassified');
  const c1 = await store.trackingCountsOf(r1!.queueId);
  t.same(c1.human, { opens: 2, uniqueOpens: 1, clicks: 1, uniqueClicks: 1 });
  const c2 = await store.trackingCountsOf(r2!.queueId);
  t.same([c2.machine.opens, c2.scanner.clicks, c2.human.opens], [1, 1, 0]);
  const none = await store.trackingCountsOfTask(newTaskId());
  t.same([none.counts.human.opens, none.counts.scanner.clicks, none.links], [0, 0, []], 'a task without hits');
  const between = await store.trackingCountsBetween(MAIL_AT + 10, MAIL_AT + 13);
  t.same([between.human, between.machine.opens], [{ opens: 2, uniqueOpens: 1, clicks: 1, uniqueClicks: 1 }, 0], 'hits made in [from, to), whatever mail');
  const days = [{ day: '2026-12-01', from: Date.UTC(2026, 11, 1), to: Date.UTC(2026, 11, 2) }, { day: '2026-12-02', from: Date.UTC(2026, 11, 2), to: Date.UTC(2026, 11, 3) }];
  const byDay = await store.trackingStats({ days, by: 'day' });
  const sortRows = <T>(rows: T[]): T[] => rows.map((r) => JSON.stringify(r)).sort().map((r) => JSON.parse(r) as T);
  t.same(sortRows(byDay.hits), sortRows([
    { day: '2026-12-01', key: '2026-12-01', kind: 'open', human: true, hits: 2, recipients: 1 },
    { day: '2026-12-01', key: '2026-12-01', kind: 'open', human: false, hits: 1, recipients: 1 },
    { day: '2026-12-01', key: '2026-12-01', kind: 'click', human: true, hits: 1, recipients: 1 },
    { day: '2026-12-01', key: '2026-12-01', kind: 'click', human: false, hits: 1, recipients: 1 },
  ]), 'statistics: hits per day, kind and human or not');
  t.same(sortRows(byDay.urls), sortRows([
    { day: '2026-12-01', url: 'https://a.test/', human: true, clicks: 1, recipients: 1 },
    { day: '2026-12-01', url: 'https://b.test/', human: false, clicks: 1, recipients: 1 },
  ]), 'statistics: clicks per URL');
  t.same(byDay.delivered, [], 'nothing delivered yet');
  const bySender = await store.trackingStats({ days, by: 'domain', sender: mail[0]!.sender.toUpperCase() });
  t.ok(bySender.hits.length > 0 && bySender.hits.every((r) => r.key === mail[0]!.sender.split('@')[1]!.toLowerCase()), 'grouped by sending domain, the sender compared in lower case');
  return { recs, of1, many, c1, c2, between, byDay: { hits: sortRows(byDay.hits), urls: sortRows(byDay.urls) }, bySender: sortRows(bySender.hits) };
});

both('feedback and bounces: finding the message, and nothing recorded without a recipient', async (t, side) => {
  const q = await withMail(side);
  const { store } = side;
  const byId = await store.messagesByMessageId('m2@app');
  t.same(byId, [mail[2]!.id, mail[1]!.id], 'with or without brackets, newest first');
  t.same(await store.messagesByMessageId('<m1@app>'), [mail[0]!.id], 'as stored');
  t.same(await store.messagesByMessageId('m3@app'), [], 'none');
  const fb = { candidates: ['nobody@x.test'], feedbackType: 'abuse', complaint: true, at: MAIL_AT + 50, detail: {}, recipientId: undefined };
  const answers = [
    await store.recordFeedback({ ...fb, queueId: 'nope' as never }),
    await store.recordFeedback({ ...fb, queueId: q[1]!.queueId }),
    await store.recordAsyncBounce({ queueId: 'nope' as never, rcpt: undefined, at: 1, reply: '550 x', status: 2, category: 'invalid', suppress: true, detail: {} }),
    await store.recordAsyncBounce({ queueId: q[1]!.queueId, rcpt: 'other@x.test', at: 1, reply: '550 x', status: 2, category: 'invalid', suppress: true, detail: {} }),
  ];
  t.same(answers.map((a) => a.kind), ['no-message', 'no-recipient', 'no-message', 'no-recipient']);
  return { byId, answers };
});

/** The whole PostgreSQL store (openStoreAsync): the accounts ports composed with the core ports and their effects. */
async function pgWholeSide(t: Test): Promise<Side> {
  const store = await openStoreAsync({
    dataDir: '/nonexistent', timeZone: 'UTC', spool: { commitWindowMs: 0, maxCommitBatch: 64, writerThread: false },
    storage: { nodeId: 'node-a', backend: 'postgres', postgres: { url: await icuDatabase(), poolSize: 4 } },
  });
  t.teardown(() => store.close());
  return { name: 'postgres', store, intake: (m) => store.commitIncoming(m), queue: () => store.listQueue({ limit: 1000 }) };
}

/** One task and its chunk's two messages, the same ids on both backends. */
const TASK = taskRecord({ state: 'sending', sender: 'news@example.com' });
const CHUNK = ['a@dest.test', 'b@dest.test'].map((rcpt) => ({ ...incoming([rcpt], { lane: 'batch', receivedAt: MAIL_AT + 5, sender: 'news@example.com' }), taskId: TASK.id, returnPath: null }));

bothBackends<Side>('facts with effects through the whole store: a task chunk and its outcome, an unsubscribe, a bounce, a complaint', [sqliteSide, pgWholeSide], async (t, side) => {
  const q = await withMail(side);
  const { store } = side;
  const by = (rcpt: string): QueueEntry => q.find((e) => e.rcpt === rcpt)!;
  await store.addTask(TASK);
  t.equal(await store.commitTaskChunk({ taskId: TASK.id, after: null, cursor: 'b@dest.test', exhausted: true, messages: CHUNK, suppressed: 1, invalid: 0, at: MAIL_AT + 6 }), true, 'the chunk commits');
  const claimed = await store.claimDue({ now: MAIL_AT + 100, limit: 100 });
  const outcome = (e: QueueEntry) => ({ recipientId: e.recipientId, queueId: e.queueId, kind: 'delivered' as const, at: MAIL_AT + 7, reply: '250 ok', attempted: true, detail: {} });
  t.equal(await store.recordOutcomes(claimed.filter((e) => ['a@dest.test', 'two@dest.test', 'four@dest.test'].includes(e.rcpt)).map(outcome)), 3, 'three delivered');
  const task = await store.getTask(TASK.id);
  t.same([task?.requested, task?.suppressed, task?.delivered], [2, 1, 1], 'the task counts its chunk and its delivered recipient');
  const unsub = await store.recordUnsubscribe({ address: by('one@dest.test').rcpt, senderDomain: 'example.com', queueId: by('one@dest.test').queueId, method: 'link', at: MAIL_AT + 20 });
  t.equal(unsub.added, true, 'an unsubscribe suppresses');
  const bounce = await store.recordAsyncBounce({ queueId: by('two@dest.test').queueId, rcpt: 'two@dest.test', at: MAIL_AT + 30, reply: '550 5.1.1 user unknown', status: 2,
    category: 'invalid', suppress: true, detail: {} });
  t.match(bounce, { kind: 'recorded', suppressed: true }, 'a late bounce is recorded, suppressing');
  const complaint = await store.recordFeedback({ queueId: by('four@dest.test').queueId, recipientId: by('four@dest.test').recipientId, candidates: [], feedbackType: 'abuse',
    complaint: true, at: MAIL_AT + 40, detail: {} });
  t.equal(complaint.kind, 'recorded', 'a complaint is recorded');
  const stats = await store.queryStats({ fromDay: '2026-12-01', toDay: '2026-12-01', by: 'day' });
  t.match(stats[0], { requests: 6, delivered: 3, complaints: 1, late_bounces: 1 }, 'the counters of every fact');
  const suppressions = (await store.listSuppressions({ limit: 100 })).map((s) => [s.address, s.scope, s.source]);
  t.equal(suppressions.length, 3, 'unsubscribe, bounce and complaint each suppress');
  return { task: [task?.requested, task?.suppressed, task?.delivered], unsub, bounce: { ...bounce, recipientId: undefined }, complaint: complaint.kind, stats, suppressions };
});

// ---- PostgreSQL alone: what SQLite does differently by nature, or what needs the core ports ----

t.test('PostgreSQL: an import that fails in its last batch leaves nothing of the call', async (t) => {
  const { store } = await pgSide(t);
  await store.addList({ name: 'big', alias: 'big@lists.test', description: null, createdAt: 1 });
  await store.upsertListMembers('big', 'i0', ['Name'], [{ address: 'kept@x.test', variables: { Name: 'K' } }], 1);
  const rows = Array.from({ length: 2500 }, (_, i) => ({ address: `m${i}@x.test`, variables: { City: `c${i}` } }));
  rows[2400] = { address: 'bad\0@x.test', variables: { City: 'x' } }; // PostgreSQL text cannot hold a NUL: the third batch fails
  t.not(await codeOf(store.upsertListMembers('big', 'i1', ['City'], rows, 2)), 'resolved', 'the import is refused');
  const l = await store.getList('big');
  t.same([l?.members, l?.columns], [1, ['Name']], 'no member of the first two batches, no new column');
  t.same((await store.listMembers('big', { limit: 10 })).map((m) => m.address), ['kept@x.test']);
});

t.test('PostgreSQL: two nodes recording hits of one recipient at once: exactly one first', async (t) => {
  const side = await pgSide(t);
  const [r] = await withMail(side);
  const nodes = [side.store, pgPorts(side.pool, noEffects), pgPorts(side.pool, noEffects)];
  const recs = await Promise.all(Array.from({ length: 12 }, (_, i) => nodes[i % 3]!.recordTrackingHit({
    at: MAIL_AT + i, kind: 'open', queueId: r!.queueId, recipientId: r!.recipientId, ip: null, userAgent: null, method: 'GET', class: 'human', reason: null,
  })));
  t.equal(recs.filter((x) => x.first).length, 1, 'one first hit among concurrent ones');
  const tracking = new PgTracking(side.pool, noEffects);
  t.equal(await tracking.humanOpens('example.com', '2026-12-01'), 1, 'the open rate counts the recipient once');
  t.equal(await tracking.purgeTrackingHits(MAIL_AT + 6), 6, 'the purge removes hits before the bound');
  t.equal((await side.store.trackingHitsOf(r!.recipientId)).length, 6);
});

t.test('PostgreSQL: nodes racing on one task or one list take turns', async (t) => {
  const side = await pgSide(t);
  const nodes = [side.store, pgPorts(side.pool, noEffects), pgPorts(side.pool, noEffects)];
  const task = taskRecord({ state: 'sending' });
  await side.store.addTask(task);
  // Another node is committing a chunk of this task: it holds the row, and moves the cursor.
  const other = await side.pool.connect();
  await other.query('BEGIN');
  await other.query('SELECT 1 FROM tasks WHERE id = $1 FOR UPDATE', [task.id]);
  const racing = nodes[1]!.commitTaskChunk({ taskId: task.id, after: null, cursor: 'm1@x.test', exhausted: false, messages: [], suppressed: 1, invalid: 0, at: 5 });
  // Until the racing commit waits for that row (a condition, not a delay).
  const waiting = async (): Promise<number> => (await side.pool.query<{ n: number }>(
    `SELECT count(*)::int AS n FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND datname = current_database()`)).rows[0]!.n;
  while (await waiting() === 0) await new Promise((r) => setImmediate(r));
  await other.query(`UPDATE tasks SET cursor = 'm0@x.test', suppressed = 7 WHERE id = $1`, [task.id]);
  await other.query('COMMIT');
  other.release();
  t.equal(await racing, false, 'the chunk read after the old cursor is refused once the other node moved it');
  t.same([(await side.store.getTask(task.id))?.cursor, (await side.store.getTask(task.id))?.suppressed], ['m0@x.test', 7], 'the other node\'s chunk stands alone');
  await side.store.addList({ name: 'l', alias: 'l@lists.test', description: null, createdAt: 1 });
  await Promise.all(['A', 'B', 'C', 'D', 'E', 'F'].map((col, i) => nodes[i % 3]!.upsertListMembers('l', `imp${col}`, [col], [{ address: `${col}@x.test`, variables: { [col]: '1' } }], 2)));
  const l = await side.store.getList('l');
  t.same([l?.members, [...(l?.columns ?? [])].sort()], [6, ['A', 'B', 'C', 'D', 'E', 'F']], 'no import lost another\'s columns');
});

t.test('PostgreSQL: facts with effects and no way to write them are refused whole', async (t) => {
  const side = await pgSide(t, 'none');
  const q = await withMail(side);
  const { store } = side;
  const [r] = q;
  t.equal(await codeOf(store.recordTrackingHit({ at: 1, kind: 'open', queueId: r!.queueId, recipientId: r!.recipientId, ip: null, userAgent: null, method: 'GET', class: 'human', reason: null })),
    'MTA_ERR_STORAGE_BACKEND', 'a tracking hit');
  t.equal(await codeOf(store.recordUnsubscribe({ address: r!.rcpt, senderDomain: 'example.com', queueId: r!.queueId, method: 'link', at: 1 })), 'MTA_ERR_STORAGE_BACKEND', 'an unsubscribe');
  t.equal(await codeOf(store.recordAsyncBounce({ queueId: r!.queueId, rcpt: undefined, at: 1, reply: '550 x', status: 2, category: 'invalid', suppress: true, detail: {} })),
    'MTA_ERR_STORAGE_BACKEND', 'an asynchronous bounce');
  t.equal(await codeOf(store.recordFeedback({ queueId: r!.queueId, recipientId: undefined, candidates: [], feedbackType: 'abuse', complaint: true, at: 1, detail: {} })),
    'MTA_ERR_STORAGE_BACKEND', 'a complaint');
  await store.addDomain({ name: 'd.test', dkimSelector: 's1', dkimAlgorithm: 'ed25519', dkimPrivateKey: 'k', dkimPublicKey: 'p', ownershipToken: 'o', status: 'unverified', createdAt: 1 });
  t.equal(await codeOf(store.saveDomainChecks('d.test', [{ domain: 'd.test', name: 'spf', status: 'ok', expected: null, found: null, detail: null, checkedAt: 5 }], 'verified',
    [{ at: 5, type: 'domain.verified', domain: 'd.test', detail: {} }])), 'MTA_ERR_STORAGE_BACKEND', 'domain events');
  t.same([(await store.getDomain('d.test'))?.status, (await store.getDomainChecks('d.test')).length], ['unverified', 0], 'the checks of a refused run are not saved');
  const { rows } = await side.pool.query<{ n: number }>('SELECT (SELECT count(*) FROM tracking_hits)::int + (SELECT count(*) FROM events WHERE type <> \'reception\')::int AS n');
  t.equal(rows[0]!.n, 0, 'nothing written');
});

t.test('PostgreSQL: a task chunk whose counters cannot be written stores none of its messages', async (t) => {
  const side = await pgSide(t);
  const { store } = side;
  const task = taskRecord({ state: 'sending' });
  await store.addTask(task);
  const msgs = ['a@dest.test', 'b@dest.test'].map((rcpt) => ({ ...incoming([rcpt], { lane: 'batch' }), taskId: task.id, returnPath: null }));
  t.not(await codeOf(store.commitTaskChunk({ taskId: task.id, after: null, cursor: 'b@dest.test', exhausted: true, messages: msgs, suppressed: 0, invalid: 0, at: 2 })),
    'resolved', 'the chunk is refused (the noEffects port fails on the requests counters)');
  t.same([(await store.getTask(task.id))?.cursor, (await side.queue()).length], [null, 0], 'cursor unmoved, no message stored');
});
