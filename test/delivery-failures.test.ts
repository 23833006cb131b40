// Delivery when things go wrong: DNS permanent and temporary failures, unreachable hosts
// (remembered), queue lifetime expiry, TLS required / offered / broken, IDN and SMTPUTF8.
import t from 'tap';
import { mkdirSync } from 'node:fs';
import { startWorld, allFinal, type World } from './helpers/delivery.js';
import { startBlackHole, startBrokenTlsSink, startSink } from './helpers/sink.js';
import { makeCert } from './helpers/tls.js';
import { tempDir } from './helpers/daemon.js';
import { newQueueId, type QueueId } from '../src/util/ids.js';

const LIFETIME_MS = 3_600_000;
let w: World;
const certDir = tempDir('mta-cert-');
t.before(async () => {
  w = await startWorld(`max_queue_lifetime = "1h"\n[[delivery.shaping]]\nname = "strict"\ndomains = ["strict.test"]\nrequire_tls = true\n`);
});
t.teardown(async () => { await w.stop(); });

async function settle(id: QueueId): Promise<Awaited<ReturnType<World['message']>>> {
  return w.waitFor(`final state of ${id}`, async () => { const m = await w.message(id); return allFinal(m) && m; });
}

t.test('NXDOMAIN: permanent failure with the 524 code, and a DSN', async (t) => {
  const before = w.senderSink.messages.length;
  const id = await w.submit('x@nowhere.test');
  const m = await settle(id);
  t.equal(m.recipients[0]!.state, 'failed');
  t.match(m.recipients[0]!.lastReply, /^524 5\.1\.2 Host not found by dns resolve/);
  t.equal(m.recipients[0]!.attempts, 1);
  const dsn = await w.waitFor('DSN', () => w.senderSink.messages.slice(before).find((x) => /nowhere\.test/.test(x.raw.toString())));
  t.match(dsn.raw.toString(), /Final-Recipient: rfc822; ?x@nowhere\.test/);
  t.same(await w.daemon.daemon.store.listSuppressions({ search: 'nowhere.test' }), [], 'a DNS-level failure suppresses nothing');
});

t.test('mail from the null sender (a DSN) that bounces for good suppresses nothing', async (t) => {
  await w.addDomain('gone-sender.test', 27, { rcpt: () => '550 5.1.1 <app@gone-sender.test>: Recipient address rejected: User unknown' });
  const id = newQueueId();
  const body = Buffer.from('From: MAILER-DAEMON@localhost\r\nTo: app@gone-sender.test\r\nSubject: Undelivered Mail\r\n\r\nreport\r\n');
  await w.daemon.daemon.store.commitIncoming({
    id, receivedAt: Date.now(), sender: '', authUser: null, clientIp: '127.0.0.1',
    helo: 't', messageId: '<dsn@t>', subject: 'Undelivered Mail', size: body.length, lane: 'trigger', tag: null, chunks: [body], recipients: ['app@gone-sender.test'],
  });
  const m = await settle(id);
  t.equal(m.recipients[0]!.state, 'failed');
  t.match(m.recipients[0]!.lastReply, /^550 5\.1\.1 .*User unknown/);
  t.same(await w.daemon.daemon.store.listSuppressions({ search: 'gone-sender.test' }), [], 'the original sender is not suppressed');
});

t.test('null MX (RFC 7505): permanent failure with 526', async (t) => {
  w.dns.set('nullmx.test', { MX: [{ preference: 0, exchange: '.' }] });
  const m = await settle(await w.submit('x@nullmx.test'));
  t.equal(m.recipients[0]!.state, 'failed');
  t.match(m.recipients[0]!.lastReply, /^526 5\.1\.10 .*null MX/);
});

t.test('SERVFAIL: deferred with 423, then expired at the end of the queue lifetime, with a DSN', async (t) => {
  w.dns.set('broken-dns.test', { rcode: 'SERVFAIL' });
  const before = w.senderSink.messages.length;
  // Received (as the spool records it) 3 s short of the 1 h lifetime: it expires about 3 s from now,
  // while the other tests' mail has the whole hour.
  const id = newQueueId();
  const body = Buffer.from('From: app@example.com\r\nTo: x@broken-dns.test\r\nSubject: old\r\n\r\nhello\r\n');
  const receivedAt = Date.now() - LIFETIME_MS + 3000;
  await w.daemon.daemon.store.commitIncoming({
    id, receivedAt, sender: 'app@example.com', authUser: 'app@example.com', clientIp: '127.0.0.1',
    helo: 't', messageId: '<old@t>', subject: 'old', size: body.length, lane: 'batch', tag: null, chunks: [body], recipients: ['x@broken-dns.test'],
  });
  const first = await w.waitFor('deferral', async () => { const m = await w.message(id); return m.recipients[0]!.state === 'deferred' && m; });
  t.match(first.recipients[0]!.lastReply, /^423 4\.4\.3 Dns resolve error/);
  const m = await settle(id);
  const r = m.recipients[0]!;
  t.equal(r.state, 'expired', 'expired after max_queue_lifetime');
  const types = m.events.filter((e) => e.recipientId === r.recipientId).map((e) => e.type);
  t.equal(types.filter((x) => x === 'expired').length, 1, 'one final event');
  t.ok(types.filter((x) => x === 'deferred').length >= 2, 'several deferrals before that');
  t.equal(m.receivedAt, receivedAt);
  t.ok(m.events.at(-1)!.at - m.receivedAt >= LIFETIME_MS, 'not before the lifetime is over');
  // Wait for this DSN itself: bounces from the earlier tests may still be arriving.
  const dsn = await w.waitFor('DSN', () => w.senderSink.messages.slice(before).find((x) => /broken-dns\.test/.test(x.raw.toString())));
  t.match(dsn.raw.toString(), /Status: 4\.4\.3/);
  t.match(dsn.raw.toString(), /Content-Type: text\/rfc822-headers\r\n(?:.+\r\n)*\r\nFrom: app@example\.com\r\nTo: x@broken-dns\.test\r\nSubject: old\r\n/, 'it returns the message\'s headers (read from the spool, never signed)');
});

