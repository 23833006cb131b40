// Batch tasks: creation checks (each refusal a precise coded error), the API and CLI
// views, and a small task delivered end to end with per-member personalisation, Reply-To
// and unique Message-IDs, statistics and webhooks keyed by the sender, and no DSN.
import t from 'tap';
import { startDaemon, type TestDaemon } from './helpers/daemon.js';
import { startWorld } from './helpers/delivery.js';
import { apiClient } from './helpers/api.js';
import { runMta } from './helpers/run.js';
import { BATCH, addBatchSender, getTask, header, makeList, makeTemplate, waitFor } from './helpers/tasks.js';
import { transition } from '../src/tasks/states.js';
import { Senders } from '../src/accounts/senders.js';
import { startReceiver } from './helpers/receiver.js';
import libmime from 'libmime';
import { composeTaskMime } from '../src/tasks/mime.js';
import { editHeaders, withHtmlFooter } from '../src/tasks/render.js';

t.test('task state transitions', async (t) => {
  t.equal(transition('queued', 'start'), 'sending');
  t.equal(transition('sending', 'quota'), 'paused_quota');
  t.equal(transition('paused_quota', 'resume'), 'sending');
  t.equal(transition('sending', 'pause'), 'paused');
  t.equal(transition('paused', 'cancel'), 'cancelled');
  t.throws(() => transition('done', 'cancel'), { code: 'MTA_ERR_TASK_STATE' });
  t.throws(() => transition('sending', 'resume'), { code: 'MTA_ERR_TASK_STATE' });
  t.throws(() => transition('cancelled', 'pause'), { code: 'MTA_ERR_TASK_STATE' });
});

t.test('task MIME: non-ASCII and long lines encoded, CRLF only, headers edited in place', async (t) => {
  const long = `<p>${'x'.repeat(120)} 张三</p>`;
  const raw = composeTaskMime({
    from: { name: '商城 "Shop"', address: 'news@example.com' }, to: 'a@d.test', subject: '你好 张三, your order', text: 'Hello 张三\nline two',
    html: long, messageId: '<Q@mta.test>', date: new Date(0), headers: { 'Reply-To': 'help@example.com' },
  }).toString('latin1');
  t.notMatch(raw, /[^\r]\n/, 'CRLF line ends only');
  t.ok(raw.split('\r\n').every((l) => l.length <= 998), 'no line over 998');
  t.match(raw, /^[\x00-\x7f]*$/, '7-bit clean');
  const head = raw.slice(0, raw.indexOf('\r\n\r\n')).replace(/\r\n[ \t]+/g, ' ');
  t.equal(libmime.decodeWords(/^Subject: (.*)$/m.exec(head)![1]!), '你好 张三, your order');
  t.match(libmime.decodeWords(/^From: (.*)$/m.exec(head)![1]!), /商城 "Shop" <news@example\.com>/);
  t.match(head, /^Message-ID: <Q@mta\.test>$/m);
  t.match(head, /^Reply-To: help@example\.com$/m);
  t.match(raw, /Content-Transfer-Encoding: quoted-printable/, 'the long HTML line is quoted-printable');
  const edited = editHeaders(Buffer.from('Subject: a\r\nMessage-ID: <old@x>\r\n  folded\r\nTo: b\r\n\r\nbody\r\nMessage-ID: <in body>\r\n'), ['message-id'], { 'Message-ID': '<new@y>' });
  t.equal(edited.toString(), 'Message-ID: <new@y>\r\nSubject: a\r\nTo: b\r\n\r\nbody\r\nMessage-ID: <in body>\r\n', 'only the header block is edited, folded lines included');
  t.equal(withHtmlFooter('<html><body><p>x</p></body></html>', '<p>F</p>'), '<html><body><p>x</p><p>F</p>\n</body></html>');
  t.equal(withHtmlFooter('<p>x</p>', '<p>F</p>'), '<p>x</p>\n<p>F</p>');
});

async function fixtures(d: TestDaemon): Promise<void> {
  const store = d.daemon.store;
  await addBatchSender(store);
  await makeList(store, 'club', 3, (i) => ({ address: `m${i}@dest.test`, vars: { UserName: `M${i}` } }));
  await makeTemplate(store, 'hello', { subject: 'Hi {UserName}', html: '<p>Hello {UserName}</p>' });
  await makeTemplate(store, 'draft', { subject: 'Hi {UserName}', html: '<p>Hello {UserName}</p>' }, false);
  await makeTemplate(store, 'needs', { subject: 'Hi {UserName}', html: '<p>{Code} for {City}, {UserName}</p>' });
}

