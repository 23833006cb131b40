// `timezone` (issue 15.11): statistics days, quota days and months and the reputation day
// follow the configured IANA zone, not UTC. With Asia/Shanghai a message received at 23:30
// UTC counts on the next day's statistics and quota; the zone name is checked by config
// check; the calendar helpers keep DST days right.
import t from 'tap';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir } from './helpers/daemon.js';
import { runMta } from './helpers/run.js';
import { compileConfig } from '../src/config/config.js';
import { openTestStore } from './helpers/store.js';
import { newQueueId, type QueueId } from '../src/util/ids.js';
import { trackingStats } from '../src/stats/tracking-stats.js';
import { QuotaService, monthOf } from '../src/quota/quota.js';
import { StatsService } from '../src/stats/stats.js';
import { dayIn, dayStartIn, nextDayStartIn } from '../src/util/time.js';

const BASE = 'hostname = "mta.test"\n[[smtp.listen]]\naddress = "127.0.0.1:2587"\ntls = "none"\n';
const at = (iso: string): number => Date.parse(iso);

for (const writerThread of [false, true]) t.test(`Asia/Shanghai: a message at 23:30 UTC counts on the next day's statistics and quota (writer thread ${writerThread ? 'on' : 'off'})`, async (t) => {
  const dir = tempDir();
  const config = compileConfig(`timezone = "Asia/Shanghai"\n${BASE}[quota]\ndaily = 5\n`, 'x.toml');
  t.equal(config.timeZone, 'Asia/Shanghai');
  const store = openTestStore(join(dir, 'data'), { timeZone: config.timeZone, writerThread });
  t.teardown(async () => { await store.close(); rmSync(dir, { recursive: true, force: true }); });
  const commit = async (receivedAt: number, n: number): Promise<QueueId> => {
    const id = newQueueId(receivedAt);
    const body = Buffer.from('Subject: x\r\n\r\nx\r\n');
    await store.commitIncoming({
      id, receivedAt, sender: 'a@q.test', authUser: 'a@q.test', clientIp: null, helo: null, messageId: `<${id}@x>`, subject: 'x', size: body.length,
      lane: 'batch', tag: null, chunks: [body], recipients: Array.from({ length: n }, (_, i) => `r${i}@dest.test`),
    });
    return id;
  };
  const early = await commit(at('2026-03-19T15:30:00Z'), 1); // 23:30 on the 19th in Beijing
  const late = await commit(at('2026-03-19T23:30:00Z'), 4); // 07:30 on the 20th in Beijing

  const stats = new StatsService(store, config.timeZone);
  const r = await stats.query({ from: '2026-03-19', to: '2026-03-20' }, at('2026-03-20T01:00:00Z'));
  t.equal(r.time_zone, 'Asia/Shanghai', 'the report names its calendar');
  t.same(r.rows.map((x) => [x.key, x.requests]), [['2026-03-19', 1], ['2026-03-20', 4]], '23:30 UTC is on the next Beijing day');
  t.equal((await stats.query({}, at('2026-03-19T23:45:00Z'))).to, '2026-03-20', '"today" is the Beijing day');

  const quota = new QuotaService(() => config, store);
  const now = at('2026-03-19T23:45:00Z');
  t.same(await quota.usage('q.test', now), { day: 4, month: 5 }, 'today (the 20th in Beijing) has the 23:30 UTC message only');
  t.same(await quota.check('q.test', 2, now), { ok: false, which: 'daily', limit: 5, used: 4 }, 'the daily quota counts it too');
  t.same(await quota.check('q.test', 2, at('2026-03-19T15:45:00Z')), { ok: true, left: 4 }, 'on the 19th in Beijing only the first counts');
  t.same(monthOf(at('2026-02-28T16:30:00Z'), 'Asia/Shanghai'), { period: '2026-03', from: '2026-03-01', to: '2026-03-31' }, 'months follow the zone too');

  // Opens count on the Beijing day their message was received, whenever they come.
  for (const [id, times] of [[early, 1], [late, 2]] as const) {
    const r = (await store.getMessage(id))!.recipients[0]!;
    for (let i = 0; i < times; i++) {
      await store.recordTrackingHit({ at: at('2026-03-20T02:00:00Z'), kind: 'open', queueId: id, recipientId: r.recipientId, ip: null, userAgent: null, method: 'GET', class: 'human', reason: null });
    }
  }
  const tr = await trackingStats(store, { from: '2026-03-19', to: '2026-03-20' }, config.timeZone, now);
  t.same(tr.trend.map((x) => [x.key, x.human.opens, x.human.unique_opens]), [['2026-03-19', 1, 1], ['2026-03-20', 2, 1]], 'tracking statistics: the Beijing days of receipt');
  if (writerThread) return;
  const path = join(dir, 'mta.toml');
  writeFileSync(path, `timezone = "Asia/Shanghai"\ndata_dir = "${join(dir, 'data')}"\n${BASE}`);
  const cli = await runMta(['stats', '--from', '2026-03-19', '--to', '2026-03-20', '--config', path]);
  t.equal(cli.code, 0, cli.err);
  t.match(cli.out, /\n2026-03-19\s+1\s.*\n2026-03-20\s+4\s.*\nTOTAL\s+5\s.*\n\(days of Asia\/Shanghai, the configured timezone\)\n$/, 'mta stats says which calendar');
});

t.test('the calendar helpers: day of a time, start of a day, next day start (DST kept right)', async (t) => {
  t.equal(dayIn(at('2026-03-19T16:00:00Z'), 'Asia/Shanghai'), '2026-03-20');
  t.equal(dayIn(at('2026-03-19T15:59:59Z'), 'Asia/Shanghai'), '2026-03-19');
  t.equal(dayStartIn('2026-03-20', 'Asia/Shanghai'), at('2026-03-19T16:00:00Z'));
  t.equal(nextDayStartIn(at('2026-03-19T23:30:00Z'), 'Asia/Shanghai'), at('2026-03-20T16:00:00Z'), 'a ban on the 20th ends at Beijing midnight');
  t.equal(dayStartIn('2026-03-08', 'America/New_York'), at('2026-03-08T05:00:00Z'), 'the day clocks spring forward starts in EST');
  t.equal(dayStartIn('2026-03-09', 'America/New_York'), at('2026-03-09T04:00:00Z'), 'the next one in EDT');
  t.equal(nextDayStartIn(at('2026-03-08T12:00:00Z'), 'America/New_York'), at('2026-03-09T04:00:00Z'));
  t.equal(dayIn(at('2026-03-19T23:30:00Z')), '2026-03-19', 'UTC by default');
});

t.test('config: timezone defaults to the system\'s; a bad name is one precise error from config check', async (t) => {
  t.equal(compileConfig(BASE, 'x.toml').timeZone, Intl.DateTimeFormat().resolvedOptions().timeZone);
  t.throws(() => compileConfig(`timezone = "Mars/Olympus"\n${BASE}`, 'x.toml'), /timezone: must be an IANA time zone name such as "Asia\/Shanghai"/);
  const dir = tempDir();
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const path = join(dir, 'mta.toml');
  writeFileSync(path, `data_dir = "${join(dir, 'data')}"\ntimezone = "Beijing"\n[[smtp.listen]]\naddress = "127.0.0.1:2587"\ntls = "none"\n`);
  const r = await runMta(['config', 'check', '--config', path]);
  t.not(r.code, 0);
  t.match(r.err + r.out, new RegExp(`${path}:2: timezone: must be an IANA time zone name`));
});
