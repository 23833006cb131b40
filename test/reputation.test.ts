// Reputation levels: the seed's table and rules as a pure function (boundaries exactly as
// written: ">= 70 %", "> 300", "> 9 %" ...), then the service over a real spool with daily
// figures seeded per day and a controllable clock: level 1 at first, upgrades at once,
// downgrades the next day, a ban for the rest of the day, level 0 until an operator acts,
// spam bounces counted from real outcomes; and end to end on a daemon: the cap refuses
// with 552, `mta domain show` and the API report level, cap and figures.
import t from 'tap';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { startDaemon, PASSWORD, tempDir } from './helpers/daemon.js';
import { RawSmtp } from './helpers/smtp-client.js';
import { apiClient } from './helpers/api.js';
import { runMta } from './helpers/run.js';
import { compileConfig } from '../src/config/config.js';
import { openTestStore } from './helpers/store.js';
import type { Store } from '../src/spool/types.js';
import type { RecipientOutcome } from '../src/spool/types-queue.js';
import { createLogger } from '../src/util/log.js';
import { newQueueId } from '../src/util/ids.js';
import { capOfLevel, evaluate, LEVEL_CAPS, MAX_LEVEL } from '../src/quota/levels.js';
import { ReputationService } from '../src/quota/reputation-service.js';
import { QuotaService } from '../src/quota/quota.js';
import type { DailyFigures } from '../src/spool/types-quota.js';

const fig = (f: Partial<DailyFigures>): DailyFigures => ({
  volume: 0, delivered: 0, failed: 0, invalid: 0, expired: 0, spamBounces: 0, complaints: 0, opens: 0, ...f,
});

t.test('the level table (seed 004)', async (t) => {
  t.equal(LEVEL_CAPS.length, 21);
  t.equal(MAX_LEVEL, 20);
  const expect: [number, number][] = [[0, 0], [1, 500], [2, 1000], [3, 2000], [4, 5000], [5, 10_000], [6, 20_000], [7, 40_000], [8, 60_000],
    [9, 80_000], [10, 100_000], [11, 150_000], [12, 200_000], [13, 300_000], [14, 400_000], [15, 500_000], [19, 900_000], [20, 1_000_000]];
  for (const [level, cap] of expect) t.equal(capOfLevel(level), cap, `level ${level}`);
  t.equal(capOfLevel(25), 1_000_000, 'nothing above 20');
});

