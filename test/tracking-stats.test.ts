// Tracking statistics end to end: tracked mail (a tagged message, an untagged one, a batch
// task from another sender) delivered by a real daemon to a real sink, then real HTTP GETs
// and HEADs against the public listener's pixel and click URLs, by people and by machines
// (Gmail's and Yahoo's image proxies, a HEAD from a link scanner). `mta stats --tracking
// --json` and GET /api/v1/stats/tracking must give exactly the raw and unique counts, human
// and machine apart, the rates, the per-day trend and the most clicked links, per day,
// sender, tag and task. Each hit is also on the message's timeline (`mta queue show`, the
// queue API).
import t from 'tap';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startWorld, type World } from './helpers/delivery.js';
import { tempDir } from './helpers/daemon.js';
import { deliverTracked, http, trackingPaths } from './helpers/tracking.js';
import type { Sink } from './helpers/sink.js';
import { apiClient, type Call } from './helpers/api.js';
import { runMta } from './helpers/run.js';
import { BATCH, addBatchSender, getTask, makeList, makeTemplate } from './helpers/tasks.js';
import { DEFAULT_RULES } from '../src/tracking/rules-data.js';
import { dayBefore, dayIn } from '../src/util/time.js';
import type { QueueId } from '../src/util/ids.js';
import type { TrackingStatsReport } from '../src/stats/tracking-stats.js';

const dir = tempDir('mta-trackstats-');
const A = 'https://shop.example.net/a';
const B = 'https://shop.example.net/b';
const HTML = `<html><body><p><a href="${A}">a</a> and <a href="${B}">b</a></p></body></html>`;
const TRACKED = 'X-Mta-Track: opens, clicks\r\nContent-Type: text/html\r\n';
const PERSON = { 'user-agent': 'Mozilla/5.0 (Macintosh) Thunderbird/115.0' };
const GMAIL_PROXY = { 'user-agent': 'Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 (via ggpht.com GoogleImageProxy)' };
const YAHOO_PROXY = { 'user-agent': 'YahooMailProxy; https://help.yahoo.com/kb/yahoo-mail-proxy-SLN28749.html' };

let w: World;
let sink: Sink;
let pub: number;
let call: Call;
let today: string;
let taskId: string;
let spring: QueueId;

/** `mta stats --tracking --json` with these options. */
async function cli(...args: string[]): Promise<TrackingStatsReport> {
  const r = await runMta(['stats', '--tracking', '--json', '--config', w.daemon.configPath, ...args]);
  if (r.code !== 0) throw new Error(`mta stats --tracking ${args.join(' ')}: ${r.err}`);
  return JSON.parse(r.out) as TrackingStatsReport;
}

