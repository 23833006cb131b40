// scripts/console-shots — `npm run console:shots [DIR]`: a PNG of every console page in
// English and Chinese at 1280×800, for review. It starts the built daemon (dist/) on a
// temporary data dir with the development sink, fills it with demo data through the admin
// API (a domain and senders, mail with tags, an approved template, a list, a finished
// batch task, mail held in the queue), signs in with Debian's chromium and walks the
// navigation, which the console builds from console/routes.js: every page added there is
// photographed without touching this script. The pages behind a link (one recipient's
// timeline, one list, one task) are photographed too. Needs a build first (the npm script
// runs one). Writes DIR (default ./console-shots) and prints it; removes the data dir.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execFileSync } from 'node:child_process';
import { chromium } from 'playwright-core';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const dist = (p) => import(join(ROOT, 'dist', 'src', p));
const { Daemon } = await dist('daemon/daemon.js');
const { compileConfig } = await dist('config/config.js');
const { createLogger } = await dist('util/log.js');
const { Domains } = await dist('accounts/domains.js');
const { Senders } = await dist('accounts/senders.js');
const { Users } = await dist('accounts/users.js');

const OUT = resolve(process.argv[2] ?? 'console-shots');
const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium';
const USER = 'demo';
const PASSWORD = 'demo console password';

const dir = mkdtempSync(join(tmpdir(), 'mta-shots-'));
const configPath = join(dir, 'mta.toml');
const toml = `hostname = "mta.example.com"\ndata_dir = "${join(dir, 'data')}"\n[log]\nlevel = "silent"\n`
  + '[[smtp.listen]]\naddress = "127.0.0.1:0"\ntls = "none"\n[smtp]\nallow_insecure_auth = true\n'
  + `[domains]\nrequire_verified = false\n[dns]\nservers = ["127.0.0.1:1"]\n[tags]\nauto_create = true\n`
  + `[admin]\nlisten = "127.0.0.1:0"\n[delivery]\nsink = "${join(dir, 'sink')}"\n`;
