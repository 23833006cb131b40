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
import { composeTaskMime } from '../src/tasks/mime.js';
import { personaliseBuffer } from '../src/lists/personalise.js';
import { Templates } from '../src/templates/templates.js';
import { openTestStore } from './helpers/store.js';
import { tempDir, startDaemon } from './helpers/daemon.js';
import { join } from 'node:path';

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
    listSize: null, requested: 0, suppressed: 0, invalid: 0, delivered: 0, failed: 0, bouncedInvalid: 0, bouncedAfterDelivery: 0, createdAt: now, updatedAt: now, finishedAt: null,
  });
  const paused = await waitFor('the task to pause', async () => { const x = await getTask(store, id); return x.state === 'paused' && x; }, 30_000);
  t.match(paused.pauseReason, /variables used by task .* are missing: USERNAME/);
  t.equal(paused.requested, 0, 'no member was queued');
  t.equal(sink.messages.length, 0);
});

const BOUNDARY = 'b1';
const INJECT = `x\r\n--${BOUNDARY}\r\nContent-Type: text/html\r\n\r\n<b>injected</b>\r\n--${BOUNDARY}--\r\n`;

/** Lines of the message body that begin a MIME boundary (`--` at the start of a line). */
const boundaryLines = (raw: Buffer): string[] => raw.toString('latin1').split('\r\n').filter((l) => l.startsWith('--'));

t.test('an alias copy: a value with CR/LF and the message\'s own boundary stays inside its part', async (t) => {
  const msg = [
    'From: app@example.com', 'To: list@example.com', 'Subject: Hi {UserName}', 'MIME-Version: 1.0',
    `Content-Type: multipart/alternative; boundary="${BOUNDARY}"`, '',
    `--${BOUNDARY}`, 'Content-Type: text/plain; charset=us-ascii', 'Content-Transfer-Encoding: 7bit', '', 'Dear {UserName}', '',
    `--${BOUNDARY}`, 'Content-Type: text/html; charset=us-ascii', '', '<p>Dear {UserName}</p>', '',
    `--${BOUNDARY}--`, '',
  ].join('\r\n');
  const out = await personaliseBuffer(msg, { UserName: INJECT });
  const m = await mimeParts(out);
  t.same(m.parts.map((p) => p.contentType), ['text/plain', 'text/html'], 'no part added');
  t.equal(m.parts[0]!.text, `Dear ${INJECT}\r\n`, 'the value is in the text part, as it is');
  t.match(m.parts[1]!.text, '&lt;b&gt;injected&lt;/b&gt;', 'escaped in the HTML part');
  t.same(boundaryLines(out), [`--${BOUNDARY}`, `--${BOUNDARY}`, `--${BOUNDARY}--`], 'only the message\'s own boundary lines');
  t.equal(m.subject, `Hi ${INJECT.replace(/[\r\n]+/g, ' ').trim()}`.trim(), 'the subject stays one line');
  t.notMatch(out.toString('latin1').slice(0, out.indexOf('\r\n\r\n')), /\r\nContent-Type: text\/html/, 'no header added');
});

t.test('a task copy: values with line breaks and dashes never start a body line with --', async (t) => {
  const raw = composeTaskMime({
    from: { name: 'Shop\r\nBcc: victim@example.com', address: 'news@example.com' }, to: 'a@d.test', subject: 'Hi\r\nBcc: x@example.com',
    text: `Hello ${INJECT}`, html: `<p>${INJECT}</p>`, messageId: '<Q@mta.test>', date: new Date(0), headers: {},
  });
  const head = raw.toString('latin1').slice(0, raw.indexOf('\r\n\r\n'));
  t.notMatch(head, /^Bcc:/m, 'no header line formed from a value');
  const lines = boundaryLines(raw);
  t.equal(lines.length, 3, 'the two part boundaries and the closing one');
  t.ok(lines.every((l) => l.startsWith('----_mta_')), lines.join(' | '));
  const m = await mimeParts(raw);
  t.same(m.parts.map((p) => p.contentType), ['text/plain', 'text/html']);
  t.equal(m.parts[0]!.text, `Hello ${INJECT}`);
});

