// Statistics and send details after a scripted run of real deliveries: sinks that accept,
// refuse as unknown user (550 5.1.1), refuse as spam (554 5.7.1) and defer until the
// recipient expires. Counts per day, domain, sender and tag; `mta stats`, `mta log`,
// `mta suppression export|list` output and errors; the retention purge.
import t from 'tap';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { parse as parseCsv } from 'csv-parse/sync';
import { startWorld, allFinal, type World } from './helpers/delivery.js';
import { RawSmtp, message } from './helpers/smtp-client.js';
import { PASSWORD, tempDir } from './helpers/daemon.js';
import { runMta } from './helpers/run.js';
import { Domains } from '../src/accounts/domains.js';
import { StatsService, type StatsReport } from '../src/stats/stats.js';
import { openTestStore } from './helpers/store.js';
import { newQueueId, type QueueId } from '../src/util/ids.js';
import type { StatsCounters } from '../src/spool/types-stats.js';

const DAY = 86_400_000;
const day = (ms: number): string => new Date(ms).toISOString().slice(0, 10);

let w: World;
let stats: StatsService;
let today: string;
let yesterday: string;
const ids: QueueId[] = [];

async function submitAs(from: string, to: string[], tag?: string): Promise<QueueId> {
  const c = await RawSmtp.connect(w.daemon.port);
  await c.greet(); await c.ehlo();
  const auth = await c.authPlain(from, PASSWORD);
  if (auth.code !== 235) throw new Error(auth.text);
  await c.cmd(`MAIL FROM:<${from}>`);
  for (const r of to) { const rr = await c.cmd(`RCPT TO:<${r}>`); if (rr.code !== 250) throw new Error(rr.text); }
  const d = await c.data(Buffer.from(message(from, to[0]!, 'stats', 'hi\r\n', tag ? `X-Mta-Tag: ${tag}\r\n` : '') + '.\r\n'));
  await c.quit();
  if (d.code !== 250) throw new Error(d.text);
  return d.text.split(' ').pop() as QueueId;
}

t.before(async () => {
  w = await startWorld('send_dsn = false\nmax_queue_lifetime = "3s"\n');
  stats = new StatsService(w.daemon.daemon.store);
  await w.addDomain('ok.test', 2);
  await w.addDomain('gone.test', 3, { rcpt: (a) => `550 5.1.1 <${a}>: Recipient address rejected: User unknown` });
  await w.addDomain('spam.test', 4, { rcpt: () => '554 5.7.1 Message rejected as spam' });
  await w.addDomain('slow.test', 5, { rcpt: () => '451 4.3.0 try again later' });
  await new Domains(w.daemon.daemon.store).add('other.test', { algorithm: 'ed25519' });
  await w.daemon.addSender('news@example.com');
  await w.daemon.addSender('app@other.test');
  // The script: who sends what to whom.
  ids.push(await submitAs('app@example.com', ['a@ok.test', 'b@ok.test', 'x@gone.test'], 'welcome'));
  ids.push(await submitAs('app@example.com', ['c@ok.test', 'y@spam.test']));
  ids.push(await submitAs('news@example.com', ['d@ok.test', 'z@slow.test'], 'promo'));
  ids.push(await submitAs('app@other.test', ['e@ok.test', 'v@gone.test'], 'promo'));
  // Received yesterday (a message the spool accepted before midnight UTC).
  const old = Date.now() - DAY;
  const id = newQueueId(old);
  const body = Buffer.from('From: app@example.com\r\nTo: f@ok.test\r\nSubject: old\r\nMessage-ID: <old@example.com>\r\n\r\nhi\r\n');
  await w.daemon.daemon.store.commitIncoming({
    id, receivedAt: old, sender: 'app@example.com', authUser: 'app@example.com', clientIp: '127.0.0.1', helo: 'x', messageId: '<old@example.com>',
    subject: 'old', size: body.length, lane: 'trigger', tag: 'welcome', chunks: [body], recipients: ['f@ok.test'],
  });
  ids.push(id);
  for (const q of ids) await w.waitFor(`${q} final`, async () => allFinal(await w.message(q)), 30_000);
  today = day((await w.message(ids[0]!)).receivedAt);
  yesterday = day(old);
});
t.teardown(async () => { await w.stop(); });

const c = (requests: number, delivered: number, failed = 0, invalid = 0, deferred = 0, expired = 0, cancelled = 0): StatsCounters =>
  ({ requests, delivered, failed, invalid, deferred, expired, cancelled });