t.test('an unreachable destination is remembered: its other mail defers without connecting', async (t) => {
  w.dns.set('hole.test', { MX: [{ preference: 10, exchange: 'mx.hole.test' }] });
  w.dns.set('mx.hole.test', { A: ['127.0.0.20'] });
  const hole = await startBlackHole('127.0.0.20', w.port);
  const a = await w.submit('a@hole.test');
  await w.waitFor('first deferral', async () => (await w.message(a)).recipients[0]!.state === 'deferred');
  t.equal(hole.connections, 1, 'one connection attempt');
  t.match((await w.message(a)).recipients[0]!.lastReply, /^427 4\.4\.1 Connect to UNREACHABLE host/);
  const b = await w.submit('b@hole.test');
  const mb = await w.waitFor('second deferral', async () => { const m = await w.message(b); return m.recipients[0]!.state === 'deferred' && m; });
  t.equal(hole.connections, 1, 'no new connection for the second message');
  const ev = mb.events.find((e) => e.type === 'deferred')!;
  t.equal(ev.detail['remembered'], true);
  t.equal(mb.recipients[0]!.attempts, 0, 'not counted as an attempt');
  // The host comes back; flush forgets the memory and tries both at once.
  await hole.close();
  const s = await startSink('127.0.0.20', w.port);
  t.teardown(() => s.close());
  const n = await w.daemon.daemon.scheduler!.control('flush', { domain: 'hole.test' });
  t.equal(n, 2, 'flushed both recipients');
  await w.waitFor('delivery after flush', () => s.messages.length >= 2);
  // The sink has the bytes before the outcome commits: wait for the recorded state.
  await w.waitFor('recorded as delivered', async () => (await w.message(b)).recipients[0]!.state === 'delivered');
  t.equal((await w.message(b)).recipients[0]!.state, 'delivered');
});

t.test('a destination that requires TLS is not sent to in plaintext', async (t) => {
  await w.addDomain('strict.test', 21);
  const id = await w.submit('x@strict.test');
  const m = await w.waitFor('deferral', async () => { const m = await w.message(id); return m.recipients[0]!.state === 'deferred' && m; });
  t.match(m.recipients[0]!.lastReply, /^421 4\.7\.10 TLS is required for strict\.test/);
  t.equal(w.sinks.find((s) => s.host === '127.0.0.21')!.messages.length, 0);
});

t.test('STARTTLS is used when offered', async (t) => {
  mkdirSync(certDir, { recursive: true });
  const tls = makeCert(certDir, 'mx.tls.test');
  const s = await w.addDomain('tls.test', 22, { tls });
  const m = await settle(await w.submit('x@tls.test'));
  t.equal(m.recipients[0]!.state, 'delivered');
  t.equal(s.messages[0]!.secure, true, 'the sink saw an encrypted session');
  t.equal(m.events.find((e) => e.type === 'delivered')!.detail['tls'], true);
});

t.test('a broken TLS handshake is retried without TLS (opportunistic)', async (t) => {
  w.dns.set('badtls.test', { MX: [{ preference: 10, exchange: 'mx.badtls.test' }] });
  w.dns.set('mx.badtls.test', { A: ['127.0.0.23'] });
  const s = await startBrokenTlsSink('127.0.0.23', w.port);
  t.teardown(() => s.close());
  const m = await settle(await w.submit('x@badtls.test'));
  t.equal(m.recipients[0]!.state, 'delivered');
  t.equal(s.tlsAttempts, 1);
  t.equal(s.messages.length, 1);
  t.equal(m.events.find((e) => e.type === 'delivered')!.detail['tls'], false);
});

t.test('IDN recipient domains are looked up and addressed in punycode', async (t) => {
  const s = await startBrokenTlsSink('127.0.0.24', w.port, { offerTls: false });
  t.teardown(() => s.close());
  w.dns.set('xn--bcher-kva.test', { MX: [{ preference: 10, exchange: 'mx.xn--bcher-kva.test' }] });
  w.dns.set('mx.xn--bcher-kva.test', { A: ['127.0.0.24'] });
  const m = await settle(await w.submit('leser@bücher.test'));
  t.equal(m.recipients[0]!.state, 'delivered');
  t.same(s.messages[0]!.to, ['leser@xn--bcher-kva.test'], 'RCPT TO in A-labels');
  t.ok(w.dns.queries.some((q) => q.name === 'xn--bcher-kva.test' && q.type === 'MX'), 'MX looked up in A-labels');
});

t.test('SMTPUTF8: used when offered, a clear permanent failure when not', async (t) => {
  const yes = await w.addDomain('utf8.test', 25, { smtputf8: true });
  await w.addDomain('ascii.test', 26);
  const ok = await settle(await w.submit('josé@utf8.test'));
  t.equal(ok.recipients[0]!.state, 'delivered');
  t.same(yes.messages[0]!.to, ['josé@utf8.test']);
  t.equal(yes.messages[0]!.utf8, true, 'MAIL FROM carried SMTPUTF8');
  const no = await settle(await w.submit('josé@ascii.test'));
  t.equal(no.recipients[0]!.state, 'failed');
  t.match(no.recipients[0]!.lastReply, /^553 5\.6\.7 mx\.ascii\.test does not offer SMTPUTF8/);
});
