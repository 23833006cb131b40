// The inbound listener end to end: mail is delivered for real to a sink, then a bounce
// for its VERP address arrives over SMTP at the daemon's inbound port and is mapped back
// to that exact recipient (history event, suppression when the class says so, webhook)
// without giving it a second final state. Everything that is not a valid bounce+ or
// unsubscribe+ address is refused at RCPT: no relay, nothing stored.
import t from 'tap';
import { allFinal, type World } from './helpers/delivery.js';
import { startInboundWorld } from './helpers/inbound.js';
import type { Receiver } from './helpers/receiver.js';
import { RawSmtp } from './helpers/smtp-client.js';
import { verpAddress } from '../src/mail/verp.js';
import { unsubscribeLinks } from '../src/public/unsubscribe-links.js';
import { buildDsn, type DsnRecipient } from '../src/delivery/dsn.js';
import { newQueueId, type QueueId } from '../src/util/ids.js';
import type { LateBounceEventPayload, RecipientEventPayload, UnsubscribeEventPayload } from '../src/events/payload.js';
import { StatsService } from '../src/stats/stats.js';
import { dayIn } from '../src/util/time.js';
import { lateBounceEffects } from '../src/stats/late-bounce.js';
import { checkContext } from '../src/accounts/verification.js';
import { recordsToPublish } from '../src/dns/records.js';
import { checkDomain } from '../src/dns/checker.js';

let w: World;
let rx: Receiver;
let secret: Buffer;
let inbound: number;

t.before(async () => {
  ({ w, rx, secret, inbound } = await startInboundWorld('max_message_size = "64KB"\n'));
});
t.teardown(async () => { await w.stop(); await rx.close(); });

/** Submits and waits until every recipient is delivered to the sink. */
async function delivered(to: string | string[]): Promise<QueueId> {
  const id = await w.submit(to);
  await w.waitFor('delivery', async () => allFinal(await w.message(id)));
  return id;
}

function dsnFor(id: string, rcpts: Partial<DsnRecipient>[]): Buffer {
  return buildDsn({
    reportingMta: 'mx.dest.test', queueId: 'REMOTE123', sender: verpAddress(secret, id, 'example.com', 'bounce'), receivedAt: Date.now() - 1000,
    originalHeaders: `From: app@example.com\r\nTo: x@dest.test\r\nSubject: test\r\nMessage-ID: <${id}@mta.test>`,
    recipients: rcpts.map((r) => ({ rcpt: 'x@dest.test', action: 'failed', status: '5.1.1', diagnostic: '550 5.1.1 <x@dest.test>: Recipient address rejected: User unknown', lastAttemptAt: Date.now(), remoteMta: 'mx2.dest.test', ...r })),
  }).message;
}

/** One SMTP transaction to the inbound listener; returns every reply. */
async function send(from: string, rcpts: string[], msg?: Buffer): Promise<{ rcpt: number[]; rcptText: string[]; data?: number; dataText?: string; banner: string }> {
  const c = await RawSmtp.connect(inbound);
  const banner = (await c.greet()).text;
  await c.ehlo('mx.remote.test');
  t.equal((await c.cmd(`MAIL FROM:<${from}>`)).code, 250);
  const replies = [];
  for (const r of rcpts) replies.push(await c.cmd(`RCPT TO:<${r}>`));
  const out: { rcpt: number[]; rcptText: string[]; data?: number; dataText?: string; banner: string } = { rcpt: replies.map((r) => r.code), rcptText: replies.map((r) => r.text), banner };
  if (msg && replies.some((r) => r.code === 250)) {
    const stuffed = Buffer.from(msg.toString('latin1').replace(/\r\n\./g, '\r\n..'), 'latin1');
    const d = await c.data(Buffer.concat([stuffed, Buffer.from(stuffed.subarray(-2).toString() === '\r\n' ? '.\r\n' : '\r\n.\r\n')]));
    out.data = d.code; out.dataText = d.text;
  }
  await c.quit();
  return out;
}

