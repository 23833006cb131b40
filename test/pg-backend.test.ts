// The PostgreSQL backend's skeleton (spool/pg-*.ts) on a real server: versioned migrations
// applied once even when nodes start together, a newer schema refused, every connection
// committing synchronously whatever the database's default, and the server's failures
// arriving as catalogue errors (unreachable or shut down: MTA_ERR_SPOOL_BUSY, 451 4.3.0).
import t from 'tap';
import { pgErrorCode } from '../src/spool/pg-errors.js';
import { PG_MIGRATIONS } from '../src/spool/pg-migrations.js';
import { openPgBackend } from '../src/spool/pg-store.js';
import { errorEntry, type ErrorCode } from '../src/mail/errors.js';
import { REPLIES } from '../src/mail/replies.js';
import { startPostgres } from './helpers/postgres.js';
import { freePort } from './helpers/sink.js';

/** The submission reply an error's catalogue entry gives, as "code enhanced". */
function smtpReplyFor(e: unknown): string {
  const smtp = errorEntry((e as { code: ErrorCode }).code).smtp;
  const r = smtp ? REPLIES[smtp] : undefined;
  return r ? `${r.code} ${r.enhanced}` : 'none';
}

const cluster = await startPostgres((fn) => t.teardown(fn));

t.test('migrations: applied in order once, recorded, and a no-op the second time', async (t) => {
  const url = await cluster.createDatabase();
  const first = await openPgBackend({ url, poolSize: 2 });
  t.equal(first.migrated, PG_MIGRATIONS.length);
  const { rows } = await first.query('SELECT version, name FROM schema_migrations ORDER BY version');
  t.same(rows, PG_MIGRATIONS.map((m, i) => ({ version: i + 1, name: m.name })));
  await first.close();
  const again = await openPgBackend({ url, poolSize: 2 });
  t.equal(again.migrated, 0, 'nothing applied twice');
  await again.close();
});

t.test('nodes starting together: the advisory lock lets each step run once', async (t) => {
  const url = await cluster.createDatabase();
  const nodes = await Promise.all([1, 2, 3, 4].map(() => openPgBackend({ url, poolSize: 2 })));
  t.equal(nodes.reduce((n, b) => n + b.migrated, 0), PG_MIGRATIONS.length, 'the steps were applied by exactly one node');
  const { rows } = await nodes[0]!.query('SELECT count(*)::int AS n FROM schema_migrations');
  t.equal(rows[0]!['n'], PG_MIGRATIONS.length);
  await Promise.all(nodes.map((b) => b.close()));
});

t.test('a schema newer than the program is refused and left alone', async (t) => {
  const url = await cluster.createDatabase();
  const b = await openPgBackend({ url, poolSize: 1 });
  await b.query('INSERT INTO schema_migrations (version, name) VALUES ($1, $2)', [PG_MIGRATIONS.length + 1, 'from the future']);
  await b.close();
  await t.rejects(openPgBackend({ url, poolSize: 1 }), { code: 'MTA_ERR_DB_SCHEMA', message: /newer than this program/ });
});

t.test('synchronous_commit is on for our connections even when the database defaults to off', async (t) => {
  const url = await cluster.createDatabase();
  const setup = await openPgBackend({ url, poolSize: 1 });
  await setup.query(`ALTER DATABASE "${new URL(url).pathname.slice(1)}" SET synchronous_commit = off`);
  await setup.close();
  const b = await openPgBackend({ url, poolSize: 1 });
  t.teardown(() => b.close());
  const { rows } = await b.query('SHOW synchronous_commit');
  t.equal(rows[0]!['synchronous_commit'], 'on');
});

t.test('failures are catalogue errors: unreachable and terminated are MTA_ERR_SPOOL_BUSY (451 4.3.0), retryable', async (t) => {
  const closed = await freePort();
  const err = await openPgBackend({ url: `postgres://postgres@127.0.0.1:${closed}/x`, poolSize: 1 }).then(() => undefined, (e: unknown) => e);
  t.match(err, { name: 'MtaError', code: 'MTA_ERR_SPOOL_BUSY', retryable: true }, 'nothing listening');
  t.equal(smtpReplyFor(err), '451 4.3.0');

  const url = await cluster.createDatabase();
  const b = await openPgBackend({ url, poolSize: 1 });
  t.teardown(() => b.close());
  const killed = await b.query('SELECT pg_terminate_backend(pg_backend_pid())').then(() => undefined, (e: unknown) => e);
  t.match(killed, { name: 'MtaError', code: 'MTA_ERR_SPOOL_BUSY', retryable: true }, 'the server ended our connection (57P01)');
  const { rows } = await b.query('SELECT 1 AS one');
  t.equal(rows[0]!['one'], 1, 'the pool reconnects without a restart');
  const bug = await b.query('SELECT * FROM no_such_table').then(() => undefined, (e: unknown) => e);
  t.notMatch(bug, { name: 'MtaError' }, 'a programming error is not made retryable');
  t.equal((bug as { code?: string }).code, '42P01');
});

t.test('SQLSTATEs map to catalogue codes; programming errors pass unchanged', async (t) => {
  const cases: Array<[string, string, string | undefined]> = [
    ['53100', 'could not extend file: No space left on device', 'MTA_ERR_SPOOL_FULL'],
    ['57P01', 'terminating connection due to administrator command', 'MTA_ERR_SPOOL_BUSY'],
    ['57P03', 'the database system is starting up', 'MTA_ERR_SPOOL_BUSY'],
    ['08006', 'connection failure', 'MTA_ERR_SPOOL_BUSY'],
    ['53300', 'too many connections', 'MTA_ERR_SPOOL_BUSY'],
    ['40P01', 'deadlock detected', 'MTA_ERR_SPOOL_BUSY'],
    ['55P03', 'canceling statement due to lock timeout', 'MTA_ERR_SPOOL_BUSY'],
    ['ECONNREFUSED', 'connect ECONNREFUSED', 'MTA_ERR_SPOOL_BUSY'],
    ['', 'Connection terminated unexpectedly', 'MTA_ERR_SPOOL_BUSY'],
    ['53200', 'out of memory', 'MTA_ERR_SPOOL_IO'],
    ['58030', 'could not read block', 'MTA_ERR_SPOOL_IO'],
    ['XX001', 'invalid page in block', 'MTA_ERR_SPOOL_IO'],
    ['23505', 'duplicate key value violates unique constraint', undefined],
    ['42601', 'syntax error', undefined],
    ['', 'some bug', undefined],
  ];
  for (const [code, message, want] of cases) t.equal(pgErrorCode(code, message), want, `${code || message}`);
});