t.before(async () => {
  // Tests never depend on timing: no "opens within seconds of delivery", no click bursts.
  const rules = join(dir, 'rules.json');
  writeFileSync(rules, JSON.stringify({
    machineOpens: { ...DEFAULT_RULES.machineOpens, withinSecondsOfDelivery: 0 },
    scannerClicks: { ...DEFAULT_RULES.scannerClicks, burstLinks: 0 },
  }));
  w = await startWorld('', { extraToml: `[public]\nlisten = "127.0.0.1:0"\nbase_url = "http://links.example.com"\n[tracking]\nrules_file = "${rules}"\n` });
  sink = await w.addDomain('dest.test', 62);
  pub = w.daemon.daemon.publicServer!.port;
  call = apiClient(w.daemon);
  today = dayIn(Date.now(), w.daemon.daemon.config.timeZone);

  // A: tag spring, three recipients. B: no tag, two. T: a batch task from another sender, two.
  const a = await deliverTracked(t, w, sink, ['s1@dest.test', 's2@dest.test', 's3@dest.test'], `X-Mta-Tag: spring\r\n${TRACKED}`, `${HTML}\r\n`);
  spring = a.id;
  const b = await deliverTracked(t, w, sink, ['u1@dest.test', 'u2@dest.test'], TRACKED, `${HTML}\r\n`);
  const store = w.daemon.daemon.store;
  await addBatchSender(store);
  await makeList(store, 'club', 2, (i) => ({ address: `member${i}@dest.test`, vars: {} }));
  await makeTemplate(store, 'promo', { subject: 'Promo', html: HTML });
  const created = await call('POST', '/api/v1/tasks', { list: 'club', template: 'promo', from: BATCH, tracking: true });
  if (created.status !== 201) throw new Error(created.text);
  taskId = (created.json as { id: string }).id;
  await w.waitFor('the task delivered', async () => (await getTask(store, taskId)).delivered === 2 && true, 60_000);
  const member = (i: number): string => sink.messages.find((m) => m.to[0] === `member${i}@dest.test`)!.raw.toString('latin1');

  const s1 = trackingPaths(a.copies.get('s1@dest.test')!);
  const s2 = trackingPaths(a.copies.get('s2@dest.test')!);
  const u1 = trackingPaths(b.copies.get('u1@dest.test')!);
  const m0 = trackingPaths(member(0));
  const m1 = trackingPaths(member(1));
  const hits: [string, string, Record<string, string>][] = [
    // s1: two opens and three clicks (a twice, b once), all by a person.
    ['GET', s1.pixel!, PERSON], ['GET', s1.pixel!, PERSON], ['GET', s1.clicks[0]!, PERSON], ['GET', s1.clicks[0]!, PERSON], ['GET', s1.clicks[1]!, PERSON],
    // s2: Gmail's proxy fetches the pixel, then the person opens; a link scanner checks link a with HEAD.
    ['GET', s2.pixel!, GMAIL_PROXY], ['GET', s2.pixel!, PERSON], ['HEAD', s2.clicks[0]!, {}],
    // u1: one open, one click on a. s3, u2: nothing.
    ['GET', u1.pixel!, PERSON], ['GET', u1.clicks[0]!, PERSON],
    // the task: member0 opens and clicks a; member1's pixel only by Yahoo's proxy.
    ['GET', m0.pixel!, PERSON], ['GET', m0.clicks[0]!, PERSON], ['GET', m1.pixel!, YAHOO_PROXY],
  ];
  for (const [method, path, headers] of hits) {
    const r = await http(pub, method, path, headers);
    if (r.status !== 200 && r.status !== 302) throw new Error(`${method} ${path}: ${r.status}`);
  }
  // Hits are stored after the answer: wait until all thirteen are.
  await w.waitFor('13 hits stored', async () => {
    const x = (await cli()).total;
    return x.human.opens + x.human.clicks + x.machine.opens + x.machine.clicks === 13;
  });
});
t.teardown(async () => { await w.stop(); });

const rates = (open: number | null, click: number | null, cto: number | null): Record<string, number | null> => ({ open_rate: open, click_rate: click, click_to_open_rate: cto });

t.test('per day: raw and unique, people and machines apart, with their rates', async (t) => {
  const r = await cli('--from', today, '--to', today);
  t.match(r, { from: today, to: today, by: 'day', filter: {} });
  t.equal(r.rows.length, 1);
  t.same(r.rows[0], {
    key: today, delivered: 7,
    // unique opens s1 s2 u1 member0 (5 raw); unique clicks s1 u1 member0 (5 raw)
    human: { opens: 5, unique_opens: 4, clicks: 5, unique_clicks: 3, ...rates(0.5714, 0.4286, 0.75) },
    // the two proxy opens; the scanner's HEAD
    machine: { opens: 2, unique_opens: 2, clicks: 1, unique_clicks: 1, ...rates(0.2857, 0.1429, 0.5) },
  });
  t.same(r.total, { ...r.rows[0], key: 'TOTAL' }, 'one day: the total is that day');
  t.same(r.trend, r.rows, 'the trend is the day');
  t.same(r.links, [
    { url: A, human: { clicks: 4, unique_clicks: 3 }, machine: { clicks: 1, unique_clicks: 1 } },
    { url: B, human: { clicks: 1, unique_clicks: 1 }, machine: { clicks: 0, unique_clicks: 0 } },
  ], 'the most clicked links, the honeypot left out');
});