const hookEvents = <T>(event: string): T[] => rx.acked('/hook').map((r) => JSON.parse(r.body) as { event: string }).filter((e) => e.event === event) as T[];

t.test('a DSN for a VERP address: the exact recipient gets a bounced event, a suppression and a webhook', async (t) => {
  const id = await delivered(['x@dest.test', 'y@dest.test']);
  const before = await w.message(id);
  t.same(before.recipients.map((r) => r.state), ['delivered', 'delivered']);
  const verp = verpAddress(secret, id, 'example.com', 'bounce');
  const r = await send('', [verp], dsnFor(id, [{}]));
  t.same(r.rcpt, [250]);
  t.equal(r.data, 250);
  t.match(r.dataText, /^250 2\.0\.0 /);

  const m = await w.message(id);
  t.same(m.recipients.map((x) => x.state), ['delivered', 'delivered'], 'no second final state: both stay delivered');
  const bounced = m.events.filter((e) => e.type === 'bounced');
  t.equal(bounced.length, 1, 'one bounced event');
  t.equal(bounced[0]!.recipientId, m.recipients.find((x) => x.rcpt === 'x@dest.test')!.recipientId, 'on x, the recipient the DSN names');
  t.match(bounced[0]!.detail, { reply: /^550 5\.1\.1 /, status: 2, category: 'user_unknown', suppressed: true, dsn_status: '5.1.1', format: 'dsn', remote_mta: 'mx2.dest.test' });
  t.match(await w.daemon.daemon.store.isSuppressed('x@dest.test', 'example.com'), { source: 'bounce', scope: '' }, '5.1.1: suppressed for every sender');
  t.notOk(await w.daemon.daemon.store.isSuppressed('y@dest.test', 'example.com'), 'y untouched');
  await w.waitFor('the bounce webhook', () => hookEvents('bounce').length === 1);
  const hook = hookEvents<LateBounceEventPayload>('bounce')[0]!;
  t.match(hook, {
    event: 'bounce', env_id: id, rcpt: 'x@dest.test', from: 'app@example.com', bounce_status: 2, after_delivery: true, err_code: 550, err_msg: /User unknown/, bounce_category: 'user_unknown',
  });
  t.notOk('status' in hook, 'no status: a receiver keyed on status never reads it as a second outcome');

  // The same DSN again (a retrying server): nothing twice.
  const again = await send('', [verp], dsnFor(id, [{}]));
  t.equal(again.data, 250);
  await new Promise((r) => setTimeout(r, 200));
  t.equal((await w.message(id)).events.filter((e) => e.type === 'bounced').length, 1, 'no second event');
  t.equal(hookEvents('bounce').length, 1, 'no second webhook');
  t.equal((await w.daemon.daemon.store.listSuppressions({ search: 'x@dest.test' })).length, 1);
});

t.test('a late bounce counts apart: late_bounces in statistics, invalid (not delivered) for the reputation, one outcome event per recipient', async (t) => {
  const stats = new StatsService(w.daemon.daemon.store, w.daemon.daemon.config.timeZone);
  const today = dayIn(Date.now(), w.daemon.daemon.config.timeZone);
  const id = await delivered('late@dest.test');
  const before = (await stats.query({ by: 'domain', domain: 'example.com' })).total;
  const figures = await w.daemon.daemon.store.dailyFigures('example.com', today);
  const r = await send('', [verpAddress(secret, id, 'example.com', 'bounce')], dsnFor(id, [{ rcpt: 'late@dest.test' }]));
  t.equal(r.data, 250);
  const after = (await stats.query({ by: 'domain', domain: 'example.com' })).total;
  t.equal(after.late_bounces, before.late_bounces + 1, 'one late bounce counted');
  t.equal(after.delivered, before.delivered, 'still delivered: no second outcome');
  t.equal(after.invalid, before.invalid, 'not an invalid outcome in the statistics');
  const f2 = await w.daemon.daemon.store.dailyFigures('example.com', today);
  t.same([f2.invalid - figures.invalid, f2.delivered - figures.delivered], [1, -1], 'the reputation reads it as invalid, not delivered');
  await w.waitFor('the late bounce webhook', () => hookEvents<{ env_id: string }>('bounce').some((e) => e.env_id === id));
  const outcomes = rx.acked('/hook').map((x) => JSON.parse(x.body) as Record<string, unknown>).filter((e) => e['env_id'] === id && 'status' in e);
  t.same(outcomes.map((e) => e['event']), ['delivered'], 'exactly one event with a status: the delivery');
  t.same(lateBounceEffects(2, 'a@example.com', 'T1'), { counters: ['late_bounces', 'late_invalid'], task: true }, 'a task\'s late bounce counts on the task');
  t.same(lateBounceEffects(4, 'a@example.com', null), { counters: ['late_bounces'], task: false });
  t.same(lateBounceEffects(2, '', null), { counters: [], task: false }, 'our own DSNs count nowhere');
});

