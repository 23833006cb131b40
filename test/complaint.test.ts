// Complaints end to end: mail is delivered for real to a sink carrying the signed
// reference header; a feedback report (ARF, RFC 5965) about it arrives over SMTP at
// abuse@/fbl@ of the bounce domain (or at its VERP address) and is mapped back to the
// exact recipient, even with `To:` redacted. Feedback-Type abuse suppresses the recipient
// for the sender domain (the next submission gets 559), records a `complaint` event,
// sends a `complaint` webhook and counts in statistics and the reputation's figures;
// other types are recorded only. Nothing is mapped from a forged reference.
import t from 'tap';
import { allFinal, type World } from './helpers/delivery.js';
import { startInboundWorld } from './helpers/inbound.js';
import type { Receiver } from './helpers/receiver.js';
import { RawSmtp } from './helpers/smtp-client.js';
import { PASSWORD } from './helpers/daemon.js';
import { verpAddress } from '../src/mail/verp.js';
import { referenceToken, openReference, REF_HEADER } from '../src/feedback/reference.js';
import { StatsService } from '../src/stats/stats.js';
import { dayIn } from '../src/util/time.js';
import type { QueueId } from '../src/util/ids.js';
import type { ComplaintEventPayload } from '../src/events/payload.js';

let w: World;
let rx: Receiver;
let secret: Buffer;
let inbound: number;

t.before(async () => {
  ({ w, rx, secret, inbound } = await startInboundWorld(''));
});
t.teardown(async () => { await w.stop(); await rx.close(); });

async function delivered(to: string | string[], extra?: string): Promise<QueueId> {
  const id = await w.submit(to, extra ? { extra } : {});
  await w.waitFor('delivery', async () => allFinal(await w.message(id)));
  return id;
}

/** The copy of message `id` the destination sink received for `rcpt`, as text. */
function received(id: QueueId, rcpt: string): string {
  const all = w.sinks.flatMap((s) => s.messages).filter((m) => m.to.includes(rcpt) && m.raw.toString('latin1').includes(id));
  if (all.length === 0) throw new Error(`${rcpt} did not receive ${id}`);
  return all[all.length - 1]!.raw.toString('latin1');
}

/** An RFC 5965 report returning `original` (its header block), as a provider sends it. */
function arf(original: string, o: { type?: string; rcptTo?: string; mailFrom?: string } = {}): Buffer {
  const head = original.split(/\r?\n\r?\n/)[0]!.replace(/\r?\n/g, '\r\n');
  return Buffer.from([
    'From: feedback@fbl.dest.test', 'To: abuse@bounce.example.com', 'Subject: FW: complaint', 'MIME-Version: 1.0',
    'Content-Type: multipart/report; report-type=feedback-report; boundary="b1"', '',
    '--b1', 'Content-Type: text/plain', '', 'This is an email abuse report.', '',
    '--b1', 'Content-Type: message/feedback-report', '',
    `Feedback-Type: ${o.type ?? 'abuse'}`, 'User-Agent: TestFBL/1.0', 'Version: 1', 'Source-IP: 192.0.2.1',
    ...(o.mailFrom ? [`Original-Mail-From: <${o.mailFrom}>`] : []), ...(o.rcptTo ? [`Original-Rcpt-To: <${o.rcptTo}>`] : []), '',
    '--b1', 'Content-Type: text/rfc822-headers', '', head, '', '--b1--', '',
  ].join('\r\n'), 'latin1');
}

/** `To:` redacted, as most providers do. */
const redact = (raw: string): string => raw.replace(/^To:.*$/im, 'To: redacted@dest.test');

async function send(rcpts: string[], msg: Buffer): Promise<{ rcpt: number[]; data?: number }> {
  const c = await RawSmtp.connect(inbound);
  await c.greet();
  await c.ehlo('fbl.dest.test');
  await c.cmd('MAIL FROM:<feedback@fbl.dest.test>');
  const rcpt: number[] = [];
  for (const r of rcpts) rcpt.push((await c.cmd(`RCPT TO:<${r}>`)).code);
  const out: { rcpt: number[]; data?: number } = { rcpt };
  if (rcpt.includes(250)) out.data = (await c.data(Buffer.concat([msg, Buffer.from('.\r\n')]))).code;
  await c.quit();
  return out;
}

const hookEvents = <T>(event: string): T[] => rx.acked('/hook').map((r) => JSON.parse(r.body) as { event: string }).filter((e) => e.event === event) as T[];
const eventsOf = async (id: QueueId, type: string): Promise<{ recipientId: unknown; detail: Record<string, unknown> }[]> =>
  (await w.message(id)).events.filter((e) => e.type === type) as never;