const counts = (r: StatsReport): Record<string, StatsCounters> => Object.fromEntries(r.rows.map((x) =>
  [x.key, { requests: x.requests, delivered: x.delivered, failed: x.failed, invalid: x.invalid, deferred: x.deferred, expired: x.expired, cancelled: x.cancelled }]));

t.test('counts per day, domain, sender and tag match the script', async (t) => {
  const range = { from: yesterday, to: today };
  const byDay = await stats.query({ ...range, by: 'day' });
  t.same(counts(byDay), { [yesterday]: c(1, 1), [today]: c(9, 5, 1, 2, 1, 1) });
  t.same(counts(await stats.query({ ...range, by: 'domain' })), { 'example.com': c(8, 5, 1, 1, 1, 1), 'other.test': c(2, 1, 0, 1) });
  t.same(counts(await stats.query({ ...range, by: 'sender' })), {
    'app@example.com': c(6, 4, 1, 1), 'app@other.test': c(2, 1, 0, 1), 'news@example.com': c(2, 1, 0, 0, 1, 1),
  });
  t.same(counts(await stats.query({ ...range, by: 'tag' })), { '': c(2, 1, 1), promo: c(4, 2, 0, 1, 1, 1), welcome: c(4, 3, 0, 1) });
  t.same(counts(await stats.query({ ...range, by: 'sender', tag: 'promo' })), { 'app@other.test': c(2, 1, 0, 1), 'news@example.com': c(2, 1, 0, 0, 1, 1) });
  t.same(counts(await stats.query({ ...range, domain: 'example.com', tag: 'welcome' })), { [yesterday]: c(1, 1), [today]: c(3, 2, 0, 1) });
  t.same(counts(await stats.query({ from: today, to: today, sender: 'APP@other.test' })), { [today]: c(2, 1, 0, 1) });
  t.match(byDay.total, { key: 'TOTAL', ...c(10, 6, 1, 2, 1, 1), delivery_rate: 0.6, invalid_rate: 0.2 });
  t.equal(byDay.rows.find((r) => r.key === today)!.delivery_rate, 0.5556, 'delivery rate = delivered / requests');
});

t.test('mta stats prints an aligned table and JSON; bad input is one error', async (t) => {
  const mta = (...a: string[]): ReturnType<typeof runMta> => runMta([...a, '--config', w.daemon.configPath]);
  const r = await mta('stats', '--from', yesterday, '--to', today);
  t.equal(r.code, 0, r.err);
  const lines = r.out.trimEnd().split('\n');
  t.match(lines[0], /^DAY\s+REQUESTS\s+DELIVERED\s+FAILED\s+INVALID\s+DEFERRED\s+EXPIRED\s+CANCELLED\s+COMPLAINTS\s+LATE_BOUNCES\s+DELIVERY_RATE\s+INVALID_RATE\s+COMPLAINT_RATE$/);
  t.match(lines[1], new RegExp(`^${yesterday}\\s+1\\s+1\\s+0\\s+0\\s+0\\s+0\\s+0\\s+0\\s+0\\s+100\\.00%\\s+0\\.00%\\s+0\\.00%$`));
  t.match(lines[2], new RegExp(`^${today}\\s+9\\s+5\\s+1\\s+2\\s+1\\s+1\\s+0\\s+0\\s+0\\s+55\\.56%\\s+22\\.22%\\s+0\\.00%$`));
  t.match(lines[3], /^TOTAL\s+10\s+6\s+1\s+2\s+1\s+1\s+0\s+0\s+0\s+60\.00%\s+20\.00%\s+0\.00%$/);
  t.equal(lines[0]!.indexOf('REQUESTS'), lines[3]!.indexOf('10'), 'columns aligned');
  const bySender = await mta('stats', '--from', yesterday, '--to', today, '--by', 'sender', '--domain', 'example.com');
  t.match(bySender.out, /^SENDER\s+REQUESTS.*\napp@example\.com\s+6\s+4\s+1\s+1\s+0\s+0\s+0\s+0\s+0\s+66\.67%\s+16\.67%\s+0\.00%\nnews@example\.com\s+2\s+1/);
  const json = JSON.parse((await mta('stats', '--from', yesterday, '--to', today, '--by', 'tag', '--json')).out) as StatsReport;
  t.same(json, await stats.query({ from: yesterday, to: today, by: 'tag' }), 'JSON is the service\'s answer');
  const quiet = await mta('stats', '--from', '2020-01-01', '--to', '2020-01-02');
  t.match(quiet.out, /^DAY.*\n2020-01-01\s+0\s+0.*\n2020-01-02\s+0.*\nTOTAL\s+0/, 'quiet days are zeros');
  for (const [args, re] of [
    [['--from', '2026-02-30'], /from must be a date written YYYY-MM-DD \(got "2026-02-30"\) \(MTA_ERR_INVALID\)/],
    [['--from', '03/01/2026'], /from must be a date written YYYY-MM-DD/],
    [['--from', '2026-01-01', '--to', '2026-02-01'], /covers 32 days; at most 31 in one query/],
    [['--from', '2026-03-02', '--to', '2026-03-01'], /from \(2026-03-02\) is after to \(2026-03-01\)/],
    [['--by', 'hour'], /by must be one of day, domain, sender, tag/],
    [['--domain', 'not a domain'], /domain must be a domain name/],
  ] as [string[], RegExp][]) {
    const e = await mta('stats', ...args);
    t.equal(e.code, 1, args.join(' '));
    t.equal(e.out, '', 'nothing on stdout');
    t.match(e.err, re);
  }
});

