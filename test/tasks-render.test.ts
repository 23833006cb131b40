// What a batch task sends is what `mta template render` shows, part for part (the text
// body generated from the filled HTML, not from the template's), and a placeholder that
// would survive into a sent part pauses the task instead of sending it. Values never
// create structure: CR/LF and the message's boundary in a member's variable stay inside
// their part, and a one-line header field cannot be split by them.
import t, { type Test } from 'tap';
import { startWorld, type World } from './helpers/delivery.js';
import type { Sink } from './helpers/sink.js';
import type { Store } from '../src/spool/types.js';
import { apiClient } from './helpers/api.js';
import { runMta } from './helpers/run.js';
import { mimeParts } from './helpers/mime.js';
import { BATCH, addBatchSender, getTask, makeList, makeTemplate, waitFor } from './helpers/tasks.js';
import { newTaskId } from '../src/util/ids.js';

/** A world with a batch sender and a sink for dest.test. */
async function taskWorld(t: Test): Promise<{ w: World; sink: Sink; store: Store }> {
  const w = await startWorld();
  t.teardown(() => w.stop());
  const sink = await w.addDomain('dest.test', 40);
  const store = w.daemon.daemon.store;
  await addBatchSender(store);
  return { w, sink, store };
}

const lf = (s: string): string => s.replace(/\r\n/g, '\n').replace(/\n+$/, '');

t.test('the delivered parts equal `template render`, the generated text included', async (t) => {
  const { w, sink, store } = await taskWorld(t);
  await makeList(store, 'club', 1, () => ({ address: 'ann@dest.test', vars: { UserName: 'Ann' } }));
  // html-to-text upper-cases headings: converting the template before filling it sent "HELLO {USERNAME}".
  await makeTemplate(store, 'hello', { subject: 'Hi {UserName}', html: '<h1>Hello {UserName}</h1><p>Your address: {EAddr}</p>' });
  const r = await apiClient(w.daemon)('POST', '/api/v1/tasks', { list: 'club', template: 'hello', from: BATCH });
  t.equal(r.status, 201, r.text);
  await waitFor('the task to finish', async () => (await getTask(store, r.json.id)).state === 'done', 30_000);
  t.equal(sink.messages.length, 1);

  const shown = await runMta(['template', 'render', 'hello', '--json', '--vars', JSON.stringify({ UserName: 'Ann', EAddr: 'ann@dest.test' }), '--config', w.daemon.configPath]);
  t.equal(shown.code, 0, shown.err);
  const want = JSON.parse(shown.out) as { subject: string; html: string; text: string };
  t.match(want.text, /HELLO ANN/, 'render shows the heading filled');

  const sent = await mimeParts(sink.messages[0]!.raw);
  t.equal(sent.subject, want.subject);
  const byType = new Map(sent.parts.map((p) => [p.contentType, p.text]));
  t.same([...byType.keys()].sort(), ['text/html', 'text/plain']);
  t.equal(lf(byType.get('text/plain')!), lf(want.text), 'text part as render shows it');
  t.equal(lf(byType.get('text/html')!), lf(want.html), 'HTML part as render shows it');
  for (const p of sent.parts) t.notMatch(p.text, /\{[A-Za-z_][A-Za-z0-9_]*\}/, `no placeholder left in ${p.contentType}`);
});

t.test('a placeholder that would survive into a part pauses the task; nothing is sent', async (t) => {
  const { w, sink, store } = await taskWorld(t);
  await makeList(store, 'club', 2, (i) => ({ address: `m${i}@dest.test`, vars: { UserName: `M${i}` } }));
  // A task stored by an earlier version: its text body was generated before filling.
  const now = Date.now();
  const id = newTaskId(now);
  await store.addTask({
    id, kind: 'template', list: 'club', template: 'hello', sourceId: null, sender: BATCH, tag: null, addressType: 'sender',
    content: { subject: 'Hi {UserName}', fromName: null, html: '<h1>Hello {UserName}</h1>', text: 'HELLO {USERNAME}' },
    tracking: false, unsubscribe: false, state: 'queued', pauseReason: null, resumeAt: null, cursor: null, exhausted: false,
    listSize: null, requested: 0, suppressed: 0, invalid: 0, delivered: 0, failed: 0, bouncedInvalid: 0, createdAt: now, updatedAt: now, finishedAt: null,
  });
  const paused = await waitFor('the task to pause', async () => { const x = await getTask(store, id); return x.state === 'paused' && x; }, 30_000);
  t.match(paused.pauseReason, /variables used by task .* are missing: USERNAME/);
  t.equal(paused.requested, 0, 'no member was queued');
  t.equal(sink.messages.length, 0);
});
