/**
 * cluster-task — one batch task delivered by three nodes on one PostgreSQL database (issue
 * 19), the scenario shared by test/pg-cluster-task.test.ts (3,000 members, in `npm test`)
 * and `npm run soak -- --scenario cluster-task [--members N]` (30,000 by default): a list and a
 * task created through node-2's admin API, expanded by whichever node leads the task's job
 * and delivered by all three. It reports per member how many messages reached the sinks
 * (each checked to be that member's), per node how many it delivered (the sinks see the
 * node's own address: each node's mail leaves from it), the task's final counts, and how
 * long the delivery took. It asserts nothing: the test and the soak judge the figures.
 */
import { apiClient } from './api.js';
import { startInProcessCluster, HOSTS } from './cluster-world.js';
import { BATCH, addBatchSender, getTask, header, makeTemplate, waitFor } from './tasks.js';
import type { Sink } from './sink.js';
import type { TaskRecord } from '../../src/spool/types-tasks.js';

const DOMAINS = 4;
/** Rows per admin API request (the route takes up to 50,000). */
const ROWS_PER_REQUEST = 10_000;

export interface ClusterTaskFigures {
  members: number;
  task: TaskRecord;
  /** from the task's creation to its state `done` */
  ms: number;
  /** members that received no message, and more than one */
  missing: number;
  duplicated: number;
  /** messages at the sinks that are not their member's (wrong recipient, subject or body) */
  wrong: number;
  /** messages delivered from each node's address, by node address */
  byNode: Record<string, number>;
}

const member = (i: number): { address: string; name: string } => ({ address: `u${i}@v${i % DOMAINS}.test`, name: `User${i}` });

/** Runs the scenario on the database at `url`; `note` hears progress every 10 s. */
export async function clusterTask(url: string, members: number, note: (line: string) => void = () => undefined): Promise<ClusterTaskFigures> {
  // ready_set_size: a node holds at most 500 recipients at once, so the first node a chunk's
  // commit wakes cannot claim the whole queue, and every node's share is the work, not luck.
  const cluster = await startInProcessCluster(url, {
    delivery: 'max_connections_per_domain = 8\nmax_messages_per_connection = 100000\nready_set_size = 500\n',
    toml: '[tasks]\nwindow = 5000\nchunk_size = 500\n',
  });
  try {
    const { world, nodes } = cluster;
    const sinks: Sink[] = [];
    for (let d = 0; d < DOMAINS; d++) sinks.push(await world.addDomain(`v${d}.test`, 60 + d));
    const store = nodes[0]!.daemon.store;
    await addBatchSender(store);
    await makeTemplate(store, 'cluster-promo', { subject: 'Hello {UserName}', html: '<p>Dear {UserName}.</p>', text: 'Dear {UserName}.' });

    const api = apiClient(nodes[1]!);
    const list = await api('POST', '/api/v1/lists', { name: 'cluster-club', alias: 'cluster-club@lists.example.com' });
    if (list.status !== 201) throw new Error(`list create: ${list.status} ${list.text}`);
    for (let start = 0; start < members; start += ROWS_PER_REQUEST) {
      const rows = Array.from({ length: Math.min(ROWS_PER_REQUEST, members - start) }, (_, j) => {
        const m = member(start + j);
        return { EAddr: m.address, UserName: m.name };
      });
      const r = await api('POST', '/api/v1/lists/cluster-club/members?strict=true', rows);
      if (r.status !== 200) throw new Error(`members ${start}..: ${r.status} ${r.text}`);
    }
    const created = await api('POST', '/api/v1/tasks', { list: 'cluster-club', template: 'cluster-promo', from: BATCH });
    if (created.status !== 201) throw new Error(`task create: ${created.status} ${created.text}`);
    const t0 = Date.now();

    // A slow machine may take long; only a task that stops moving fails (no progress for 60 s).
    let progress = -1;
    let movedAt = Date.now();
    let notedAt = Date.now();
    const task = await waitFor('the task done', async () => {
      const x = await getTask(store, created.json.id as string);
      if (x.requested + x.delivered !== progress) { progress = x.requested + x.delivered; movedAt = Date.now(); }
      if (Date.now() - movedAt > 60_000) throw new Error(`no progress for 60 s: requested ${x.requested}, delivered ${x.delivered}`);
      if (Date.now() - notedAt > 10_000) { notedAt = Date.now(); note(`${((Date.now() - t0) / 1000).toFixed(0)} s: requested ${x.requested}, delivered ${x.delivered}`); }
      return x.state === 'done' && x;
    }, 3_600_000, 200);
    const ms = Date.now() - t0;

    const seen = new Map<number, number>();
    const byNode: Record<string, number> = Object.fromEntries(HOSTS.map((h) => [h, 0]));
    let wrong = 0;
    for (const s of sinks) for (const m of s.messages) {
      const i = Number(/^u(\d+)@/.exec(m.to[0] ?? '')?.[1]);
      seen.set(i, (seen.get(i) ?? 0) + 1);
      byNode[m.clientAddress] = (byNode[m.clientAddress] ?? 0) + 1;
      if (m.to.length !== 1 || m.to[0] !== member(i).address || m.from !== BATCH || header(m.raw, 'Subject') !== `Hello ${member(i).name}`) wrong++;
    }
    let missing = 0;
    for (let i = 0; i < members; i++) if (!seen.has(i)) missing++;
    const duplicated = [...seen.values()].filter((n) => n > 1).length;
    return { members, task, ms, missing, duplicated, wrong, byNode };
  } finally {
    await cluster.stop();
  }
}
