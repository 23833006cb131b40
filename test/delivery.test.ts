// Delivery end to end: submission over SMTP → spool → scheduler → MX lookup through a DNS
// server on 127.0.0.1 → real SMTP sinks on 127.0.0.x. Asserts bytes, DKIM, states, events.
import t from 'tap';
import { dkimVerify } from 'mailauth/lib/dkim/verify.js';
import { startWorld, allFinal, type World } from './helpers/delivery.js';
import { mailauthResolver } from './helpers/dns-server.js';

let w: World;
t.before(async () => { w = await startWorld(); });
t.teardown(async () => { await w.stop(); });

t.test('mail is delivered to the MX of each domain, one transaction per domain, DKIM-signed', async (t) => {
  const a = await w.addDomain('alpha.test', 2);
  const b = await w.addDomain('beta.test', 3);
  const id = await w.submit(['one@alpha.test', 'two@alpha.test', 'three@beta.test'], { subject: 'hello there' });
  const m = await w.waitFor('delivery', async () => { const m = await w.message(id); return allFinal(m) && m; });
  t.same(m.recipients.map((r) => r.state), ['delivered', 'delivered', 'delivered']);
  t.equal(a.messages.length, 1, 'alpha got one transaction');
  t.same(a.messages[0]!.to.sort(), ['one@alpha.test', 'two@alpha.test'], 'with both recipients');
  t.same(b.messages[0]!.to, ['three@beta.test']);
  t.equal(a.messages[0]!.from, 'app@example.com');
  const raw = a.messages[0]!.raw;
  const text = raw.toString('latin1');
  t.notOk(/[^\r]\n/.test(text) || /\r[^\n]/.test(text), 'no bare LF or CR on the wire');
  t.match(text, /^DKIM-Signature: /, 'signature first');
  t.match(text, /\r\nReceived: from /);
  t.match(text, /\r\nMessage-ID: </i);
  t.match(text, /\r\nSubject: hello there\r\n/);
  const v = await dkimVerify(raw, { resolver: mailauthResolver(w.dns) });
  const sig = v.results[0]!;
  t.equal(sig.status.result, 'pass', `DKIM verifies: ${JSON.stringify(sig.status)}`);
  t.equal(sig.signingDomain, 'example.com');
  t.equal((sig as unknown as { format: string }).format, 'relaxed/relaxed', 'relaxed/relaxed (mailauth calls it format)');
  // events: reception then exactly one final event per recipient
  for (const r of m.recipients) {
    const ev = m.events.filter((e) => e.recipientId === r.recipientId).map((e) => e.type);
    t.same(ev, ['reception', 'delivered'], `events of ${r.rcpt}`);
  }
  const delivered = m.events.find((e) => e.type === 'delivered')!;
  t.match(delivered.detail, { mx: /^mx\.(alpha|beta)\.test$/, ip: /^127\.0\.0\.[23]$/, tls: false, attempt: 1 });
  t.match(String(delivered.detail['reply']), /^250 /);
});

t.test('a 4xx reply defers with the retry schedule, then the next attempt delivers', async (t) => {
  const s = await w.addDomain('grey.test', 4, { rcpt: (_a, n) => (n === 1 ? '451 4.7.1 greylisted, try again later' : undefined) });
  const id = await w.submit('user@grey.test');
  const m = await w.waitFor('retry', async () => { const m = await w.message(id); return allFinal(m) && m; });
  const r = m.recipients[0]!;
  t.equal(r.state, 'delivered');
  t.equal(r.attempts, 2);
  const ev = m.events.filter((e) => e.recipientId === r.recipientId);
  t.same(ev.map((e) => e.type), ['reception', 'deferred', 'delivered']);
  const deferred = ev[1]!;
  t.match(String(deferred.detail['reply']), /^451 4\.7\.1 greylisted/);
  t.equal(deferred.detail['category'], 'greylisted');
  const next = Number(deferred.detail['next_attempt_at']);
  t.ok(next >= deferred.at + 400, 'next attempt placed by the first retry step (400ms, no jitter)');
  t.ok(ev[2]!.at >= next, 'the retry happened no earlier than planned');
  t.equal(s.messages.length, 1);
});