t.test('evaluate: the seed rules at their boundaries', async (t) => {
  // Level 1: cap 500, upgrade from 350 (70 %).
  const good = { delivered: 340, invalid: 10 }; // 350 known: delivery 97.1 %, invalid 2.9 %
  t.match(evaluate(1, fig({ volume: 350, ...good })), { change: 'up', level: 2, ban: false }, '70 % of the cap exactly');
  t.match(evaluate(1, fig({ volume: 349, ...good })), { change: 'none', level: 1 }, 'below 70 %');
  t.match(evaluate(1, fig({ volume: 350, delivered: 322, failed: 28 })), { change: 'none' }, 'delivery 92 % is not > 92 %');
  t.match(evaluate(1, fig({ volume: 350, delivered: 323, failed: 27 })), { change: 'up' }, 'delivery 92.3 %');
  t.match(evaluate(1, fig({ volume: 400, delivered: 380, invalid: 20 })), { change: 'none' }, 'invalid 5 % is not < 5 %');
  t.match(evaluate(1, fig({ volume: 400, delivered: 390, failed: 10, spamBounces: 10 })), { change: 'none' }, 'spam 2.5 % is not < 2.5 %');
  t.match(evaluate(1, fig({ volume: 400, delivered: 390, failed: 10, complaints: 1 })), { change: 'none' }, 'complaints 0.26 % is not < 0.1 %');
  // The second upgrade rule: delivery > 90 %, complaints < 0.1 %, opens > 50 % (invalid may be high).
  t.match(evaluate(1, fig({ volume: 400, delivered: 364, invalid: 36, opens: 182 })), { change: 'none' }, 'opens exactly 50 % (of delivered)');
  t.match(evaluate(1, fig({ volume: 400, delivered: 364, invalid: 36, opens: 183 })), { change: 'up' }, 'delivery 91 %, invalid 9 %, opens 50.3 %');
  t.match(evaluate(1, fig({ volume: 400, delivered: 364, invalid: 36 })), { change: 'none' }, 'without open data the second rule never fires');
  t.match(evaluate(20, fig({ volume: 900_000, delivered: 900_000 })), { change: 'none', level: 20 }, 'no level above 20');
  t.match(evaluate(1, fig({ volume: 350 })), { change: 'none', reason: 'no rule met' }, 'no known outcome: no rate, no rule');

  // Downgrades need volume > 300.
  t.match(evaluate(3, fig({ volume: 300, delivered: 100, failed: 200 })), { change: 'none', level: 3 }, 'volume 300 is not > 300');
  t.match(evaluate(3, fig({ volume: 301, delivered: 100, failed: 201 })), { change: 'down', level: 2, ban: false }, 'delivery 33 %');
  t.match(evaluate(3, fig({ volume: 1000, delivered: 650, failed: 350 })), { change: 'none' }, 'delivery 65 % is not < 65 %');
  t.match(evaluate(3, fig({ volume: 1000, delivered: 649, failed: 351 })), { change: 'down', reason: /delivery rate 64\.9% < 65%/ });
  t.match(evaluate(3, fig({ volume: 1000, delivered: 910, invalid: 90 })), { change: 'none' }, 'invalid 9 % is not > 9 %');
  t.match(evaluate(3, fig({ volume: 1000, delivered: 909, invalid: 91 })), { change: 'down', ban: false, reason: /invalid-address rate 9\.1% > 9%/ });
  t.match(evaluate(3, fig({ volume: 1000, delivered: 949, failed: 51, spamBounces: 51 })), { change: 'down', ban: false, reason: /spam-bounce rate 5\.1% > 5%/ });
  t.match(evaluate(3, fig({ volume: 1000, delivered: 1000, complaints: 6 })), { change: 'down', reason: /complaint rate 0\.6% > 0\.5%/ });
  t.match(evaluate(3, fig({ volume: 1000, delivered: 1000, complaints: 5 })), { change: 'none' }, 'complaints 0.5 % is not > 0.5 %');
  t.match(evaluate(1, fig({ volume: 1000, delivered: 1, failed: 999 })), { change: 'down', level: 0 }, 'from 1 to 0');
  t.match(evaluate(0, fig({ volume: 1000, delivered: 1, failed: 999 })), { change: 'none', level: 0 }, 'nothing below 0');

  // Bans: volume > 300 and invalid > 11 % or spam > 15 %; a ban day is also a downgrade day.
  t.match(evaluate(3, fig({ volume: 1000, delivered: 890, invalid: 110 })), { ban: false, change: 'down' }, 'invalid 11 % is not > 11 %');
  t.match(evaluate(3, fig({ volume: 1000, delivered: 889, invalid: 111 })), { ban: true, change: 'down', level: 2, reason: /invalid-address rate 11\.1% > 11%/ });
  t.match(evaluate(3, fig({ volume: 1000, delivered: 849, failed: 151, spamBounces: 151 })), { ban: true, reason: /spam-bounce rate 15\.1% > 15%/ });
  t.match(evaluate(3, fig({ volume: 300, delivered: 0, invalid: 300 })), { ban: false, change: 'none' }, 'no ban at volume 300');
  t.match(evaluate(1, fig({ volume: 400, delivered: 300, invalid: 100 })), { change: 'down' }, 'a bad day never upgrades, whatever the volume');
});