t.test('a mailbox-full DSN records the bounce without suppressing; a delayed report records nothing', async (t) => {
  const id = await delivered('full@dest.test');
  const verp = verpAddress(secret, id, 'example.com', 'bounce');
  const delayed = await send('', [verp], dsnFor(id, [{ rcpt: 'full@dest.test', action: 'delayed', status: '4.2.2', diagnostic: '452 4.2.2 Mailbox full' }]));
  t.equal(delayed.data, 250, 'accepted');
  t.equal((await w.message(id)).events.filter((e) => e.type === 'bounced').length, 0, 'delayed: ignored');
  const full = await send('', [verp], dsnFor(id, [{ rcpt: 'full@dest.test', status: '5.2.2', diagnostic: '552 5.2.2 Mailbox full' }]));
  t.equal(full.data, 250);
  const ev = (await w.message(id)).events.filter((e) => e.type === 'bounced');
  t.equal(ev.length, 1);
  t.match(ev[0]!.detail, { category: 'mailbox_full', suppressed: false });
  t.notOk(await w.daemon.daemon.store.isSuppressed('full@dest.test', 'example.com'), 'a full mailbox is not suppressed');
});

t.test('a free-text bounce (no DSN) is classified by its first SMTP reply', async (t) => {
  const id = await delivered('gone@dest.test');
  const text = [
    'From: Mail Delivery Subsystem <MAILER-DAEMON@mx.dest.test>', 'To: whoever', 'Subject: failure notice', '',
    'Hi. This is the qmail-send program at mx.dest.test.', 'I\'m afraid I wasn\'t able to deliver your message to the following addresses.', '',
    '<gone@dest.test>:', 'Remote host said: 550 5.1.1 No such user here', '', '--- Below this line is a copy of the message.', '',
  ].join('\r\n');
  const r = await send('', [verpAddress(secret, id, 'example.com', 'bounce').toUpperCase()], Buffer.from(text));
  t.same(r.rcpt, [250], 'a case-folded VERP address still maps');
  t.equal(r.data, 250);
  const ev = (await w.message(id)).events.filter((e) => e.type === 'bounced');
  t.equal(ev.length, 1);
  t.match(ev[0]!.detail, { format: 'text', reply: '550 5.1.1 No such user here', category: 'user_unknown', final_recipient: 'gone@dest.test' });
  t.ok(await w.daemon.daemon.store.isSuppressed('gone@dest.test', 'other.test'));

  const id2 = await delivered('vacation@dest.test');
  const auto = ['From: vacation@dest.test', 'Auto-Submitted: auto-replied', 'Subject: Out of office', '', 'I am away; 550 people to see when I am back.', ''].join('\r\n');
  t.equal((await send('vacation@dest.test', [verpAddress(secret, id2, 'example.com', 'bounce')], Buffer.from(auto))).data, 250, 'an auto-reply is accepted');
  t.equal((await w.message(id2)).events.filter((e) => e.type === 'bounced').length, 0, 'and is not a bounce');
});

