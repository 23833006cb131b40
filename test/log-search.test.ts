// "What happened to my mail?": `mta log` shows recipients refused at RCPT (559, suppressed)
// as `rejected`, searches by Message-ID and by part of an address (@domain, a substring),
// pages across both kinds; `mta queue cat` prints the stored message like postcat -q.
import t from 'tap';
import { startDaemon, type TestDaemon } from './helpers/daemon.js';
import { runMta, type RunResult } from './helpers/run.js';
import { apiClient } from './helpers/api.js';
import { submitMail } from './helpers/submit.js';
import type { QueueId } from '../src/util/ids.js';

interface Item { rcpt: string; result: string; queue_id: string | null; last_reply: string | null; state: string | null }
interface Page { items: Item[]; next_cursor: string | null }

let d: TestDaemon;
let id: QueueId;
const mta = (...args: string[]): Promise<RunResult> => runMta([...args, '--config', d.configPath]);
const page = async (...args: string[]): Promise<Page> => {
  const r = await mta('log', ...args, '--json');
  if (r.code !== 0) throw new Error(r.err);
  return JSON.parse(r.out) as Page;
};
const rcpts = (p: Page): string[] => p.items.map((i) => `${i.rcpt}=${i.result}`);

t.before(async () => {
  d = await startDaemon();
  await d.daemon.store.addSuppression({ address: 'gone@dest.test', scope: '', reason: 'user unknown', source: 'bounce', createdAt: Date.now() });
  await d.addSender('news@example.com');
  id = await submitMail(d, ['fine@dest.test', 'gone@dest.test'], 'app@example.com', 'Message-ID: <abc123@app.example.com>\r\n');
  await submitMail(d, ['other@else.test'], 'news@example.com');
});
t.teardown(() => d.stop());

t.test('a recipient refused at RCPT is in the log as rejected', async (t) => {
  let p = await page('--rcpt', 'gone@dest.test');
  t.match(p.items, [{ rcpt: 'gone@dest.test', result: 'rejected', queue_id: null, state: null, last_reply: '559 5.1.1 Invalid rcptto', sender: 'app@example.com' }]);
  t.equal(p.items.length, 1);
  const r = await mta('log', '--rcpt', 'GONE@dest.test');
  // The suppression entry that refused it comes first (how to lift it), then the table.
  t.match(r.out, /^gone@dest\.test is on the suppression list .*mta suppression remove gone@dest\.test.*\nRECEIVED\s+QUEUE_ID\s+SENDER\s+RCPT\s+TAG\s+RESULT\s+ATTEMPTS\s+LAST_REPLY\n\S+Z\s+-\s+app@example\.com\s+gone@dest\.test\s+-\s+rejected\s+0\s+559 5\.1\.1 Invalid rcptto\n$/);
  p = await page('--result', 'rejected');
  t.same(rcpts(p), ['gone@dest.test=rejected']);
  t.same(rcpts(await page('--result', 'queued')), ['other@else.test=queued', 'fine@dest.test=queued'], 'another result: no rejections');
  t.same(rcpts(await page('--tag', 'promo')), [], 'rejections have no tag');
  t.match((await page('--rcpt', 'gone@dest.test', '--events')).items[0], { events: [{ type: 'rejected', reply: '559 5.1.1 Invalid rcptto' }] });
});

t.test('search by @domain, by part of an address, by Message-ID', async (t) => {
  t.same(rcpts(await page('--rcpt', '@DEST.test')).sort(), ['fine@dest.test=queued', 'gone@dest.test=rejected'], 'case-insensitive');
  const byDomain = rcpts(await page('--rcpt', '@dest.test')).sort();
  t.same(byDomain, ['fine@dest.test=queued', 'gone@dest.test=rejected'], '@domain: every address there, rejections too');
  t.same(rcpts(await page('--rcpt', '@est.test')), [], '@ takes a whole domain, not the end of one');
  t.same(rcpts(await page('--rcpt', 'fin')), ['fine@dest.test=queued'], 'a substring');
  t.same(rcpts(await page('--rcpt', '%')), [], 'LIKE wildcards are plain characters');
  t.same(rcpts(await page('--sender', '@example.com')).sort(), ['fine@dest.test=queued', 'gone@dest.test=rejected', 'other@else.test=queued']);
  t.same(rcpts(await page('--sender', 'news')), ['other@else.test=queued']);
  t.same(rcpts(await page('--message-id', 'abc123@app.example.com')), ['fine@dest.test=queued'], 'Message-ID without brackets');
  t.same(rcpts(await page('--message-id', '<abc123@app.example.com>')), ['fine@dest.test=queued'], 'and with them');
  t.same(rcpts(await page('--message-id', 'nope@app.example.com')), []);
  t.same(rcpts(await page('--task', 'T0NOSUCHTASK', '--rcpt', '@dest.test')), [], '--task: only that task\'s mail, so no rejection either');
  const bad = await mta('log', '--rcpt', '@not_a_domain');
  t.same([bad.code, bad.err], [1, 'mta: rcpt: "not_a_domain" is not a domain name (MTA_ERR_INVALID)\n']);
  const call = apiClient(d);
  const r = await call('GET', '/api/v1/messages?rcpt=%40dest.test');
  t.equal(r.status, 200, r.text);
  t.same((r.json as Page).items.map((i) => i.result).sort(), ['queued', 'rejected'], 'the API too, checked against its schema');
  const byTask = await call('GET', '/api/v1/messages?task_id=nosuch&rcpt=%40dest.test');
  t.equal(byTask.status, 200, byTask.text);
  t.same((byTask.json as Page).items, [], 'task_id: only that task\'s mail (rejections never belong to one)');
  t.match(await call('GET', '/api/v1/messages?task_id='), { status: 400, json: { error: { code: 'MTA_ERR_INVALID', field: 'task_id' } } }, 'an empty task id is refused');
});

t.test('pages run across recipients and rejections without overlap', async (t) => {
  const seen: string[] = [];
  let cursor: string | null = null;
  for (let n = 0; n < 5; n++) {
    const p: Page = await page('--limit', '1', ...(cursor ? ['--cursor', cursor] : []));
    seen.push(...rcpts(p));
    cursor = p.next_cursor;
    if (!cursor) break;
    t.match(cursor, /^\d*\.\d*$/);
  }
  t.same(seen.sort(), ['fine@dest.test=queued', 'gone@dest.test=rejected', 'other@else.test=queued']);
  t.equal((await mta('log', '--cursor', 'x.y')).err, 'mta: "x.y" is not a cursor from an earlier page (MTA_ERR_INVALID)\n');
});

t.test('queue cat prints the stored message; --headers its header block', async (t) => {
  const chunks: Buffer[] = [];
  for await (const c of d.daemon.store.readBody(id)) chunks.push(c);
  const stored = Buffer.concat(chunks).toString('latin1');
  let r = await mta('queue', 'cat', id);
  t.equal(r.code, 0, r.err);
  t.equal(r.out, stored, 'byte for byte as stored');
  t.match(r.out, /^Received: from /);
  t.match(r.out, /\r\nMessage-ID: <abc123@app\.example\.com>\r\n[\s\S]*\r\n\r\nhello\r\n$/);
  r = await mta('queue', 'cat', id, '--headers');
  t.equal(r.out, stored.slice(0, stored.indexOf('\r\n\r\n') + 2), 'headers only');
  r = await mta('queue', 'cat', '01M8337DMG00AB2ATA');
  t.same([r.code, r.err], [1, 'mta: no message 01M8337DMG00AB2ATA in the queue (MTA_ERR_NOT_FOUND)\n']);
});
