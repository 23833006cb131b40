// PostgreSQL restarted under load (issue 19): three nodes (in this process) on one database,
// clients submitting to all three without pause. The server is stopped (fast shutdown:
// every connection is cut) while they keep submitting: every reply is then temporary (4xx,
// 451 4.3.0 for mail that cannot be stored), never a 5xx, and a 250 only for mail that is
// stored. The server is started again on the same port and data dir: without restarting,
// every node acknowledges new mail with 250 again, and every message acknowledged before,
// during or after the outage reaches the sink and ends delivered.
import t from 'tap';
import { startPostgres } from './helpers/postgres.js';
import { waitFor } from './helpers/tasks.js';
import type { QueueId } from '../src/util/ids.js';
import { HOSTS, startInProcessCluster, subjectCounts, submitTo, type Submitted } from './helpers/cluster-world.js';

/** Submissions in flight per node. */
const LANES = 3;
const PREFIX = 'restart';
type Phase = 'before' | 'down' | 'after';

t.test('PostgreSQL stopped and started again under load: only temporary refusals while down, every node recovers without a restart, nothing acknowledged lost', async (t) => {
  const pg = await startPostgres((fn) => t.teardown(fn));
  const url = await pg.createDatabase();
  const { world, nodes, stop: stopCluster } = await startInProcessCluster(url);
  t.teardown(stopCluster);
  const sink = await world.addDomain('dest.test', 20, { dataDelayMs: 10 });

  const results: (Submitted & { node: number; phase: Phase })[] = [];
  let phase: Phase = 'before';
  let next = 0;
  let stop = false;
  const load = Promise.all(nodes.flatMap((d, k) => Array.from({ length: LANES }, async () => {
    while (!stop) {
      const at = phase;
      const r = await submitTo(HOSTS[k]!, d.port, PREFIX, next++);
      // A reply that straddles a phase change counts in the later one (a 250 begun before the stop may come back during it).
      results.push({ ...r, node: k, phase: at === phase ? at : phase });
      if (r.code !== 250) await new Promise((res) => setTimeout(res, 50)); // a client backs off a little after a refusal
    }
  })));
  t.teardown(async () => { stop = true; await load; });
  const from = (p: Phase, k?: number) => results.filter((r) => r.phase === p && (k === undefined || r.node === k));

  await waitFor('mail acknowledged by every node', () => [0, 1, 2].every((k) => from('before', k).filter((r) => r.code === 250).length >= 5), 60_000, 50);
  pg.pause();
  let up = false;
  t.teardown(() => { if (!up) pg.resume(); });
  phase = 'down';
  await waitFor('every node refusing mail while PostgreSQL is down', () => [0, 1, 2].every((k) => from('down', k).filter((r) => r.code !== 250).length >= 5), 60_000, 50);
  pg.resume();
  up = true;
  phase = 'after';
  await waitFor('every node acknowledging mail again', () => [0, 1, 2].every((k) => from('after', k).filter((r) => r.code === 250).length >= 5), 120_000, 50);
  stop = true;
  await load;

  const down = from('down');
  const replies = new Map<string, number>();
  for (const r of down) { const key = r.code === 250 ? '250' : r.text.slice(0, 9); replies.set(key, (replies.get(key) ?? 0) + 1); }
  t.comment(`replies while PostgreSQL was down: ${JSON.stringify(Object.fromEntries(replies))}`);
  t.same(results.filter((r) => r.code === 0 || r.code >= 500).map((r) => `${r.phase} node-${r.node + 1}: ${r.text}`), [], 'no connection failed and nothing was refused permanently, before, during or after');
  t.same(down.filter((r) => r.code !== 250 && !(r.code >= 400 && r.code < 500)).map((r) => r.text), [], 'every refusal while down is temporary');
  t.ok(down.some((r) => /^451 4\.3\.0 /.test(r.text)), 'mail that cannot be stored gets 451 4.3.0');
  t.same(from('before').filter((r) => r.code !== 250).map((r) => `node-${r.node + 1}: ${r.text}`), [], 'before the outage every submission is acknowledged');
  t.comment(`after the restart: ${from('after').filter((r) => r.code !== 250).length} refused while the nodes reconnected, ${from('after').filter((r) => r.code === 250).length} acknowledged`);

  const acked = results.filter((r) => r.code === 250);
  const subjects = acked.map((r) => `${PREFIX} ${r.n}`);
  await waitFor('every acknowledged message at the sink', () => { const seen = subjectCounts([sink], PREFIX); return subjects.every((s) => seen.has(s)); }, 120_000, 100)
    .catch(async (e: Error) => {
      // Where the missing ones are: their recipients' states and events say which path kept them.
      const seen = subjectCounts([sink], PREFIX);
      const missing = acked.filter((r) => !seen.has(`${PREFIX} ${r.n}`));
      const where = await Promise.all(missing.map(async (r) => ({ ...r, message: await nodes[0]!.daemon.store.getMessage(r.id! as QueueId) })));
      t.comment(JSON.stringify(await nodes[0]!.daemon.store.sendingByNode(Date.now())), nodes.map((d) => `${d.daemon.store.nodeId} ready ${d.daemon.scheduler?.readyCount} ${JSON.stringify(d.daemon.scheduler?.destinations())}`));
      throw new Error(`${e.message}: ${JSON.stringify(where.map((w) => ({ n: w.n, phase: w.phase, node: w.node, rcpts: w.message?.recipients, events: w.message?.events })), null, 1)}`);
    });
  const counts = await waitFor('every recipient final in the store', async () => {
    const s = await nodes[2]!.daemon.store.countByState();
    return s.queued + s.sending + s.deferred === 0 && s;
  }, 120_000, 200);
  const seen = subjectCounts([sink], PREFIX);
  t.same(subjects.filter((s) => !seen.has(s)), [], `all ${acked.length} acknowledged messages delivered (${from('down').filter((r) => r.code === 250).length} of them acknowledged while the server was stopping)`);
  t.comment(`duplicates at the sink: ${[...seen.values()].reduce((a, n) => a + n - 1, 0)}`);
  t.same([counts.failed, counts.held], [0, 0], 'nothing failed, nothing held');
  t.ok(counts.delivered >= acked.length, `${counts.delivered} recipients delivered in the store`);
  for (const d of nodes) {
    const m = await d.daemon.store.getMessage(acked[acked.length - 1]!.id! as QueueId);
    t.equal(m?.recipients[0]?.state, 'delivered', `${d.daemon.store.nodeId} reads the last message delivered`);
  }
});
