// The one-at-a-time jobs (util/cluster-jobs.ts) and the heartbeat (daemon/cluster.ts) on
// real SQLite stores, two nodes on one data dir, with an injected clock (no sleeping): one
// node leads each registered job and the other skips its runs (logged at debug); the
// leader's lease runs out when it stops renewing and the other node takes over; a clean
// stop hands the jobs over at once; the status view says alive and stale by the clock;
// a batch task's expansion is led by one node, and released once the task is no longer live.
import { rmSync } from 'node:fs';
import { Writable } from 'node:stream';
import pino from 'pino';
import t, { type Test } from 'tap';
import { openStore, type OpenStore } from '../src/spool/index.js';
import { ALWAYS_LEAD, ifLeading, JOB_LEASE_MS, JobLeader, TASK_ANSWER_MS } from '../src/util/cluster-jobs.js';
import { clusterStatus, Heartbeat, STALE_AFTER_MS } from '../src/daemon/cluster.js';
import { SLOT_LEASE_MS } from '../src/scheduler/shared-limits.js';
import { tempDir } from './helpers/daemon.js';

const T0 = 1_800_000_000_000;

/** A logger whose lines (parsed) the test reads. */
function capture(): { log: pino.Logger; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const stream = new Writable({ write(chunk: Buffer, _enc, done) { lines.push(JSON.parse(chunk.toString()) as Record<string, unknown>); done(); } });
  return { log: pino({ level: 'debug' }, stream), lines };
}

function twoNodes(t: Test): { a: OpenStore; b: OpenStore } {
  const dataDir = tempDir('mta-cluster-jobs-');
  const open = (id: string): OpenStore => openStore({ dataDir, timeZone: 'UTC', spool: { commitWindowMs: 0, maxCommitBatch: 64, writerThread: false }, storage: { nodeId: id } });
  const a = open('node-a');
  const b = open('node-b');
  t.teardown(async () => { await a.close(); await b.close(); rmSync(dataDir, { recursive: true, force: true }); });
  return { a, b };
}

t.test('one node leads each job; the other skips, and takes over when the lease runs out', async (t) => {
  const { a, b } = twoNodes(t);
  let now = T0;
  const clock = (): number => now;
  const la = capture(), lb = capture();
  const ja = new JobLeader(a, 'node-a', la.log, clock);
  const jb = new JobLeader(b, 'node-b', lb.log, clock);
  for (const j of [ja, jb]) { j.register('dns-check'); j.register('retention-purge'); }
  t.same(await ja.campaign(), ['dns-check', 'retention-purge'], 'the first node to ask leads both');
  t.same(await jb.campaign(), [], 'the other leads none');

  const ran: string[] = [];
  const run = (node: string) => async (): Promise<string> => { ran.push(node); return node; };
  t.equal(await ifLeading(ja, 'dns-check', run('a')), 'a', 'the leader runs the job');
  t.equal(await ifLeading(jb, 'dns-check', run('b')), undefined, 'the other does not');
  t.same(ran, ['a']);
  t.ok(lb.lines.some((l) => l['level'] === 20 && l['job'] === 'dns-check' && /another node leads this job; this node skips its runs/.test(String(l['msg']))), 'the skip is logged at debug');

  // a keeps renewing (its heartbeats) until it stalls: its last renewal is at T0 + 30 s.
  now = T0 + 30_000;
  t.same(await ja.campaign(), ['dns-check', 'retention-purge'], 'renewed');
  now = T0 + 30_000 + JOB_LEASE_MS - 1;
  t.same(await jb.campaign(), [], 'the renewed lease still holds a moment before its end');
  now = T0 + 30_000 + JOB_LEASE_MS;
  t.same(await jb.campaign(), ['dns-check', 'retention-purge'], 'at its end the other node takes over');
  t.equal(await ifLeading(ja, 'retention-purge', run('a')), undefined, 'the old leader, back, skips');
  t.ok(la.lines.some((l) => l['level'] === 30 && l['job'] === 'retention-purge' && l['msg'] === 'another node leads the job now'), 'and says once that it lost the job');
  const leases = await a.listJobLeases();
  t.same(leases.map((l) => [l.job, l.nodeId, l.since]), [['dns-check', 'node-b', now], ['retention-purge', 'node-b', now]]);

  // A clean stop hands over at once: no waiting for the lease.
  await jb.releaseAll();
  now += 1;
  t.same(await ja.campaign(), ['dns-check', 'retention-purge'], 'released jobs are taken at the next ask');
});

