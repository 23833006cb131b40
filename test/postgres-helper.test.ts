// The tests' throwaway PostgreSQL (test/helpers/postgres.ts) is real and durable: it starts
// from initdb on a loopback port, runs with fsync and synchronous_commit on, gives each
// suite a database of its own, and leaves nothing behind once stopped. Without PostgreSQL
// installed this test fails with the reason (CI must install "postgresql"), never skips.
import { existsSync } from 'node:fs';
import { connect } from 'node:net';
import t from 'tap';
import pg from 'pg';
import { openStore, openStoreAsync } from '../src/spool/index.js';
import { pgFactory, postgresBin, startPostgres } from './helpers/postgres.js';
import { incoming } from './store/suite.js';

t.test('PostgreSQL binaries are installed (Debian package "postgresql")', async (t) => {
  const found = postgresBin();
  t.notOk('missing' in found, 'missing' in found ? found.missing : 'found');
});

t.test('a throwaway cluster: own databases, fsync and synchronous_commit on, gone after stop', async (t) => {
  const cluster = await startPostgres((fn) => t.teardown(fn));
  t.equal(cluster.host, '127.0.0.1');
  const a = await cluster.createDatabase();
  const b = await cluster.createDatabase();
  t.not(a, b, 'one database per suite');
  const client = new pg.Client({ connectionString: a });
  await client.connect();
  const settings = await client.query<{ name: string; setting: string }>(`SELECT name, setting FROM pg_settings WHERE name IN ('fsync', 'synchronous_commit', 'listen_addresses')`);
  const by = Object.fromEntries(settings.rows.map((r) => [r.name, r.setting]));
  t.same(by, { fsync: 'on', synchronous_commit: 'on', listen_addresses: '127.0.0.1' });
  await client.query('CREATE TABLE x (v int)');
  const dataDir = String((await client.query('SELECT current_setting(\'data_directory\') AS d')).rows[0].d);
  await client.end();
  const other = new pg.Client({ connectionString: b });
  await other.connect();
  const seen = await other.query(`SELECT count(*)::int AS n FROM pg_tables WHERE tablename = 'x'`);
  t.equal(seen.rows[0].n, 0, 'the other database does not see the table');
  await other.end();
  cluster.stop();
  t.notOk(existsSync(dataDir), 'the cluster dir is removed');
  const refused = await new Promise<boolean>((resolve) => {
    const s = connect(cluster.port, '127.0.0.1');
    s.once('connect', () => { s.destroy(); resolve(false); });
    s.once('error', () => resolve(true));
  });
  t.ok(refused, 'the server is stopped');
});

t.test('the conformance suite\'s PostgreSQL factory: a database per storage, stores through openStoreAsync, dropped on remove', async (t) => {
  const a = await pgFactory.fresh();
  const b = await pgFactory.fresh();
  const onA = await a.open('node-a');
  const onB = await b.open('node-b');
  t.equal(onA.nodeId, 'node-a', 'the factory\'s node id reaches the store');
  const m = incoming(['r@dest.test']);
  await onA.commitIncoming(m);
  t.ok(await onA.getMessage(m.id), 'a store on storage a takes mail');
  t.equal(await onB.getMessage(m.id), undefined, 'storage b is another database');
  t.equal(pgFactory.todo, undefined, 'every test of the suite runs on PostgreSQL');
  await Promise.all([onA.close(), onB.close()]);
  await a.remove();
  await b.remove();
  t.pass('both databases dropped');
});

t.test('openStoreAsync opens the whole store on postgres; the synchronous door refuses it, saying why', async (t) => {
  const cluster = await startPostgres((fn) => t.teardown(fn));
  const url = cluster.url('postgres');
  const config = { dataDir: '/nonexistent', timeZone: 'UTC', spool: { commitWindowMs: 0, maxCommitBatch: 64, writerThread: false },
    storage: { nodeId: 'n1', backend: 'postgres' as const, postgres: { url, poolSize: 1 } } };
  const store = await openStoreAsync(config);
  await store.addDomain({ name: 'd.test', dkimSelector: 's1', dkimAlgorithm: 'ed25519', dkimPrivateKey: 'k', dkimPublicKey: 'p', ownershipToken: 'o', status: 'unverified', createdAt: 1 });
  t.equal((await store.getDomain('d.test'))?.name, 'd.test', 'an accounts port answers');
  await store.close();
  t.throws(() => openStore(config), { code: 'MTA_ERR_STORAGE_BACKEND', message: /opened asynchronously/ }, 'the synchronous door says why');
});
