// The console's configuration pages in a real browser (Debian's chromium, playwright-core)
// against the real daemon: an admin adds a domain and reads its records and checks, creates
// a sender (the SMTP password shown once is the one the server verifies), a tag, a template
// (previewed by the server in the sandboxed iframe, then approved; another rejected and
// removed), removes a suppression with the keyboard, adds and tests a webhook against a
// real HTTP receiver, adds a user, changes their role and password and removes them, and
// reads the settings; the API's own message shows on a refusal and on a failed load;
// pages render in Chinese and fit 1280×800 and a 390 px phone; a viewer sees no change buttons on any
// of these pages, and the server refuses each change made with the viewer's session.
import t from 'tap';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Page } from 'playwright-core';
import { browserSkip, buildConsole, openBrowser, signIn } from './helpers/browser.js';
import { startDaemon, type TestDaemon } from './helpers/daemon.js';
import { apiClient, type Call } from './helpers/api.js';
import { Users } from '../src/accounts/users.js';
import { Senders } from '../src/accounts/senders.js';

const PAGES = ['domains', 'senders', 'tags', 'templates', 'suppression', 'webhooks', 'users', 'settings'];
const ADMIN_IP = '127.0.0.1';

let d: TestDaemon;
let base: string;
let api: Call;
let receiver: Server;
let receiverUrl: string;
const received: string[] = [];

t.before(async () => {
  buildConsole();
  // A public base URL: reply-to verification mails a link on it.
  d = await startDaemon(`[admin]\nlisten = "127.0.0.1:0"\nallowed_ips = ["${ADMIN_IP}", "::1"]\n[webhooks]\nallow_private = true\n[public]\nlisten = "127.0.0.1:0"\nbase_url = "https://mta.test"\n`);
  base = `http://127.0.0.1:${d.daemon.admin!.port}`;
  api = apiClient(d);
  const users = new Users(d.daemon.store);
  await users.add('ada', 'admin', 'ada signs in here');
  await users.add('vic', 'viewer', 'vic only watches');
  receiver = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => { body += c; });
    req.on('end', () => { received.push(body); res.end('ok'); });
  });
  await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
  receiverUrl = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook`;
});
t.teardown(async () => {
  await d.stop();
  await new Promise((resolve) => receiver.close(resolve));
});

/** A page's data is in: its heading is up and nothing says "Loading…". (Not networkidle: the preview's srcdoc frame never reports it.) */
async function loaded(page: Page): Promise<void> {
  await page.waitForSelector('main h1');
  // (Not waitForFunction: its polling evaluates a string, which the console's CSP refuses.)
  await page.waitForSelector('main >> text=Loading…', { state: 'detached' });
}

async function go(page: Page, hash: string, heading: string): Promise<void> {
  await page.goto(`${base}/#/${hash}`);
  await page.waitForSelector(`h1:has-text("${heading}")`);
  await loaded(page);
}

