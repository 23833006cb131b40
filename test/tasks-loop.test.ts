// A task's expansion leaves the event loop free (issue 23): rendering a chunk gives the loop
// back every RENDER_SLICE members, and the chunk's commit runs on the spool's writer thread.
// Before, a chunk of 500 was one 45–120 ms task plus a synchronous commit with its fsync,
// and SMTP replies and login codes waited behind it. Measured here without clocks: a chain
// of setImmediate counts the loop's turns, and the store (the daemon's real one) notes the
// turn of each member rendered and of the chunk's commit call and result.
import t, { type Test } from 'tap';
import { startDaemon, type TestDaemon } from './helpers/daemon.js';
import { apiClient } from './helpers/api.js';
import { BATCH, addBatchSender, getTask, makeList, makeTemplate, waitFor } from './helpers/tasks.js';
import { RENDER_SLICE, TaskExpander, type ExpanderDeps } from '../src/tasks/expander.js';
import { createLogger } from '../src/util/log.js';
import type { Store } from '../src/spool/types.js';

/** A daemon with a list of `n` members and a template, its own expander stopped: the test runs one of its own. */
async function campaign(t: Test, list: string, n: number): Promise<{ d: TestDaemon; store: Store; expander: (store: Store, extra?: Partial<ExpanderDeps>) => TaskExpander; create: () => Promise<string> }> {
  const d = await startDaemon('[tasks]\nwindow = 10000\nchunk_size = 500\n');
  t.teardown(() => d.stop());
  const store = d.daemon.store;
  await addBatchSender(store);
  await makeList(store, list, n, (i) => ({ address: `m${String(i).padStart(3, '0')}@dest.test`, vars: { UserName: `M${i}` } }));
  await makeTemplate(store, `${list}-tpl`, { subject: 'Hi {UserName}', html: '<p>Hello {UserName}</p>' });
  await d.daemon.tasks!.stop();
  return {
    d, store,
    expander: (watched, extra = {}) => {
      const e = new TaskExpander({
        store: watched, config: () => d.daemon.config, log: createLogger('silent'), ...extra,
        render: { store, secret: () => d.daemon.secret, hostname: 'mta.test', baseUrl: undefined, bounceSubdomain: 'bounce' },
      });
      t.teardown(() => e.stop());
      return e;
    },
    create: async () => (await apiClient(d)('POST', '/api/v1/tasks', { list, template: `${list}-tpl`, from: BATCH })).json.id as string,
  };
}

t.test('a chunk of 500: rendered over many turns, committed off the loop', async (t) => {
  const { store, expander: makeExpander, create } = await campaign(t, 'big', 500);

  let turn = 0;
  let ticking = true;
  const tick = (): void => { turn++; if (ticking) setImmediate(tick); };
  setImmediate(tick);
  t.teardown(() => { ticking = false; });
  const rendered: number[] = [];
  const commits: { called: number; settled: number }[] = [];
  const watched = new Proxy(store, {
    get(target, prop) {
      const v = Reflect.get(target, prop, target) as unknown;
      if (typeof v !== 'function') return v;
      if (prop === 'isSuppressed') return (...a: unknown[]) => { rendered.push(turn); return (v as (...x: unknown[]) => unknown).apply(target, a); };
      if (prop === 'commitTaskChunk') {
        return async (...a: unknown[]) => {
          const c = { called: turn, settled: -1 };
          const r = await (v as (...x: unknown[]) => Promise<unknown>).apply(target, a);
          c.settled = turn;
          commits.push(c);
          return r;
        };
      }
      return (v as (...x: unknown[]) => unknown).bind(target);
    },
  }) as Store;
  const expander = makeExpander(watched);
  const id = await create();
  expander.start();
  // The task row shows the chunk as soon as the writer thread committed it, a moment before its reply reaches this thread.
  await waitFor('the chunk', async () => (await getTask(store, id)).requested === 500 && commits.some((c) => c.settled >= 0));

  t.equal(rendered.length, 500, 'every member was rendered');
  const perTurn = new Map<number, number>();
  for (const x of rendered) perTurn.set(x, (perTurn.get(x) ?? 0) + 1);
  t.ok(perTurn.size >= Math.ceil(500 / RENDER_SLICE), `rendered over ${perTurn.size} turns of the loop`);
  t.ok(Math.max(...perTurn.values()) <= RENDER_SLICE, `at most ${RENDER_SLICE} members in one turn (saw ${Math.max(...perTurn.values())})`);
  const chunk = commits.find((c) => c.settled >= 0);
  t.ok(chunk, 'the chunk was committed');
  t.ok(chunk!.settled > chunk!.called, 'the loop turned while the chunk was committed (on the writer thread)');
  t.equal((await store.listQueue({ limit: 1000 })).filter((e) => e.taskId === id).length, 500, 'and its 500 recipients are queued');
});

t.test('rendering waits before each slice while a login code is being delivered (delivery/precedence.ts)', async (t) => {
  const { store, expander: makeExpander, create } = await campaign(t, 'codes-first', 100);
  let rendered = 0;
  const watched = new Proxy(store, {
    get(target, prop) {
      const v = Reflect.get(target, prop, target) as unknown;
      if (typeof v !== 'function') return v;
      if (prop === 'isSuppressed') return (...a: unknown[]) => { rendered++; return (v as (...x: unknown[]) => unknown).apply(target, a); };
      return (v as (...x: unknown[]) => unknown).bind(target);
    },
  }) as Store;
  // A login code in flight until `deliver()`: what TriggerPrecedence answers meanwhile.
  let deliver!: () => void;
  const delivered = new Promise<void>((r) => { deliver = r; });
  let inFlight = true;
  let asked = 0;
  const precedence = { batchMayStart: (): Promise<void> | undefined => { asked++; return inFlight ? delivered : undefined; } };
  const expander = makeExpander(watched, { precedence });
  const id = await create();
  expander.start();
  await waitFor('the expander waiting for the login code', () => asked > 0);
  t.equal(rendered, 0, 'it waits before the first slice, as before every other');
  t.equal((await getTask(store, id)).requested, 0, 'nothing committed meanwhile');
  inFlight = false;
  deliver();
  await waitFor('the chunk', async () => (await getTask(store, id)).requested === 100);
  t.equal(rendered, 100, 'the rest rendered once the code was delivered');
});
