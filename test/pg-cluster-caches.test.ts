// Changes made on one node are in force on another at its next use (issue 19), two real
// daemons on one PostgreSQL database: a sender's password changed on node A, the old one
// fails AUTH on node B; a sender disabled on node A, node B refuses its MAIL FROM, and takes
// it again once enabled; a template edited on node A, node B's next send uses the new text.
// The audit in README "Running a cluster" found no cache of these in any node (each is read
// at use), so these pass on main as well: they hold the next cache someone adds to the same
// promise. Suppressions are test/pg-daemon.test.ts's; queue and task control, which do need
// a message between nodes, test/pg-cluster-control.test.ts's. No timing: each check is one
// request after the change's reply.
import t from 'tap';
import { startDaemon, PASSWORD, type TestDaemon } from './helpers/daemon.js';
import { apiClient, type Call } from './helpers/api.js';
import { startPostgres } from './helpers/postgres.js';
import { RawSmtp } from './helpers/smtp-client.js';
import type { QueueId } from '../src/util/ids.js';

const cluster = await startPostgres((fn) => t.teardown(fn));
const url = await cluster.createDatabase();
const storage = (node: string): string => `[storage]\nnode_id = "${node}"\nbackend = "postgres"\npostgres_url = "${url}"\npool_size = 4\n`;

let nodeA: TestDaemon;
let nodeB: TestDaemon;
let apiA: Call;
let apiB: Call;

t.before(async () => {
  nodeA = await startDaemon(storage('node-a'));
  // The domain and sender are in the shared store already (node A seeded them).
  nodeB = await startDaemon(storage('node-b'), { seed: false });
  apiA = apiClient(nodeA);
  apiB = apiClient(nodeB);
});
t.teardown(async () => {
  await nodeB?.stop();
  await nodeA?.stop();
});

/** AUTH PLAIN as app@example.com with `password` on `d`, then MAIL FROM: the two reply codes. */
async function authAndMail(d: TestDaemon, password: string): Promise<[number, number | undefined]> {
  const c = await RawSmtp.connect(d.port);
  await c.greet(); await c.ehlo();
  const auth = (await c.authPlain('app@example.com', password)).code;
  const mail = auth === 235 ? (await c.cmd('MAIL FROM:<app@example.com>')).code : undefined;
  await c.quit();
  return [auth, mail];
}

t.test("a sender's password changed on node A: the old one fails AUTH on node B, the new one passes", async (t) => {
  t.same(await authAndMail(nodeB, PASSWORD), [235, 250], 'node B takes the password before');
  const NEW = 'a brand new long password';
  t.equal((await apiA('PUT', '/api/v1/senders/app@example.com/password', { password: NEW })).status, 200, 'changed on node A');
  t.same((await authAndMail(nodeB, PASSWORD))[0], 535, 'node B refuses the old password');
  t.same(await authAndMail(nodeB, NEW), [235, 250], 'and takes the new one');
  t.equal((await apiA('PUT', '/api/v1/senders/app@example.com/password', { password: PASSWORD })).status, 200, 'set back');
});

t.test('a sender disabled on node A: node B refuses its mail; enabled again, node B takes it', async (t) => {
  t.equal((await apiA('POST', '/api/v1/senders/app@example.com/disable')).status, 200, 'disabled on node A');
  t.same(await authAndMail(nodeB, PASSWORD), [235, 551], 'node B refuses MAIL FROM with 551');
  const api = await apiB('POST', '/api/v1/send', { from: 'app@example.com', to: 'x@dest.test', subject: 's', text: 't' });
  t.match([api.status, api.json.error], [422, { code: 'MTA_ERR_REFUSED', smtp_code: 551 }], "and node B's send API too");
  t.equal((await apiA('POST', '/api/v1/senders/app@example.com/enable')).status, 200, 'enabled on node A');
  t.same(await authAndMail(nodeB, PASSWORD), [235, 250], 'node B takes its mail again');
});

t.test("a template edited on node A: node B's next send uses the new text", async (t) => {
  const subjectOf = async (r: { status: number; json: Record<string, unknown> }): Promise<string | undefined> =>
    r.status === 200 ? (await nodeA.daemon.store.getMessage(r.json['queue_id'] as QueueId))?.subject ?? undefined : `status ${r.status}`;
  const send = (): ReturnType<Call> => apiB('POST', '/api/v1/send', { from: 'app@example.com', to: 'ann@dest.test', template: 'news', variables: { Name: 'Ann' } });
  t.equal((await apiA('POST', '/api/v1/templates', { name: 'news', subject: 'First {Name}', html: '<p>one</p>' })).status, 201);
  t.equal((await apiA('POST', '/api/v1/templates/news/approve')).status, 200);
  t.equal(await subjectOf(await send()), 'First Ann', 'node B sends the template as made on node A');
  t.equal((await apiA('PUT', '/api/v1/templates/news', { subject: 'Second {Name}' })).status, 200, 'edited on node A');
  t.equal((await send()).status, 409, 'node B refuses it while the edit waits for approval (back to draft)');
  t.equal((await apiA('POST', '/api/v1/templates/news/approve')).status, 200, 'approved on node A');
  t.equal(await subjectOf(await send()), 'Second Ann', 'node B sends the new text');
});