t.test('an admin in chromium: every page, each change through the API, errors in the API\'s words', { skip: browserSkip }, async (t) => {
  const b = await openBrowser(base, { viewport: { width: 1280, height: 800 } });
  t.teardown(() => b.close());
  const { page, outside, errors } = b;
  await page.goto(`${base}/`);
  await signIn(page, 'ada', 'ada signs in here');
  await page.waitForSelector('[data-testid=user]');

  t.test('domains: add one, read its records and zone lines, check now, the API\'s message on a duplicate', async (t) => {
    await go(page, 'domains', 'Sending domains');
    t.equal(await page.locator('[data-domain="example.com"]').count(), 1, 'the seeded domain is listed');
    await page.fill('[data-testid=add-domain] input[name=name]', 'news.example.org');
    await page.click('[data-testid=add-domain] button[type=submit]');
    await page.waitForSelector('h1:has-text("news.example.org")');
    t.equal(new URL(page.url()).hash, '#/domains/news.example.org', 'the new domain\'s page opens');
    const purposes = await page.locator('[data-testid=records] tr[data-purpose]').evaluateAll((rows) => rows.map((r) => r.getAttribute('data-purpose')));
    const want = await api('GET', '/api/v1/domains/news.example.org/records');
    t.same(purposes, want.json.records.map((r: { purpose: string }) => r.purpose), 'every record the API gives, in order');
    t.ok(purposes.length >= 4, `${purposes.length} records`);
    t.ok((await page.locator('[data-testid=records] code.value').allTextContents()).some((v) => v.startsWith('v=spf1')), 'the SPF value is shown');
    t.equal(await page.locator('[data-testid=records] button.copy').count(), purposes.length * 2, 'a copy button for each host and value');
    t.equal(await page.textContent('[data-testid=zone]'), want.json.zone.join('\n'), 'the zone-file lines as the API gives them');
    t.equal(await page.textContent('[data-testid=checked-at]'), 'never');
    t.equal(await page.locator('[data-testid=no-checks]').count(), 1, 'no check yet, and the page says what to do');

    await page.click('[data-testid=check-now]');
    await page.waitForSelector('[data-testid=checks]');
    const checks = await api('GET', '/api/v1/domains/news.example.org/checks');
    t.ok(checks.json.checked_at, 'the check ran on the server');
    t.equal(await page.getAttribute('[data-testid=checked-at]', 'datetime'), checks.json.checked_at, 'the last-checked time is the server\'s');
    t.equal(await page.locator('[data-testid=checks] tr[data-check]').count(), checks.json.checks.length, 'every check with its status');

    await page.click('[data-testid=rotate]');
    await page.waitForSelector('[data-testid=pending-key]');
    t.ok((await api('GET', '/api/v1/domains/news.example.org')).json.next_dkim_selector, 'a rotated key waits for its record');

    await page.goto(`${base}/#/domains/nowhere.example`);
    await page.waitForSelector('main [role=alert]');
    t.equal(await page.textContent('main [role=alert]'), `Something went wrong: ${(await api('GET', '/api/v1/domains/nowhere.example')).json.error.message}`, 'an unknown domain: the API\'s message');

    await go(page, 'domains', 'Sending domains');
    await page.fill('[data-testid=add-domain] input[name=name]', 'news.example.org');
    await page.click('[data-testid=add-domain] button[type=submit]');
    const dup = await api('POST', '/api/v1/domains', { name: 'news.example.org' });
    t.equal(await page.textContent('[data-testid=notice]'), `Something went wrong: ${dup.json.error.message}`, 'the API\'s own message');
  });

  t.test('senders: create one with its SMTP password shown once, then disable it', async (t) => {
    await go(page, 'senders', 'Sender addresses');
    await page.fill('[data-testid=add-sender] input[name=address]', 'hello@news.example.org');
    await page.selectOption('[data-testid=add-sender] select[name=type]', 'batch');
    await page.click('[data-testid=add-sender] button[type=submit]');
    await page.waitForSelector('[data-testid=once]');
    const password = (await page.textContent('[data-testid=password]'))!;
    t.match(password, /^[A-Za-z2-9]{20}$/);
    t.ok(await new Senders(d.daemon.store).verifyLogin('hello@news.example.org', password), 'the password shown is the one the server checks');
    const row = page.locator('[data-sender="hello@news.example.org"]');
    t.equal(await row.locator('[data-key=smtp]').textContent(), 'set');
    t.match(await row.textContent(), /batch/);
    await page.click('[data-testid=once] [data-testid=dismiss]');
    await page.waitForSelector('[data-testid=once]', { state: 'detached' });
    t.equal(await page.locator('[data-testid=password]').count(), 0, 'gone once dismissed: it cannot be shown again');
    await row.locator('[data-testid=toggle]').click();
    await page.waitForSelector('[data-sender="hello@news.example.org"] [data-key=state]:has-text("disabled")');
    t.equal((await api('GET', '/api/v1/senders/hello@news.example.org')).json.disabled, true, 'disabled on the server');
  });

  t.test('senders: a reply-to is set pending with a link mailed, resent, then cleared', async (t) => {
    await go(page, 'senders', 'Sender addresses');
    const row = page.locator('[data-sender="hello@news.example.org"]');
    t.equal(await row.locator('[data-key=reply-to] .badge').getAttribute('data-state'), 'none', 'no reply-to yet');
    await row.locator('[data-testid=reply-to-form] input[name=reply_to]').fill('support@news.example.org');
    await row.locator('[data-testid=reply-to-form] button[type=submit]').click();
    // Disabled by the test before: it sends nothing, not even the verification mail, and says so.
    await page.waitForSelector('[data-testid=notice]:has-text("cannot send the verification mail now")');
    t.equal(await row.locator('[data-key=reply-to] .badge').getAttribute('data-state'), 'none', 'nothing stored');
    await row.locator('[data-testid=toggle]').click();
    await page.waitForSelector('[data-sender="hello@news.example.org"] [data-key=state]:has-text("enabled")');
    await row.locator('[data-testid=reply-to-form] input[name=reply_to]').fill('support@news.example.org');
    await row.locator('[data-testid=reply-to-form] button[type=submit]').click();
    await page.waitForSelector('[data-sender="hello@news.example.org"] [data-key=reply-to] .badge[data-state=pending]');
    t.equal(await page.textContent('[data-testid=notice]'), 'A verification link was mailed to support@news.example.org; it works for 10 minutes.');
    const server = (await api('GET', '/api/v1/senders/hello@news.example.org')).json;
    t.match(server, { reply_to: 'support@news.example.org', reply_to_state: 'pending' }, 'pending on the server');
    const queued = await api('GET', '/api/v1/queue?all=true');
    t.ok(JSON.stringify(queued.json).includes('support@news.example.org'), 'the verification mail is queued to it');
    await row.locator('[data-testid=resend]').click();
    await page.waitForSelector('[data-sender="hello@news.example.org"] [data-key=reply-to] .badge[data-state=pending]');
    await row.locator('[data-testid=clear-reply-to]').click();
    await page.waitForSelector('[data-sender="hello@news.example.org"] [data-key=reply-to] .badge[data-state=none]');
    t.equal((await api('GET', '/api/v1/senders/hello@news.example.org')).json.reply_to, null, 'cleared on the server');
  });

  t.test('tags: add one', async (t) => {
    await go(page, 'tags', 'Tags');
    t.equal(await page.locator('[data-testid=empty]').count(), 1, 'the empty state first');
    await page.fill('[data-testid=add-tag] input[name=name]', 'newsletter');
    await page.fill('[data-testid=add-tag] input[name=description]', 'monthly news');
    await page.click('[data-testid=add-tag] button[type=submit]');
    await page.waitForSelector('[data-tag=newsletter]');
    t.same((await api('GET', '/api/v1/tags')).json.items.map((x: { name: string }) => x.name), ['newsletter']);
  });

  t.test('templates: create, preview with a sample in the sandboxed iframe, approve; reject another with a reason, remove it', async (t) => {
    await go(page, 'templates', 'Templates');
    await page.click('[data-testid=new-template]');
    await page.waitForSelector('[data-testid=template-form]');
    await page.fill('input[name=name]', 'welcome');
    await page.fill('input[name=subject]', 'Hello {Name}');
    await page.fill('textarea[name=html]', '<h1 style="color: rgb(0, 128, 0)">Welcome {Name}</h1><p>Your code: {Code}</p><script>document.title = "ran"</script>');
    await page.waitForSelector('[data-testid=var-Name]');
    const frame = page.frameLocator('iframe[data-testid=preview]');
    t.equal(await frame.locator('h1').textContent(), 'Welcome {Name}', 'without a sample the placeholder shows as written');
    t.match(await page.textContent('[data-testid=missing]'), /Name, Code/);
    await page.fill('[data-testid=var-Name]', 'Ann <Lee>');
    await page.waitForSelector('[data-testid=preview-subject]:text-is("Hello Ann <Lee>")');
    t.equal(await frame.locator('h1').textContent(), 'Welcome Ann <Lee>', 'the server\'s rendering, escaped, in the iframe');
    t.equal(await page.getAttribute('iframe[data-testid=preview]', 'sandbox'), '', 'sandboxed: no scripts, an opaque origin');
    t.not(await page.title(), 'ran', 'the template\'s script did not run in the console');
    t.equal(await frame.locator('h1').evaluate((e: unknown) => (globalThis as any).getComputedStyle(e).color), 'rgb(0, 128, 0)', 'the template\'s inline style applies (mail HTML is styled inline)');
    await page.click('[data-testid=save]');
    await page.waitForSelector('h1:has-text("welcome") [data-state=draft]');
    t.equal((await api('GET', '/api/v1/templates/welcome')).json.subject, 'Hello {Name}', 'stored as written');
    await page.click('[data-testid=approve]');
    await page.waitForSelector('h1 [data-state=approved]');
    t.equal((await api('GET', '/api/v1/templates/welcome')).json.state, 'approved', 'approved on the server');
    await go(page, 'templates', 'Templates');
    t.equal(await page.getAttribute('[data-template=welcome] [data-state]', 'data-state'), 'approved', 'the list shows the state');

    t.equal((await api('POST', '/api/v1/templates', { name: 'promo', subject: 'Sale', html: '<p>50% off</p>' })).status, 201);
    await go(page, 'templates/promo', 'promo');
    await page.fill('[data-testid=reject-form] input[name=reason]', 'no prices in subjects');
    await page.click('[data-testid=reject-form] button[type=submit]');
    await page.waitForSelector('[data-testid=reject-reason]');
    t.equal(await page.textContent('[data-testid=reject-reason]'), 'Rejected: no prices in subjects');
    t.equal((await api('GET', '/api/v1/templates/promo')).json.state, 'rejected', 'rejected on the server with the reason');
    t.equal(await page.locator('[data-testid=approve]').count(), 0, 'a rejected template is edited before approval (the server\'s rule)');
    await page.click('[data-testid=remove]');
    await page.click('[data-testid=confirm]');
    await page.waitForSelector('h1:has-text("Templates")');
    t.equal((await api('GET', '/api/v1/templates/promo')).status, 404, 'removed');
  });

  t.test('suppression: search, export, remove with the keyboard', async (t) => {
    for (const a of ['gone@dest.test', 'kept@dest.test']) t.equal((await api('POST', '/api/v1/suppressions', { address: a, reason: 'test' })).status, 200);
    await go(page, 'suppression', 'Suppression list');
    await page.waitForSelector('[data-address="gone@dest.test"]');
    await page.fill('input[name=search]', 'gone');
    await page.press('input[name=search]', 'Enter');
    await page.waitForSelector('[data-address="kept@dest.test"]', { state: 'detached' });
    t.equal(await page.locator('tr[data-address]').count(), 1, 'the search is the server\'s');
    const href = (await page.getAttribute('[data-testid=export]', 'href'))!;
    const csv = await page.evaluate(async (h) => (await fetch(h)).text(), href);
    t.match(csv, /^address,/, 'the CSV export with its header row');
    t.match(csv, /gone@dest\.test/);
    t.notMatch(csv, /kept@dest\.test/, 'the export follows the search');

    await page.focus('[data-address="gone@dest.test"] [data-testid=remove]');
    await page.keyboard.press('Enter');
    await page.waitForSelector('[data-testid=confirm]:focus');
    t.equal(await page.evaluate('document.activeElement?.getAttribute("data-testid")'), 'confirm', 'the confirmation takes the focus');
    await page.keyboard.press('Enter');
    await page.waitForSelector('[data-address="gone@dest.test"]', { state: 'detached' });
    const left = await api('GET', '/api/v1/suppressions');
    t.same(left.json.items.map((e: { address: string }) => e.address), ['kept@dest.test'], 'removed on the server, the other kept');

    // Past one page (50): the rest comes with "More", from the API's cursor.
    const bulk = Array.from({ length: 60 }, (_, i) => `bulk${String(i).padStart(2, '0')}@dest.test`);
    t.equal((await api('POST', '/api/v1/suppressions/import', { csv: bulk.join('\n') })).json.added, 60);
    await page.reload();
    await page.waitForSelector('tr[data-address="bulk00@dest.test"]');
    t.equal(await page.locator('tr[data-address]').count(), 50, 'one page');
    await page.click('[data-testid=more]');
    await page.waitForSelector('tr[data-address="kept@dest.test"]');
    t.equal(await page.locator('tr[data-address]').count(), 61, 'and the rest');
    t.equal(await page.locator('[data-testid=more]').count(), 0, 'no more after the last page');
  });

  t.test('webhooks: add (the secret shown once), test against a real receiver, read the log, remove another', async (t) => {
    await go(page, 'webhooks', 'Webhooks');
    await page.fill('[data-testid=add-webhook] input[name=url]', receiverUrl);
    await page.click('[data-testid=add-webhook] button[type=submit]');
    await page.waitForSelector('[data-testid=secret]');
    t.ok(((await page.textContent('[data-testid=secret]')) ?? '').length >= 16, 'the generated secret');
    const hooks = (await api('GET', '/api/v1/webhooks')).json.items;
    t.same(hooks.map((w: { url: string }) => w.url), [receiverUrl]);
    await page.click(`[data-webhook="${hooks[0].id}"] [data-testid=test]`);
    await page.waitForSelector('[data-testid=notice]:has-text("accepted")');
    t.equal(received.length, 1, 'the receiver got the test event');
    t.match(received[0], /test/);
    await page.waitForSelector('[data-testid=log] tr[data-attempt]');
    t.equal(await page.textContent('[data-testid=log] [data-key=status]'), '200', 'the delivery log shows the attempt');

    t.equal((await api('POST', '/api/v1/webhooks', { url: 'https://hooks.example.net/other' })).status, 201);
    await page.reload();
    const other = page.locator('tr[data-webhook]:has-text("hooks.example.net")');
    await other.locator('[data-testid=remove]').click();
    await other.locator('[data-testid=confirm]').click();
    await page.waitForSelector('tr[data-webhook]:has-text("hooks.example.net")', { state: 'detached' });
    t.same((await api('GET', '/api/v1/webhooks')).json.items.map((w: { url: string }) => w.url), [receiverUrl], 'removed, the first kept');
  });

  t.test('users: add one with a role, change the role and the password, remove', async (t) => {
    await go(page, 'users', 'Users');
    await page.fill('[data-testid=add-user] input[name=name]', 'olga');
    await page.selectOption('[data-testid=add-user] select[name=role]', 'operator');
    await page.fill('[data-testid=add-user] input[name=password]', 'olga operates things');
    await page.click('[data-testid=add-user] button[type=submit]');
    await page.waitForSelector('[data-user=olga]');
    t.equal((await api('GET', '/api/v1/users')).json.items.find((u: { name: string }) => u.name === 'olga').role, 'operator');
    await page.selectOption('[data-user=olga] select[name=role]', 'viewer');
    await page.click('[data-user=olga] [data-testid=role-form] button');
    await page.waitForSelector('[data-testid=notice]:has-text("Role changed")');
    t.equal((await api('GET', '/api/v1/users')).json.items.find((u: { name: string }) => u.name === 'olga').role, 'viewer', 'changed on the server');
    await page.fill('[data-user=olga] input[name=password]', 'olga has a new one');
    await page.press('[data-user=olga] input[name=password]', 'Enter');
    await page.waitForSelector('[data-testid=notice]:has-text("Password set")');
    t.ok(await new Users(d.daemon.store).verify('olga', 'olga has a new one'), 'the new password is the one the server checks');
    await page.click('[data-user=olga] [data-testid=remove]');
    await page.click('[data-user=olga] [data-testid=confirm]');
    await page.waitForSelector('[data-user=olga]', { state: 'detached' });
    t.notOk((await api('GET', '/api/v1/users')).json.items.some((u: { name: string }) => u.name === 'olga'), 'removed');
  });

  t.test('settings: version, IP protection and listeners; no secret on the page', async (t) => {
    await go(page, 'settings', 'Settings');
    const status = (await api('GET', '/api/v1/status')).json;
    t.equal(await page.textContent('[data-testid=version]'), status.version);
    t.match(await page.textContent('[data-testid=admin-ips]'), /127\.0\.0\.1/);
    // As configured: port 0 is any free port (the test's), as the file says.
    t.same(await page.locator('[data-testid=listeners] tbody tr').allTextContents(), ['SMTP submission127.0.0.1:0none', 'Admin API and console127.0.0.1:0', 'Public (tracking, unsubscribe, MTA-STS)127.0.0.1:0'], 'SMTP, admin and the public listener');
    const content = await page.content();
    t.notMatch(content, d.daemon.admin!.token, 'the admin token is nowhere on the page');
  });

  t.test('Chinese: the pages render in the other language', async (t) => {
    await page.goto(`${base}/#/domains`);
    await page.selectOption('[data-testid=lang]', 'zh');
    await page.waitForSelector('h1:has-text("发信域名")');
    t.match(await page.textContent('[data-testid=domains] thead'), /状态/);
    await go(page, 'templates', '邮件模板');
    t.equal(await page.textContent('[data-template=welcome] [data-state]'), '审核通过');
    await go(page, 'suppression', '无效地址');
    await page.selectOption('[data-testid=lang]', 'en');
    await page.waitForSelector('h1:has-text("Suppression list")');
    t.pass('and back');
  });

  t.test('1280×800 and a 390 px phone: no page is wider than the screen (wide tables scroll in their box)', async (t) => {
    for (const width of [1280, 390]) {
      await page.setViewportSize({ width, height: 800 });
      for (const p of [...PAGES, 'domains/news.example.org', 'templates/welcome']) {
        await page.goto(`${base}/#/${p}`);
        await loaded(page);
        const wide = await page.evaluate('document.documentElement.scrollWidth') as number;
        t.ok(wide <= width, `${width} px, #/${p}: ${wide} px`);
      }
    }
    await page.setViewportSize({ width: 1280, height: 800 });
  });

  t.same(outside, [], 'nothing fetched from elsewhere');
  t.same(errors, [], 'no script errors');
});

