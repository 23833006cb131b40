// The web console over HTTPS (admin.tls_cert) in a real browser (Debian's chromium through
// playwright-core): the page loads, sign-in works, and the session cookie the browser keeps
// is Secure, HttpOnly and SameSite=Strict.
import t from 'tap';
import { rmSync } from 'node:fs';
import { browserSkip, buildConsole, openBrowser, signIn } from './helpers/browser.js';
import { startDaemon, tempDir, type TestDaemon } from './helpers/daemon.js';
import { makeCert } from './helpers/tls.js';
import { Users } from '../src/accounts/users.js';

const dir = tempDir('mta-console-https-');
let d: TestDaemon;
let base: string;
t.before(async () => {
  buildConsole();
  const { cert, key } = makeCert(dir, 'console.test');
  d = await startDaemon(`[admin]\nlisten = "127.0.0.1:0"\ntls_cert = "${cert}"\ntls_key = "${key}"\n`);
  base = `https://127.0.0.1:${d.daemon.admin!.port}`;
  await new Users(d.daemon.store).add('ada', 'admin', 'ada signs in here');
});
t.teardown(async () => { await d.stop(); rmSync(dir, { recursive: true, force: true }); });

t.test('in chromium over HTTPS: sign in to the overview; the session cookie is Secure', { skip: browserSkip }, async (t) => {
  const b = await openBrowser(base, { ignoreHTTPSErrors: true });
  t.teardown(() => b.close());
  const { page, ctx, errors, outside } = b;
  await page.goto(`${base}/`);
  await page.waitForSelector('form.signin');
  await signIn(page, 'ada', 'ada signs in here');
  await page.waitForSelector('h1:text("Overview")');
  t.equal(await page.textContent('[data-testid=user]'), 'ada', 'signed in');
  const session = (await ctx.cookies(base)).find((c) => c.name === 'mta_session');
  t.ok(session, 'the browser keeps the session cookie');
  t.equal(session?.secure, true, 'Secure');
  t.equal(session?.httpOnly, true, 'HttpOnly');
  t.equal(session?.sameSite, 'Strict', 'SameSite=Strict');
  t.same(errors, [], 'no page errors');
  t.same(outside, [], 'nothing requested from elsewhere');
});