t.test('no relay: anything but a valid bounce+ or unsubscribe+ address gets 550 5.7.1', async (t) => {
  const id = await delivered('z@dest.test');
  const verp = verpAddress(secret, id, 'example.com', 'bounce');
  const token = verp.slice('bounce+'.length, verp.indexOf('@'));
  const flipped = token.slice(0, 5) + (token[5] === 'a' ? 'b' : 'a') + token.slice(6);
  const refused = [
    'someone@gmail.com', 'postmaster@bounce.example.com', 'app@example.com', `bounce+${flipped}@bounce.example.com`,
    'bounce+@bounce.example.com', `bounce+${id.toLowerCase()}@bounce.example.com`, 'unsubscribe+aaaaaaaa@bounce.example.com',
    `unsubscribe+${token}@bounce.example.com`,
  ];
  const r = await send('spammer@evil.test', refused, Buffer.from('Subject: hi\r\n\r\nrelay me\r\n'));
  t.same(r.rcpt, refused.map(() => 550));
  for (const text of r.rcptText) t.equal(text, '550 5.7.1 relay not permitted');
  t.equal(r.data, undefined, 'no DATA without an accepted recipient');
  const mixed = await send('', ['someone@gmail.com', verp], dsnFor(id, [{ rcpt: 'z@dest.test' }]));
  t.same(mixed.rcpt, [550, 250], 'only the VERP recipient of a mixed envelope is taken');
  t.equal(mixed.data, 250);
  t.equal(w.sinks.reduce((n, s) => n + s.messages.filter((m) => m.to.includes('someone@gmail.com')).length, 0), 0, 'nothing relayed');
});

t.test('a bounce for a message no longer stored is accepted and dropped, not bounced back', async (t) => {
  const gone = newQueueId();
  const r = await send('', [verpAddress(secret, gone, 'example.com', 'bounce')], dsnFor(gone, [{}]));
  t.same(r.rcpt, [250]);
  t.equal(r.data, 250);
});

t.test('unsubscribe+ mailto: suppressed for the sender domain, webhook with method mailto', async (t) => {
  const id = await delivered('mailto@dest.test');
  const l = unsubscribeLinks(secret, 'https://links.example.com', { address: 'mailto@dest.test', senderDomain: 'example.com', queueId: id, mailtoDomain: 'bounce.example.com' });
  const addr = l.mailto.slice('mailto:'.length);
  const r = await send('mailto@dest.test', [addr], Buffer.from('From: mailto@dest.test\r\nSubject: unsubscribe\r\n\r\n\r\n'));
  t.same(r.rcpt, [250]);
  t.equal(r.data, 250);
  t.match(await w.daemon.daemon.store.isSuppressed('mailto@dest.test', 'example.com'), { source: 'unsubscribe', scope: 'example.com' });
  t.notOk(await w.daemon.daemon.store.isSuppressed('mailto@dest.test', 'other.test'), 'scoped to the sender domain');
  await w.waitFor('the unsubscribe webhook', () => hookEvents<UnsubscribeEventPayload>('unsubscribe').some((e) => e.rcpt === 'mailto@dest.test'));
  t.match(hookEvents<UnsubscribeEventPayload>('unsubscribe').find((e) => e.rcpt === 'mailto@dest.test'), { method: 'mailto', env_id: id, domain: 'example.com' });
  t.ok((await w.message(id)).events.some((e) => e.type === 'unsubscribe'));
  t.equal((await send('x@y.test', [addr.toUpperCase()], Buffer.from('Subject: again\r\n\r\n\r\n'))).data, 250, 'again, upper-cased: fine');
  t.equal((await w.daemon.daemon.store.listSuppressions({ search: 'mailto@dest.test' })).length, 1, 'once');
});

