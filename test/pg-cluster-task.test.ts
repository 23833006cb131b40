// A batch task over three nodes on one PostgreSQL database (issue 19): a list and a task
// created through node-2's admin API are expanded and delivered with all three nodes
// running. Every member gets exactly one message, its own (no node crashed, so a duplicate
// is a failure here), and each node delivered some of them (the sinks see each node's own
// address). The 30,000 members take 52-56 s here on a quiet machine but 80-91 s while
// other tests run (three nodes in this process on two cores): too close to what `npm test` can
// spend, so it runs 3,000 (MTA_CLUSTER_TASK_MEMBERS changes the count), and the 30,000 run is
// `npm run soak -- --scenario cluster-task` (the same scenario, outside tap).
import t from 'tap';
import { startPostgres } from './helpers/postgres.js';
import { clusterTask } from './helpers/cluster-task.js';
import { HOSTS } from './helpers/cluster-world.js';

const MEMBERS = Number(process.env['MTA_CLUSTER_TASK_MEMBERS'] ?? 3000);

t.test(`a ${MEMBERS.toLocaleString('en')}-member batch task over three nodes: one message per member, every node delivering`, async (t) => {
  const pg = await startPostgres((fn) => t.teardown(fn));
  const f = await clusterTask(await pg.createDatabase(), MEMBERS, (line) => t.comment(line));
  t.comment(`${MEMBERS} members delivered in ${(f.ms / 1000).toFixed(1)} s (${Math.round(MEMBERS / (f.ms / 1000))} msg/s); by node ${JSON.stringify(f.byNode)}`);
  t.match(f.task, { state: 'done', requested: MEMBERS, delivered: MEMBERS, failed: 0, invalid: 0, suppressed: 0, listSize: MEMBERS, exhausted: true }, 'the task is done, its counts adding up');
  t.equal(f.missing, 0, 'every member received a message');
  t.equal(f.duplicated, 0, 'nobody received two');
  t.equal(f.wrong, 0, 'every message is its own member\'s');
  for (const h of HOSTS) t.ok((f.byNode[h] ?? 0) > 0, `the node on ${h} delivered some (${f.byNode[h] ?? 0})`);
  t.same(Object.keys(f.byNode).sort(), [...HOSTS].sort(), 'and nothing left from any other address');
});
