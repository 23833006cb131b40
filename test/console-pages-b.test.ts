// The console's mail pages in a real browser (Debian's chromium, playwright-core) against
// real daemons. One daemon delivers to the development sink ([delivery] sink): a message
// sent from the Send form and its recipient's timeline in Send details; the statistics
// table and chart before and after more mail; a list uploaded with its per-line report,
// searched; a batch task made from it whose progress reaches done. A second daemon delivers
// nothing, so its queue holds still: hold, release, delete (after confirming), flush; a
// viewer without the buttons and refused by the server when it asks directly; a session
// ended on the server sending the page back to sign-in.
import t from 'tap';
import { join } from 'node:path';
import { readdirSync } from 'node:fs';
import type { Page, Route } from 'playwright-core';
import { browserSkip, buildConsole, openBrowser, signIn, type BrowserSession } from './helpers/browser.js';
import { startDaemon, tempDir, type TestDaemon } from './helpers/daemon.js';
import { apiClient, type Call } from './helpers/api.js';
import { Users } from '../src/accounts/users.js';
import { makeCert } from './helpers/tls.js';
import { asRecipientId, type QueueId } from '../src/util/ids.js';

const PASSWORDS = { ada: 'ada signs in here', olga: 'olga operates things', vic: 'vic only watches' };

async function withUsers(d: TestDaemon): Promise<void> {
  const users = new Users(d.daemon.store);
  await users.add('olga', 'operator', PASSWORDS.olga);
  await users.add('vic', 'viewer', PASSWORDS.vic);
}

/** A fresh chromium signed in as `name` at 1280×800, closed when `t` ends; with `hash`, on that page once `ready` shows. */
async function signedIn(t: { teardown(fn: () => unknown): void }, base: string, name: keyof typeof PASSWORDS, hash?: string, ready?: string): Promise<BrowserSession> {
  const b = await openBrowser(base, { viewport: { width: 1280, height: 800 } });
  t.teardown(() => b.close());
  await b.page.goto(`${base}/`);
  await b.page.waitForSelector('form.signin');
  await signIn(b.page, name, PASSWORDS[name]);
  await b.page.waitForSelector('[data-testid=user]');
  if (hash) {
    await b.page.goto(`${base}/${hash}`);
    await b.page.waitForSelector(ready!);
  }
  return b;
}

/** Waits until the API says `check` holds: delivery happens on the daemon's own schedule, not the test's. */
async function until<T>(what: string, read: () => Promise<T>, check: (v: T) => boolean): Promise<T> {
  for (let i = 0; i < 600; i++) {
    const v = await read();
    if (check(v)) return v;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`gave up waiting for ${what}`);
}

/** Waits until the element `sel` says exactly `want` (the page re-reads the API after a change). */
async function waitText(page: Page, sel: string, want: string, opts: { timeout?: number } = {}): Promise<void> {
  await page.locator(sel).filter({ hasText: new RegExp(`^\\s*${want.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}\\s*$`) }).waitFor(opts);
}

const text = async (page: Page, sel: string): Promise<string> => (await page.textContent(sel))?.trim() ?? '';

let sinkDir: string;
let d: TestDaemon;
let api: Call;
let base: string;
let still: TestDaemon;
let stillApi: Call;
let stillBase: string;
t.before(async () => {
  buildConsole();
  sinkDir = join(tempDir('mta-sink-'), 'sink');
  d = await startDaemon(`[delivery]\nsink = "${sinkDir}"\n`);
  await d.addSender('news@example.com', 'batch');
  await withUsers(d);
  api = apiClient(d);
  base = `http://127.0.0.1:${d.daemon.admin!.port}`;
  // Its SMTP certificate (openssl, valid for 2 days) is near its end: the Overview says so.
  const tls = makeCert(tempDir('mta-cert-'));
  still = await startDaemon(`[smtp.tls]\ncert = "${tls.cert}"\nkey = "${tls.key}"\n`);
  await withUsers(still);
  stillApi = apiClient(still);
  stillBase = `http://127.0.0.1:${still.daemon.admin!.port}`;
});
t.teardown(async () => { await d.stop(); await still.stop(); });

