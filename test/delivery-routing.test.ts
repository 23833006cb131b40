// Where and how fast mail goes: static routes with AUTH, shaping (pace), slow-down after a
// rate-limit reply, and the trigger lane ahead of the batch lane.
import t from 'tap';
import { startWorld, allFinal, type World } from './helpers/delivery.js';
import { freePort, startSink, type Sink } from './helpers/sink.js';
import { newQueueId } from '../src/util/ids.js';
import type { Lane } from '../src/spool/types-queue.js';

let w: World;
let relay: Sink;
t.before(async () => {
  const relayPort = await freePort();
  relay = await startSink('127.0.0.50', relayPort, { auth: { user: 'relay-user', pass: 's3cret' } });
  w = await startWorld(
    'max_connections_per_domain = 1\n' +
    '[[delivery.shaping]]\nname = "paced"\ndomains = ["paced.test"]\nmax_messages_per_second = 10\n',
    { extraToml: `[[route]]\ndomains = ["routed.test"]\nhost = "127.0.0.50:${relayPort}"\ntls = "none"\nusername = "relay-user"\npassword = "s3cret"\n` },
  );
});
t.teardown(async () => { await w.stop(); await relay.close(); });

function commit(to: string, lane: Lane, subject: string): Promise<void> {
  const body = Buffer.from(`From: app@example.com\r\nTo: ${to}\r\nSubject: ${subject}\r\nMessage-ID: <${subject}@t>\r\n\r\nhello\r\n`);
  return w.daemon.daemon.store.commitIncoming({
    id: newQueueId(), receivedAt: Date.now(), sender: 'app@example.com', authUser: 'app@example.com', clientIp: '127.0.0.1',
    helo: 't', messageId: `<${subject}@t>`, subject, size: body.length, lane, tag: null, chunks: [body], recipients: [to],
  });
}

t.test('a static route sends the domain to its relay, authenticated, without an MX lookup', async (t) => {
  const id = await w.submit('someone@routed.test');
  const m = await w.waitFor('routed delivery', async () => { const m = await w.message(id); return allFinal(m) && m; });
  t.equal(m.recipients[0]!.state, 'delivered');
  t.equal(relay.messages.length, 1);
  t.equal(relay.messages[0]!.user, 'relay-user', 'authenticated to the relay');
  t.notOk(w.dns.queries.some((q) => q.name === 'routed.test'), 'no DNS query for the routed domain');
  t.equal(m.events.find((e) => e.type === 'delivered')!.detail['mx'], '127.0.0.50');
});

t.test('shaping paces a destination (10 messages per second: MAIL FROM at least ~100 ms apart)', async (t) => {
  const s = await w.addDomain('paced.test', 51);
  const start = Date.now();
  await Promise.all(Array.from({ length: 5 }, (_, i) => commit(`p${i}@paced.test`, 'batch', `paced${i}`)));
  await w.waitFor('five paced deliveries', () => s.messages.length === 5);
  const at = s.messages.map((m) => m.mailAt).sort((a, b) => a - b);
  // Each message's slot is 100 ms after the one before, the first no earlier than `start`; a
  // MAIL FROM never precedes its slot, so the i-th (in time) is at least i × 100 ms after
  // `start` however late any of them ran. Lateness cannot make this fail; no pacing does.
  // (5 ms for timers, which run on a monotonic clock, against Date.now.)
  for (let i = 1; i < at.length; i++) t.ok(at[i]! - start >= 100 * i - 5, `MAIL ${i} at +${at[i]! - start} ms`);
  t.equal(w.daemon.daemon.scheduler!.destinations().find((d) => d.domain === 'paced.test')?.shaping ?? 'paced', 'paced');
});

t.test('a rate-limit reply slows the destination down', async (t) => {
  const s = await w.addDomain('busy.test', 52, { rcpt: (_a, n) => (n === 1 ? '421 4.7.28 rate limit exceeded, slow down' : undefined) });
  const id = await w.submit('x@busy.test');
  const m = await w.waitFor('delivered after the slow-down', async () => { const m = await w.message(id); return allFinal(m) && m; });
  t.equal(m.recipients[0]!.state, 'delivered');
  t.equal(m.events.find((e) => e.type === 'deferred')!.detail['category'], 'rate_limited');
  const d = w.daemon.daemon.scheduler!.destinations().find((x) => x.domain === 'busy.test');
  t.ok(d && d.slowUntil > Date.now(), 'busy.test is slowed down for a while');
  t.equal(s.messages.length, 1);
});

t.test('trigger mail goes ahead of batch mail waiting for the same destination', async (t) => {
  const s = await w.addDomain('lanes.test', 53);
  const batch = Array.from({ length: 40 }, (_, i) => commit(`b${i}@lanes.test`, 'batch', `batch${i}`));
  await Promise.all([...batch, commit('urgent@lanes.test', 'trigger', 'trigger0')]);
  await w.waitFor('all 41', () => s.messages.length === 41);
  const order = s.messages.map((m) => /\r\nSubject: (\w+)/.exec(m.raw.toString())![1]);
  const pos = order.indexOf('trigger0');
  t.ok(pos >= 0 && pos < 3, `the trigger message was delivered at position ${pos} of 41`);
});
