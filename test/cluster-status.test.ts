// `mta cluster status` against a running daemon (SQLite, so one node): after start the node
// is registered (alive, its bound listeners, this version) and leads every periodic job it
// runs; --json is the API's answer (GET /api/v1/cluster, which needs the admin token); the
// table marks the answering node. A clean stop releases the jobs; with no daemon the
// command reads the store itself.
import t from 'tap';
import { startDaemon } from './helpers/daemon.js';
import { apiClient } from './helpers/api.js';
import { runMta } from './helpers/run.js';
import { openStore } from '../src/spool/index.js';

t.test('after start the daemon is a registered node leading its jobs', async (t) => {
  const d = await startDaemon('[reputation]\nenabled = true\n');
  t.teardown(() => d.stop());
  const node = d.daemon.store.nodeId;
  const r = await runMta(['cluster', 'status', '--json', '--config', d.configPath]);
  t.equal(r.code, 0, r.err);
  const s = JSON.parse(r.out) as Record<string, any>;
  t.equal(s['node'], node, 'the answering node');
  t.equal(s['nodes'].length, 1, 'SQLite: one node');
  const me = s['nodes'][0];
  t.match(me, { node, hostname: 'mta.test', status: 'alive', sending: 0 });
  t.ok(me.listeners.includes(`smtp 127.0.0.1:${d.port}`), `its bound SMTP port among ${me.listeners.join(', ')}`);
  t.ok(me.listeners.includes(`admin 127.0.0.1:${d.daemon.admin!.port}`), 'and the admin port');
  t.ok(Date.now() - Date.parse(me.last_heartbeat) < 60_000 && /Z$/.test(me.last_heartbeat), 'last heartbeat in ISO 8601, just now');
  // delivery is off in test daemons: no MTA-STS sweep or TLS reports to lead
  t.same(s['jobs'].map((j: { job: string }) => j.job), ['dns-check', 'reputation', 'retention-purge'], 'every job this node runs has a leader');
  t.ok(s['jobs'].every((j: { leader: string; state: string }) => j.leader === node && j.state === 'held'), 'and it is this node');
  t.same([...me.jobs].sort(), ['dns-check', 'reputation', 'retention-purge']);

  const api = apiClient(d);
  const got = await api('GET', '/api/v1/cluster');
  t.equal(got.status, 200, 'the response matches its schema (checkResponses)');
  t.same(got.json.jobs.map((j: { leader: string }) => j.leader), [node, node, node]);
  t.equal((await apiClient(d, '')('GET', '/api/v1/cluster')).status, 401, 'no token, no answer');

  const table = await runMta(['cluster', 'status', '--config', d.configPath]);
  t.equal(table.code, 0, table.err);
  t.match(table.out, /^1 node\(s\), 1 alive, seen from \S+ at \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ/);
  t.match(table.out, new RegExp(`\\n${node} \\*\\s+alive\\s`), 'this node marked');
  t.match(table.out, /\nJOB\s+LEADER\s+SINCE\s+LEASE UNTIL\s+STATE\n/);

  await d.daemon.stop();
  const after = openStore(d.daemon.config);
  t.teardown(() => after.close());
  t.same(await after.listJobLeases(), [], 'a clean stop released the jobs');
  t.equal((await after.listNodes())[0]?.nodeId, node, 'the node stays listed (stale once its beats stop)');
  // No daemon to ask: the command reads the store itself.
  const offline = await runMta(['cluster', 'status', '--json', '--config', d.configPath]);
  t.equal(offline.code, 0, offline.err);
  t.match(JSON.parse(offline.out), { nodes: [{ node, hostname: 'mta.test' }], jobs: [] }, 'from the store: the node, no leaders');
});