/** A spool with daily figures seeded per (day, domain), and the services over it with a clock. */
function world(t: { teardown(fn: () => Promise<void>): void }): { store: Store; rep: ReputationService; quota: QuotaService; seed: (day: string, domain: string, f: Partial<DailyFigures>) => Promise<void> } {
  const dir = tempDir();
  const store = openTestStore(join(dir, 'data'));
  t.teardown(async () => { await store.close(); rmSync(dir, { recursive: true, force: true }); });
  const config = compileConfig('hostname = "mta.test"\n[[smtp.listen]]\naddress = "127.0.0.1:2587"\ntls = "none"\n[reputation]\nenabled = true\n', 'x.toml');
  const rep = new ReputationService(config, store, createLogger('silent'), () => { throw new Error('the tests pass the time'); });
  const quota = new QuotaService(() => config, store, rep);
  // The figures come from real mail, as in production: one message received that day with
  // as many recipients as the volume grows by, and outcomes for as many as each figure
  // grows by; the rest are deferred past every day the tests look at.
  const seed = async (day: string, domain: string, f: Partial<DailyFigures>): Promise<void> => {
    const have = await store.dailyFigures(domain, day);
    const grow = (k: keyof DailyFigures): number => {
      const n = (f[k] ?? 0) - have[k];
      if (n < 0) throw new Error(`seed: ${k} can only grow (${have[k]} -> ${f[k]})`);
      return n;
    };
    const at = Date.parse(`${day}T12:00:00Z`);
    const id = newQueueId(at);
    const body = Buffer.from('Subject: x\r\n\r\nx\r\n');
    const volume = grow('volume');
    if (volume === 0) return;
    await store.commitIncoming({
      id, receivedAt: at, sender: `app@${domain}`, authUser: null, clientIp: null, helo: null, messageId: `<${id}@x>`, subject: 'x',
      size: body.length, lane: 'batch', tag: null, chunks: [body], recipients: Array.from({ length: volume }, (_, i) => `r${i}@dest.test`),
    });
    const claimed = await store.claimDue({ now: at, limit: volume });
    if (claimed.length !== volume || claimed.some((r) => r.queueId !== id)) throw new Error(`seed: claimed ${claimed.length} of ${volume}`);
    const spam = grow('spamBounces');
    const kinds: [RecipientOutcome['kind'], number, number][] = [
      ['delivered', grow('delivered'), 0], ['failed', spam, 3], ['failed', grow('failed') - spam, 4], ['failed', grow('invalid'), 2], ['expired', grow('expired'), 4],
    ];
    const outcomes: RecipientOutcome[] = [];
    for (const [kind, n, status] of kinds) {
      for (const r of claimed.splice(0, n)) outcomes.push({ recipientId: r.recipientId, queueId: id, kind, at, reply: kind === 'delivered' ? '250 ok' : '550 no', attempted: true, detail: { status } });
    }
    for (const r of claimed) outcomes.push({ recipientId: r.recipientId, queueId: id, kind: 'deferred', at, nextAttemptAt: Date.parse('2100-01-01T00:00:00Z'), reply: '451 later', attempted: true, detail: {} });
    await store.recordOutcomes(outcomes);
  };
  return { store, rep, quota, seed };
}

const at = (iso: string): number => Date.parse(iso);