/** Holds the page's calls to an API path until the returned function is called (which also stops holding). */
async function holdApi(page: Page, path: string): Promise<() => Promise<void>> {
  let open: () => void = () => undefined;
  const gate = new Promise<void>((r) => { open = r; });
  const match = (u: URL): boolean => u.pathname === path;
  const held: Promise<void>[] = [];
  const handler = (route: Route): Promise<void> => { const p = gate.then(() => route.continue()); held.push(p); return p; };
  await page.route(match, handler);
  return async () => {
    open();
    await Promise.all(held); // unrouted before they continue, they would be handled twice
    await page.unroute(match, handler);
  };
}

t.test('send from the form, then find the recipient\'s timeline; statistics change with more mail', { skip: browserSkip }, async (t) => {
  const b = await signedIn(t, base, 'olga');
  const { page } = b;

  await page.goto(`${base}/#/send`);
  await page.waitForSelector('[data-testid=send-form]');
  await page.fill('textarea[name=to]', Array.from({ length: 21 }, (_v, i) => `r${i}@dest.test`).join('\n'));
  await page.fill('input[name=subject]', 'Hello from the console');
  await page.fill('textarea[name=text]', 'A plain hello.');
  await page.click('[data-testid=send-form] button[type=submit]');
  t.match(await text(page, '[role=status]'), /At most 20 recipients/, 'more than 20 recipients: refused in the page');
  t.equal((await api('GET', '/api/v1/messages')).json.items.length, 0, 'and nothing was sent');

  await page.fill('textarea[name=to]', 'ann@dest.test\nbob@dest.test');
  await page.fill('input[name=tag]', 'bad tag!');
  await page.click('[data-testid=send-form] button[type=submit]');
  t.match(await text(page, '[role=status]'), /tag/, 'the API\'s own error, naming the field');
  await page.fill('input[name=tag]', 'welcome');
  await page.click('[data-testid=send-form] button[type=submit]');
  await page.waitForSelector('[data-testid=send-result]');
  const queueId = await text(page, '[data-testid=queue-id]');
  t.match(queueId, /\S/, 'the queue id is shown');
  t.match(await text(page, '[data-testid=send-result] tr[data-rcpt="ann@dest.test"]'), /250/, 'each recipient with its reply');

  await until('ann delivered', () => api('GET', '/api/v1/messages?rcpt=ann@dest.test'), (r) => r.json.items[0]?.result === 'delivered');
  t.ok(readdirSync(sinkDir).some((f) => f.endsWith('.eml')), 'the sink holds the message');
  await page.click('[data-testid=send-result] a');
  await page.waitForSelector('[data-testid=sends] tr[data-rcpt="ann@dest.test"]');
  t.equal(await page.locator('[data-testid=sends] tbody tr').count(), 1, 'the link searches for that recipient only');
  t.equal(await text(page, '[data-testid=sends] [data-result]'), 'delivered');
  await page.click('[data-testid=sends] a');
  await page.waitForSelector('[data-testid=timeline]');
  t.equal(await text(page, '[data-testid=result]'), 'delivered', 'the recipient\'s result');
  const types = await page.locator('[data-testid=timeline] li').evaluateAll((els) => els.map((e) => e.getAttribute('data-type')));
  t.ok(types.includes('reception') && types.includes('delivered'), `the timeline has the reception and the delivery (${types.join(', ')})`);
  t.match(await text(page, '[data-testid=timeline] li[data-type=delivered]'), /250/, 'with the remote reply');

  // Typed while the page's first search is still loading: the field keeps it when the results
  // draw (a field bound only to the last search was set back to it, and the search then ran
  // without the tag). The first load is held until the typing is done.
  let release = await holdApi(page, '/api/v1/messages');
  await page.goto(`${base}/#/sends`);
  await page.waitForSelector('[data-testid=sends-search]');
  await page.fill('[data-testid=sends-search] input[name=tag]', 'no-such-tag');
  await release();
  await page.waitForSelector('[data-testid=sends]');
  t.equal(await page.inputValue('[data-testid=sends-search] input[name=tag]'), 'no-such-tag', 'what was typed during the first load is still there');
  await page.click('[data-testid=sends-search] button[type=submit]');
  await page.waitForSelector('[data-testid=empty]');
  t.pass('a search that matches nothing says what to do next');

  release = await holdApi(page, '/api/v1/stats');
  await page.goto(`${base}/#/stats`);
  await page.waitForSelector('[data-testid=stats-form]');
  await page.fill('[data-testid=stats-form] input[name=tag]', 'welcome');
  await release();
  await page.waitForSelector('[data-testid=stats-table]');
  t.equal(await page.inputValue('[data-testid=stats-form] input[name=tag]'), 'welcome', 'the statistics form too');
  await page.fill('[data-testid=stats-form] input[name=tag]', ''); // the checks below are of every tag
  t.equal(await text(page, 'tfoot [data-col=requests]'), '2', 'the table: 2 sent in the last 7 days');
  const series = async (): Promise<Record<string, number[]>> => JSON.parse((await page.getAttribute('[data-testid=stats-chart]', 'data-series'))!) as Record<string, number[]>;
  t.equal((await series())['sent']!.at(-1), 2, 'the chart: 2 sent today');
  // uPlot draws in an effect, after the render that wrote data-series: wait for its canvas rather than look once
  await page.waitForSelector('[data-testid=stats-chart] canvas', { state: 'attached', timeout: 10_000 }).catch(() => undefined);
  t.ok(await page.locator('[data-testid=stats-chart] canvas').count(), 'drawn by uPlot');
  t.equal((await api('POST', '/api/v1/send', { from: 'app@example.com', to: ['cy@other.test'], subject: 'more', text: 'x', tag: 'welcome' })).status, 200);
  await page.click('[data-testid=stats-form] button[type=submit]');
  await waitText(page, 'tfoot [data-col=requests]', '3');
  t.equal((await series())['sent']!.at(-1), 3, 'after one more message the chart shows 3');
  await page.selectOption('[data-testid=stats-form] select[name=by]', 'rcpt-domain');
  await page.click('[data-testid=stats-form] button[type=submit]');
  await page.waitForSelector('[data-testid=stats-table] tr[data-key="other.test"]');
  t.equal(await text(page, '[data-testid=stats-table] tr[data-key="dest.test"] [data-col=requests]'), '2', 'by recipient domain');
  const dl = page.waitForEvent('download');
  await page.click('[data-testid=csv]');
  const csv = await (await dl).createReadStream();
  let body = '';
  for await (const c of csv) body += String(c);
  t.match(body, /^day,key,requests,delivered/, 'CSV export with a header row');
  t.match(body, /,dest\.test,2,/, 'and the rows the table shows');

  await page.goto(`${base}/#/overview`);
  await page.waitForSelector('[data-testid=engagement]');
  t.match(await text(page, '[data-testid=engagement]'), /No opens or clicks/, 'no opens yet: said so, with how to get them');
  const ann = (await api('GET', '/api/v1/messages?rcpt=ann@dest.test')).json.items[0] as { queue_id: string; recipient_id: number };
  await d.daemon.store.recordTrackingHit({
    at: Date.now(), kind: 'open', queueId: ann.queue_id as QueueId, recipientId: asRecipientId(ann.recipient_id),
    ip: '192.0.2.1', userAgent: 'a mail reader', method: 'GET', class: 'human', reason: null,
  });
  await page.reload();
  await page.waitForSelector('[data-testid=engagement-chart]');
  const opens = JSON.parse((await page.getAttribute('[data-testid=engagement-chart]', 'data-series'))!) as Record<string, number[]>;
  t.same([opens['opens']!.at(-1), opens['clicks']!.at(-1)], [1, 0], 'the overview charts today\'s open');
  t.equal(await text(page, '[data-testid=week] [data-key=sent]'), '3', 'and the week\'s three messages');
  t.same(b.errors, [], 'no script errors');
});