/** Every change these pages make, as the page's own fetch would send it (CSRF token included). */
const CHANGES: [string, string, unknown?][] = [
  ['POST', '/api/v1/domains', { name: 'viewer.example.org' }], ['POST', '/api/v1/domains/example.com/check', {}],
  ['POST', '/api/v1/domains/example.com/dkim-rotate', {}], ['DELETE', '/api/v1/domains/news.example.org'],
  ['POST', '/api/v1/senders', { address: 'v@example.com' }], ['PUT', '/api/v1/senders/app@example.com/password', { password: 'a long enough one' }],
  ['POST', '/api/v1/senders/app@example.com/disable', {}], ['DELETE', '/api/v1/senders/app@example.com'],
  ['POST', '/api/v1/tags', { name: 'v' }], ['DELETE', '/api/v1/tags/newsletter'],
  ['POST', '/api/v1/templates', { name: 'v', subject: 's', html: 'h' }], ['PUT', '/api/v1/templates/welcome', { subject: 'changed' }],
  ['POST', '/api/v1/templates/welcome/approve', {}], ['POST', '/api/v1/templates/welcome/reject', { reason: 'no' }], ['DELETE', '/api/v1/templates/welcome'],
  ['POST', '/api/v1/suppressions', { address: 'x@dest.test' }], ['DELETE', '/api/v1/suppressions/kept@dest.test'],
  ['POST', '/api/v1/webhooks', { url: 'https://hooks.example.net/x' }], ['POST', '/api/v1/webhooks/1/test', {}], ['DELETE', '/api/v1/webhooks/1'],
  ['POST', '/api/v1/users', { name: 'v2', role: 'admin', password: 'a long enough one' }], ['PUT', '/api/v1/users/vic/role', { role: 'admin' }],
  ['PUT', '/api/v1/users/ada/password', { password: 'a long enough one' }], ['DELETE', '/api/v1/users/ada'],
];

