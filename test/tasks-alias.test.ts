// Mail to a recipient list's alias address, over SMTP and over the send API, expands to
// every member with the member's variables (an implicit batch task committed with the
// message); suppressed members are skipped and counted, the alias itself is never
// "suppressed". Address type `random` gives each message its own VERP envelope sender
// that maps back to that message; unsubscribe adds RFC 8058 headers and footers.
import t, { type Test } from 'tap';
import { startWorld, type World } from './helpers/delivery.js';
import { apiClient } from './helpers/api.js';
import { BATCH, addBatchSender, getTask, header, makeList, makeTemplate, waitFor } from './helpers/tasks.js';
import type { Sink } from './helpers/sink.js';
import type { TaskRecord } from '../src/spool/types-tasks.js';
import { parseVerp } from '../src/mail/verp.js';

const ALIAS = 'club@lists.example.com';

function qpDecode(s: string): string {
  return Buffer.from(s.replace(/=\r\n/g, '').replace(/=([0-9A-F]{2})/g, (_, h: string) => String.fromCharCode(parseInt(h, 16))), 'latin1').toString('utf8');
}

async function aliasWorld(t: Test): Promise<{ w: World; sink: Sink }> {
  const w = await startWorld();
  t.teardown(() => w.stop());
  const sink = await w.addDomain('a.test', 80);
  const store = w.daemon.daemon.store;
  await makeList(store, 'club', 5, (i) => ({ address: `a${i}@a.test`, vars: { UserName: `A${i}`, City: `C<${i}>` } }), ALIAS);
  await store.addSuppression({ address: 'a2@a.test', scope: 'example.com', reason: 'unsubscribed', source: 'unsubscribe', createdAt: Date.now() });
  // Even a suppression entry for the alias address itself does not stop the alias.
  await store.addSuppression({ address: ALIAS, scope: '', reason: 'test', source: 'manual', createdAt: Date.now() });
  return { w, sink };
}

async function aliasTaskOf(w: World, sourceId: string): Promise<TaskRecord> {
  const store = w.daemon.daemon.store;
  const task = (await store.listTasks({})).find((x) => x.sourceId === sourceId);
  if (!task) throw new Error(`no alias task for ${sourceId}`);
  return waitFor('the alias task to finish', async () => { const x = await getTask(store, task.id); return x.state === 'done' && x; });
}

function checkCopies(t: Test, sink: Sink, subject: (i: number) => string, body: (i: number) => string, sourceMsgId: string): void {
  const members = sink.messages.filter((m) => /^a\d@/.test(m.to[0]!));
  t.same(members.map((m) => m.to[0]).sort(), ['a0@a.test', 'a1@a.test', 'a3@a.test', 'a4@a.test'], 'every member but the suppressed one, once each');
  const ids = new Set<string>();
  for (const m of members) {
    const i = Number(m.to[0]![1]);
    t.equal(m.to.length, 1);
    t.equal(m.from, 'app@example.com', 'MAIL FROM is the sender');
    t.equal(header(m.raw, 'Subject'), subject(i), `${m.to[0]}: subject personalised`);
    t.match(qpDecode(m.raw.toString()), body(i), `${m.to[0]}: body personalised`);
    ids.add(header(m.raw, 'Message-ID')!);
  }
  t.equal(ids.size, 4, 'each copy has its own Message-ID');
  t.notOk(ids.has(sourceMsgId), '...not the original\'s');
}

t.test('alias over SMTP: one personalised copy per member, suppressed skipped and counted', async (t) => {
  const { w, sink } = await aliasWorld(t);
  const store = w.daemon.daemon.store;
  const q = await w.submit([ALIAS, 'plain@a.test'], { subject: 'News for {UserName}', body: 'Hello {UserName} from {City}\r\n', extra: 'X-Mta-Tag: club-news\r\n' });
  const source = await w.message(q);
  t.same(source.recipients.map((r) => r.rcpt), ['plain@a.test'], 'the alias has no recipient row of its own');
  const task = await aliasTaskOf(w, q);
  t.match(task, { kind: 'alias', list: 'club', sender: 'app@example.com', tag: 'club-news', requested: 4, delivered: 4, suppressed: 1, invalid: 0, listSize: 5 });
  await w.waitFor('the plain recipient', () => sink.messages.some((m) => m.to[0] === 'plain@a.test'));
  const plain = sink.messages.find((m) => m.to[0] === 'plain@a.test')!;
  t.equal(header(plain.raw, 'Subject'), 'News for {UserName}', 'the plain recipient gets the message as sent');
  checkCopies(t, sink, (i) => `News for A${i}`, (i) => `Hello A${i} from C<${i}>`, source.messageId);
  t.equal(sink.messages.length, 5);
  for (const m of sink.messages.filter((x) => x.to[0] !== 'plain@a.test')) t.notMatch(m.raw.toString(), /plain@a\.test/, `${m.to[0]}'s copy does not name the other recipient`);
  const view = (await apiClient(w.daemon)('GET', `/api/v1/tasks/${task.id}`)).json;
  t.match(view, { kind: 'alias', template: null, source_id: q, state: 'done', suppressed: 1, requested: 4 });
  const stats = await store.queryStats({ fromDay: '2000-01-01', toDay: '2100-01-01', by: 'tag' });
  t.match(stats.find((s) => s.key === 'club-news'), { requests: 5, delivered: 5 }, 'the copies count as requests of the sender and tag');
});

