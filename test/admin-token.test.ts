// The admin token when admin.token is empty (security review 14.1): one is generated at
// the first start, kept 0600 in the data dir, logged once (when made) and kept across
// restarts; without it even a loopback client is refused, since any web page reaches
// loopback. /healthz stays public. (The browser cases are in hardening/admin-api.test.ts.)
import t from 'tap';
import { Writable } from 'node:stream';
import { rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { startDaemon } from './helpers/daemon.js';
import { apiClient } from './helpers/api.js';
import { Daemon } from '../src/daemon/daemon.js';
import { createLogger } from '../src/util/log.js';
import { readAdminToken } from '../src/admin/token.js';

t.test('no token configured: one is generated (0600 in the data dir, logged once) and loopback needs it too', async (t) => {
  const d = await startDaemon('[admin]\nlisten = "127.0.0.1:0"\n');
  t.teardown(() => d.stop());
  const dataDir = join(d.dir, 'data');
  const token = readAdminToken(dataDir)!;
  t.match(token, /^[A-Za-z0-9_-]{43}$/, '32 random bytes, base64url');
  t.equal(statSync(join(dataDir, 'admin.token')).mode & 0o777, 0o600, 'admin.token is 0600');
  t.equal(d.daemon.admin!.token, token, 'the API asks for it');
  const anon = await apiClient(d, '')('GET', '/api/v1/status');
  t.equal(anon.status, 401, 'a loopback client without the token is refused');
  t.match(anon.json, { error: { code: 'MTA_ERR_AUTH' } });
  t.equal((await apiClient(d, token)('GET', '/api/v1/status')).status, 200, 'with it, served');
  t.equal((await apiClient(d, '')('GET', '/healthz')).status, 200, '/healthz stays public');
  t.equal((await apiClient(d, '')('GET', '/metrics')).status, 401, '/metrics is not public without admin.metrics_public');

  // Another start on the same data dir: the same token, and not logged again.
  await d.daemon.stop();
  const lines: string[] = [];
  const sink = new Writable({ write(c: Buffer, _e, cb) { lines.push(c.toString('utf8')); cb(); } });
  const again = new Daemon({ configPath: d.configPath, config: d.daemon.config, logger: createLogger('info', sink) });
  await again.start();
  t.equal(again.admin!.token, token, 'the same token after a restart');
  await again.stop();
  t.notOk(lines.join('').includes(token), 'a token that already existed is not logged');
  rmSync(join(dataDir, 'admin.token'));
  const third = new Daemon({ configPath: d.configPath, config: d.daemon.config, logger: createLogger('info', sink) });
  await third.start();
  const made = third.admin!.token;
  await third.stop();
  t.not(made, token, 'a removed token file gives a new token');
  t.equal(lines.join('').split(made).length - 1, 1, 'a newly made token is logged exactly once');
});

