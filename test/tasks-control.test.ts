// Operating a running batch task: pause (nothing more is expanded; what is queued still
// goes), resume, cancel (nothing more is expanded; waiting recipients end deleted with one
// final event each), and the quota: over the daily quota a task pauses as
// `paused (quota)` with resume_at 24 hours later, emits quota.reached, and resumes by
// itself when the (injected) clock gets there — with the real QuotaService.
import t from 'tap';
import { startWorld } from './helpers/delivery.js';
import { startDaemon } from './helpers/daemon.js';
import { apiClient } from './helpers/api.js';
import { BATCH, addBatchSender, getTask, makeList, makeTemplate, waitFor } from './helpers/tasks.js';
import { TaskExpander, QUOTA_PAUSE_MS } from '../src/tasks/expander.js';
import { createLogger } from '../src/util/log.js';
import type { RecipientId } from '../src/util/ids.js';
import { startReceiver } from './helpers/receiver.js';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

t.test('pause, resume and cancel a running task', async (t) => {
  // One connection: at most one recipient is on the wire, so a cancel always finds some waiting.
  const w = await startWorld('max_connections_per_domain = 1\n', { extraToml: '[tasks]\nwindow = 20\nchunk_size = 10\n' });
  t.teardown(() => w.stop());
  const sink = await w.addDomain('p.test', 50, { dataDelayMs: 40 });
  const store = w.daemon.daemon.store;
  await addBatchSender(store);
  await makeList(store, 'pl', 400, (i) => ({ address: `u${String(i).padStart(3, '0')}@p.test`, vars: { UserName: `U${i}` } }));
  await makeTemplate(store, 'pt', { subject: 'Hi {UserName}', html: '<p>{UserName}</p>' });
  const api = apiClient(w.daemon);
  const id = (await api('POST', '/api/v1/tasks', { list: 'pl', template: 'pt', from: BATCH })).json.id as string;
  await waitFor('expansion', async () => (await getTask(store, id)).requested >= 40);

  const p = await api('POST', `/api/v1/tasks/${id}/pause`);
  t.equal(p.status, 200, p.text);
  t.match(p.json, { state: 'paused', pause_reason: 'paused by the operator' });
  const r1 = (await getTask(store, id)).requested;
  const drained = await waitFor('what was queued before the pause to be delivered', async () => {
    const x = await getTask(store, id); return x.delivered + x.failed === x.requested && x;
  });
  await sleep(800);
  const still = await getTask(store, id);
  t.equal(drained.requested, r1, 'nothing was expanded while paused');
  t.equal(still.requested, r1, '...nor after the queue had drained');
  t.equal(sink.messages.length, r1, 'queued mail was still delivered');
  t.equal((await api('POST', `/api/v1/tasks/${id}/pause`)).json.error.code, 'MTA_ERR_TASK_STATE', 'pausing twice is refused');

  const r = await api('POST', `/api/v1/tasks/${id}/resume`);
  t.match(r.json, { state: 'sending', pause_reason: null });
  await waitFor('expansion after the resume', async () => (await getTask(store, id)).requested >= r1 + 40);
  await waitFor('recipients waiting behind the one connection', async () => {
    const x = await getTask(store, id); return x.requested - x.delivered - x.failed >= 5;
  });

  const c = await api('POST', `/api/v1/tasks/${id}/cancel`);
  t.equal(c.status, 200, c.text);
  t.equal(c.json.state, 'cancelled');
  t.ok(c.json.deleted > 0, `${c.json.deleted} waiting recipients deleted`);
  const end = await waitFor('recipients on the wire to finish', async () => {
    const x = await getTask(store, id); return x.delivered + x.failed === x.requested && x;
  });
  await sleep(600);
  t.equal((await getTask(store, id)).requested, end.requested, 'nothing was expanded after the cancel');
  t.equal(end.failed, c.json.deleted, 'each deleted recipient counts as failed');
  t.equal(end.delivered, sink.messages.length);
  t.ok(end.finishedAt !== null, 'finished_at is set');

  const rows = (await store.listQueue({ limit: 10_000 })).filter((e) => e.taskId === id);
  t.equal(rows.length, end.requested);
  const events = await store.eventsOfRecipients(rows.map((e) => e.recipientId));
  const finals = new Map<RecipientId, string[]>();
  for (const e of events) if (e.recipientId !== null && ['delivered', 'failed', 'expired', 'deleted'].includes(e.type)) finals.set(e.recipientId, [...(finals.get(e.recipientId) ?? []), e.type]);
  t.equal(rows.filter((e) => finals.get(e.recipientId)?.length === 1).length, rows.length, 'every recipient has exactly one final event');
  t.equal([...finals.values()].filter((f) => f[0] === 'deleted').length, c.json.deleted, 'one deleted event per deleted recipient');
  t.equal(rows.filter((e) => e.state === 'failed' && e.lastReply === 'deleted by the operator').length, c.json.deleted);
  t.equal((await api('POST', `/api/v1/tasks/${id}/resume`)).status, 409, 'a cancelled task cannot be resumed');
  t.equal((await api('POST', `/api/v1/tasks/${id}/cancel`)).json.error.code, 'MTA_ERR_TASK_STATE');
});