t.test('creation refusals: each one precise, with its code and field', async (t) => {
  const d = await startDaemon('[tags]\nauto_create = false\n');
  t.teardown(() => d.stop());
  await fixtures(d);
  const api = apiClient(d);
  const create = (body: Record<string, unknown>) => api('POST', '/api/v1/tasks', { list: 'club', template: 'hello', from: BATCH, ...body });
  const cases: [string, Record<string, unknown>, number, string, RegExp, string][] = [
    ['unknown list', { list: 'nope' }, 404, 'MTA_ERR_NOT_FOUND', /no list named nope/, 'list'],
    ['unknown template', { template: 'nope' }, 404, 'MTA_ERR_NOT_FOUND', /no template nope/, 'template'],
    ['unknown sender', { from: 'ghost@example.com' }, 404, 'MTA_ERR_NOT_FOUND', /no sender ghost@example\.com/, 'from'],
    ['trigger sender', { from: 'app@example.com' }, 422, 'MTA_ERR_TASK', /only batch senders may run tasks: app@example\.com is a trigger sender/, 'from'],
    ['draft template', { template: 'draft' }, 409, 'MTA_ERR_TEMPLATE_STATE', /template draft is draft; only approved templates send/, 'template'],
    ['missing variables', { template: 'needs' }, 400, 'MTA_ERR_TEMPLATE_VAR', /uses variables that list club lacks: Code, City$/, 'template'],
    ['unknown tag', { tag: 'spring' }, 404, 'MTA_ERR_NOT_FOUND', /no tag spring/, 'tag'],
    ['bad tag', { tag: 'a b' }, 400, 'MTA_ERR_INVALID', /not valid/, 'tag'],
    ['unsubscribe without base_url', { unsubscribe: true }, 422, 'MTA_ERR_TASK', /need \[public\] base_url/, 'unsubscribe'],
    ['tracking without a tracking host', { tracking: true }, 422, 'MTA_ERR_TASK', /tracking needs a tracking host: set \[public\] base_url/, 'tracking'],
    ['bad address type', { address_type: 'weird' }, 400, 'MTA_ERR_INVALID', /address_type/, 'address_type'],
  ];
  for (const [what, body, status, code, message, field] of cases) {
    const r = await create(body);
    t.equal(r.status, status, `${what}: HTTP ${status}`);
    t.match(r.json?.error, { code, message, field }, what);
  }
  await new Senders(d.daemon.store).setDisabled(BATCH, true);
  const off = await create({});
  t.equal(off.status, 422);
  t.match(off.json.error, { code: 'MTA_ERR_TASK', message: /may not send now: Main account unavailable/ });
  t.same((await api('GET', '/api/v1/tasks')).json.items, [], 'nothing was created');
  await new Senders(d.daemon.store).setDisabled(BATCH, false);

  const ok = await create({ tag: undefined });
  t.equal(ok.status, 201, ok.text);
  t.match(ok.json, { list: 'club', template: 'hello', sender: BATCH, address_type: 'sender', kind: 'template' });
  t.match(ok.json.id, /^T[0-9A-Z]{18}$/);
  t.equal((await api('GET', '/api/v1/tasks/nonsense')).status, 400);
  t.equal((await api('GET', '/api/v1/tasks/T00000000000000000000')).status, 400);
  t.equal((await api('GET', `/api/v1/tasks/T${'0'.repeat(18)}`)).status, 404);
});

t.test('require_approval = false lets a draft template run', async (t) => {
  const d = await startDaemon('[templates]\nrequire_approval = false\n');
  t.teardown(() => d.stop());
  await fixtures(d);
  const r = await apiClient(d)('POST', '/api/v1/tasks', { list: 'club', template: 'draft', from: BATCH });
  t.equal(r.status, 201, r.text);
  // Delivery is off here: the three members wait as queued recipients.
  const task = await waitFor('the task to expand', async () => { const x = await getTask(d.daemon.store, r.json.id); return x.requested === 3 && x; });
  t.equal(task.state, 'sending');
  t.equal(task.exhausted, true);
  t.equal(task.listSize, 3);
});

t.test('CLI: create (refusal and success), list with the seed columns, show, pause, resume, cancel', async (t) => {
  // Tracking needs a tracking host.
  const d = await startDaemon('[public]\nlisten = "127.0.0.1:0"\nbase_url = "http://links.example.com"\n');
  t.teardown(() => d.stop());
  await fixtures(d);
  const mta = (args: string[]): ReturnType<typeof runMta> => runMta([...args, '--config', d.configPath]);
  let r = await mta(['task', 'create', '--list', 'club', '--template', 'hello', '--from', 'app@example.com']);
  t.equal(r.code, 1);
  t.match(r.err, /only batch senders may run tasks.*\(MTA_ERR_TASK\)/);
  r = await mta(['task', 'create', '--list', 'club', '--template', 'hello', '--from', BATCH, '--tag', 'spring', '--tracking', '--json']);
  t.equal(r.code, 0, r.err);
  const id = JSON.parse(r.out).id as string;
  r = await mta(['task', 'list']);
  t.equal(r.code, 0, r.err);
  t.match(r.out, /^ID\s+LIST\s+TEMPLATE\s+ADDRESS TYPE\s+TAG\s+STATE\s+REQUESTED\s+DELIVERED\s+FAILED\s+INVALID\s+CREATED/);
  t.match(r.out, new RegExp(`${id}\\s+club\\s+hello\\s+sender\\s+spring\\s+\\w+`));
  await waitFor('expansion', async () => (await getTask(d.daemon.store, id)).requested === 3);
  r = await mta(['task', 'show', id]);
  t.equal(r.code, 0, r.err);
  t.match(r.out, /^FIELD\s+VALUE\nid\s+T/, 'a FIELD/VALUE table like every show');
  t.match(r.out, /\nprogress\s+3 \/ 3 members expanded \(list done\)/);
  t.match(r.out, /\ntracking\s+on \(opens and clicks\)/);
  t.match(r.out, /\ndeferred\s+0/);
  r = await mta(['task', 'pause', id]);
  t.equal(r.code, 0, r.err);
  t.match(r.out, /: paused/);
  r = await mta(['task', 'pause', id]);
  t.equal(r.code, 1);
  t.match(r.err, /cannot be paused.*MTA_ERR_TASK_STATE/);
  r = await mta(['task', 'resume', id, '--json']);
  t.equal(JSON.parse(r.out).state, 'sending');
  r = await mta(['task', 'cancel', id]);
  t.equal(r.code, 0, r.err);
  t.match(r.out, /cancelled; 3 waiting recipients deleted/);
  r = await mta(['task', 'show', id, '--json']);
  t.match(JSON.parse(r.out), { state: 'cancelled', requested: 3, failed: 3, waiting: 0 });
});

