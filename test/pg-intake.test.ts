// Intake on PostgreSQL (spool/pg-intake.ts) on a real server: messages arriving together
// share one COMMIT and every caller resolves after it; bodies come back byte for byte as
// chunked bytea; a message commits with its counters and its idempotency record; a batch
// that fails stores nothing of any message in it; what the port does not store yet (alias
// tasks) is refused, not dropped; an unreachable server is MTA_ERR_SPOOL_BUSY (451 4.3.0).
import t, { type Test } from 'tap';
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { CHUNK } from '../src/spool/chunks.js';
import { commitChannel, type CommitSample } from '../src/spool/group-commit.js';
import { PgIntake, type PgIntakeOptions } from '../src/spool/pg-intake.js';
import { createRules } from '../src/spool/default-rules.js';
import { PgEffects } from '../src/spool/pg-effects.js';
import { PgIdempotency } from '../src/spool/pg-idempotency.js';
import { PgWebhooks } from '../src/spool/pg-webhooks.js';
import { migratePg } from '../src/spool/pg-migrations.js';
import { createPgPool, type PgPool } from '../src/spool/pg-pool.js';
import { newTaskId } from '../src/util/ids.js';
import { startPostgres } from './helpers/postgres.js';
import { freePort } from './helpers/sink.js';
import { incoming } from './store/suite.js';

const cluster = await startPostgres((fn) => t.teardown(fn));
const rules = createRules({ timeZone: 'UTC' });

/** Intake with the ports a message commits with (its counters, its idempotency record). */
function pgIntake(pool: PgPool, opts: PgIntakeOptions): PgIntake {
  return PgIntake.open(pool, opts, { effects: new PgEffects(rules, new PgWebhooks(pool, rules, 'test')), idempotency: new PgIdempotency(pool) });
}

async function freshPool(t: Test): Promise<PgPool> {
  const pool = createPgPool({ url: await cluster.createDatabase(), poolSize: 4 });
  t.teardown(() => pool.end());
  await migratePg(pool);
  return pool;
}

t.test('messages arriving together share one COMMIT; every caller resolves after it', async (t) => {
  const pool = await freshPool(t);
  const intake = pgIntake(pool, { windowMs: 0, maxBatch: 64 });
  const samples: CommitSample[] = [];
  const onSample = (s: unknown): void => { samples.push(s as CommitSample); };
  subscribe(commitChannel.name, onSample);
  t.teardown(() => unsubscribe(commitChannel.name, onSample));
  const msgs = Array.from({ length: 20 }, (_, i) => incoming([`a${i}@dest.test`, `b${i}@dest.test`]));
  await Promise.all(msgs.map((m) => intake.commitIncoming(m)));
  t.same(samples.filter((s) => s.name === 'intake').map((s) => s.size), [20], 'one batch, one transaction');
  const counts = await intake.countByState();
  t.equal(counts.queued, 40, 'every recipient queued once the callers resolved');
  const { rows } = await pool.query<{ n: number }>(`SELECT count(*)::int AS n FROM events WHERE type = 'reception'`);
  t.equal(rows[0]!.n, 40, 'a reception event per recipient');
  const dup = incoming(['same@dest.test', 'same@dest.test']);
  await intake.commitIncoming(dup);
  const ev = await pool.query<{ n: number }>('SELECT count(DISTINCT recipient_id)::int AS n FROM events WHERE message_id = $1', [dup.id]);
  t.equal(ev.rows[0]!.n, 2, 'a recipient given twice has two rows, each with its own event');
});

t.test('a body comes back byte for byte, in chunks of at most CHUNK bytes', async (t) => {
  const intake = pgIntake(await freshPool(t), { windowMs: 0, maxBatch: 64 });
  const body = Buffer.from(Array.from({ length: 3 * CHUNK + 1234 }, (_, i) => (i * 7) & 0xff));
  const pieces = [body.subarray(0, 10), body.subarray(10, 70_000), body.subarray(70_000)];
  const m = incoming(['r@dest.test'], { chunks: pieces, size: body.length });
  await intake.commitIncoming(m);
  const got: Buffer[] = [];
  for await (const c of intake.readBody(m.id)) got.push(c);
  t.equal(got.length, 4);
  t.ok(got.every((c) => c.length <= CHUNK));
  t.ok(Buffer.concat(got).equals(body), 'the same bytes, including every byte value');
});

t.test('a batch that fails stores nothing of any of its messages', async (t) => {
  const pool = await freshPool(t);
  const intake = pgIntake(pool, { windowMs: 0, maxBatch: 64 });
  const first = incoming(['a@dest.test']);
  await intake.commitIncoming(first);
  const innocent = incoming(['b@dest.test']);
  // Same id again: the primary key refuses it, and with it the whole batch.
  const results = await Promise.allSettled([intake.commitIncoming(innocent), intake.commitIncoming({ ...first, recipients: ['c@dest.test'] })]);
  t.same(results.map((r) => r.status), ['rejected', 'rejected'], 'both callers of the batch hear of it');
  t.equal((await intake.countByState()).queued, 1, 'only the first message\'s recipient');
  await intake.commitIncoming(innocent);
  t.equal((await intake.countByState()).queued, 2, 'the innocent message goes through on its own');
});

t.test('a message commits with its counters and its idempotency record', async (t) => {
  const pool = await freshPool(t);
  const intake = pgIntake(pool, { windowMs: 0, maxBatch: 64 });
  const m = incoming(['a@one.test', 'b@one.test', 'c@two.test'], { tag: 'news' });
  const record = { account: 'app', key: 'k1', fingerprint: 'f'.repeat(64), status: 200, response: '{}', createdAt: m.receivedAt };
  await intake.commitIncoming({ ...m, idempotency: { record, expireBefore: 0 } });
  const stats = await pool.query<{ tag: string; requests: string }>('SELECT tag, requests FROM stats_daily');
  t.same(stats.rows, [{ tag: 'news', requests: '3' }], 'the requests counted in the same commit');
  const rcpt = await pool.query<{ rcpt_domain: string; requests: string }>('SELECT rcpt_domain, requests FROM stats_rcpt_daily ORDER BY rcpt_domain');
  t.same(rcpt.rows, [{ rcpt_domain: 'one.test', requests: '2' }, { rcpt_domain: 'two.test', requests: '1' }], 'per recipient domain');
  const saved = await pool.query<{ key: string }>('SELECT key FROM api_idempotency');
  t.same(saved.rows, [{ key: 'k1' }], 'the idempotency record');
});

t.test('what the port does not store yet is refused, not dropped', async (t) => {
  const intake = pgIntake(await freshPool(t), { windowMs: 0, maxBatch: 64 });
  await t.rejects(intake.commitIncoming(incoming(['a@dest.test'], { aliasTasks: [{ id: newTaskId(), list: 'news' }] })), { code: 'MTA_ERR_STORAGE_BACKEND', message: /alias tasks/ });
  t.equal((await intake.countByState()).queued, 0, 'nothing stored');
});

t.test('an unreachable server: MTA_ERR_SPOOL_BUSY, retryable', async (t) => {
  const pool = createPgPool({ url: `postgres://postgres@127.0.0.1:${await freePort()}/x`, poolSize: 1 });
  t.teardown(() => pool.end());
  const intake = pgIntake(pool, { windowMs: 0, maxBatch: 64 });
  await t.rejects(intake.commitIncoming(incoming(['a@dest.test'])), { name: 'MtaError', code: 'MTA_ERR_SPOOL_BUSY', retryable: true });
});
