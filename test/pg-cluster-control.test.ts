// Operators' control across nodes on PostgreSQL (issue 19): two real daemons on one
// database, node A taking mail and answering the API (delivery off), node B delivering with
// one connection per domain to a sink MX that holds its first DATA reply until the test lets
// it go. So node B holds the other recipients it claimed in memory, 'sending', out of reach
// of node A's operations. A hold of the domain, and a batch task's cancel, given to node A,
// must still reach them: node B hears the operation (NOTIFY mta_change), hands them back and
// applies it. Before that (main before this change) node A's operation changed nothing and
// node B delivered every one. A pause needs no message: the store refuses a paused task's
// chunk (compare and set). No timing: each step waits for the state it expects.
import t from 'tap';
import { startDaemon, type TestDaemon } from './helpers/daemon.js';
import { startWorld, type World } from './helpers/delivery.js';
import { apiClient, type Call } from './helpers/api.js';
import { startPostgres } from './helpers/postgres.js';
import { addBatchSender, BATCH, getTask, makeList, makeTemplate, waitFor } from './helpers/tasks.js';
import type { Store } from '../src/spool/types.js';
import type { RecipientState } from '../src/spool/states.js';
import type { TaskRecord } from '../src/spool/types-tasks.js';

const cluster = await startPostgres((fn) => t.teardown(fn));
const url = await cluster.createDatabase();
const storage = (node: string): string => `[storage]\nnode_id = "${node}"\nbackend = "postgres"\npostgres_url = "${url}"\npool_size = 4\n`;
/** Small chunks and window, the same on both nodes (either may lead a task's expansion). */
const TASKS = '[tasks]\nchunk_size = 3\nwindow = 6\n';

/** A DATA reply held until `open()`; `held` counts the messages that waited for it. */
function gate(): { wait: () => Promise<void>; open: () => void; held: number } {
  let open!: () => void;
  const p = new Promise<void>((r) => { open = r; });
  const g = { held: 0, open: () => open(), wait: () => { g.held++; return p; } };
  return g;
}

/**
 * Node B's `n` jobs to `domain` are each on the wire, held in DATA by `g`, or waiting in its
 * memory for a connection: no session between the two that could still reach the sink.
 */
function settledOn(d: TestDaemon, g: { held: number }): (domain: string, n: number) => boolean {
  return (domain, n) => {
    const dest = d.daemon.scheduler?.destinations().find((x) => x.domain === domain);
    return !!dest && g.held > 0 && dest.active === g.held && dest.pending + g.held === n;
  };
}

const waiting = (task: TaskRecord): number => task.requested - task.delivered - task.failed - task.bouncedInvalid;

let world: World;
let nodeB: TestDaemon;
let api: Call;
let store: Store;

t.before(async () => {
  world = await startWorld('enabled = false\n', { extraToml: storage('node-a') + TASKS });
  nodeB = await startDaemon(
    `[smtp]\nallow_insecure_auth = true\n[delivery]\nport = ${world.port}\nretry_schedule = ["400ms"]\nretry_jitter = 0\nmax_connections_per_domain = 1\n`
    + `[dns]\nservers = ["${world.dns.server}"]\n${storage('node-b')}${TASKS}`, { seed: false });
  api = apiClient(world.daemon);
  store = world.daemon.daemon.store;
});
t.teardown(async () => {
  await nodeB?.stop();
  await world?.stop();
});

const count = (sel: { domain?: string; taskId?: string }, state: RecipientState): Promise<number> => store.countQueue({ ...sel, states: [state] });