t.test('the trend: every day of the range, quiet ones as zeros', async (t) => {
  const r = await cli('--from', dayBefore(today), '--to', today, '--by', 'sender');
  t.same(r.trend.map((x) => [x.key, x.delivered, x.human.unique_opens, x.machine.opens]), [[dayBefore(today), 0, 0, 0], [today, 7, 4, 2]]);
  t.same(r.trend[0]!.human, { opens: 0, unique_opens: 0, clicks: 0, unique_clicks: 0, ...rates(null, null, null) }, 'no rate without deliveries');
});

t.test('per sender and per tag: the unique counts add up to the total', async (t) => {
  const bySender = await cli('--by', 'sender');
  t.same(bySender.rows.map((x) => [x.key, x.delivered, x.human, x.machine]), [
    ['app@example.com', 5, { opens: 4, unique_opens: 3, clicks: 4, unique_clicks: 2, ...rates(0.6, 0.4, 0.6667) },
      { opens: 1, unique_opens: 1, clicks: 1, unique_clicks: 1, ...rates(0.2, 0.2, 1) }],
    ['news@example.com', 2, { opens: 1, unique_opens: 1, clicks: 1, unique_clicks: 1, ...rates(0.5, 0.5, 1) },
      { opens: 1, unique_opens: 1, clicks: 0, unique_clicks: 0, ...rates(0.5, 0, 0) }],
  ]);
  const byTag = await cli('--by', 'tag');
  t.same(byTag.rows.map((x) => [x.key, x.delivered, x.human.unique_opens, x.human.clicks, x.human.click_to_open_rate, x.machine.opens, x.machine.clicks]),
    [['', 4, 2, 2, 1, 1, 0], ['spring', 3, 2, 3, 0.5, 1, 1]], 'untagged ("") and spring');
  t.same(byTag.total, bySender.total, 'the same total whatever the grouping');
  const spring = await cli('--tag', 'spring');
  t.same(spring.filter, { tag: 'spring' });
  t.same(spring.total.human, { opens: 3, unique_opens: 2, clicks: 3, unique_clicks: 1, ...rates(0.6667, 0.3333, 0.5) });
  t.same(spring.links, [
    { url: A, human: { clicks: 2, unique_clicks: 1 }, machine: { clicks: 1, unique_clicks: 1 } },
    { url: B, human: { clicks: 1, unique_clicks: 1 }, machine: { clicks: 0, unique_clicks: 0 } },
  ], 'links of the spring mail only');
  const other = await cli('--domain', 'elsewhere.example');
  t.same([other.total.delivered, other.total.human.opens, other.links], [0, 0, []], 'another sending domain: nothing');
  t.equal((await cli('--domain', 'EXAMPLE.com')).total.human.opens, 5, 'the sending domain, any case');
  const byDomain = await cli('--by', 'domain');
  t.same(byDomain.rows.map((x) => [x.key, x.delivered, x.human.unique_opens, x.machine.unique_opens]), [['example.com', 7, 4, 2]], 'one sending domain');
});

t.test('per task, and one task alone', async (t) => {
  const byTask = await cli('--by', 'task');
  t.same(byTask.rows.map((x) => [x.key, x.delivered, x.human.unique_opens, x.machine.unique_opens]), [['', 5, 3, 1], [taskId, 2, 1, 1]], 'mail outside tasks under ""');
  const one = await cli('--task', taskId.toLowerCase(), '--links', '1');
  t.same(one.filter, { task: taskId }, 'the task id, as written canonically');
  t.same(one.total.human, { opens: 1, unique_opens: 1, clicks: 1, unique_clicks: 1, ...rates(0.5, 0.5, 1) });
  t.same(one.links, [{ url: A, human: { clicks: 1, unique_clicks: 1 }, machine: { clicks: 0, unique_clicks: 0 } }], '--links 1: the top link');
});

t.test('the API gives the same report', async (t) => {
  for (const q of ['', '?by=sender', `?by=task&task=${taskId}`, '?by=tag&tag=spring&links=0']) {
    const r = await call('GET', `/api/v1/stats/tracking${q}`);
    t.equal(r.status, 200, r.text);
    const params = new URLSearchParams(q.slice(1));
    const args = [...params].flatMap(([k, v]) => [`--${k}`, v]);
    t.same(r.json, await cli(...args), `GET /api/v1/stats/tracking${q} = mta stats --tracking ${args.join(' ')}`);
  }
  const doc = await call('GET', '/api/v1/openapi.json');
  t.ok((doc.json as { paths: Record<string, unknown> }).paths['/api/v1/stats/tracking'], 'in the OpenAPI document');
});