t.test('a viewer: no change button on any page, and the server refuses every change', { skip: browserSkip }, async (t) => {
  const b = await openBrowser(base);
  t.teardown(() => b.close());
  const { page, errors } = b;
  await page.goto(`${base}/`);
  await signIn(page, 'vic', 'vic only watches');
  await page.waitForSelector('[data-testid=user]');
  for (const p of [...PAGES, 'domains/example.com', 'templates/welcome']) {
    await page.goto(`${base}/#/${p}`);
    await loaded(page);
    const buttons = await page.locator('main button:not(.copy):not([data-read])').evaluateAll((bs) => bs.map((x) => x.textContent));
    t.same(buttons, [], `#/${p}: no change button`);
    t.equal(await page.locator('main [data-testid^=add-], main [data-testid=new-template]').count(), 0, `#/${p}: no add form`);
    t.equal(await page.locator('main [role=alert]').count(), 0, `#/${p}: reading is allowed`);
  }
  await page.goto(`${base}/#/users`);
  await page.waitForSelector('[data-testid=admin-only]');
  t.pass('the users page says only an admin manages users');
  await page.goto(`${base}/#/templates/welcome`);
  await page.waitForSelector('iframe[data-testid=preview]');
  t.equal(await page.locator('textarea[name=html]').isEditable(), false, 'the editor is read-only for a viewer');
  t.equal(await page.frameLocator('iframe[data-testid=preview]').locator('h1').textContent(), 'Welcome {Name}', 'the saved HTML in the sandboxed iframe, placeholders as written (a viewer calls no POST)');

  const answers = await page.evaluate(async (changes) => {
    const { csrf_token: csrf } = await (await fetch('/api/v1/session')).json() as { csrf_token: string };
    const out: [string, number][] = [];
    for (const [method, path, body] of changes) {
      const res = await fetch(path, {
        method, headers: { 'x-csrf-token': csrf, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
        ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
      });
      out.push([`${method} ${path}`, res.status]);
    }
    return out;
  }, CHANGES);
  t.same(answers, CHANGES.map(([m, p]) => [`${m} ${p}`, 403]), 'every change refused with 403, the CSRF token notwithstanding');
  t.equal((await api('GET', '/api/v1/templates/welcome')).json.state, 'approved', 'nothing changed');
  t.ok((await api('GET', '/api/v1/suppressions')).json.items.some((e: { address: string }) => e.address === 'kept@dest.test'), 'the suppression is still there');
  t.equal((await api('GET', '/api/v1/suppressions?search=x@dest')).json.items.length, 0, 'none added');
  t.same(errors, [], 'no script errors');
});