t.test('a new domain starts at level 1; an upgrade applies at once, as a quota check nears the cap', async (t) => {
  const { store, rep, quota, seed } = world(t);
  t.same(await rep.capOf('up.test', at('2026-03-10T08:00:00Z')), { level: 1, cap: 500, reason: 'reputation level 1 allows 500 a day' });
  await seed('2026-03-10', 'up.test', { volume: 340, delivered: 330, invalid: 5 });
  t.same(await quota.check('up.test', 10, at('2026-03-10T09:00:00Z')), { ok: true, left: 160 }, 'near the cap: evaluated, but today\'s volume 340 is below 350');
  await seed('2026-03-10', 'up.test', { volume: 360, delivered: 350, invalid: 5 });
  // 360 of 500 is past 70 %: the check upgrades before it answers.
  t.same(await quota.check('up.test', 1, at('2026-03-10T10:00:00Z')), { ok: true, left: 640 }, 'level 2: 1000 - 360');
  t.match(await store.getReputation('up.test'), { level: 2, day: '2026-03-10', bannedUntil: null });
  t.match(await store.listReputationHistory('up.test', 5), [{ fromLevel: 1, toLevel: 2, change: 'up', reason: /volume 360: invalid-address rate 1\.41% < 5%, delivery rate 98\.59% > 92%/ }]);
  // Several levels in one day, as the seed says ("1 级...当天也可以自动提升至 20 级").
  await seed('2026-03-10', 'up.test', { volume: 3600, delivered: 3500, invalid: 10 });
  t.equal(await rep.tryUpgrade('up.test', at('2026-03-10T11:00:00Z')), true);
  t.match(await store.getReputation('up.test'), { level: 5 }, '3600 >= 700, 1400, 3500 (70 % of levels 2-4), < 7000 (level 5)');
  t.equal(await rep.tryUpgrade('up.test', at('2026-03-10T11:01:00Z')), false, 'nothing more until the volume grows');
  // The next good day keeps the level (no downgrade, no rollover change).
  t.match(await rep.capOf('up.test', at('2026-03-11T00:00:01Z')), { level: 5, cap: 10_000 });
});

t.test('a downgrade applies the next day; the minimum volume is respected; several days roll over at once', async (t) => {
  const { store, rep, quota, seed } = world(t);
  await rep.setLevel('down.test', 3, at('2026-03-10T00:00:00Z'), 'test');
  await rep.setLevel('small.test', 3, at('2026-03-10T00:00:00Z'), 'test');
  await seed('2026-03-10', 'down.test', { volume: 400, delivered: 240, failed: 160 }); // delivery 60 %
  await seed('2026-03-10', 'small.test', { volume: 300, delivered: 60, invalid: 240 }); // terrible, but volume 300
  await rep.tick(at('2026-03-10T20:00:00Z'));
  t.match(await rep.capOf('down.test', at('2026-03-10T23:59:59Z')), { level: 3, cap: 2000 }, 'the same day: still level 3');
  t.match(await rep.view('down.test', at('2026-03-10T23:59:59Z')), { verdict: { change: 'down', level: 2 } }, 'show says what tomorrow brings');
  t.match(await quota.check('down.test', 1, at('2026-03-10T23:59:59Z')), { ok: true, left: 1600 });

  await rep.tick(at('2026-03-11T00:05:00Z'));
  t.match(await store.getReputation('down.test'), { level: 2, day: '2026-03-11' }, 'the scheduled pass rolls the day over');
  t.match(await store.listReputationHistory('down.test', 1), [{ change: 'down', fromLevel: 3, toLevel: 2, reason: /^2026-03-10: volume 400: delivery rate 60% < 65%/ }]);
  t.match(await rep.capOf('small.test', at('2026-03-11T00:05:00Z')), { level: 3 }, 'volume 300 is not > 300: no downgrade');
  t.match(await quota.check('down.test', 1001, at('2026-03-11T01:00:00Z')), { ok: false, which: 'daily', limit: 1000, used: 0, reason: 'reputation level 2 allows 1000 a day' });

  // Two bad days while nobody asked: both apply at the next look, one level each.
  await seed('2026-03-11', 'down.test', { volume: 500, delivered: 100, failed: 400 });
  await seed('2026-03-12', 'down.test', { volume: 500, delivered: 100, failed: 400 });
  t.match(await rep.capOf('down.test', at('2026-03-13T12:00:00Z')), { level: 0, cap: 0, reason: /level 0 and may not send until an operator sets a level/ });
  t.match(await quota.check('down.test', 1, at('2026-03-13T12:00:00Z')), { ok: false, which: 'daily', limit: 0 }, 'level 0: nothing goes');
  t.equal((await store.listReputationHistory('down.test', 10)).filter((h) => h.change === 'down').length, 3);
  await rep.setLevel('down.test', 1, at('2026-03-13T12:01:00Z'), 'cleaned the list');
  t.match(await quota.check('down.test', 1, at('2026-03-13T12:02:00Z')), { ok: true, left: 500 }, 'an operator lifts level 0');
  t.match(await store.listReputationHistory('down.test', 1), [{ change: 'set', fromLevel: 0, toLevel: 1, reason: 'cleaned the list' }]);
  await t.rejects(rep.setLevel('down.test', 21, 0, 'x'), { code: 'MTA_ERR_INVALID' });
});

