// Egress end to end: sources bound to 127.0.0.2-127.0.0.7 on loopback, real sinks that
// record each session's client address and HELO. Trigger mail leaves from the trigger pool
// only, batch mail spreads over its pool, a warm-up cap of N sends N from the capped source
// and the rest from the other, a pool with only capped sources defers (never fails), and
// the source is on every attempt's detail, in metrics, in `mta egress status`.
import t from 'tap';
import { startWorld, allFinal, type World } from './helpers/delivery.js';
import type { Sink } from './helpers/sink.js';
import { apiClient, metricValue } from './helpers/api.js';
import { runMta } from './helpers/run.js';
import { sourceToml } from './helpers/egress.js';
import { startReceiver } from './helpers/receiver.js';
import { WebhookService } from '../src/events/webhooks.js';
import { BATCH, addBatchSender, makeList, makeTemplate } from './helpers/tasks.js';
import { appendFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { newQueueId, type QueueId } from '../src/util/ids.js';
import type { Lane } from '../src/spool/types-queue.js';

const today = new Date().toISOString().slice(0, 10);
const source = sourceToml;

let w: World;
// A shaping entry naming the pool "shaped": one connection per source of it to shaped.test.
t.before(async () => {
  w = await startWorld('[[delivery.shaping]]\nname = "per-source"\ndomains = ["shaped.test"]\negress = ["shaped"]\nmax_connections = 1\n', {
    // allow_private: the webhook receiver of 'webhook events name the egress source' is on loopback.
    extraToml: '[webhooks]\nallow_private = true\n[egress]\ndefault_pool = "batch"\n' +
      source('s2', 2) + source('s3', 3) + source('s4', 4) +
      source('s5', 5, `warmup_start = 3\nwarmup_factor = 2\nwarmup_from = "${today}"\n`) + source('s6', 6) +
      source('s7', 7, `warmup_start = 1\nwarmup_from = "${today}"\n`) +
      '[[egress.pool]]\nname = "trigger"\nsources = [{ source = "s2" }]\n' +
      '[[egress.pool]]\nname = "batch"\nsources = [{ source = "s3" }, { source = "s4" }]\n' +
      '[[egress.pool]]\nname = "warm"\nsources = [{ source = "s5", weight = 1000 }, { source = "s6", weight = 1 }]\n' +
      '[[egress.pool]]\nname = "solo"\nsources = [{ source = "s7" }]\n' +
      '[[egress.rule]]\npool = "trigger"\nlanes = ["trigger"]\n' +
      '[[egress.rule]]\npool = "warm"\ndestinations = ["warm.test"]\n' +
      '[[egress.rule]]\npool = "solo"\ndestinations = ["solo.test"]\n' +
      '[[egress.pool]]\nname = "shaped"\nsources = [{ source = "s3" }, { source = "s4" }]\n' +
      '[[egress.pool]]\nname = "campaign"\nsources = [{ source = "s6" }]\n' +
      '[[egress.rule]]\npool = "shaped"\ndestinations = ["shaped.test"]\n',
  });
});
t.teardown(() => w.stop());

function commit(to: string, lane: Lane, subject: string): Promise<QueueId> {
  const id = newQueueId();
  const body = Buffer.from(`From: app@example.com\r\nTo: ${to}\r\nSubject: ${subject}\r\nMessage-ID: <${subject}@t>\r\n\r\nhello\r\n`);
  return w.daemon.daemon.store.commitIncoming({
    id, receivedAt: Date.now(), sender: 'app@example.com', authUser: 'app@example.com', clientIp: '127.0.0.1',
    helo: 't', messageId: `<${subject}@t>`, subject, size: body.length, lane, tag: null, chunks: [body], recipients: [to],
  }).then(() => id);
}

const subjectOf = (m: Sink['messages'][number]): string => /\r\nSubject: (\S+)/.exec(m.raw.toString())![1]!;
const fromWhere = (msgs: Sink['messages']): Set<string> => new Set(msgs.map((m) => `${m.clientAddress} ${m.helo}`));

t.test('trigger mail leaves from the trigger pool only; batch mail from both sources of its pool, each with its HELO', async (t) => {
  const s = await w.addDomain('dest.test', 60);
  const ids = await Promise.all([
    ...Array.from({ length: 5 }, (_, i) => commit(`t${i}@dest.test`, 'trigger', `trigger${i}`)),
    ...Array.from({ length: 30 }, (_, i) => commit(`b${i}@dest.test`, 'batch', `batch${i}`)),
  ]);
  await w.waitFor('35 deliveries', () => s.messages.length === 35);
  const trigger = s.messages.filter((m) => subjectOf(m).startsWith('trigger'));
  const batch = s.messages.filter((m) => subjectOf(m).startsWith('batch'));
  t.same([...fromWhere(trigger)], ['127.0.0.2 s2.mta.test'], 'every trigger message from s2');
  // 30 draws between two equal weights: both are used (all on one side: 2 in 2^30).
  t.same([...fromWhere(batch)].sort(), ['127.0.0.3 s3.mta.test', '127.0.0.4 s4.mta.test'], 'batch mail from s3 and s4 only');
  const m = await w.waitFor('recorded', async () => { const m = await w.message(ids[0]!); return allFinal(m) && m; });
  t.match(m.events.find((e) => e.type === 'delivered')!.detail, { source: 's2', source_ip: '127.0.0.2', ip: '127.0.0.60' }, 'the attempt names its source');
  const log = await runMta(['log', '--rcpt', 't0@dest.test', '--events', '--config', w.daemon.configPath]);
  t.match(log.out, /delivered\s+mx\.dest\.test\[127\.0\.0\.60\] from s2\[127\.0\.0\.2\] 250/, 'mta log --events names the source');
  const metrics = await apiClient(w.daemon)('GET', '/metrics');
  t.ok(metricValue(metrics.text, 'mta_egress_replies_total', { source: 's2', result: 'delivered' }) >= 5, 'metrics count per source');
});

t.test('a warm-up cap of 3 sends 3 from the new source and the rest from the other; a pool of capped sources defers', async (t) => {
  const warm = await w.addDomain('warm.test', 61);
  const solo = await w.addDomain('solo.test', 62);
  await Promise.all(Array.from({ length: 10 }, (_, i) => commit(`w${i}@warm.test`, 'batch', `warm${i}`)));
  await w.waitFor('10 deliveries', () => warm.messages.length === 10);
  const by = (addr: string): number => warm.messages.filter((m) => m.clientAddress === addr).length;
  // s5 weighs 1000 against 1: it is drawn until its cap is reached.
  t.equal(by('127.0.0.5'), 3, 'the warm-up cap of s5 for warm.test today');
  t.equal(by('127.0.0.6'), 7, 'the rest from s6');
  const ids = await Promise.all([commit('a@solo.test', 'batch', 'solo1'), commit('b@solo.test', 'batch', 'solo2')]);
  const states = await w.waitFor('one delivered, one deferred', async () => {
    const ms = await Promise.all(ids.map((id) => w.message(id)));
    const st = ms.map((m) => m.recipients[0]!.state).sort();
    return st[0] === 'deferred' && st[1] === 'delivered' && ms;
  });
  t.equal(solo.messages.length, 1, 'only the cap of s7 went out');
  const deferred = states.find((m) => m.recipients[0]!.state === 'deferred')!;
  const ev = deferred.events.find((e) => e.type === 'deferred')!;
  t.match(ev.detail, { egress_pool: 'solo', attempt: 0 }, 'not counted as an attempt');
  t.equal(new Date(deferred.recipients[0]!.nextAttemptAt).toISOString().slice(11), '00:00:00.000Z', 'waits for the next UTC day');
  const api = apiClient(w.daemon);
  const st = await api('GET', '/api/v1/egress');
  t.equal(st.status, 200);
  const s5 = (st.json.sources as { name: string }[]).find((x) => x.name === 's5');
  t.match(s5, { address: '127.0.0.5', helo: 's5.mta.test', pools: ['warm'], warmup_day: 1, cap: 3, sent: 3, providers: [{ provider: 'warm.test', sent: 3, cap: 3 }] });
  // The CLI prints the same (through the running daemon's API).
  const r = await runMta(['egress', 'status', '--config', w.daemon.configPath]);
  t.equal(r.code, 0, r.err);
  t.match(r.out, /s5\s+127\.0\.0\.5\s+s5\.mta\.test\s+warm\s+1\s+3\s+3\s+0\s+0/);
  t.match(r.out, /warm\.test\s+3\s+3\s+0\s+0/);
});

t.test('a shaping entry naming a pool limits connections per source: one from each of s3 and s4', async (t) => {
  // Slow DATA replies keep sessions open, so without the limit several would run from each source.
  const s = await w.addDomain('shaped.test', 63, { dataDelayMs: 30 });
  await Promise.all(Array.from({ length: 24 }, (_, i) => commit(`x${i}@shaped.test`, 'batch', `shaped${i}`)));
  await w.waitFor('24 deliveries', () => s.messages.length === 24, 60_000);
  t.same([...fromWhere(s.messages)].sort(), ['127.0.0.3 s3.mta.test', '127.0.0.4 s4.mta.test']);
  t.same(Object.fromEntries(s.maxConcurrentFrom), { '127.0.0.3': 1, '127.0.0.4': 1 }, 'never two sessions at once from one source');
  t.equal(w.daemon.daemon.scheduler!.destinations().find((d) => d.domain === 'shaped.test')?.shaping ?? null, null, 'the entry does not shape the destination as a whole');
});

t.test('webhook events name the egress source', async (t) => {
  const rx = await startReceiver();
  t.teardown(() => rx.close());
  const hooks = new WebhookService(w.daemon.daemon.store, () => w.daemon.daemon.config);
  const { webhook } = await hooks.add({ url: rx.url('/egress'), secret: 'a-test-secret-of-some-length' });
  t.teardown(() => hooks.remove(webhook.id));
  await w.addDomain('hooked.test', 64);
  await commit('h@hooked.test', 'trigger', 'hooked');
  // An account-level webhook also gets the events of other tests' mail (deferrals of earlier
  // messages still retrying): pick this recipient's delivered event.
  const mine = (): Record<string, unknown> | undefined => rx.acked('/egress').map((r) => JSON.parse(r.body) as Record<string, unknown>)
    .find((e) => e['rcpt'] === 'h@hooked.test' && e['event'] === 'delivered');
  const event = await w.waitFor('the delivered event', () => mine());
  t.match(event, { event: 'delivered', rcpt: 'h@hooked.test', egress_source: 's2' });
});

t.test('a source speaks its own address family: an IPv4 pool does not connect to an IPv6-only MX', async (t) => {
  w.dns.set('v6only.test', { MX: [{ preference: 10, exchange: 'mx.v6only.test' }] });
  w.dns.set('mx.v6only.test', { AAAA: ['::1'] });
  const id = await commit('x@v6only.test', 'batch', 'v6only');
  const m = await w.waitFor('deferred', async () => { const m = await w.message(id); return m.recipients[0]!.state === 'deferred' && m; });
  t.match(m.recipients[0]!.lastReply, /^427 4\.4\.1 .*no address of the IPv4 family of egress source s[34]/);
  const st = await apiClient(w.daemon)('GET', '/api/v1/egress');
  const rows = (st.json.sources as { providers: { provider: string; sent: number }[] }[]).flatMap((x) => x.providers).filter((p) => p.provider === 'v6only.test');
  t.ok(rows.length > 0 && rows.every((p) => p.sent === 0), 'counted at the pick, refunded without a connection: nothing counts toward a warm-up cap');
});

t.test('a batch task\'s mail leaves from the pool its rule names (rule added by a reload)', async (t) => {
  // The sink defers everything until the rule is in force, so every accepted message was sent under it.
  let ruled = false;
  const sink = await w.addDomain('taskdest.test', 65, { rcpt: () => (ruled ? undefined : '450 4.2.0 try again later') });
  const store = w.daemon.daemon.store;
  await addBatchSender(store);
  await makeList(store, 'egress-club', 6, (i) => ({ address: `m${i}@taskdest.test`, vars: { UserName: `M${i}` } }));
  await makeTemplate(store, 'egress-hello', { subject: 'Hi {UserName}', html: '<p>Hello {UserName}</p>' });
  const r = await apiClient(w.daemon)('POST', '/api/v1/tasks', { list: 'egress-club', template: 'egress-hello', from: BATCH });
  t.equal(r.status, 201, r.text);
  appendFileSync(w.daemon.configPath, `\n[[egress.rule]]\npool = "campaign"\ntasks = ["${r.json.id}"]\n`);
  t.equal(w.daemon.daemon.reload(), undefined);
  ruled = true;
  await w.waitFor('6 task deliveries', () => sink.messages.length === 6, 60_000);
  t.same([...fromWhere(sink.messages)], ['127.0.0.6 s6.mta.test'], 'every task message from the campaign pool\'s source');
});

t.test('a refusal at the greeting counts as a block of the source that connected', async (t) => {
  const server = createServer((c) => c.end('554 5.7.1 Service unavailable; client host blocked using a test list\r\n'));
  await new Promise<void>((r) => server.listen(w.port, '127.0.0.66', () => r()));
  t.teardown(() => new Promise<void>((r) => server.close(() => r())));
  w.dns.set('blocked.test', { MX: [{ preference: 10, exchange: 'mx.blocked.test' }] });
  w.dns.set('mx.blocked.test', { A: ['127.0.0.66'] });
  const id = await commit('x@blocked.test', 'batch', 'blocked');
  const m = await w.waitFor('an outcome', async () => { const m = await w.message(id); return m.events.some((e) => e.type !== 'reception') && m; });
  const ev = m.events.find((e) => e.type !== 'reception')!;
  t.match(ev.detail, { source: /^s[34]$/ }, 'the attempt names its source');
  const st = await apiClient(w.daemon)('GET', '/api/v1/egress');
  const src = (st.json.sources as { name: string; providers: { provider: string; blocked: number }[] }[]).find((x) => x.name === ev.detail['source'])!;
  t.match(src.providers.find((p) => p.provider === 'blocked.test'), { blocked: 1 }, 'egress status shows the block for that source and destination');
});
