// The web console in a real browser (Debian's chromium driven by playwright-core, a fresh
// profile, nothing downloaded): the page and its assets as HTTP serves them (hashed names,
// gzip, cache headers, CSP, language from Accept-Language, Host check), then sign-in, the
// Overview with its empty states and then real numbers from the API, the language switch,
// sign-out, and a viewer whose change the server refuses.
import t from 'tap';
import { createHash } from 'node:crypto';
import { gunzipSync } from 'node:zlib';
import { browserSkip, buildConsole, openBrowser, signIn } from './helpers/browser.js';
import { startDaemon, type TestDaemon } from './helpers/daemon.js';
import { apiClient } from './helpers/api.js';
import { httpGet, type RawResponse } from './helpers/http-get.js';
import { Users } from '../src/accounts/users.js';


let d: TestDaemon;
let base: string;
t.before(async () => {
  // The console is built with the program (npm run build / prepare); build it here too, so
  // the test sees the current sources after a plain tsc.
  buildConsole();
  d = await startDaemon();
  base = `http://127.0.0.1:${d.daemon.admin!.port}`;
  const users = new Users(d.daemon.store);
  await users.add('ada', 'admin', 'ada signs in here');
  await users.add('vic', 'viewer', 'vic only watches');
});
t.teardown(async () => { await d.stop(); });

const get = (path: string, headers: Record<string, string> = {}): Promise<RawResponse> => httpGet(`${base}${path}`, headers);

t.test('the page and its assets: hashed, gzip\'d, cached, same-origin only, language from Accept-Language', async (t) => {
  const zh = await get('/', { 'accept-language': 'zh-CN,zh;q=0.9,en;q=0.8' });
  t.equal(zh.status, 200);
  t.match(zh.headers['content-type'], /^text\/html/);
  t.match(zh.body.toString(), /<html lang="zh">/, 'Chinese first → a Chinese page');
  t.equal(zh.headers['cache-control'], 'no-cache', 'the page is never cached stale');
  t.match(zh.headers['content-security-policy'], /default-src 'self'/);
  t.notMatch(zh.body.toString(), /https?:\/\//, 'nothing from elsewhere (no CDN)');
  const en = await get('/', { 'accept-language': 'fr-FR,en-GB;q=0.8,zh;q=0.5' });
  t.match(en.body.toString(), /<html lang="en">/, 'English before Chinese → English');
  t.match((await get('/')).body.toString(), /<html lang="en">/, 'no header → English');

  const assets = [...zh.body.toString().matchAll(/(?:src|href)="(\/assets\/[^"]+)"/g)].map((m) => m[1]!);
  t.equal(assets.length, 2, 'one script, one stylesheet');
  for (const a of assets) {
    const m = /^\/assets\/[a-z]+-([0-9a-f]{16})\.(js|css)$/.exec(a);
    t.ok(m, `${a} is content-hashed`);
    const plain = await get(a);
    t.equal(plain.status, 200);
    t.equal(createHash('sha256').update(plain.body).digest('hex').slice(0, 16), m![1], 'the name is the hash of the content');
    t.match(plain.headers['cache-control'], /max-age=31536000/);
    t.match(plain.headers['cache-control'], /immutable/);
    const gz = await get(a, { 'accept-encoding': 'gzip, deflate' });
    t.equal(gz.headers['content-encoding'], 'gzip', `${a} gzip'd for a client that takes it`);
    t.ok(gz.body.length < plain.body.length, 'smaller');
    t.same(gunzipSync(gz.body), plain.body, 'the same bytes');
  }
  for (const p of ['/assets/../../package.json', '/assets/%2e%2e/%2e%2e/package.json', '/assets/manifest.json', '/assets/nothing.js']) {
    const r = await get(p);
    t.ok(r.status >= 400 && r.status < 500, `${p} → ${r.status}`);
    t.notMatch(r.body.toString(), /"dependencies"|"app\.js"/, 'no file outside the assets');
  }
  t.equal((await get('/', { host: 'rebind.evil.example' })).status, 403, 'a foreign Host gets no page');
});

t.test('in chromium: sign in, overview (empty, then numbers), language switch, sign out; a viewer is refused a change', { skip: browserSkip }, async (t) => {
  const b = await openBrowser(base);
  t.teardown(() => b.close());
  const { page, outside, errors } = b;

  await page.goto(`${base}/`);
  await page.waitForSelector('form.signin');
  await signIn(page, 'ada', 'not the password');
  t.equal(await page.textContent('[role=alert]'), 'Wrong user name or password.', 'a wrong password is said plainly');
  await signIn(page, 'ada', 'ada signs in here');
  t.equal(await page.textContent('[data-testid=user]'), 'ada', 'signed in');
  await page.waitForSelector('h1:text("Overview")');
  t.equal(await page.locator('[data-testid=empty]').count(), 3, 'no mail yet: today, the week and the queue show the empty state');

  const sent = await apiClient(d)('POST', '/api/v1/send', { from: 'app@example.com', to: ['one@dest.test', 'two@dest.test'], subject: 'hello', text: 'hi' });
  t.equal(sent.status, 200, 'two recipients queued through the send API');
  await page.reload();
  await page.waitForSelector('[data-testid=today]');
  t.equal(await page.textContent('[data-testid=today] [data-key=sent]'), '2', 'today: 2 sent');
  t.equal(await page.textContent('[data-testid=week] [data-key=sent]'), '2', 'last 7 days: 2 sent');
  t.equal(await page.textContent('[data-testid=today] [data-key=delivered]'), '0');
  t.equal(await page.textContent('[data-testid=queue] [data-state=queued]'), '2', 'queue depth: 2 queued');

  await page.selectOption('[data-testid=lang]', 'zh');
  await page.waitForSelector('h1:text("概览")');
  t.equal(await page.getAttribute('html', 'lang'), 'zh', 'switched to Chinese');
  await page.reload();
  await page.waitForSelector('h1:text("概览")');
  t.pass('the choice survives a reload');
  await page.selectOption('[data-testid=lang]', 'en');

  await page.click('[data-testid=signout]');
  await page.waitForSelector('form.signin');
  const after = await page.evaluate(async () => (await fetch('/api/v1/session')).status);
  t.equal(after, 401, 'signed out on the server too');

  await signIn(page, 'vic', 'vic only watches');
  await page.waitForSelector('[data-testid=today]');
  t.equal(await page.textContent('[data-testid=user]'), 'vic');
  const refused = page.waitForResponse((r) => r.url().endsWith('/api/v1/queue/flush'));
  await page.click('[data-testid=flush]');
  t.equal((await refused).status(), 403, 'the server refuses the viewer\'s change');
  t.equal(await page.textContent('[role=status]'), 'Your role does not allow this.', 'and the console says why');
  t.same(outside, [], 'the browser fetched nothing from anywhere else');
  t.same(errors, [], 'no script errors');
});