t.test('bad input: a precise error, nothing read', async (t) => {
  const bad: [string, string, string][] = [
    ['?by=rcpt-domain', 'by', 'expected one of "day"\\|"domain"\\|"sender"\\|"tag"\\|"task"'],
    ['?task=nope', 'task', 'task must be a task id'],
    ['?links=5000', 'links', 'links must be a whole number from 0 to 1000'],
    [`?from=${today}&to=${dayBefore(today)}`, 'from', 'is after to'],
  ];
  for (const [q, field, message] of bad) {
    const r = await call('GET', `/api/v1/stats/tracking${q}`);
    t.equal(r.status, 400, q);
    t.match(r.json, { error: { code: 'MTA_ERR_INVALID', field, message: new RegExp(message) } }, q);
  }
  const noFlag = await runMta(['stats', '--task', taskId, '--config', w.daemon.configPath]);
  t.not(noFlag.code, 0);
  t.match(noFlag.err, '--task needs --tracking');
  const byRcpt = await runMta(['stats', '--tracking', '--by', 'rcpt-domain', '--config', w.daemon.configPath]);
  t.not(byRcpt.code, 0);
  t.match(byRcpt.err, 'by must be one of day, domain, sender, tag, task for tracking statistics (got "rcpt-domain")');
});

t.test('the table: people and machines on their own lines, and the top links', async (t) => {
  const r = await runMta(['stats', '--tracking', '--by', 'tag', '--config', w.daemon.configPath]);
  t.equal(r.code, 0, r.err);
  t.match(r.out, /spring\s+human\s+3\s+3\s+2\s+66\.67%\s+3\s+1\s+33\.33%\s+50\.00%/);
  t.match(r.out, /spring\s+machine\s+3\s+1\s+1\s+33\.33%\s+1\s+1\s+33\.33%\s+100\.00%/);
  t.match(r.out, /\(no tag\)\s+human\s+4\s+2\s+2/);
  t.match(r.out, /TOTAL\s+human\s+7\s+5\s+4\s+57\.14%\s+5\s+3\s+42\.86%\s+75\.00%/);
  t.match(r.out, new RegExp(`4\\s+3\\s+1\\s+1\\s+${A}`));
});

t.test('each hit is on the message\'s timeline: mta queue show and the queue API', async (t) => {
  const r = await runMta(['queue', 'show', spring, '--json', '--config', w.daemon.configPath]);
  t.equal(r.code, 0, r.err);
  type Ev = { at: string; rcpt: string | null; type: string; detail: { class?: string; method?: string; first?: boolean; url?: string } };
  const events = (JSON.parse(r.out) as { events: Ev[] }).events;
  const hits = events.filter((e) => e.type === 'open' || e.type === 'click');
  t.equal(hits.length, 8, 'every hit on the spring mail');
  t.same(hits.filter((e) => e.rcpt === 's2@dest.test').map((e) => [e.type, e.detail.class, e.detail.method, e.detail.first]),
    [['open', 'machine', 'GET', true], ['open', 'human', 'GET', false], ['click', 'scanner', 'HEAD', true]], 's2: the proxy, the person, the scanner');
  const ats = events.map((e) => e.at);
  t.same(ats, [...ats].sort(), 'in time order');
  t.ok(events.findIndex((e) => e.type === 'delivered') < events.findIndex((e) => e.type === 'open'), 'delivered before the first open');
  const api = await call('GET', `/api/v1/queue/${spring}`);
  t.equal(api.status, 200, api.text);
  t.same((api.json as { events: Ev[] }).events.filter((e) => e.type === 'click').map((e) => [e.rcpt, e.detail.url]),
    [['s1@dest.test', A], ['s1@dest.test', A], ['s1@dest.test', B], ['s2@dest.test', A]]);
  const text = await runMta(['queue', 'show', spring, '--config', w.daemon.configPath]);
  t.match(text.out, /open\s+s2@dest\.test\s+.*class=machine/, 'the table names the class');
});