t.test('a ban lasts the rest of the day and is lifted after, with the next-day downgrade', async (t) => {
  const { store, rep, quota, seed } = world(t);
  await rep.setLevel('ban.test', 5, at('2026-03-10T00:00:00Z'), 'test');
  await seed('2026-03-10', 'ban.test', { volume: 400, delivered: 350, invalid: 50 }); // invalid 12.5 %
  t.match(await quota.check('ban.test', 1, at('2026-03-10T11:59:00Z')), { ok: true }, 'not evaluated yet: far from the cap, no pass run');
  await rep.tick(at('2026-03-10T12:00:00Z'));
  const r = await store.getReputation('ban.test');
  t.match(r, { level: 5, bannedUntil: at('2026-03-11T00:00:00Z'), banReason: /invalid-address rate 12\.5% > 11%/ });
  const v = await quota.check('ban.test', 1, at('2026-03-10T18:00:00Z'));
  t.match(v, { ok: false, which: 'daily', limit: 0, used: 400, reason: /ban\.test is banned until 2026-03-11T00:00:00\.000Z \(volume 400: invalid-address rate 12\.5% > 11%\)/ });
  await rep.tick(at('2026-03-10T18:05:00Z'));
  t.equal((await store.listReputationHistory('ban.test', 10)).filter((h) => h.change === 'ban').length, 1, 'banned once');
  t.match(await quota.check('ban.test', 1, at('2026-03-11T00:00:00Z')), { ok: true, left: 5000 }, 'lifted at midnight; level 4 (the day was also a downgrade day)');
  t.match(await store.getReputation('ban.test'), { level: 4, bannedUntil: null, banReason: null });
});

t.test('spam bounces are counted from real outcomes (DirectMail status 3)', async (t) => {
  const { store } = world(t);
  const t0 = at('2026-03-10T10:00:00Z');
  const id = newQueueId(t0);
  const body = Buffer.from('Subject: x\r\n\r\nx\r\n');
  await store.commitIncoming({
    id, receivedAt: t0, sender: 'app@spam.test', authUser: null, clientIp: null, helo: null, messageId: `<${id}@x>`, subject: 'x',
    size: body.length, lane: 'batch', tag: null, chunks: [body], recipients: ['a@d.test', 'b@d.test', 'c@d.test'],
  });
  const [a, b, c] = await store.claimDue({ now: t0, limit: 10 });
  await store.recordOutcomes([
    { recipientId: a!.recipientId, queueId: id, kind: 'failed', at: t0, reply: '554 5.7.1 spam', attempted: true, detail: { status: 3, category: 'spam_block' } },
    { recipientId: b!.recipientId, queueId: id, kind: 'failed', at: t0, reply: '550 5.1.1 unknown', attempted: true, detail: { status: 2, category: 'user_unknown' } },
    { recipientId: c!.recipientId, queueId: id, kind: 'delivered', at: t0, reply: '250 ok', attempted: true, detail: { status: 0 } },
  ]);
  t.same(await store.dailyFigures('spam.test', '2026-03-10'), { volume: 3, delivered: 1, failed: 1, invalid: 1, expired: 0, spamBounces: 1, complaints: 0, opens: 0 });
  t.same(await store.domainsActiveOn('2026-03-10'), ['spam.test']);
});