t.test('a template\'s from_name must be one line', async (t) => {
  const store = openTestStore(join(tempDir('mta-tpl-'), 'data'));
  t.teardown(() => store.close());
  const tpl = new Templates(store, () => ({ maxBodySize: 28 * 1024 }));
  await t.rejects(tpl.create('x', { subject: 'Hi', fromName: 'Shop\r\nBcc: v@example.com', html: '<p>x</p>' }), { code: 'MTA_ERR_TEMPLATE', field: 'from_name' });
  t.equal((await store.listTemplates()).length, 0, 'nothing stored');
});

t.test('rendered size is capped: render refuses with 413 before building it, a task pauses', async (t) => {
  const { w, sink, store } = await taskWorld(t);
  const api = apiClient(w.daemon);
  const html = '{A}'.repeat(9000);
  await makeTemplate(store, 'big', { subject: 'Hi', html });
  const started = Date.now();
  const r = await api('POST', '/api/v1/templates/big/render', { vars: { A: 'x'.repeat(4096) } });
  t.equal(r.status, 413, r.text);
  t.match(r.json.error, { code: 'MTA_ERR_TEMPLATE_SIZE', message: /template big would render over templates\.max_rendered_size \(1048576 bytes\)/ });
  t.comment(`refused in ${Date.now() - started} ms`);
  const small = await api('POST', '/api/v1/templates/big/render', { vars: { A: 'x'.repeat(100) } });
  t.equal(small.status, 200, 'under the cap it renders');

  await makeList(store, 'wide', 1, () => ({ address: 'a@dest.test', vars: { A: 'y'.repeat(1000) } }));
  const task = await api('POST', '/api/v1/tasks', { list: 'wide', template: 'big', from: BATCH });
  t.equal(task.status, 201, task.text);
  const paused = await waitFor('the task to pause', async () => { const x = await getTask(store, task.json.id); return x.state === 'paused' && x; }, 30_000);
  t.match(paused.pauseReason, /would render over templates\.max_rendered_size/);
  t.equal(sink.messages.length, 0);
});

t.test('a task cancelled by the operator: its waiting recipients count as cancelled, not failed, and leave the delivery rate', async (t) => {
  const d = await startDaemon(); // no delivery: the members wait as queued
  t.teardown(() => d.stop());
  const store = d.daemon.store;
  await addBatchSender(store);
  await makeList(store, 'club', 3, (i) => ({ address: `m${i}@dest.test`, vars: { UserName: `M${i}` } }));
  await makeTemplate(store, 'hello', { subject: 'Hi {UserName}', html: '<p>Hello {UserName}</p>' });
  const api = apiClient(d);
  const r = await api('POST', '/api/v1/tasks', { list: 'club', template: 'hello', from: BATCH });
  t.equal(r.status, 201, r.text);
  await waitFor('expansion', async () => (await getTask(store, r.json.id)).requested === 3);
  t.equal((await api('POST', `/api/v1/tasks/${r.json.id}/cancel`)).status, 200);
  const stats = (await api('GET', '/api/v1/stats')).json;
  t.match(stats.total, { requests: 3, delivered: 0, failed: 0, cancelled: 3, delivery_rate: 0 });
  const cli = await runMta(['stats', '--config', d.configPath]);
  t.match(cli.out, /^TOTAL\s+3\s+0\s+0\s+0\s+0\s+0\s+3\s+0\s+0\s+0\.00%\s+0\.00%\s+0\.00%$/m, 'CLI: the cancelled column lines up');
  t.match(cli.out, /EXPIRED\s+CANCELLED\s+COMPLAINTS\s+LATE_BOUNCES\s+DELIVERY_RATE/);
});