t.test('alias over the send API', async (t) => {
  const { w, sink } = await aliasWorld(t);
  const api = apiClient(w.daemon);
  const r = await api('POST', '/api/v1/send', { from: 'app@example.com', to: [ALIAS], subject: 'API {UserName}', text: 'Hi {UserName} of {City}' });
  t.equal(r.status, 200, r.text);
  t.match(r.json.recipients, [{ rcpt: ALIAS, accepted: true }]);
  const task = await aliasTaskOf(w, r.json.queue_id);
  t.match(task, { kind: 'alias', requested: 4, delivered: 4, suppressed: 1 });
  checkCopies(t, sink, (i) => `API A${i}`, (i) => `Hi A${i} of C<${i}>`, `<${r.json.message_id}>`);
  t.equal(sink.messages.length, 4, 'nothing goes to the alias address itself');
});

t.test('address type random: a VERP envelope sender per message; unsubscribe headers and footers', async (t) => {
  const w = await startWorld('', { extraToml: '[public]\nlisten = "127.0.0.1:0"\nbase_url = "https://t.example.com"\n' });
  t.teardown(() => w.stop());
  const sink = await w.addDomain('r.test', 81);
  const store = w.daemon.daemon.store;
  await addBatchSender(store);
  await makeList(store, 'rl', 6, (i) => ({ address: `r${i}@r.test`, vars: { UserName: `R${i}` } }));
  await makeTemplate(store, 'rt', { subject: 'Hi {UserName}', html: '<html><body><p>Hello {UserName}</p></body></html>', text: 'Hello {UserName}' });
  const r = await apiClient(w.daemon)('POST', '/api/v1/tasks', { list: 'rl', template: 'rt', from: BATCH, address_type: 'random', unsubscribe: true });
  t.equal(r.status, 201, r.text);
  await waitFor('the task to finish', async () => (await getTask(store, r.json.id)).state === 'done');
  t.equal(sink.messages.length, 6);
  const froms = new Set<string>();
  for (const m of sink.messages) {
    t.match(m.from, /^bounce\+[a-z0-9]+@bounce\.example\.com$/, 'MAIL FROM is a VERP address on the bounce subdomain');
    froms.add(m.from);
    const queueId = /^<([0-9A-Z]{18})@mta\.test>$/.exec(header(m.raw, 'Message-ID')!)![1]!;
    t.equal(parseVerp(w.daemon.daemon.secret, m.from)?.queueId, queueId, 'the VERP address maps back to this message');
    t.same((await w.message(queueId as never)).recipients.map((x) => x.rcpt), m.to, '...whose one recipient is this member');
    t.equal(header(m.raw, 'From'), BATCH, 'the header From stays the sender');
    const lu = header(m.raw, 'List-Unsubscribe')!;
    t.match(lu, /^<https:\/\/t\.example\.com\/u\/[^>]+>, <mailto:[^>]+@bounce\.example\.com>$/);
    t.equal(header(m.raw, 'List-Unsubscribe-Post'), 'List-Unsubscribe=One-Click');
    const url = /<(https:[^>]+)>/.exec(lu)![1]!;
    const text = qpDecode(m.raw.toString());
    const html = text.slice(text.indexOf('text/html'));
    t.ok(html.indexOf(url) > 0 && html.indexOf(url) < html.indexOf('</body>'), 'the HTML footer link comes before </body>');
    t.ok(text.slice(0, text.indexOf('text/html')).includes(url), 'the text body has the link too');
  }
  t.equal(froms.size, 6, 'a different envelope sender for every recipient');
  const stats = await store.queryStats({ fromDay: '2000-01-01', toDay: '2100-01-01', by: 'sender' });
  t.match(stats, [{ key: BATCH, requests: 6, delivered: 6 }], 'statistics stay keyed by the sender address');
});

t.test('the message sent to an alias is kept until its task has run', async (t) => {
  const { w, sink } = await aliasWorld(t);
  const store = w.daemon.daemon.store;
  await w.daemon.daemon.tasks!.stop(); // hold expansion back
  const q = await w.submit([ALIAS], { subject: 'Kept {UserName}', body: 'Hi {UserName}\r\n' });
  const purged = await store.purge({ detailsBefore: Date.now() + 3600_000, statsBeforeDay: '2000-01-01' });
  t.ok(await store.getMessage(q), `the source survives a purge while its task waits (${purged.messages} other messages purged)`);
  w.daemon.daemon.tasks!.start();
  const task = await aliasTaskOf(w, q);
  t.match(task, { requested: 4, delivered: 4 });
  t.equal(sink.messages.length, 4);
  await store.purge({ detailsBefore: Date.now() + 3600_000, statsBeforeDay: '2000-01-01' });
  t.notOk(await store.getMessage(q), 'once the task is done the source is purged like any finished message');
});
