// A batch task survives `kill -9` of the daemon mid-expansion: after a restart every
// member is expanded exactly once (no duplicate, no gap), because a chunk's messages and
// the task's cursor are committed in one transaction.
//
//   round 1: killed while expanding with delivery off, restarted with delivery on:
//            exactly one message per member at the sinks, strictly.
//   round 2: killed while expanding and delivering: exactly one queued message per
//            member; a message on the wire at the kill may arrive twice (SPEC §6: "a
//            crash mid-delivery may deliver a message twice, never zero times"), always
//            with the same Message-ID, never as a second expansion.
import t, { type Test } from 'tap';
import { existsSync } from 'node:fs';
import { childWorld, type ChildWorld } from './helpers/task-world.js';
import { BATCH, addBatchSender, getTask, header, makeList, makeTemplate, offlineConfig, waitFor } from './helpers/tasks.js';
import { Tasks } from '../src/tasks/tasks.js';
import type { TaskRecord } from '../src/spool/types-tasks.js';
import type { Sink } from './helpers/sink.js';

// SIGKILL leaves the kernel's page cache intact whatever the file system, so tmpfs keeps
// this test about the process crash and spares it ~4 ms of fsync per delivered message.
if (existsSync('/dev/shm')) process.env['TMPDIR'] = '/dev/shm';

async function setup(t: Test, n: number): Promise<{ w: ChildWorld; sinks: Sink[]; task: TaskRecord }> {
  const w = await childWorld();
  t.teardown(() => w.close());
  const sinks = [await w.addDomain('k0.test', 70), await w.addDomain('k1.test', 71)];
  await addBatchSender(w.store);
  await makeList(w.store, 'kl', n, (i) => ({ address: `u${i}@k${i % 2}.test`, vars: { UserName: `User${i}` } }));
  await makeTemplate(w.store, 'kt', { subject: 'For {UserName}', html: '<p>Hello {UserName}</p>', text: 'Hello {UserName}' });
  const task = await new Tasks(w.store, offlineConfig).create({ list: 'kl', template: 'kt', from: BATCH });
  return { w, sinks, task };
}

/** Member index → the Message-IDs it received, with every message checked for its own member. */
function byMember(t: Test, sinks: Sink[]): Map<number, string[]> {
  const out = new Map<number, string[]>();
  for (const s of sinks) for (const m of s.messages) {
    const i = Number(/^u(\d+)@/.exec(m.to[0] ?? '')?.[1]);
    if (m.to.length !== 1 || header(m.raw, 'Subject') !== `For User${i}`) t.fail(`message to ${m.to.join(',')} is not member ${i}'s`);
    out.set(i, [...(out.get(i) ?? []), header(m.raw, 'Message-ID')!]);
  }
  return out;
}

async function killMidExpansion(t: Test, w: ChildWorld, task: TaskRecord, n: number, delivery: string | false): Promise<TaskRecord> {
  // Without delivery the window alone bounds expansion: at 0.8 n it stops short of the end, so a
  // kill that comes late still finds the task mid-expansion.
  const d = await w.start({ delivery, toml: `[tasks]\nwindow = ${delivery === false ? Math.floor(n * 0.8) : 1000}\nchunk_size = 100` });
  // Kill at a random point once expansion has begun and well before it ends.
  const at = Math.floor(n * (0.15 + Math.random() * 0.5));
  const before = await waitFor('expansion under way', async () => { const x = await getTask(w.store, task.id); return x.requested >= at && x; }, 60_000, 5);
  d.proc.kill('SIGKILL');
  await d.exited;
  const after = await getTask(w.store, task.id);
  t.ok(!after.exhausted && after.requested < n, `killed mid-expansion: ${after.requested} of ${n} expanded (saw ${before.requested} just before)`);
  return after;
}

t.test('round 1: killed while expanding (delivery off), restarted: exactly one message per member', async (t) => {
  const N = 20_000;
  const { w, sinks, task } = await setup(t, N);
  const atKill = await killMidExpansion(t, w, task, N, false);
  const expanded = await w.store.listMembers('kl', { limit: atKill.requested });
  t.equal(atKill.cursor, expanded[expanded.length - 1]!.address, 'the cursor is the last member of the last committed chunk');
  t.equal((await w.store.listQueue({ limit: 100_000 })).length, atKill.requested, 'every committed member has its message, no more');
  const d = await w.start({ toml: '[tasks]\nwindow = 5000\nchunk_size = 100' });
  const done = await waitFor('the task to finish after the restart', async () => { const x = await getTask(w.store, task.id); return x.state === 'done' && x; }, 120_000, 100);
  t.match(done, { requested: N, delivered: N, failed: 0, exhausted: true });
  const got = byMember(t, sinks);
  t.equal(got.size, N, 'no gap: every member received its message');
  t.equal([...got.values()].filter((ids) => ids.length !== 1).length, 0, 'no duplicate: nobody received two');
  d.proc.kill('SIGTERM');
  t.equal(await d.exited, 0);
});

t.test('round 2: killed while expanding and delivering: one message per member, re-sends only of the same message', async (t) => {
  const N = 6000;
  const { w, sinks, task } = await setup(t, N);
  await killMidExpansion(t, w, task, N, '');
  const d = await w.start({ toml: '[tasks]\nwindow = 1000\nchunk_size = 100' });
  const done = await waitFor('the task to finish after the restart', async () => { const x = await getTask(w.store, task.id); return x.state === 'done' && x; }, 120_000, 100);
  t.match(done, { requested: N, delivered: N, failed: 0, exhausted: true });
  const queued = await w.store.listQueue({ limit: 100_000 });
  t.equal(queued.length, N, 'one queued recipient per member');
  t.equal(new Set(queued.map((q) => q.rcpt)).size, N, '...each a different member');
  const got = byMember(t, sinks);
  t.equal(got.size, N, 'no gap: every member received a message');
  const twoMessages = [...got.values()].filter((ids) => new Set(ids).size !== 1).length;
  t.equal(twoMessages, 0, 'no member got two different messages');
  const resent = [...got.values()].filter((ids) => ids.length > 1).length;
  t.comment(`${resent} message(s) in flight at the kill were delivered again (same Message-ID)`);
  d.proc.kill('SIGTERM');
  t.equal(await d.exited, 0);
});