t.test('every delivered message carries a reference naming its message, and its recipient when it went alone', async (t) => {
  const one = await delivered('ref1@dest.test');
  const token = /^X-Mta-Ref: ([a-z2-7]+)\r$/m.exec(received(one, 'ref1@dest.test'))?.[1];
  t.ok(token, `${REF_HEADER} present`);
  const m = await w.message(one);
  t.same(openReference(secret, token!), { queueId: one, recipientId: m.recipients[0]!.recipientId });
  t.equal(openReference(secret, token!.slice(0, -2) + (token!.endsWith('a') ? 'bb' : 'aa')), undefined, 'an altered token opens nothing');
  t.equal(openReference(Buffer.alloc(32, 7), token!), undefined, 'another key opens nothing');
  const two = await delivered(['ref2@dest.test', 'ref3@dest.test']);
  const both = /^X-Mta-Ref: ([a-z2-7]+)\r$/m.exec(received(two, 'ref2@dest.test'))?.[1];
  t.same(openReference(secret, both!), { queueId: two, recipientId: undefined }, 'one transaction for two recipients: the message only');
});

t.test('ARF abuse at abuse@: suppression for the sender domain, complaint event, webhook, counters; the next submission gets 559', async (t) => {
  const id = await delivered('angry@dest.test');
  const r = await send(['abuse@bounce.example.com'], arf(redact(received(id, 'angry@dest.test'))));
  t.same(r, { rcpt: [250], data: 250 });
  const s = await w.daemon.daemon.store.isSuppressed('angry@dest.test', 'example.com');
  t.match(s, { source: 'complaint', scope: 'example.com', reason: /complaint \(feedback-type abuse from TestFBL\/1\.0\)/ });
  t.notOk(await w.daemon.daemon.store.isSuppressed('angry@dest.test', 'other.test'), 'scoped to the sender domain');
  const m = await w.message(id);
  t.equal(m.recipients[0]!.state, 'delivered', 'the recipient keeps its one final state');
  const ev = await eventsOf(id, 'complaint');
  t.equal(ev.length, 1);
  t.match(ev[0]!.detail, { feedback_type: 'abuse', mapped_by: 'reference', format: 'arf', user_agent: 'TestFBL/1.0', source_ip: '192.0.2.1', suppressed: true });
  await w.waitFor('the complaint webhook', () => hookEvents('complaint').length >= 1);
  t.match(hookEvents<ComplaintEventPayload>('complaint').find((e) => e.env_id === id), {
    event: 'complaint', rcpt: 'angry@dest.test', from: 'app@example.com', domain: 'example.com', feedback_type: 'abuse', user_agent: 'TestFBL/1.0', suppressed: true,
  });
  t.notOk(hookEvents<{ env_id: string }>('bounce').some((e) => e.env_id === id), 'not a bounce: no second outcome');
  const today = dayIn(Date.now(), w.daemon.daemon.config.timeZone);
  const stats = await new StatsService(w.daemon.daemon.store, w.daemon.daemon.config.timeZone).query({ by: 'domain' });
  t.ok(stats.total.complaints >= 1, 'counted in statistics');
  t.ok(stats.total.complaint_rate > 0, 'with a complaint rate');
  t.ok((await w.daemon.daemon.store.dailyFigures('example.com', today)).complaints >= 1, 'and in the reputation figures');

  // The same report again: nothing twice.
  const before = stats.total.complaints;
  t.same(await send(['fbl@bounce.example.com'], arf(redact(received(id, 'angry@dest.test')))), { rcpt: [250], data: 250 });
  t.equal((await eventsOf(id, 'complaint')).length, 1, 'no second event');
  t.equal((await new StatsService(w.daemon.daemon.store, w.daemon.daemon.config.timeZone).query({ by: 'domain' })).total.complaints, before, 'no second count');

  const c = await RawSmtp.connect(w.daemon.port);
  await c.greet(); await c.ehlo();
  await c.authPlain('app@example.com', PASSWORD);
  await c.cmd('MAIL FROM:<app@example.com>');
  t.equal((await c.cmd('RCPT TO:<angry@dest.test>')).code, 559, 'the next submission to the complainer is refused');
  await c.quit();
});

t.test('other feedback types are recorded on the recipient, not suppressed', async (t) => {
  const id = await delivered('optout@dest.test');
  t.same(await send(['fbl@bounce.example.com'], arf(redact(received(id, 'optout@dest.test')), { type: 'opt-out' })), { rcpt: [250], data: 250 });
  const ev = await eventsOf(id, 'feedback');
  t.equal(ev.length, 1);
  t.match(ev[0]!.detail, { feedback_type: 'opt-out', suppressed: false });
  t.equal((await eventsOf(id, 'complaint')).length, 0);
  t.notOk(await w.daemon.daemon.store.isSuppressed('optout@dest.test', 'example.com'));
});

