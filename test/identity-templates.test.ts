// The identity policy for mail we compose ourselves (security review 14.8): a template's
// from_name that looks like an address (ASCII @, full-width ＠, small ﹫, spaces around @)
// is refused at create, edit, approve and render, and a batch task never sends it, even
// from a template stored before the rule existed.
import t from 'tap';
import { startDaemon, type TestDaemon } from './helpers/daemon.js';
import { apiClient, type Call } from './helpers/api.js';
import { BATCH, addBatchSender, makeList, makeTemplate } from './helpers/tasks.js';
import { renderMember } from '../src/tasks/render.js';
import type { TaskRecord } from '../src/spool/types-tasks.js';

let d: TestDaemon;
let api: Call;
t.before(async () => {
  d = await startDaemon();
  api = apiClient(d);
  await addBatchSender(d.daemon.store);
  await makeList(d.daemon.store, 'club', 2, (i) => ({ address: `m${i}@dest.test`, vars: { UserName: `M${i}` } }));
});
t.teardown(() => d.stop());

const SPOOFS = ['ceo@bank.test', 'ceo\uff20bank.test', 'ceo\ufe6bbank.test', 'ceo @ bank.test', 'The CEO (ceo@bank.test)'];

/** Writes a from_name past the checks, as a template stored by an older version would have it. */
async function legacyFromName(name: string, fromName: string): Promise<void> {
  const cur = (await d.daemon.store.getTemplate(name))!;
  await d.daemon.store.updateTemplate({ ...cur, fromName });
}

t.test('create and edit refuse a from_name that looks like an address; nothing changes', async (t) => {
  for (const fromName of SPOOFS) {
    const r = await api('POST', '/api/v1/templates', { name: 'spoof', subject: 'Hi', html: '<p>x</p>', from_name: fromName });
    t.equal(r.status, 400, `${fromName}: ${r.text}`);
    t.match(r.json?.error, { code: 'MTA_ERR_TEMPLATE', field: 'from_name', message: /looks like an address \(ceo@bank\.test\)/ });
  }
  t.equal((await api('GET', '/api/v1/templates/spoof')).status, 404, 'none was created');
  t.equal((await api('POST', '/api/v1/templates', { name: 'news', subject: 'Hi', html: '<p>x</p>', from_name: 'Example News' })).status, 201);
  const e = await api('PUT', '/api/v1/templates/news', { from_name: 'ceo\uff20bank.test' });
  t.equal(e.status, 400, e.text);
  t.match(e.json?.error, { code: 'MTA_ERR_TEMPLATE', field: 'from_name' });
  t.equal((await api('GET', '/api/v1/templates/news')).json.from_name, 'Example News', 'unchanged');
  t.equal((await api('PUT', '/api/v1/templates/news', { from_name: 'Team @ Home' })).status, 200, 'an @ that is no address is fine');
});

t.test('approve and render refuse a from_name stored before the rule', async (t) => {
  await makeTemplate(d.daemon.store, 'old', { subject: 'Hi', html: '<p>x</p>' }, false);
  await legacyFromName('old', 'ceo @ bank.test');
  const a = await api('POST', '/api/v1/templates/old/approve', {});
  t.equal(a.status, 400, a.text);
  t.match(a.json?.error, { code: 'MTA_ERR_TEMPLATE', field: 'from_name' });
  t.equal((await api('GET', '/api/v1/templates/old')).json.state, 'draft', 'still a draft');
  const r = await api('POST', '/api/v1/templates/old/render', { from: BATCH });
  t.equal(r.status, 400, r.text);
  t.match(r.json?.error, { code: 'MTA_ERR_TEMPLATE', field: 'from_name' });
});

t.test('batch tasks: refused at creation, and never rendered with such a display name', async (t) => {
  await makeTemplate(d.daemon.store, 'promo', { subject: 'Hi {UserName}', html: '<p>Hello {UserName}</p>' });
  await legacyFromName('promo', 'ceo@bank.test');
  const c = await api('POST', '/api/v1/tasks', { list: 'club', template: 'promo', from: BATCH });
  t.equal(c.status, 422, c.text);
  t.match(c.json?.error, { code: 'MTA_ERR_TASK', field: 'from_name', message: /looks like an address/ });
  t.same((await api('GET', '/api/v1/tasks')).json.items, [], 'no task created');
  // A task created before the rule: its snapshot carries the name; rendering refuses it.
  const sender = (await d.daemon.store.getSender(BATCH))!;
  const task = { id: 'T0', kind: 'template', unsubscribe: false, addressType: 'sender', tag: null, sender: BATCH,
    content: { subject: 'Hi', fromName: 'ceo\ufe6bbank.test', html: '<p>x</p>', text: 'x' } } as unknown as TaskRecord;
  const env = { hostname: 'mta.test', store: d.daemon.store, secret: () => Buffer.alloc(32), baseUrl: undefined, bounceSubdomain: 'bounce' };
  await t.rejects(renderMember(env, { task, sender, columns: [], sourceSubject: null }, { address: 'm0@dest.test', variables: {} } as never, Date.now()),
    { code: 'MTA_ERR_TASK', message: /from_name: .*looks like an address \(ceo@bank\.test\)/ });
});