t.test('upload a list and read its report; a task from it reaches done against the sink', { skip: browserSkip }, async (t) => {
  const b = await signedIn(t, base, 'olga');
  const { page } = b;
  t.equal((await api('POST', '/api/v1/templates', { name: 'hello', subject: 'Hello {UserName}', html: '<p>Hi {UserName}</p>' })).status, 201);
  t.equal((await api('POST', '/api/v1/templates/hello/approve')).status, 200);

  // The Send form with the template: its variables come up as rows to fill in.
  await page.goto(`${base}/#/send`);
  await page.waitForSelector('[data-testid=send-form]');
  await page.check('input[name=mode][value=template]');
  await page.selectOption('select[name=template]', 'hello');
  t.equal(await page.inputValue('[data-var-name="0"]'), 'UserName', 'the template\'s variable, ready for a value');
  await page.fill('[data-var-value="0"]', 'Ada');
  await page.fill('textarea[name=to]', 'tpl@dest.test');
  await page.click('[data-testid=send-form] button[type=submit]');
  await page.waitForSelector('[data-testid=send-result]');
  t.equal((await api('GET', '/api/v1/messages?rcpt=tpl@dest.test')).json.items[0].subject, 'Hello Ada', 'rendered with the variable');

  await page.goto(`${base}/#/lists`);
  await page.waitForSelector('[data-testid=list-create]');
  // The form is drawn before the lists arrive: wait for what the load draws, the table or the empty state.
  await page.waitForSelector('[data-testid=empty], [data-testid=lists]');
  t.equal(await page.locator('[data-testid=empty]').count(), 1, 'no lists yet: the empty state');
  await page.fill('[data-testid=list-create] input[name=name]', 'news');
  await page.fill('[data-testid=list-create] input[name=alias]', 'news-list@example.com');
  await page.click('[data-testid=list-create] button[type=submit]');
  await page.click('[data-testid=lists] a:text("news")');
  await page.waitForSelector('[data-testid=upload]');
  const csv = 'EAddr,UserName\nx1@dest.test,Xia\nnot-an-address,Bad\nx2@dest.test,Xu\nx1@dest.test,Again\nx3@dest.test,Xin\n';
  await page.setInputFiles('[data-testid=upload] input[type=file]', { name: 'news.csv', mimeType: 'text/csv', buffer: Buffer.from(csv) });
  await page.click('[data-testid=upload] button[type=submit]');
  await page.waitForSelector('[data-testid=report]');
  t.equal(await text(page, '[data-testid=report] [data-key=rows]'), '5', 'five rows read');
  t.equal(await text(page, '[data-testid=report] [data-key=imported]'), '3');
  t.equal(await text(page, '[data-testid=report] [data-key=invalid]'), '1');
  t.equal(await text(page, '[data-testid=report] [data-key=duplicates]'), '1');
  t.match(await text(page, '[data-testid=problems] tr[data-line="3"]'), /not-an-address/, 'the bad line, by its number');
  t.equal(await page.getAttribute('[data-testid=progress]', 'value'), '1', 'the upload progress reached the end');
  await waitText(page, '[data-testid=member-count]', '3');
  t.equal(await page.locator('[data-testid=members] tbody tr').count(), 3, 'the members');
  await page.fill('[data-testid=member-search]', 'X2');
  await page.press('[data-testid=member-search]', 'Enter');
  await page.locator('[data-testid=members] tbody tr').nth(1).waitFor({ state: 'detached' });
  t.equal(await text(page, '[data-testid=members] tbody tr td'), 'x2@dest.test', 'search by part of the address, any case');
  const dl = page.waitForEvent('download');
  await page.click('[data-testid=export]');
  let exported = '';
  for await (const c of await (await dl).createReadStream()) exported += String(c);
  t.equal(exported, 'EAddr,UserName\r\nx1@dest.test,Xia\r\nx2@dest.test,Xu\r\nx3@dest.test,Xin\r\n', 'export: every member, whatever the search');

  await page.goto(`${base}/#/tasks`);
  await page.waitForSelector('[data-testid=task-create]');
  await page.selectOption('[data-testid=task-create] select[name=list]', 'news');
  await page.selectOption('[data-testid=task-create] select[name=template]', 'hello');
  await page.selectOption('[data-testid=task-create] select[name=from]', 'news@example.com');
  await page.fill('[data-testid=task-create] input[name=tag]', 'campaign');
  await page.click('[data-testid=task-create] button[type=submit]');
  await page.waitForSelector('[data-testid=task-state]');
  t.match(page.url(), /#\/tasks\/[^/]+$/, 'the new task\'s own page');
  await waitText(page, '[data-testid=task-state]', 'done', { timeout: 60_000 });
  t.equal(await text(page, '[data-testid=task-count]'), '3 / 3', 'progress: every member handled');
  t.equal(await text(page, 'dd[data-key=delivered]'), '3', 'all three delivered to the sink');
  t.equal(await page.getAttribute('[data-testid=task-progress]', 'value'), '3');
  t.equal(await page.locator('[data-testid=pause]').count(), 0, 'a finished task has no pause button');
  await page.click('a:text("Send details of this task")');
  await page.waitForSelector('[data-testid=sends] tr[data-rcpt="x3@dest.test"]');
  t.equal(await page.locator('[data-testid=sends] tbody tr').count(), 3, 'send details by task: its three recipients');
  const taskId = decodeURIComponent(/task_id=([^&]+)/.exec(page.url())![1]!);
  t.same((await api('GET', `/api/v1/messages?task_id=${encodeURIComponent(taskId)}`)).json.items.map((i: { rcpt: string }) => i.rcpt).sort(),
    ['x1@dest.test', 'x2@dest.test', 'x3@dest.test'], 'the API: ?task_id= gives the task\'s recipients only (not the Send form\'s)');
  t.same(b.errors, [], 'no script errors');
});

t.test('queue: by state and destination; hold, release, delete after confirming, flush', { skip: browserSkip }, async (t) => {
  t.equal((await stillApi('POST', '/api/v1/send', { from: 'app@example.com', to: ['a@one.test', 'b@one.test'], subject: 's', text: 'x' })).status, 200);
  t.equal((await stillApi('POST', '/api/v1/send', { from: 'app@example.com', to: ['c@two.test'], subject: 's', text: 'x' })).status, 200);
  const b = await signedIn(t, stillBase, 'olga', '#/queue', '[data-testid=qshape]');
  const { page } = b;
  t.equal(await text(page, '[data-testid=qshape] tr[data-domain="one.test"] [data-col=total]'), '2', 'qshape: two waiting for one.test');
  t.equal(await text(page, '[data-testid=queue-states] [data-state=queued]'), '3');

  await page.click('[data-testid="hold-one.test"]');
  await waitText(page, '[data-testid=queue-states] [data-state=held]', '2');
  t.equal(await text(page, '[role=status]'), '2 recipients changed.', 'hold: two recipients');
  await page.click('[data-testid="release-one.test"]');
  await waitText(page, '[data-testid=queue-states] [data-state=held]', '0');
  t.equal(await text(page, '[data-testid=queue-states] [data-state=queued]'), '3', 'released: queued again');

  await page.click('[data-testid="delete-two.test"]');
  await page.waitForSelector('[data-testid="confirm-two.test"]');
  t.equal((await stillApi('GET', '/api/v1/queue/summary')).json.waiting, 3, 'nothing deleted before the second click');
  await page.click('[data-testid="yes-two.test"]');
  await page.waitForSelector('[data-testid=qshape] tr[data-domain="two.test"]', { state: 'detached' });
  t.equal((await stillApi('GET', '/api/v1/messages?rcpt=c@two.test')).json.items[0].result, 'failed', 'deleted: ends as failed');

  await page.click('[data-testid=flush-all]');
  await page.waitForSelector('[role=status]:text("recipients changed")');
  t.pass('flush answered with the count');
  t.same(b.errors, [], 'no script errors');
});

t.test('a task that cannot finish (nothing is delivered): pause, resume, cancel after confirming', { skip: browserSkip }, async (t) => {
  await still.addSender('bulk@example.com', 'batch');
  t.equal((await stillApi('POST', '/api/v1/templates', { name: 'note', subject: 'Note', html: '<p>Hi</p>' })).status, 201);
  t.equal((await stillApi('POST', '/api/v1/templates/note/approve')).status, 200);
  t.equal((await stillApi('POST', '/api/v1/lists', { name: 'few', alias: 'few@example.com' })).status, 201);
  t.equal((await stillApi('POST', '/api/v1/lists/few/members', [{ EAddr: 'p@three.test' }, { EAddr: 'q@three.test' }])).status, 200);
  const task = await stillApi('POST', '/api/v1/tasks', { list: 'few', template: 'note', from: 'bulk@example.com' });
  t.equal(task.status, 201, 'a task (the daemon delivers nothing, so it stays unfinished)');
  const b = await signedIn(t, stillBase, 'olga', `#/tasks/${task.json.id as string}`, '[data-testid=task-state]');
  const { page } = b;
  t.equal(await text(page, '[data-testid=time-left]'), '—', 'nothing handled yet: no time left to tell');
  await page.click('[data-testid=pause]');
  await waitText(page, '[data-testid=task-state]', 'paused');
  t.equal((await stillApi('GET', `/api/v1/tasks/${task.json.id as string}`)).json.state, 'paused', 'paused on the server');
  await page.click('[data-testid=resume]');
  await waitText(page, '[data-testid=task-state]', 'sending');
  await page.click('[data-testid=cancel]');
  await page.waitForSelector('[data-testid=yes-cancel]');
  t.equal((await stillApi('GET', `/api/v1/tasks/${task.json.id as string}`)).json.state, 'sending', 'not cancelled before the second click');
  await page.click('[data-testid=yes-cancel]');
  await waitText(page, '[data-testid=task-state]', 'cancelled');
  t.match(await text(page, '[role=status]'), /^Cancelled; \d+ waiting recipients deleted\.$/, 'the answer says how many waiting recipients went');
  t.equal(await page.locator('[data-testid=pause], [data-testid=resume], [data-testid=cancel]').count(), 0, 'a finished task has no levers');
  t.same(b.errors, [], 'no script errors');
});

t.test('a viewer: no change buttons, and the server refuses a change asked for directly', { skip: browserSkip }, async (t) => {
  const b = await signedIn(t, stillBase, 'vic', '#/queue', '[data-testid=qshape]');
  const { page } = b;
  t.equal(await page.locator('[data-testid=flush-all], [data-testid^=hold-], [data-testid^=delete-]').count(), 0, 'no queue buttons');
  await page.goto(`${stillBase}/#/send`);
  await page.waitForSelector('[data-testid=send-form]');
  t.equal(await page.locator('[data-testid=send-form] button[type=submit]').count(), 0, 'no send button');
  await page.goto(`${stillBase}/#/lists`);
  await page.waitForSelector('h1');
  t.equal(await page.locator('[data-testid=list-create]').count(), 0, 'no list form');
  const statuses = await page.evaluate(async () => {
    const { csrf_token: token } = await (await fetch('/api/v1/session')).json() as { csrf_token: string };
    const post = async (path: string, body: unknown): Promise<number> => (await fetch(path, {
      method: 'POST', headers: { 'content-type': 'application/json', 'x-csrf-token': token }, body: JSON.stringify(body),
    })).status;
    return [
      await post('/api/v1/queue/hold', { domain: 'one.test' }),
      await post('/api/v1/send', { from: 'app@example.com', to: 'z@one.test', subject: 's', text: 'x' }),
      await post('/api/v1/lists', { name: 'sneaky', alias: 'sneaky@example.com' }),
    ];
  });
  t.same(statuses, [403, 403, 403], 'hold, send and a new list: each 403 for a viewer with a valid CSRF token');
  const cert = (await stillApi('GET', '/api/v1/status')).json.tls_certificate as { days_left: number; valid_to: string; error: string | null };
  t.ok(cert.days_left >= 0 && cert.days_left <= 2 && cert.error === null, `status: the certificate's days left (${cert.days_left})`);
  await page.goto(`${stillBase}/#/overview`);
  await page.waitForSelector('[data-testid=attention] .notice');
  t.match(await text(page, '[data-testid=attention]'), new RegExp(`TLS certificate \\S+ expires in ${cert.days_left} days \\(${cert.valid_to.slice(0, 10)}\\)`),
    'the Overview: the certificate needs renewing (a viewer may read it)');
  t.equal((await stillApi('GET', '/api/v1/queue/summary')).json.counts.held, 0, 'nothing held');
  t.same(b.errors, [], 'no script errors');
});

t.test('a session ended on the server sends the page back to sign-in', { skip: browserSkip }, async (t) => {
  const b = await signedIn(t, stillBase, 'olga', '#/queue', '[data-testid=qshape]');
  const { page } = b;
  // Every session is past its limits as of a moment from now: what the idle timeout does, without waiting for it.
  const later = Date.now() + 1000;
  t.ok(await still.daemon.store.purgeSessions(later, later) >= 1, 'the session is gone from the store');
  await page.click('button:text("Refresh")');
  await page.waitForSelector('form.signin');
  t.pass('back at the sign-in form');
  await signIn(page, 'olga', PASSWORDS.olga);
  await page.waitForSelector('[data-testid=qshape]');
  t.pass('and signing in again returns to the page');
});
