// The node id claims are made under (spool/node-id.ts): made up on first open and kept in
// <data_dir>/node-id (0600), the same after a reopen, different for another data dir;
// `[storage] node_id` replaces it (no file is made); a bad configured id is a config error
// naming the key, a node-id file that does not hold one is a data-dir error naming the file.
import t from 'tap';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { openStore } from '../src/spool/index.js';
import { NODE_ID_PATTERN } from '../src/spool/types-leases.js';
import { compileConfig, ConfigError } from '../src/config/config.js';
import { tempDir } from './helpers/daemon.js';
import { openTestStore } from './helpers/store.js';

const dir = tempDir('mta-node-id-');
t.teardown(() => rmSync(dir, { recursive: true, force: true }));

const toml = (dataDir: string, extra = ''): string =>
  `hostname = "mta.example.com"\ndata_dir = "${dataDir}"\n[[smtp.listen]]\naddress = "127.0.0.1:2587"\ntls = "none"\n${extra}`;

t.test('made on first open, kept 0600 in the data dir, the same after a reopen', async (t) => {
  const dataDir = join(dir, 'first');
  const store = openTestStore(dataDir);
  const id = store.nodeId;
  await store.close();
  t.match(id, NODE_ID_PATTERN);
  const file = join(dataDir, 'node-id');
  t.equal(readFileSync(file, 'utf8'), `${id}\n`);
  t.equal(statSync(file).mode & 0o777, 0o600, 'private');
  const again = openTestStore(dataDir);
  t.equal(again.nodeId, id, 'a restart is the same node');
  await again.close();
  const other = openTestStore(join(dir, 'second'));
  t.not(other.nodeId, id, 'another data dir is another node');
  await other.close();
});

t.test('[storage] node_id replaces it; a bad one is refused naming the key', async (t) => {
  const dataDir = join(dir, 'configured');
  const config = compileConfig(toml(dataDir, '[storage]\nnode_id = "mx1.example"\n'), 'x.toml');
  const store = openStore(config);
  t.equal(store.nodeId, 'mx1.example');
  await store.close();
  t.notOk(existsSync(join(dataDir, 'node-id')), 'no file is made for a configured id');
  const err = (() => { try { compileConfig(toml(dataDir, '[storage]\nnode_id = "../x"\n'), 'x.toml'); } catch (e) { return e; } return undefined; })();
  t.ok(err instanceof ConfigError, 'a config error');
  t.match((err as Error).message, /storage\.node_id/);
});

t.test('a node-id file that does not hold an id is refused naming the file, and left as it is', async (t) => {
  const dataDir = join(dir, 'broken');
  mkdirSync(dataDir, { mode: 0o700 });
  const file = join(dataDir, 'node-id');
  writeFileSync(file, 'not an id!\n', { mode: 0o600 });
  t.throws(() => openTestStore(dataDir), { code: 'MTA_ERR_DATA_DIR', message: /node-id does not hold a node id/ });
  t.equal(readFileSync(file, 'utf8'), 'not an id!\n', 'unchanged');
  t.same(readdirSync(dataDir), ['node-id'], 'and nothing else made');
});
