// A daemon on PostgreSQL, end to end: the real daemon with `[storage] backend = "postgres"`
// on a fresh database of a real server (test/helpers/postgres.ts), mail submitted over SMTP
// and delivered to a sink MX on loopback, the admin API showing it delivered and counted, a
// suppression added through the API refusing the next RCPT. Then a second daemon (node-b) on
// the same database: what one node stores, the other shows and enforces — no cache stands
// between a node and the shared store. Last, a message to a list alias: its task commits with
// the message, expands, and its chunk's mail wakes the schedulers (as intake's does) and
// counts on the task as delivered. Without PostgreSQL's binaries startPostgres throws saying why.
import t from 'tap';
import { startDaemon, PASSWORD, type TestDaemon } from './helpers/daemon.js';
import { startWorld, type World } from './helpers/delivery.js';
import { apiClient, type Call } from './helpers/api.js';
import { startPostgres } from './helpers/postgres.js';
import { RawSmtp } from './helpers/smtp-client.js';
import { getTask, header, makeList } from './helpers/tasks.js';

const cluster = await startPostgres((fn) => t.teardown(fn));
const url = await cluster.createDatabase();

function storage(node: string): string {
  return `[storage]\nnode_id = "${node}"\nbackend = "postgres"\npostgres_url = "${url}"\npool_size = 4\n`;
}

/** The reply to RCPT TO:<rcpt> from app@example.com on `d`'s submission port. */
async function rcptReply(d: TestDaemon, rcpt: string): Promise<{ code: number; text: string }> {
  const c = await RawSmtp.connect(d.port);
  await c.greet(); await c.ehlo();
  if ((await c.authPlain('app@example.com', PASSWORD)).code !== 235) throw new Error('auth failed');
  await c.cmd('MAIL FROM:<app@example.com>');
  const r = await c.cmd(`RCPT TO:<${rcpt}>`);
  await c.quit();
  return r;
}

const delivered = async (api: Call, id: string): Promise<boolean> => {
  const r = await api('GET', `/api/v1/queue/${id}`);
  return r.status === 200 && (r.json.recipients as { state: string }[]).every((x) => x.state === 'delivered');
};

let world: World;
let nodeB: TestDaemon | undefined;

t.before(async () => {
  world = await startWorld('', { extraToml: storage('node-a') });
});
t.teardown(async () => {
  await nodeB?.stop();
  await world.stop();
});

t.test('node A on PostgreSQL: submitted, delivered, shown, counted; a suppression refuses', async (t) => {
  const sink = await world.addDomain('dest.test', 10);
  const api = apiClient(world.daemon);
  const id = await world.submit('one@dest.test', { subject: 'on postgres' });
  await world.waitFor('the sink to receive it', () => sink.messages.length === 1);
  t.match(sink.messages[0]!.raw, /Subject: on postgres/, 'the sink received the message as submitted');
  await world.waitFor('the API to show it delivered', () => delivered(api, id));
  const detail = await api('GET', `/api/v1/queue/${id}`);
  t.same(detail.json.recipients.map((r: { rcpt: string; state: string }) => [r.rcpt, r.state]), [['one@dest.test', 'delivered']]);
  t.ok(detail.json.events.some((e: { type: string }) => e.type === 'delivered'), 'the delivery event is stored');
  const stats = await api('GET', '/api/v1/stats');
  t.equal(stats.status, 200);
  t.same([stats.json.total.requests, stats.json.total.delivered], [1, 1], 'statistics count the request and the delivery');

  const add = await api('POST', '/api/v1/suppressions', { address: 'blocked@dest.test', reason: 'test' });
  t.equal(add.status, 200);
  t.equal(add.json.added, true);
  const r = await rcptReply(world.daemon, 'blocked@dest.test');
  t.equal(r.code, 559, 'the suppressed recipient is refused');
  t.match(r.text, /5\.1\.1 Invalid rcptto/, 'with the suppression reply');
  t.equal((await rcptReply(world.daemon, 'other@dest.test')).code, 250, 'another recipient is accepted');
});

t.test('node B on the same database sees node A\'s mail and enforces its suppressions', async (t) => {
  // Same world (DNS, sinks), its own data dir and submission port; the domain and sender are in the shared store already.
  nodeB = await startDaemon(
    `[smtp]\nallow_insecure_auth = true\n[delivery]\nport = ${world.port}\nretry_schedule = ["400ms"]\nretry_jitter = 0\n`
    + `[dns]\nservers = ["${world.dns.server}"]\n${storage('node-b')}`, { seed: false });
  const apiA = apiClient(world.daemon);
  const apiB = apiClient(nodeB);
  const sink = world.sinks.find((s) => s.messages.some((m) => m.to.includes('one@dest.test')))!;
  const before = sink.messages.length;
  const id = await world.submit('two@dest.test', { subject: 'seen on b' });
  const onB = await apiB('GET', `/api/v1/queue/${id}`);
  t.equal(onB.status, 200, 'node B\'s API finds the message node A accepted');
  t.equal(onB.json.queue_id, id);
  await world.waitFor('the message to be delivered', () => delivered(apiB, id));
  t.equal(sink.messages.length, before + 1, 'delivered once, by one of the nodes');
  const status = await apiA('GET', '/api/v1/cluster');
  t.equal(status.status, 200);
  t.match(JSON.stringify(status.json), /"node-b"/, 'node A\'s cluster status lists node B');

  t.equal((await rcptReply(nodeB, 'late@dest.test')).code, 250, 'node B accepts the address before it is suppressed');
  t.equal((await apiA('POST', '/api/v1/suppressions', { address: 'late@dest.test' })).status, 200, 'suppressed on node A');
  const r = await rcptReply(nodeB, 'late@dest.test');
  t.same([r.code, /5\.1\.1/.test(r.text)], [559, true], 'node B refuses it at once');
  t.equal((await rcptReply(nodeB, 'blocked@dest.test')).code, 559, 'and the suppression added earlier on node A');
  const statsB = await apiB('GET', '/api/v1/stats');
  t.same([statsB.json.total.requests, statsB.json.total.delivered], [2, 2], 'node B\'s statistics are the cluster\'s');
});

t.test('a list alias on PostgreSQL: the alias task commits with the message, expands, and counts its members\' deliveries', async (t) => {
  const sink = await world.addDomain('club.test', 30);
  const store = world.daemon.daemon.store;
  await makeList(store, 'club', 4, (i) => ({ address: `m${i}@club.test`, vars: { Name: `M${i}` } }), 'club@lists.example.com');
  // Suppressed on node B: node A's expansion skips it, counting it.
  await nodeB!.daemon.store.addSuppression({ address: 'm3@club.test', scope: '', reason: 'test', source: 'manual', createdAt: Date.now() });
  const id = await world.submit('club@lists.example.com', { subject: 'Hello {Name}' });
  const task = (await nodeB!.daemon.store.listTasks({})).find((x) => x.sourceId === id);
  t.ok(task, 'node B sees the alias task node A committed with the message');
  const done = await world.waitFor('the alias task to finish', async () => { const x = await getTask(store, task!.id); return x.state === 'done' && x.delivered === 3 && x; }, 30_000);
  t.match(done, { kind: 'alias', list: 'club', requested: 3, suppressed: 1, delivered: 3, failed: 0, listSize: 4 }, 'requested, suppressed and delivered counted on the task');
  t.same(sink.messages.map((m) => [m.to[0], header(m.raw, 'Subject')]).sort(), [['m0@club.test', 'Hello M0'], ['m1@club.test', 'Hello M1'], ['m2@club.test', 'Hello M2']],
    'one personalised copy per member not suppressed');
});
