// [storage] backend: "sqlite" (the default) or "postgres" with postgres_url or
// postgres_url_file (a secret: read from a file, warned about when others can read it) and
// pool_size. Bad combinations are named precisely; and until every port of the store is on
// PostgreSQL, a daemon configured for it refuses to start, saying which parts are missing.
import t from 'tap';
import { chmodSync, existsSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { compileConfig, ConfigError, DEFAULT_PG_POOL_SIZE } from '../src/config/config.js';
import { configWarnings } from '../src/config/checks.js';
import { restartNeeded } from '../src/config/restart.js';
import { tempDir } from './helpers/daemon.js';
import { runMta } from './helpers/run.js';

const BASE = 'hostname = "mta.test"\n';
/** A listener without TLS (appended last, after the [storage] table), so nothing else needs a certificate. */
const LISTEN = '[[smtp.listen]]\naddress = "127.0.0.1:2525"\ntls = "none"\n';

function problems(toml: string, dir = '/'): string {
  try { compileConfig(BASE + toml + LISTEN, join(dir, 'test.toml'), dir); } catch (e) { if (e instanceof ConfigError) return e.message; throw e; }
  return '';
}

t.test('the default backend is SQLite, with no PostgreSQL settings', async (t) => {
  const c = compileConfig(BASE + LISTEN, 'test.toml');
  t.same(c.storage, { nodeId: undefined, backend: 'sqlite' });
});

t.test('postgres with postgres_url: the URL and the pool size', async (t) => {
  const c = compileConfig(`${BASE}[storage]\nbackend = "postgres"\npostgres_url = "postgres://mta:pw@db.test:5432/mta"\npool_size = 4\n${LISTEN}`, 'test.toml');
  t.same(c.storage.postgres, { url: 'postgres://mta:pw@db.test:5432/mta', poolSize: 4 });
  const d = compileConfig(`${BASE}[storage]\nbackend = "postgres"\npostgres_url = "postgresql://db.test/mta"\n${LISTEN}`, 'test.toml');
  t.equal(d.storage.postgres?.poolSize, DEFAULT_PG_POOL_SIZE);
  t.equal(d.storage.postgres?.lockTimeoutMs, undefined, 'no lock timeout set: the pool\'s default (spool/pg-pool.ts)');
  const e = compileConfig(`${BASE}[storage]\nbackend = "postgres"\npostgres_url = "postgresql://db.test/mta"\npostgres_lock_timeout = "3s"\n${LISTEN}`, 'test.toml');
  t.equal(e.storage.postgres?.lockTimeoutMs, 3000, 'postgres_lock_timeout');
});

t.test('bad combinations are named with the key', async (t) => {
  t.match(problems('[storage]\nbackend = "postgres"\n'), /storage\.backend.*backend = "postgres" needs postgres_url or postgres_url_file/);
  t.match(problems('[storage]\nbackend = "postgres"\npostgres_url = "postgres://db/mta"\npostgres_url_file = "/x"\n'), /storage\.postgres_url_file.*both set/);
  t.match(problems('[storage]\npostgres_url = "postgres://db/mta"\n'), /storage\.postgres_url.*backend is "sqlite"/);
  t.match(problems('[storage]\npool_size = 5\n'), /storage\.pool_size.*backend is "sqlite"/);
  t.match(problems('[storage]\nbackend = "postgres"\npostgres_url = "mysql://db/mta"\n'), /storage\.postgres_url.*must be a URL/);
  t.match(problems('[storage]\nbackend = "postgres"\npostgres_url = "postgres://db/mta"\npool_size = 0\n'), /storage\.pool_size/);
  t.match(problems('[storage]\nbackend = "mysql"\n'), /storage\.backend/);
  t.match(problems('[storage]\npostgres_lock_timeout = "3s"\n'), /storage\.postgres_lock_timeout.*backend is "sqlite"/);
  t.match(problems('[storage]\nbackend = "postgres"\npostgres_url = "postgres://db/mta"\npostgres_lock_timeout = "soon"\n'), /storage\.postgres_lock_timeout.*duration/);
});

t.test('postgres_url_file: read relative to the config, checked, and warned about when others can read it', async (t) => {
  const dir = tempDir('mta-pgurl-');
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'pg.url');
  writeFileSync(file, 'postgres://mta:secret@db.test/mta\n', { mode: 0o600 });
  const toml = `${BASE}data_dir = "${dir}"\n[storage]\nbackend = "postgres"\npostgres_url_file = "pg.url"\n`;
  const c = compileConfig(toml + LISTEN, join(dir, 'mta.toml'), dir);
  t.same(c.storage.postgres, { url: 'postgres://mta:secret@db.test/mta', urlFile: file, poolSize: DEFAULT_PG_POOL_SIZE });
  t.same(configWarnings(c, undefined).filter((w) => w.includes('postgres_url_file')), [], 'mode 0600: no warning');
  chmodSync(file, 0o644);
  t.match(configWarnings(c, undefined).join('\n'), /storage\.postgres_url_file .* is mode 0?644: every local user can read the PostgreSQL password/);
  writeFileSync(file, 'not a url\n');
  t.match(problems(toml.slice(BASE.length), dir), /storage\.postgres_url_file.*must hold one URL/);
  rmSync(file);
  t.match(problems(toml.slice(BASE.length), dir), /storage\.postgres_url_file.*cannot read/);
});

t.test('the daemon on an unreachable PostgreSQL: refused, naming the server, and touches nothing', async (t) => {
  const dir = tempDir('mta-pgstart-');
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const dataDir = join(dir, 'data');
  const config = join(dir, 'mta.toml');
  writeFileSync(config, `hostname = "mta.test"\ndata_dir = "${dataDir}"\n[[smtp.listen]]\naddress = "127.0.0.1:0"\ntls = "none"\n[smtp]\nallow_insecure_auth = true\n`
    + `[delivery]\nenabled = false\n[dns]\nservers = ["127.0.0.1:1"]\n[admin]\nlisten = "127.0.0.1:0"\n[storage]\nbackend = "postgres"\npostgres_url = "postgres://mta@127.0.0.1:1/mta"\n`);
  const r = await runMta(['start', '--config', config]);
  t.equal(r.code, 1);
  t.match(r.err, /cannot open the store on PostgreSQL at 127\.0\.0\.1:1\/mta \(storage\.postgres_url\): connect ECONNREFUSED .*\(MTA_ERR_SPOOL_BUSY\)/);
  t.notMatch(r.out, /listening/, 'no listener opened');
  t.notOk(existsSync(join(dataDir, 'spool.db')), 'no SQLite spool made instead');
});

t.test('the backend, server and pool size need a restart, and are named when changed', async (t) => {
  const sqlite = compileConfig(BASE + LISTEN, 'test.toml');
  const pgA = compileConfig(`${BASE}[storage]\nbackend = "postgres"\npostgres_url = "postgres://db-a/mta"\n${LISTEN}`, 'test.toml');
  const pgB = compileConfig(`${BASE}[storage]\nbackend = "postgres"\npostgres_url = "postgres://db-b/mta"\npool_size = 3\n${LISTEN}`, 'test.toml');
  t.same(restartNeeded(sqlite, pgA), ['storage.backend', 'storage.postgres_url', 'storage.pool_size']);
  t.same(restartNeeded(pgA, pgB), ['storage.postgres_url', 'storage.pool_size']);
  t.same(restartNeeded(pgB, pgB), []);
});