t.test('a job not registered is never campaigned for, and one turned off is given up; ALWAYS_LEAD is what a service gets outside the daemon', async (t) => {
  const { a, b } = twoNodes(t);
  const ja = new JobLeader(a, 'node-a', pino({ level: 'silent' }), () => T0);
  ja.register('dns-check');
  t.same(await ja.campaign(), ['dns-check']);
  const jb = new JobLeader(b, 'node-b', pino({ level: 'silent' }), () => T0);
  jb.register('reputation');
  t.same(await jb.campaign(), ['reputation'], 'b runs reputation alone, so it leads it');
  t.same((await a.listJobLeases()).map((l) => [l.job, l.nodeId]), [['dns-check', 'node-a'], ['reputation', 'node-b']]);
  t.equal(await ALWAYS_LEAD.lead('dns-check'), true);
  // A reload turns reputation off on b: b gives it up and stops campaigning; a may take it.
  await jb.runs('reputation', false);
  t.same(await jb.campaign(), [], 'b campaigns for nothing now');
  t.same((await a.listJobLeases()).map((l) => l.job), ['dns-check'], 'released at once');
  await ja.runs('reputation', true);
  t.same(await ja.campaign(), ['dns-check', 'reputation'], 'a node running it takes it');
});

t.test('the heartbeat registers the node at start and renews its connection slots; status says alive, then stale by the clock; stop releases its jobs', async (t) => {
  const { a, b } = twoNodes(t);
  let now = T0;
  // A slot whose lease ends 1 s after the first beat: only the beat's renewal keeps it held at T0 + 4 s.
  t.equal(await a.takeSlot('dest:x.test', [0], 'node-a/w1', 'node-a', T0 + 1000 - SLOT_LEASE_MS, SLOT_LEASE_MS), 0);
  const jobs = new JobLeader(a, 'node-a', pino({ level: 'silent' }), () => now);
  jobs.register('dns-check');
  const hb = new Heartbeat({
    store: a, jobs, log: pino({ level: 'silent' }), now: () => now,
    info: () => ({ version: '9.9.9', hostname: 'mx1.test', listeners: ['smtp 127.0.0.1:2587'], startedAt: T0 - 5000 }),
  });
  await hb.start();
  t.teardown(() => hb.stop());
  const s = await clusterStatus(b, 'node-b', T0 + 4000);
  t.same(s.nodes, [{
    node: 'node-a', hostname: 'mx1.test', version: '9.9.9', listeners: ['smtp 127.0.0.1:2587'], started_at: new Date(T0 - 5000).toISOString(),
    last_heartbeat: new Date(T0).toISOString(), age_s: 4, status: 'alive', jobs: ['dns-check'], sending: 0, slots: 1,
  }], 'registered at start, seen from another node');
  t.same(s.jobs, [{ job: 'dns-check', leader: 'node-a', since: new Date(T0).toISOString(), lease_until: new Date(T0 + JOB_LEASE_MS).toISOString(), state: 'held' }]);
  t.equal(s.node, 'node-b', 'the answering node');
  const late = await clusterStatus(b, 'node-b', T0 + STALE_AFTER_MS + 1);
  t.equal(late.nodes[0]!.status, 'stale', 'three missed beats: stale');
  t.same(late.nodes[0]!.jobs, [], 'and its lease has run out');
  t.equal(late.jobs[0]!.state, 'expired');
  t.equal(late.nodes[0]!.slots, 0, 'no beat since: its slot ran out too (STALE_AFTER_MS is the slot lease)');

  now = T0 + 15_000;
  await hb.beat();
  t.equal((await clusterStatus(b, 'node-b', now)).nodes[0]!.last_heartbeat, new Date(now).toISOString(), 'a later beat moves the time');
  await hb.stop();
  t.same(await a.listJobLeases(), [], 'a clean stop releases the jobs');
});

t.test('expanding a task: one node leads it, answers are kept a while, a task no longer live is released', async (t) => {
  const { a, b } = twoNodes(t);
  let now = T0;
  const ja = new JobLeader(a, 'node-a', pino({ level: 'silent' }), () => now);
  const jb = new JobLeader(b, 'node-b', pino({ level: 'silent' }), () => now);
  t.equal(await ja.leadTask('t1'), true, 'a takes task t1');
  t.equal(await jb.leadTask('t1'), false, 'b does not');
  t.equal(await jb.leadTask('t2'), true, 'another task is a lease of its own');
  t.same((await a.listJobLeases()).map((l) => [l.job, l.nodeId]), [['task-expand:t1', 'node-a'], ['task-expand:t2', 'node-b']]);

  await ja.releaseTasksBut(new Set(['t2'])); // t1 is done: a gives it up
  t.same((await a.listJobLeases()).map((l) => l.job), ['task-expand:t2'], 'released when no longer live');
  now += TASK_ANSWER_MS - 1;
  t.equal(await jb.leadTask('t1'), false, 'b keeps its answer for TASK_ANSWER_MS: no store write per expander pass');
  now += 1;
  t.equal(await jb.leadTask('t1'), true, 'then asks again and takes the released task');
  // b stops renewing t2 (it died): a takes it once the lease has run out and its own answer is stale.
  t.equal(await ja.leadTask('t2'), false);
  now = T0 + JOB_LEASE_MS;
  t.equal(await ja.leadTask('t2'), true, 'taken over after the lease');
});