t.test('a 5xx user-unknown fails at once, suppresses the address and bounces a DSN to the sender', async (t) => {
  await w.addDomain('gone.test', 5, { rcpt: (a) => (a.startsWith('nobody') ? '550 5.1.1 <nobody@gone.test>: Recipient address rejected: User unknown' : undefined) });
  const before = w.senderSink.messages.length;
  const id = await w.submit(['nobody@gone.test', 'somebody@gone.test']);
  const m = await w.waitFor('bounce', async () => { const m = await w.message(id); return allFinal(m) && m; });
  const byRcpt = Object.fromEntries(m.recipients.map((r) => [r.rcpt, r]));
  t.equal(byRcpt['nobody@gone.test']!.state, 'failed');
  t.equal(byRcpt['somebody@gone.test']!.state, 'delivered', 'the other recipient of the same transaction is delivered');
  const failed = m.events.filter((e) => e.type === 'failed');
  t.equal(failed.length, 1, 'one final event');
  t.match(failed[0]!.detail, { category: 'user_unknown', status: 2 });
  const sup = await w.daemon.daemon.store.isSuppressed('nobody@gone.test', 'example.com');
  t.match(sup, { source: 'bounce', scope: '' }, 'suppressed after the hard bounce');
  t.match(sup!.reason, /User unknown/);
  const dsn = await w.waitFor('DSN delivered', () => w.senderSink.messages.slice(before).find((x) => /nobody@gone\.test/.test(x.raw.toString())));
  t.equal(dsn.from, '', 'DSN from the null sender');
  t.same(dsn.to, ['app@example.com']);
  const text = dsn.raw.toString('latin1');
  t.match(text, /Content-Type: multipart\/report; report-type=delivery-status/);
  t.match(text, /Final-Recipient: rfc822; ?nobody@gone\.test/);
  t.match(text, /Status: 5\.1\.1/);
  t.match(text, /Diagnostic-Code: smtp; ?550 5\.1\.1/);
  t.notMatch(text, /somebody@gone\.test\r\nAction/, 'the delivered recipient is not in the DSN');
});

t.test('a later submission to a suppressed address is refused with 559', async (t) => {
  const { RawSmtp } = await import('./helpers/smtp-client.js');
  const { PASSWORD } = await import('./helpers/daemon.js');
  const c = await RawSmtp.connect(w.daemon.port);
  await c.greet(); await c.ehlo();
  await c.authPlain('app@example.com', PASSWORD);
  await c.cmd('MAIL FROM:<app@example.com>');
  const r = await c.cmd('RCPT TO:<nobody@gone.test>');
  t.equal(r.code, 559);
  await c.quit();
});

t.test('a DSN that cannot be delivered fails quietly: no bounce of a bounce', async (t) => {
  const { newQueueId } = await import('../src/util/ids.js');
  const store = w.daemon.daemon.store;
  // example.com's MX refuses this one address, so the DSN to it fails permanently.
  w.senderSink.messages.length = 0;
  const refusing = await w.addDomain('loop.test', 60, { rcpt: () => '550 5.1.1 no such user' });
  const body = Buffer.from('From: bounce-me@loop.test\r\nTo: x@nowhere-at-all.test\r\nSubject: loop\r\nMessage-ID: <loop@t>\r\n\r\nhi\r\n');
  const id = newQueueId();
  await store.commitIncoming({
    id, receivedAt: Date.now(), sender: 'bounce-me@loop.test', authUser: null, clientIp: null, helo: null, messageId: '<loop@t>',
    subject: 'loop', size: body.length, lane: 'trigger', tag: null, chunks: [body], recipients: ['x@nowhere-at-all.test'],
  });
  const dsnRow = await w.waitFor('the DSN to fail', async () => {
    const rows = await store.listQueue({ domain: 'loop.test' });
    return rows.find((r) => r.sender === '' && r.state === 'failed');
  });
  t.equal(dsnRow.rcpt, 'bounce-me@loop.test', 'the DSN went to the original sender and failed');
  await new Promise((r) => setTimeout(r, 300));
  const rows = await store.listQueue({ limit: 100_000 });
  t.equal(rows.filter((r) => r.sender === '' && r.rcpt === 'bounce-me@loop.test').length, 1, 'exactly one DSN');
  t.same(rows.filter((r) => r.queueId > dsnRow.queueId).map((r) => r.rcpt), [], 'nothing was queued after the failed DSN');
  t.equal(refusing.messages.length, 0);
});