t.test('over the daily quota: paused (quota), resumes by itself 24 hours later', async (t) => {
  const d = await startDaemon('[webhooks]\nallow_private = true\n[quota]\ndaily = 30\n[tasks]\nwindow = 10000\nchunk_size = 500\n');
  t.teardown(() => d.stop());
  const store = d.daemon.store;
  await addBatchSender(store);
  await makeList(store, 'ql', 100, (i) => ({ address: `q${String(i).padStart(3, '0')}@dest.test`, vars: { UserName: `Q${i}` } }));
  await makeTemplate(store, 'qt', { subject: 'Hi {UserName}', html: '<p>{UserName}</p>' });
  // The daemon's expander gives way to one on a clock this test moves (same store, same real QuotaService).
  await d.daemon.tasks!.stop();
  let clock = Date.now();
  const expander = new TaskExpander({
    store, config: () => d.daemon.config, log: createLogger('silent'), quota: d.daemon.quota, now: () => clock,
    render: { store, secret: () => d.daemon.secret, hostname: 'mta.test', baseUrl: undefined, bounceSubdomain: 'bounce' },
  });
  expander.start();
  t.teardown(() => expander.stop());
  const rx = await startReceiver();
  t.teardown(() => rx.close());
  await store.addWebhook({ url: rx.url('/q'), sender: null, events: '*', format: 'json', secret: 'x'.repeat(32), createdAt: Date.now() });
  const api = apiClient(d);
  const id = (await api('POST', '/api/v1/tasks', { list: 'ql', template: 'qt', from: BATCH })).json.id as string;

  const paused = await waitFor('the quota pause', async () => { const x = await getTask(store, id); return x.state === 'paused_quota' && x; });
  const day1 = clock;
  t.equal(paused.requested, 30, 'expanded up to the quota, no further');
  t.equal(paused.resumeAt, day1 + QUOTA_PAUSE_MS, 'resume_at is 24 hours after the pause');
  t.match(paused.pauseReason, /daily quota of example\.com reached \(30 of 30\)/);
  const view = (await api('GET', `/api/v1/tasks/${id}`)).json;
  t.match(view, { state: 'paused_quota', state_shown: 'paused (quota)', resume_at: new Date(day1 + QUOTA_PAUSE_MS).toISOString() });
  const hook = await waitFor('the quota.reached webhook', () => rx.acked('/q').find((r) => JSON.parse(r.body).event === 'quota.reached'));
  t.match(JSON.parse(hook.body), { event: 'quota.reached', domain: 'example.com', which: 'daily' }, 'quota.reached was emitted');

  clock = day1 + QUOTA_PAUSE_MS - 1000;
  expander.wake();
  await sleep(600);
  t.match(await getTask(store, id), { state: 'paused_quota', requested: 30 }, 'still paused a second before resume_at');

  clock = day1 + QUOTA_PAUSE_MS;
  expander.wake();
  const again = await waitFor('the next day\'s share and the next pause', async () => {
    const x = await getTask(store, id); return x.requested === 60 && x.state === 'paused_quota' && x;
  });
  t.equal(again.resumeAt, day1 + 2 * QUOTA_PAUSE_MS, 'paused again for the next day');

  // The operator may resume early; the quota still holds the task back.
  const r = await api('POST', `/api/v1/tasks/${id}/resume`);
  t.equal(r.json.state, 'sending');
  await waitFor('the quota to pause it again', async () => (await getTask(store, id)).state === 'paused_quota');
  t.equal((await getTask(store, id)).requested, 60);
});