t.test("a hold given to node A reaches the recipients node B holds in memory; the release given to node A wakes node B", async (t) => {
  const g = gate();
  const sink = await world.addDomain('slow.test', 30, { dataDelayMs: () => g.wait() });
  const settled = settledOn(nodeB, g);
  for (let i = 0; i < 5; i++) await world.submit(`r${i}@slow.test`, { subject: `slow ${i}` });
  // Sessions on the wire wait in DATA (the trigger lane may have one besides the domain's cap); the rest wait in node B's memory.
  await waitFor('node B to claim all five, each on the wire or in its memory', async () => settled('slow.test', 5) && (await count({ domain: 'slow.test' }, 'sending')) === 5);
  const wire = g.held;
  t.ok(wire < 5, `node B holds ${5 - wire} in memory`);

  const hold = await api('POST', '/api/v1/queue/hold', { domain: 'slow.test' });
  t.equal(hold.status, 200, 'node A takes the hold');
  await waitFor('node B to hold those waiting in its memory', async () => (await count({ domain: 'slow.test' }, 'held')) === 5 - wire, 20_000);
  t.equal(g.held, wire, 'no other message reached the sink meanwhile');
  g.open();
  await waitFor('those on the wire to be delivered', async () => (await count({ domain: 'slow.test' }, 'delivered')) === wire);
  t.equal(sink.messages.length, wire, 'node B delivered only what was on the wire');
  t.equal(await count({ domain: 'slow.test' }, 'held'), 5 - wire, 'the others stay held');

  const release = await api('POST', '/api/v1/queue/release', { domain: 'slow.test' });
  t.same([release.status, release.json.affected], [200, 5 - wire], 'node A releases them');
  await waitFor('node B to deliver the four', () => sink.messages.length === 5);
  t.same(sink.messages.map((m) => m.to[0]).sort(), ['r0@slow.test', 'r1@slow.test', 'r2@slow.test', 'r3@slow.test', 'r4@slow.test'], 'each once');
});

t.test("a task cancelled on node A: node B delivers none of the members waiting in its memory", async (t) => {
  const g = gate();
  const sink = await world.addDomain('late.test', 31, { dataDelayMs: () => g.wait() });
  const settled = settledOn(nodeB, g);
  await addBatchSender(store);
  await makeTemplate(store, 'late-note', { subject: 'Hi {Name}', html: '<p>hello {Name}</p>' });
  await makeList(store, 'late', 6, (i) => ({ address: `m${i}@late.test`, vars: { Name: `M${i}` } }));
  const created = await api('POST', '/api/v1/tasks', { list: 'late', template: 'late-note', from: BATCH });
  t.equal(created.status, 201, 'the task is created on node A');
  const id = created.json.id as string;
  await waitFor('node B to claim the six members, each on the wire or in its memory', async () => settled('late.test', 6) && (await count({ taskId: id }, 'sending')) === 6);
  const wire = g.held;
  t.ok(wire < 6, `node B holds ${6 - wire} in memory`);

  const cancel = await api('POST', `/api/v1/tasks/${id}/cancel`);
  t.equal(cancel.status, 200, 'node A cancels the task');
  await waitFor('those waiting on node B to be deleted', async () => waiting(await getTask(store, id)) === wire, 20_000);
  g.open();
  const done = await waitFor('every member to be final', async () => { const x = await getTask(store, id); return waiting(x) === 0 && x; });
  t.match(done, { state: 'cancelled', requested: 6, delivered: wire, failed: 6 - wire }, 'those on the wire delivered, the others deleted');
  t.equal(sink.messages.length, wire, 'the sink received only what was on the wire');
});

t.test('a task paused on node A: no member is expanded after the pause, whichever node leads the expansion', async (t) => {
  const g = gate();
  const sink = await world.addDomain('paused.test', 32, { dataDelayMs: () => g.wait() });
  await makeList(store, 'paused', 12, (i) => ({ address: `p${i}@paused.test`, vars: { Name: `P${i}` } }));
  const created = await api('POST', '/api/v1/tasks', { list: 'paused', template: 'late-note', from: BATCH });
  const id = created.json.id as string;
  // The window (6) is full: the expanders wait for outcomes, which wait for the gate.
  await waitFor('the first six members expanded, some on the wire', async () => g.held > 0 && (await getTask(store, id)).requested === 6);
  const pause = await api('POST', `/api/v1/tasks/${id}/pause`);
  t.same([pause.status, pause.json.state], [200, 'paused'], 'node A pauses the task');
  g.open();
  const after = await waitFor('the six queued before the pause to be delivered', async () => { const x = await getTask(store, id); return x.delivered === 6 && x; });
  t.match(after, { state: 'paused', requested: 6, delivered: 6 }, 'what was queued is delivered (SPEC: a pause stops expansion), nothing more is expanded');
  t.equal(sink.messages.length, 6);
  const resume = await api('POST', `/api/v1/tasks/${id}/resume`);
  t.equal(resume.status, 200, 'resumed on node A');
  const done = await waitFor('the task to finish', async () => { const x = await getTask(store, id); return x.state === 'done' && x; }, 30_000);
  t.match(done, { requested: 12, delivered: 12 }, 'the rest is expanded and delivered after the resume');
  t.equal(sink.messages.length, 12, 'each member once');
});