writeFileSync(configPath, toml);
let daemon = new Daemon({ configPath, config: compileConfig(toml, configPath), logger: createLogger('silent') });
let browser;
try {
  await daemon.start();
  await new Domains(daemon.store).add('example.com', { algorithm: 'ed25519' });
  const senders = new Senders(daemon.store);
  await senders.add({ address: 'app@example.com', type: 'trigger', password: 'app smtp password' });
  await senders.add({ address: 'news@example.com', type: 'batch', password: 'news smtp password' });
  await new Users(daemon.store).add(USER, 'admin', PASSWORD);
  let base = `http://127.0.0.1:${daemon.admin.port}`;
  const api = async (method, path, body) => {
    const res = await fetch(base + path, {
      method, headers: { authorization: `Bearer ${daemon.admin.token}`, ...(body ? { 'content-type': 'application/json' } : {}) },
      body: body ? JSON.stringify(body) : undefined,
    });
    const json = await res.json();
    if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${JSON.stringify(json)}`);
    return json;
  };
  const until = async (what, check) => {
    for (let i = 0; i < 400; i++) { if (await check()) return; await new Promise((r) => setTimeout(r, 50)); }
    throw new Error(`the demo data did not settle: ${what}`);
  };

  const sent = [];
  for (const [to, tag] of [[['ann@dest.example', 'bob@dest.example'], 'welcome'], [['chen@mail.example'], 'receipt'], [['dai@dest.example'], 'welcome']]) {
    sent.push(await api('POST', '/api/v1/send', { from: 'App <app@example.com>', to, subject: `Your ${tag}`, text: 'Hello from the demo.', tag }));
  }
  await api('POST', '/api/v1/templates', { name: 'monthly', subject: 'News for {UserName}', html: '<p>Dear {UserName}, here is this month\'s news.</p>' });
  await api('POST', '/api/v1/templates/monthly/approve');
  await api('POST', '/api/v1/lists', { name: 'customers', alias: 'customers@example.com', description: 'demo list' });
  await api('POST', '/api/v1/lists/customers/members', ['Li', 'Wang', 'Zhang', 'Ada', 'Grace'].map((n) => ({ EAddr: `${n.toLowerCase()}@dest.example`, UserName: n })));
  const task = await api('POST', '/api/v1/tasks', { list: 'customers', template: 'monthly', from: 'news@example.com', tag: 'monthly' });
  await until('the task is done', async () => (await api('GET', `/api/v1/tasks/${task.id}`)).finished);
  await until('the sent mail is delivered', async () => (await api('GET', '/api/v1/queue/summary')).waiting === 0);
  // Mail that waits, so the queue page has rows: the same data dir under a daemon that delivers nothing.
  await daemon.stop();
  const still = toml.replace(/\[delivery\]\n.*\n/, '[delivery]\nenabled = false\n');
  writeFileSync(configPath, still);
  daemon = new Daemon({ configPath, config: compileConfig(still, configPath), logger: createLogger('silent') });
  await daemon.start();
  base = `http://127.0.0.1:${daemon.admin.port}`;
  await api('POST', '/api/v1/send', { from: 'app@example.com', to: ['x@slow.example', 'y@slow.example'], subject: 'Waiting', text: 'queued' });
  const held = await api('POST', '/api/v1/send', { from: 'app@example.com', to: ['z@later.example'], subject: 'Held', text: 'held' });
  await api('POST', `/api/v1/queue/${encodeURIComponent(held.queue_id)}/hold`);

  browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox', '--disable-gpu', '--no-first-run'] });
  const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
  await page.goto(`${base}/`);
  await page.fill('input[name=name]', USER);
  await page.fill('input[name=password]', PASSWORD);
  await page.click('button[type=submit]');
  await page.waitForSelector('[data-testid=user]');
  const routes = await page.locator('header nav a').evaluateAll((as) => as.map((a) => a.getAttribute('href')));
  const extra = [`#/sends/${encodeURIComponent(sent[0].queue_id)}/ann%40dest.example`, '#/lists/customers', `#/tasks/${encodeURIComponent(task.id)}`];
  mkdirSync(OUT, { recursive: true });
  let n = 0;
  for (const lang of ['en', 'zh']) {
    await page.selectOption('[data-testid=lang]', lang);
    for (const href of [...routes, ...extra]) {
      await page.goto(`${base}/${href}`);
      await page.waitForLoadState('networkidle');
      // Whatever the page shows first, once its data is in (no page may keep "Loading…").
      await page.waitForFunction(() => {
        const main = document.querySelector('main');
        return main && main.textContent.trim() && !/^(Loading…|加载中…)$/.test(main.textContent.trim());
      });
      const name = href.replace(/^#\//, '').replace(/[^A-Za-z0-9]+/g, '-').replace(/-+$/, '').slice(0, 60) || 'overview';
      // Numbered in navigation order, so a folder listing reads like the console.
      await page.screenshot({ path: join(OUT, `${String(n % (routes.length + extra.length) + 1).padStart(2, '0')}-${name}.${lang}.png`) });
      n++;
    }
  }
  // The console names no web font (nothing from elsewhere): Chinese needs a system font with its glyphs.
  let zh = '';
  try { zh = execFileSync('fc-list', [':lang=zh'], { encoding: 'utf8' }); } catch { /* no fontconfig: cannot tell */ zh = '?'; }
  if (!zh.trim()) console.log('note: no Chinese font is installed, so the .zh pictures show boxes (apt-get install fonts-noto-cjk)');
  console.log(`${n} screenshots (${routes.length} pages in the navigation and ${extra.length} behind links, English and Chinese) in ${OUT}`);
} finally {
  await browser?.close();
  await daemon.stop();
  rmSync(dir, { recursive: true, force: true });
}