t.test('mta log lists recipients with their result and history, with filters and a cursor', async (t) => {
  const mta = (...a: string[]): ReturnType<typeof runMta> => runMta([...a, '--config', w.daemon.configPath]);
  const since = `${yesterday}`;
  const failed = JSON.parse((await mta('log', '--from', since, '--result', 'failed', '--json')).out) as { items: { rcpt: string; last_reply: string; result: string }[] };
  t.same(failed.items.map((i) => i.rcpt).sort(), ['v@gone.test', 'x@gone.test', 'y@spam.test']);
  t.match(failed.items.find((i) => i.rcpt === 'y@spam.test'), { result: 'failed', last_reply: /^554 5\.7\.1/ });
  const slow = await mta('log', '--from', since, '--rcpt', 'Z@slow.test', '--events');
  t.equal(slow.code, 0, slow.err);
  t.match(slow.out, /^RECEIVED\s+QUEUE_ID\s+SENDER\s+RCPT\s+TAG\s+RESULT\s+ATTEMPTS\s+LAST_REPLY\n\S+Z\s+\w{18}\s+news@example\.com\s+z@slow\.test\s+promo\s+expired\s+\d+\s+451 4\.3\.0/);
  t.match(slow.out, /\n {4}\S+Z {2}reception/);
  t.match(slow.out, /\n {4}\S+Z {2}deferred {2}mx\.slow\.test\[127\.0\.0\.5\] 451 4\.3\.0 try again later \(next /);
  t.match(slow.out, /\n {4}\S+Z {2}expired {3}mx\.slow\.test/);
  const promo1 = JSON.parse((await mta('log', '--from', since, '--tag', 'promo', '--limit', '2', '--json')).out) as { items: { rcpt: string }[]; next_cursor: string };
  t.equal(promo1.items.length, 2);
  t.match(promo1.next_cursor, /^\d+$/);
  const promo2 = JSON.parse((await mta('log', '--from', since, '--tag', 'promo', '--limit', '2', '--cursor', promo1.next_cursor, '--json')).out) as { items: { rcpt: string }[]; next_cursor: string | null };
  t.same([...promo1.items, ...promo2.items].map((i) => i.rcpt).sort(), ['d@ok.test', 'e@ok.test', 'v@gone.test', 'z@slow.test'], 'two pages, no overlap');
  const last = await mta('log', '--from', since, '--tag', 'promo', '--limit', '2', '--cursor', promo2.next_cursor ?? '1');
  t.match(last.out, /^nothing received from .* matches\n$/);
  const paged = await mta('log', '--from', since, '--tag', 'promo', '--limit', '2');
  t.match(paged.out, /\n\(more: add --cursor \d+\)\n$/);
  const sender = JSON.parse((await mta('log', '--from', since, '--sender', 'app@other.test', '--json')).out) as { items: { rcpt: string }[] };
  t.same(sender.items.map((i) => i.rcpt).sort(), ['e@ok.test', 'v@gone.test']);
  const recent = JSON.parse((await mta('log', '--json')).out) as { items: { rcpt: string }[] };
  t.equal(recent.items.length, 9, 'default: the last 24 hours (yesterday\'s message is older)');
  for (const [args, re] of [
    [['--from', '2026-13-01'], /from must be a date \(YYYY-MM-DD\) or a time/],
    [['--from', '2026-01-01', '--to', '2026-03-01'], /more than 31 days/],
    [['--result', 'bounced'], /result must be one of delivered, failed, expired, deferred, queued/],
    [['--cursor', 'abc'], /"abc" is not a cursor/],
    // well-formed, but not a cursor the store made: refused whole, not taken as "from the start"
    [['--cursor', '0.'], /"0\." is not a cursor from an earlier page/],
    [['--cursor', '1.x'], /"1\.x" is not a cursor from an earlier page/],
    [['--rcpt', '@no_domain'], /rcpt: "no_domain" is not a domain name/],
    [['--rcpt', ' '], /rcpt must be an address, @domain or part of an address/],
  ] as [string[], RegExp][]) {
    const e = await mta('log', ...args);
    t.equal(e.code, 1, args.join(' '));
    t.match(e.err, re);
  }
});

t.test('mta suppression export writes CSV; list and export filter by keyword and time', async (t) => {
  const mta = (...a: string[]): ReturnType<typeof runMta> => runMta([...a, '--config', w.daemon.configPath]);
  const r = await mta('suppression', 'export');
  t.equal(r.code, 0, r.err);
  const rows = parseCsv(r.out, { columns: true }) as Record<string, string>[];
  t.same(rows.map((x) => [x['address'], x['scope'], x['source']]), [['v@gone.test', '', 'bounce'], ['x@gone.test', '', 'bounce']]);
  t.match(rows[0]!['reason'], /User unknown/);
  t.match(rows[0]!['created_at'], /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
  t.match(r.out, /^address,scope,source,reason,created_at\n/);
  const search = parseCsv((await mta('suppression', 'export', '--search', 'x@', '--since', today)).out, { columns: true }) as Record<string, string>[];
  t.same(search.map((x) => x['address']), ['x@gone.test']);
  t.equal((await mta('suppression', 'export', '--until', yesterday)).out, 'address,scope,source,reason,created_at\n', 'none before today');
  const list = await mta('suppression', 'list', '--since', today, '--until', today, '--json');
  t.equal((JSON.parse(list.out) as unknown[]).length, 2);
  for (const [args, re] of [
    [['suppression', 'export', '--format', 'xlsx'], /--format must be csv/],
    [['suppression', 'export', '--since', 'yesterday'], /since must be a date/],
    [['suppression', 'list', '--since', today, '--until', yesterday], /since is after until/],
  ] as [string[], RegExp][]) {
    const e = await mta(...args);
    t.equal(e.code, 1, args.join(' '));
    t.equal(e.out, '');
    t.match(e.err, re);
  }
});

t.test('retention purge: finished messages and old counters go, waiting mail stays', async (t) => {
  const dir = tempDir();
  const store = openTestStore(join(dir, 'data'));
  t.teardown(async () => { await store.close(); rmSync(dir, { recursive: true, force: true }); });
  const t0 = Date.UTC(2026, 0, 10, 12);
  const add = async (rcpt: string): Promise<QueueId> => {
    const id = newQueueId(t0);
    const body = Buffer.from('Subject: x\r\n\r\nx\r\n');
    await store.commitIncoming({ id, receivedAt: t0, sender: 's@x.test', authUser: null, clientIp: null, helo: null, messageId: `<${id}@x>`, subject: 'x', size: body.length, lane: 'batch', tag: null, chunks: [body], recipients: [rcpt] });
    return id;
  };
  const done = await add('a@y.test');
  const waiting = await add('b@y.test');
  const claimed = await store.claimDue({ now: t0, limit: 10 });
  const a = claimed.find((r) => r.rcpt === 'a@y.test')!;
  await store.recordOutcomes([{ recipientId: a.recipientId, queueId: done, kind: 'delivered', at: t0 + 1000, reply: '250 ok', attempted: true, detail: { status: 0 } }]);
  await store.requeue(claimed.filter((r) => r !== a).map((r) => r.recipientId), t0);
  const svc = new StatsService(store);
  const retention = { detailsMs: 30 * DAY, statisticsMs: 90 * DAY, purgeSchedule: '43 3 * * *' };
  t.match(await svc.purge(retention, t0 + 29 * DAY), { messages: 0, statsRows: 0 }, 'nothing is old enough yet');
  t.match(await svc.purge(retention, t0 + 31 * DAY), { messages: 1, statsRows: 0 });
  t.notOk(await store.getMessage(done), 'the finished message is gone');
  t.equal((await store.eventsOfRecipients([a.recipientId])).length, 0, 'with its events');
  t.ok(await store.getMessage(waiting), 'a message still waiting for delivery stays, however old');
  t.same(counts(await svc.query({ from: '2026-01-10', to: '2026-01-10', by: 'day' }, t0)), { '2026-01-10': c(2, 1) }, 'statistics outlive details');
  t.match(await svc.purge(retention, t0 + 91 * DAY), { statsRows: 1 });
  t.same(counts(await svc.query({ from: '2026-01-10', to: '2026-01-10', by: 'day' }, t0)), { '2026-01-10': c(0, 0) });
});