t.test('a small task end to end: personalised, own Message-ID, Reply-To, stats and webhooks by sender, no DSN', async (t) => {
  const w = await startWorld('', { extraToml: '[webhooks]\nallow_private = true\n' });
  t.teardown(() => w.stop());
  const sink = await w.addDomain('dest.test', 40, { rcpt: (a) => (a.startsWith('m4@') ? '550 5.1.1 User unknown' : undefined) });
  const store = w.daemon.daemon.store;
  await new Senders(store).add({ address: BATCH, type: 'batch' });
  await store.setSenderReplyTo(BATCH, { address: 'help@example.com', state: 'verified', verifiedAt: Date.now() });
  await makeList(store, 'club', 6, (i) => ({ address: i === 5 ? 'not-an-address' : `m${i}@dest.test`, vars: { UserName: `<M${i}> & co` } }));
  await store.addSuppression({ address: 'm3@dest.test', scope: '', reason: 'test', source: 'manual', createdAt: Date.now() });
  await makeTemplate(store, 'hello', { subject: 'Hi {UserName}', html: '<html><body><p>Hello {UserName} ({EAddr})</p></body></html>', text: 'Hello {UserName}' });
  const rx = await startReceiver();
  t.teardown(() => rx.close());
  await store.addWebhook({ url: rx.url('/hook'), sender: BATCH, events: '*', format: 'json', secret: 'x'.repeat(32), createdAt: Date.now() });
  const api = apiClient(w.daemon);
  const r = await api('POST', '/api/v1/tasks', { list: 'club', template: 'hello', from: BATCH, tag: 'promo' });
  t.equal(r.status, 201, r.text);
  const done = await waitFor('the task to finish', async () => { const x = await getTask(store, r.json.id); return x.state === 'done' && x; }, 30_000);
  // m3 suppressed, "not-an-address" invalid (the helper writes rows unchecked), m4 refused as unknown.
  t.match(done, { requested: 4, delivered: 3, suppressed: 1, invalid: 1, bouncedInvalid: 1, failed: 0 });
  t.equal(sink.messages.length, 3);
  const ids = new Set<string>();
  for (const m of sink.messages) {
    t.equal(m.to.length, 1);
    const i = /^m(\d)@/.exec(m.to[0]!)![1];
    t.equal(m.from, BATCH, 'MAIL FROM is the sender address');
    t.equal(header(m.raw, 'Subject'), `Hi <M${i}> & co`, 'subject raw');
    t.match(m.raw.toString(), `Hello &lt;M${i}&gt; &amp; co (m${i}@dest.test)`, 'HTML escaped');
    t.equal(header(m.raw, 'Reply-To'), 'help@example.com');
    t.match(header(m.raw, 'DKIM-Signature') ?? '', /d=example\.com/);
    ids.add(header(m.raw, 'Message-ID')!);
  }
  t.equal(ids.size, 3, 'each copy has its own Message-ID');
  const view = (await api('GET', `/api/v1/tasks/${r.json.id}`)).json;
  t.match(view, { state: 'done', requested: 4, delivered: 3, failed: 0, invalid: 2, suppressed: 1, progress: '6 / 6', waiting: 0, finished: true });
  const stats = await store.queryStats({ fromDay: '2000-01-01', toDay: '2100-01-01', by: 'sender' });
  t.match(stats, [{ key: BATCH, requests: 4, delivered: 3, invalid: 1 }]);
  t.equal(w.senderSink.messages.length, 0, 'no DSN for task mail');
  const hooks = await waitFor('4 webhook events', () => { const a = rx.acked('/hook'); return a.length === 4 && a; });
  for (const h of hooks) t.match(JSON.parse(h.body), { from: BATCH, tag: 'promo', task_id: r.json.id, event: /^(delivered|failed)$/ });
  const q = await store.listQueue({ limit: 100 });
  t.ok(q.every((e) => e.taskId === r.json.id && e.lane === 'batch'), 'every recipient belongs to the task, batch lane');
});
