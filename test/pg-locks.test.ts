// How long the PostgreSQL backend waits for locks (spool/pg-pool.ts): a statement waits at
// most `storage.postgres_lock_timeout` for a row or table another connection holds, then
// the store refuses with MTA_ERR_SPOOL_BUSY (451 4.3.0 at submission) instead of holding
// the client for ever; a transaction left idle (a frozen node) is ended by the server. The
// migration run is the exception: a node starting while another migrates waits for it
// however long its steps take, past the lock timeout.
import t from 'tap';
import pg from 'pg';
import { openStoreAsync } from '../src/spool/index.js';
import { MIGRATION_LOCK } from '../src/spool/pg-migrations.js';
import { createPgPool } from '../src/spool/pg-pool.js';
import { startPostgres } from './helpers/postgres.js';
import { incoming } from './store/suite.js';

const cluster = await startPostgres((fn) => t.teardown(fn));

const open = (url: string, lockTimeoutMs?: number) => openStoreAsync({
  dataDir: '/nonexistent', timeZone: 'UTC', spool: { commitWindowMs: 0, maxCommitBatch: 64, writerThread: false },
  storage: { nodeId: 'n1', backend: 'postgres', postgres: { url, poolSize: 2, ...(lockTimeoutMs === undefined ? {} : { lockTimeoutMs }) } },
});

async function other(url: string): Promise<pg.Client> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  return c;
}

t.test('the pool\'s connections: the configured lock timeout, 10 s by default, and idle transactions ended', async (t) => {
  const url = await cluster.createDatabase();
  for (const [lockTimeoutMs, want] of [[undefined, '10s'], [250, '250ms']] as const) {
    const pool = createPgPool({ url, poolSize: 1, ...(lockTimeoutMs === undefined ? {} : { lockTimeoutMs }) });
    const { rows: [r] } = await pool.query<{ lock: string; idle: string }>('SELECT current_setting(\'lock_timeout\') AS lock, current_setting(\'idle_in_transaction_session_timeout\') AS idle');
    await pool.end();
    t.same(r, { lock: want, idle: '1min' }, `lockTimeoutMs ${lockTimeoutMs ?? 'unset'}`);
  }
});

t.test('a table another connection holds: intake is refused as busy after the timeout, and stores nothing', async (t) => {
  const url = await cluster.createDatabase();
  const store = await open(url, 300);
  t.teardown(() => store.close());
  const holder = await other(url);
  t.teardown(() => holder.end());
  await holder.query('BEGIN');
  await holder.query('LOCK TABLE recipients IN EXCLUSIVE MODE');
  const m = incoming(['a@dest.test']);
  // Without a lock timeout this call waits as long as the holder: the test would time out.
  await t.rejects(store.commitIncoming(m), { name: 'MtaError', code: 'MTA_ERR_SPOOL_BUSY', retryable: true }, 'refused, retryable');
  await holder.query('ROLLBACK');
  t.equal(await store.getMessage(m.id), undefined, 'nothing of it was stored');
  await store.commitIncoming(m);
  t.ok(await store.getMessage(m.id), 'once the lock is gone the same store takes it');
});

t.test('a node starting while another migrates waits for it past the lock timeout, then opens', async (t) => {
  const url = await cluster.createDatabase();
  const migrating = await other(url);
  t.teardown(() => migrating.end());
  await migrating.query('SELECT pg_advisory_lock($1, $2)', [...MIGRATION_LOCK]);
  let opened = false;
  const opening = open(url, 200).then((s) => { opened = true; return s; });
  // Until the opening node is queued behind the migration lock (seen in pg_locks) ...
  const watcher = await other(url);
  t.teardown(() => watcher.end());
  for (;;) {
    const { rows: [w] } = await watcher.query<{ n: string }>('SELECT count(*) AS n FROM pg_locks WHERE locktype = \'advisory\' AND NOT granted');
    if (Number(w!.n) > 0) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  // ... and then well past its 200 ms lock timeout: a lock wait bounded by it would have failed by now.
  await new Promise((r) => setTimeout(r, 1000));
  t.notOk(opened, 'still waiting for the other node\'s migration');
  await migrating.query('SELECT pg_advisory_unlock($1, $2)', [...MIGRATION_LOCK]);
  const store = await opening;
  t.teardown(() => store.close());
  t.ok(opened, 'opened once the migration lock was released');
  const { rows: [r] } = await watcher.query<{ v: number }>('SELECT max(version) AS v FROM schema_migrations');
  t.ok(r!.v > 0, 'and migrated');
});
