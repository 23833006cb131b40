// The task loop and list removal read every live task, however many there are: listTasks
// pages newest first, 1,000 at a time, and a task past the first page must still be seen
// (every alias message makes a task). A list that a live task still reads cannot be removed.
import t from 'tap';
import { openTestStore } from './helpers/store.js';
import { tempDir } from './helpers/daemon.js';
import { tasksIn, LIVE_TASK_STATES } from '../src/tasks/tasks.js';
import { Lists } from '../src/lists/lists.js';
import { newTaskId } from '../src/util/ids.js';
import type { TaskRecord, TaskState } from '../src/spool/types-tasks.js';

function task(at: number, state: TaskState, list: string): TaskRecord {
  return {
    id: newTaskId(at), kind: 'template', list, template: 'tpl', content: null, sourceId: null, sender: 'news@example.com', tag: null,
    addressType: 'sender', tracking: false, unsubscribe: false, state, pauseReason: null, resumeAt: null, cursor: null, exhausted: false,
    listSize: null, requested: 0, suppressed: 0, invalid: 0, delivered: 0, failed: 0, bouncedInvalid: 0, bouncedAfterDelivery: 0, createdAt: at, updatedAt: at, finishedAt: null,
  };
}

t.test('tasksIn reads past the first page, oldest first', async (t) => {
  const store = openTestStore(tempDir());
  t.teardown(() => store.close());
  const base = Date.UTC(2026, 0, 1);
  const ids: string[] = [];
  for (let i = 0; i < 2500; i++) {
    const rec = task(base + i, i % 2 === 0 ? 'sending' : 'done', 'l');
    await store.addTask(rec);
    if (i % 2 === 0) ids.push(rec.id);
  }
  const live = await tasksIn(store, ['sending']);
  t.equal(live.length, 1250, 'every sending task, not only the newest page');
  t.same(live.map((x) => x.id), ids, 'oldest first');
});

t.test('a list used by a live task cannot be removed', async (t) => {
  const store = openTestStore(tempDir());
  t.teardown(() => store.close());
  const lists = new Lists(store);
  await lists.create({ name: 'news', alias: 'news@lists.example.com' });
  const rec = task(Date.now(), 'paused', 'news');
  await store.addTask(rec);
  t.ok(LIVE_TASK_STATES.includes('paused'));
  await t.rejects(lists.remove('news'), { code: 'MTA_ERR_IN_USE', message: new RegExp(`used by task ${rec.id}`) });
  t.ok(await store.getList('news'), 'the list is still there');
  t.ok(await store.setTaskState(rec.id, { from: 'paused', to: 'cancelled', at: Date.now() }));
  await lists.remove('news');
  t.equal(await store.getList('news'), undefined, 'removed once no live task reads it');
});