t.test('without the reference: Original-Rcpt-To picks the recipient of a message found by VERP return path or Message-ID', async (t) => {
  const id = await delivered(['m1@dest.test', 'm2@dest.test'], `Message-ID: <complaint-mid-1@example.com>\r\n`);
  const headers = received(id, 'm1@dest.test').replace(/^X-Mta-Ref:.*\r\n/m, '');
  t.same(await send(['abuse@bounce.example.com'], arf(headers, { rcptTo: 'm2@dest.test' })), { rcpt: [250], data: 250 });
  const ev = await eventsOf(id, 'complaint');
  t.equal(ev.length, 1);
  const m = await w.message(id);
  t.equal(ev[0]!.recipientId, m.recipients.find((r) => r.rcpt === 'm2@dest.test')!.recipientId, 'on m2, the recipient the report names');
  t.match(ev[0]!.detail, { mapped_by: 'message-id' });

  const id2 = await delivered(['v1@dest.test', 'v2@dest.test']);
  const h2 = received(id2, 'v1@dest.test').replace(/^X-Mta-Ref:.*\r\n/m, '').replace(/^Message-ID:.*\r\n/im, '');
  const verp = verpAddress(secret, id2, 'example.com', 'bounce');
  t.same(await send(['abuse@bounce.example.com'], arf(h2, { rcptTo: 'v1@dest.test', mailFrom: verp })), { rcpt: [250], data: 250 });
  t.match((await eventsOf(id2, 'complaint'))[0]?.detail, { mapped_by: 'return-path' });
});

t.test('a Hotmail (JMRP) report at the VERP address: X-HmXmrOriginalRecipient picks the recipient', async (t) => {
  const id = await delivered(['h1@dest.test', 'h2@dest.test']);
  const original = received(id, 'h1@dest.test').replace(/^X-Mta-Ref:.*\r\n/m, '').split('\r\n\r\n')[0]!;
  const jmrp = Buffer.from([
    'From: staff@hotmail.com', 'Subject: complaint about message from 192.0.2.1', 'MIME-Version: 1.0',
    'Content-Type: multipart/mixed; boundary="j1"', '', '--j1', 'Content-Type: message/rfc822', 'Content-Disposition: inline', '',
    'X-HmXmrOriginalRecipient: <h2@dest.test>', original.replace(/^To:.*$/im, 'To: redacted'), '', 'body', '', '--j1--', '',
  ].join('\r\n'), 'latin1');
  t.same(await send([verpAddress(secret, id, 'example.com', 'bounce')], jmrp), { rcpt: [250], data: 250 });
  const ev = await eventsOf(id, 'complaint');
  t.equal(ev.length, 1);
  t.equal(ev[0]!.recipientId, (await w.message(id)).recipients.find((r) => r.rcpt === 'h2@dest.test')!.recipientId);
  t.match(ev[0]!.detail, { format: 'jmrp', mapped_by: 'verp' });
  t.equal((await eventsOf(id, 'bounced')).length, 0, 'not read as a bounce');
  t.ok(await w.daemon.daemon.store.isSuppressed('h2@dest.test', 'example.com'));
});

t.test('feedback addresses exist only for our domains; forged references and unknown messages map nowhere', async (t) => {
  const r = await send(['abuse@bounce.unknown.test', 'abuse@example.com', 'postmaster@bounce.example.com'], Buffer.from('x\r\n'));
  t.same(r.rcpt, [550, 550, 550], 'only abuse@/fbl@ of <bounce_subdomain>.<our domain>');
  const id = await delivered('forged@dest.test');
  const forged = referenceToken(Buffer.alloc(32, 9), id);
  const headers = received(id, 'forged@dest.test').replace(/^X-Mta-Ref:.*$/m, `X-Mta-Ref: ${forged}\r`).replace(/^Message-ID:.*\r\n/im, '');
  t.same(await send(['abuse@bounce.example.com'], arf(headers, { rcptTo: 'forged@dest.test' })), { rcpt: [250], data: 250 }, 'accepted (never bounced back)');
  t.equal((await eventsOf(id, 'complaint')).length, 0, 'nothing recorded');
  t.notOk(await w.daemon.daemon.store.isSuppressed('forged@dest.test', 'example.com'), 'nobody suppressed');
  t.same(await send(['abuse@bounce.example.com'], Buffer.from('Subject: hello\r\n\r\nnot a report\r\n')), { rcpt: [250], data: 250 }, 'a plain message is dropped');
});
