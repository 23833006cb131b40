// A batch task's chunk gives the event loop a turn every RENDER_TURN members (issue 23: a
// login code's 250 and delivery never wait behind a whole chunk's rendering). Counted, not
// timed: a callback that reschedules itself with setImmediate runs once per turn of the loop,
// so between reading a chunk's members and committing them it runs once per yield.
import t from 'tap';
import { startDaemon } from './helpers/daemon.js';
import { BATCH, addBatchSender, getTask, makeList, makeTemplate, waitFor } from './helpers/tasks.js';
import { RENDER_TURN, TaskExpander } from '../src/tasks/expander.js';
import { createLogger } from '../src/util/log.js';
import { apiClient } from './helpers/api.js';
import type { Store } from '../src/spool/types.js';

const MEMBERS = 200;

t.test('rendering a chunk of 200 members takes turns of the event loop', async (t) => {
  const d = await startDaemon(`[tasks]\nwindow = 10000\nchunk_size = ${MEMBERS}\n`);
  t.teardown(() => d.stop());
  const store = d.daemon.store;
  await d.daemon.tasks!.stop();
  await addBatchSender(store);
  await makeList(store, 'tl', MEMBERS, (i) => ({ address: `m${String(i).padStart(3, '0')}@dest.test`, vars: { UserName: `M${i}` } }));
  await makeTemplate(store, 'tt', { subject: 'Hi {UserName}', html: '<p>{UserName}</p>' });

  // Turns counted from the moment the chunk's members are read to the moment they are committed.
  let turns = 0;
  let counting = false;
  const tick = (): void => { if (!counting) return; turns++; setImmediate(tick); };
  const seen: number[] = [];
  const watched = new Proxy(store, {
    get(target, name, receiver) {
      const v = Reflect.get(target, name, receiver) as unknown;
      if (typeof v !== 'function') return v;
      if (name === 'listMembers') {
        return async (...a: unknown[]) => { const r = await (v as (...x: unknown[]) => Promise<unknown>).apply(target, a); counting = true; turns = 0; setImmediate(tick); return r; };
      }
      if (name === 'commitTaskChunk') {
        return async (...a: unknown[]) => { if (counting) { counting = false; seen.push(turns); } return (v as (...x: unknown[]) => Promise<unknown>).apply(target, a); };
      }
      return (v as (...x: unknown[]) => unknown).bind(target);
    },
  }) as Store;
  const expander = new TaskExpander({
    store: watched, config: () => d.daemon.config, log: createLogger('silent'), quota: d.daemon.quota,
    render: { store: watched, secret: () => d.daemon.secret, hostname: 'mta.test', baseUrl: undefined, bounceSubdomain: 'bounce' },
  });
  const created = await apiClient(d)('POST', '/api/v1/tasks', { list: 'tl', template: 'tt', from: BATCH });
  t.equal(created.status, 201, created.text);
  const id = created.json.id as string;
  expander.start();
  t.teardown(() => expander.stop());
  await waitFor('the chunk', async () => (await getTask(store, id)).requested === MEMBERS);
  t.ok(seen.length >= 1, 'a chunk was committed');
  t.ok(seen[0]! >= Math.floor(MEMBERS / RENDER_TURN) - 1, `the loop turned ${seen[0]} times while ${MEMBERS} members were rendered (one per ${RENDER_TURN})`);
});