t.test('duplicate RCPTs for one bounce or one unsubscribe address: parsed and applied once', async (t) => {
  const inb = w.daemon.daemon.inbound! as unknown as { bounces: { record: (...a: unknown[]) => Promise<void> }; mailtoUnsubscribe: (...a: unknown[]) => Promise<void> };
  const calls = { record: 0, unsubscribe: 0 };
  // Counting wrappers around the real methods: every call still does its work.
  const record = inb.bounces.record.bind(inb.bounces);
  inb.bounces.record = (...a) => { calls.record++; return record(...a); };
  const unsubscribe = inb.mailtoUnsubscribe.bind(inb);
  inb.mailtoUnsubscribe = (...a) => { calls.unsubscribe++; return unsubscribe(...a); };
  t.teardown(() => { inb.bounces.record = record; inb.mailtoUnsubscribe = unsubscribe; });

  const id = await delivered('dup@dest.test');
  const verp = verpAddress(secret, id, 'example.com', 'bounce');
  const r = await send('', [verp, verp, verp.toUpperCase(), verp], dsnFor(id, [{ rcpt: 'dup@dest.test' }]));
  t.same(r.rcpt, [250, 250, 250, 250], 'every RCPT acknowledged');
  t.equal(r.data, 250);
  t.equal(calls.record, 1, 'the bounce is parsed and recorded once');
  t.equal((await w.message(id)).events.filter((e) => e.type === 'bounced').length, 1);

  const u = await delivered('dupunsub@dest.test');
  const addr = unsubscribeLinks(secret, 'https://links.example.com', { address: 'dupunsub@dest.test', senderDomain: 'example.com', queueId: u, mailtoDomain: 'bounce.example.com' }).mailto.slice('mailto:'.length);
  const r2 = await send('dupunsub@dest.test', [addr, addr.toUpperCase(), addr], Buffer.from('Subject: unsubscribe\r\n\r\n\r\n'));
  t.same(r2.rcpt, [250, 250, 250]);
  t.equal(r2.data, 250);
  t.equal(calls.unsubscribe, 1, 'the unsubscribe is applied once');
});

t.test('size limit: a message over inbound.max_message_size is refused with 552', async (t) => {
  const id = await delivered('big@dest.test');
  const huge = Buffer.concat([dsnFor(id, [{ rcpt: 'big@dest.test' }]), Buffer.from(`${'x'.repeat(76)}\r\n`.repeat(1200))]);
  const r = await send('', [verpAddress(secret, id, 'example.com', 'bounce')], huge);
  t.equal(r.data, 552);
  t.equal((await w.message(id)).events.filter((e) => e.type === 'bounced').length, 0, 'nothing recorded');
});

t.test('domain set-up: with inbound on, bounce.<domain> gets an MX to this server, and the MX check accepts it', async (t) => {
  const daemon = w.daemon.daemon;
  const d = (await daemon.store.getDomain('example.com'))!;
  const ctx = checkContext(daemon.config, daemon.dns);
  const recs = await recordsToPublish(d, ctx, { offline: true });
  t.match(recs.filter((r) => r.type === 'MX'), [
    { host: 'example.com', value: 'mta.test.'.replace(/^/, '10 '), purpose: 'mx' },
    { host: 'bounce.example.com', value: '10 mta.test.', purpose: 'mx', note: /bounces/ },
  ]);
  const before = (await checkDomain(d, ctx)).checks.find((c) => c.name === 'mx')!;
  t.equal(before.status, 'mismatch', 'example.com\'s MX is elsewhere and bounce.example.com has none');
  t.match(before.detail, /bounce\.example\.com/);
  w.dns.set('bounce.example.com', { MX: [{ preference: 10, exchange: 'mta.test' }] });
  const after = (await checkDomain(d, ctx)).checks.find((c) => c.name === 'mx')!;
  t.equal(after.status, 'ok');
  t.match(after.found, /^bounce\.example\.com: 10 mta\.test/);
});

t.test('an inbound address that cannot be bound stops the start-up with MTA_ERR_LISTEN', async (t) => {
  const { startDaemon } = await import('./helpers/daemon.js');
  await t.rejects(startDaemon(`[inbound]\nlisten = ["127.0.0.1:${inbound}"]\n`), { code: 'MTA_ERR_LISTEN', message: /inbound\.listen/ });
});