t.test('end to end: the cap refuses with 552, `mta domain show` and the API report the reputation', async (t) => {
  const d = await startDaemon('[reputation]\nenabled = true\n[quota]\ndaily = 10000\nmonthly = 0\n');
  t.teardown(() => d.stop());
  const call = apiClient(d);
  let r = await call('GET', '/api/v1/domains/example.com/quota');
  t.equal(r.status, 200);
  t.match(r.json, {
    domain: 'example.com', daily: { limit: 500, used: 0, left: 500, quota: 10000, reputation_cap: 500 }, monthly: { limit: null, used: 0, left: null },
    reputation: { level: 1, cap: 500, banned_until: null, today: { volume: 0, upgrade_volume: 350, min_volume: 300 }, next: { change: 'none' } },
  });

  r = await call('PUT', '/api/v1/domains/example.com/reputation', { level: 0, reason: 'suspended by the test' });
  t.equal(r.status, 200);
  t.match(r.json, { reputation: { level: 0, cap: 0, history: [{ change: 'set', from_level: 1, to_level: 0, reason: 'suspended by the test' }] }, daily: { limit: 0 } });
  const c = await RawSmtp.connect(d.port);
  await c.greet(); await c.ehlo(); await c.authPlain('app@example.com', PASSWORD);
  await c.cmd('MAIL FROM:<app@example.com>');
  t.equal((await c.cmd('RCPT TO:<x@dest.test>')).text,
    '552 5.7.0 Daily sending quota exceeded: example.com is at reputation level 0 and may not send until an operator sets a level');
  await c.quit();
  const api = await call('POST', '/api/v1/send', { from: 'app@example.com', to: 'x@dest.test', subject: 's', text: 'x' });
  t.match(api, { status: 429, json: { error: { code: 'MTA_ERR_QUOTA', smtp_code: 552, reason: /^5\.7\.0 Daily sending quota exceeded: example\.com is at reputation level 0/ } } });
  t.equal((await call('PUT', '/api/v1/domains/example.com/reputation', { level: 21 })).status, 400);

  const set = await runMta(['domain', 'reputation', 'example.com', '--level', '3', '--config', d.configPath]);
  t.equal(set.code, 0, set.err);
  const show = await runMta(['domain', 'show', 'example.com', '--config', d.configPath]);
  t.equal(show.code, 0, show.err);
  t.match(show.out, /quota today: 0 of 2,000 \(reputation cap; quota 10,000\)/);
  t.match(show.out, /quota this month: 0 of unlimited/);
  t.match(show.out, /reputation: level 3, cap 2,000 a day/);
  t.match(show.out, /upgrade possible from volume 1400; downgrade and ban need volume > 300/);
  t.match(show.out, /up +invalid-address rate n\/a < 5%, delivery rate n\/a > 92%, spam-bounce rate n\/a < 2\.5%, complaint rate n\/a < 0\.1%/);
  t.match(show.out, /set 0 → 3: set by an operator/);
  const json = await runMta(['domain', 'show', 'example.com', '--json', '--config', d.configPath]);
  t.match(JSON.parse(json.out), { name: 'example.com', quota: { daily: { limit: 2000 }, reputation: { level: 3, cap: 2000 } } });
});

t.test('reputation off: no level, no cap, `domain show` prints the quota only', async (t) => {
  const d = await startDaemon('[quota]\ndaily = 5\n');
  t.teardown(() => d.stop());
  const r = await apiClient(d)('GET', '/api/v1/domains/example.com/quota');
  t.match(r.json, { daily: { limit: 5, reputation_cap: null }, monthly: { limit: 150 }, reputation: null });
  t.equal((await apiClient(d)('PUT', '/api/v1/domains/example.com/reputation', { level: 2 })).status, 409);
  const show = await runMta(['domain', 'show', 'example.com', '--config', d.configPath]);
  t.match(show.out, /quota today: 0 of 5\nquota this month: 0 of 150\n/);
  t.notMatch(show.out, /reputation/);
  t.equal(await d.daemon.store.getReputation('example.com'), undefined, 'no row made while off');
});
