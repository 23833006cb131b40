// A 50,000-member batch task delivered to sinks: every member receives exactly one
// message, personalised with its own variables; the task never has more than its window
// of recipients waiting (lazy expansion), and ends `done` with the counts adding up.
// The daemon is the real `mta start` in a child process, the sinks live here: two cores.
import t from 'tap';
import { existsSync } from 'node:fs';
import { childWorld } from './helpers/task-world.js';
import { BATCH, addBatchSender, getTask, header, makeList, makeTemplate, offlineConfig, waitFor } from './helpers/tasks.js';
import { Tasks } from '../src/tasks/tasks.js';

const N = Number(process.env['MTA_TASKS_N'] ?? 50_000);
const DOMAINS = 4;
const WINDOW = 5000;

// The spool fsyncs every claim and every outcome (synchronous=FULL), about 2 ms each on
// this disk: 50,000 messages would spend minutes in fsync alone. What this test checks is
// expansion and exactly-once personalised delivery, not the disk, so the data dir goes on
// tmpfs when there is one (SQLite, WAL and the transactions are the same).
if (existsSync('/dev/shm')) process.env['TMPDIR'] = '/dev/shm';

t.test(`${N.toLocaleString('en')} members: each gets exactly one personalised message`, async (t) => {
  const started = Date.now();
  const w = await childWorld();
  t.teardown(() => w.close());
  const sinks = [];
  for (let d = 0; d < DOMAINS; d++) sinks.push(await w.addDomain(`v${d}.test`, 60 + d));
  const store = w.store;
  await addBatchSender(store);
  const code = (i: number): string => ((i * 7919) % 1_000_003).toString(36);
  await makeList(store, 'big', N, (i) => ({ address: `u${i}@v${i % DOMAINS}.test`, vars: { UserName: `User${i}`, Code: code(i) } }));
  await makeTemplate(store, 'promo', { subject: 'Hello {UserName}', html: '<p>Dear {UserName}, your code is {Code}.</p>', text: 'Dear {UserName}, your code is {Code}.' });
  // Created on the spool (as `mta task create` does with no daemon running): the daemon starts it.
  const task0 = await new Tasks(store, offlineConfig).create({ list: 'big', template: 'promo', from: BATCH, tag: 'volume' });
  const d = await w.start({ delivery: 'max_connections_per_domain = 8\nmax_messages_per_connection = 100000', toml: `[tasks]\nwindow = ${WINDOW}\nchunk_size = 500` });
  t.comment(`fixtures and daemon ready in ${Date.now() - started} ms`);
  const t0 = Date.now();
  let maxWaiting = 0;
  let lastNote = Date.now();
  // A slow machine may take long; only a task that stops moving fails (no progress for 60 s).
  let progress = -1;
  let movedAt = Date.now();
  const task = await waitFor('every member delivered', async () => {
    const x = await getTask(store, task0.id);
    maxWaiting = Math.max(maxWaiting, x.requested - x.delivered - x.failed - x.bouncedInvalid);
    if (Date.now() - lastNote > 10_000) { lastNote = Date.now(); t.comment(`${((Date.now() - t0) / 1000).toFixed(0)} s: requested ${x.requested}, delivered ${x.delivered}`); }
    if (x.requested + x.delivered !== progress) { progress = x.requested + x.delivered; movedAt = Date.now(); }
    if (Date.now() - movedAt > 60_000) throw new Error(`no progress for 60 s: requested ${x.requested}, delivered ${x.delivered}`);
    return x.state === 'done' && x;
  }, 400_000, 200).catch((e: Error) => { throw new Error(`${e.message}\n${d.output()}`); });
  const secs = (Date.now() - t0) / 1000;
  t.comment(`${N} delivered in ${secs.toFixed(1)} s (${Math.round(N / secs)} msg/s); most waiting at once ${maxWaiting}`);
  t.match(task, { requested: N, delivered: N, failed: 0, invalid: 0, suppressed: 0, listSize: N, exhausted: true });
  t.ok(maxWaiting <= WINDOW, `never more than the window waiting (${maxWaiting} <= ${WINDOW})`);

  const seen = new Map<number, number>();
  let bad = 0;
  for (const s of sinks) {
    for (const m of s.messages) {
      const i = Number(/^u(\d+)@/.exec(m.to[0] ?? '')?.[1]);
      seen.set(i, (seen.get(i) ?? 0) + 1);
      const raw = m.raw.toString();
      if (m.to.length !== 1 || m.to[0] !== `u${i}@v${i % DOMAINS}.test` || m.from !== BATCH
        || header(raw, 'Subject') !== `Hello User${i}` || !raw.includes(`Dear User${i}, your code is ${code(i)}.`)) {
        if (bad++ < 3) t.fail(`message to ${m.to.join(',')} is not personalised for member ${i}`);
      }
    }
  }
  t.equal(bad, 0, 'every message carries its own member\'s variables');
  t.equal(seen.size, N, 'every member received a message');
  t.equal([...seen.values()].filter((n) => n !== 1).length, 0, 'nobody received two');
  t.equal(sinks.reduce((n, s) => n + s.messages.length, 0), N, 'exactly N messages at the sinks');
  d.proc.kill('SIGTERM');
  t.equal(await d.exited, 0, 'the daemon stops cleanly');
  t.comment(`whole test ${((Date.now() - started) / 1000).toFixed(1)} s`);
});
