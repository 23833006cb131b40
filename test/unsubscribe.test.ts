// Unsubscribe through the public endpoint, end to end: a real daemon, real HTTP requests
// to its public listener, real SMTP submission afterwards, a real webhook receiver. The
// GET page changes nothing; the RFC 8058 one-click POST (urlencoded or multipart) and the
// page's form suppress the address for the sender domain only, record the event and emit
// the webhook once; forged, spliced and random tokens change nothing.
import t from 'tap';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { request } from 'node:http';
import { startDaemon, PASSWORD, type TestDaemon } from './helpers/daemon.js';
import { startReceiver, type Receiver } from './helpers/receiver.js';
import { RawSmtp, message } from './helpers/smtp-client.js';
import { WebhookService } from '../src/events/webhooks.js';
import { loadSecret } from '../src/util/secret.js';
import { unsubscribeLinks } from '../src/public/unsubscribe-links.js';
import { newQueueId, type QueueId } from '../src/util/ids.js';
import type { UnsubscribeEventPayload } from '../src/events/payload.js';
import { waitFor } from './helpers/tasks.js';

interface HttpReply { status: number; headers: Record<string, string | string[] | undefined>; body: string }

function http(port: number, method: string, path: string, body?: string | Buffer, headers: Record<string, string> = {}): Promise<HttpReply> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, method, path, headers: body !== undefined ? { 'content-length': String(Buffer.byteLength(body)), ...headers } : headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

const ONE_CLICK = { 'content-type': 'application/x-www-form-urlencoded' };

let d: TestDaemon;
let rx: Receiver;
let secret: Buffer;
let pub: number;

t.before(async () => {
  d = await startDaemon(
    '[public]\nlisten = "127.0.0.1:0"\nbase_url = "https://links.example.com"\n' +
    '[webhooks]\nallow_private = true\nretry_schedule = ["50ms"]\nretry_jitter = 0\ntimeout = "3s"\n',
    { domains: ['example.com', 'other.com'] },
  );
  await d.addSender('app@other.com');
  rx = await startReceiver();
  await new WebhookService(d.daemon.store, () => d.daemon.config).add({ url: rx.url('/hook'), secret: 'a-test-secret-of-some-length' });
  secret = loadSecret(join(d.dir, 'data'));
  pub = d.daemon.publicServer!.port;
});
t.teardown(async () => { await d.stop(); await rx.close(); });

async function submit(from: string, to: string): Promise<QueueId> {
  const c = await RawSmtp.connect(d.port);
  await c.greet(); await c.ehlo();
  await c.authPlain(from, PASSWORD);
  await c.cmd(`MAIL FROM:<${from}>`);
  t.equal((await c.cmd(`RCPT TO:<${to}>`)).code, 250, `${to} accepted from ${from}`);
  const r = await c.data(Buffer.from(`${message(from, to)}.\r\n`));
  await c.quit();
  return r.text.split(' ').pop() as QueueId;
}

/** The RCPT reply code for `to` from `from`. */
async function rcptCode(from: string, to: string): Promise<number> {
  const c = await RawSmtp.connect(d.port);
  await c.greet(); await c.ehlo();
  await c.authPlain(from, PASSWORD);
  await c.cmd(`MAIL FROM:<${from}>`);
  const r = await c.cmd(`RCPT TO:<${to}>`);
  await c.quit();
  return r.code;
}

function pathOf(url: string): string { return new URL(url).pathname; }
function linkFor(address: string, queueId: string, senderDomain = 'example.com'): string {
  return pathOf(unsubscribeLinks(secret, 'https://links.example.com', { address, senderDomain, queueId, mailtoDomain: `bounce.${senderDomain}` }).url);
}
const suppressions = (): Promise<unknown[]> => d.daemon.store.listSuppressions({});
const unsubEvents = (): UnsubscribeEventPayload[] => rx.acked('/hook').map((r) => JSON.parse(r.body) as UnsubscribeEventPayload).filter((e) => e.event === 'unsubscribe');
t.test('the daemon uses the secret in its data_dir', async (t) => {
  t.same(d.daemon.secret, secret);
});

t.test('GET shows a confirmation page and changes nothing', async (t) => {
  const id = await submit('app@example.com', 'jane.doe@dest.test');
  const path = linkFor('jane.doe@dest.test', id);
  const r = await http(pub, 'GET', path);
  t.equal(r.status, 200);
  t.match(r.headers['content-type'], /^text\/html; charset=utf-8/);
  t.match(r.body, 'j******e@dest.test', 'the address, masked');
  t.notMatch(r.body, 'jane.doe', 'never in full');
  t.match(r.body, 'example.com');
  t.match(r.body, `<form method="post" action="${path.slice('/u/'.length)}">`, 'a button that POSTs back (relative: works behind a path prefix)');
  t.match(r.headers['content-security-policy'], /default-src 'none'/);
  t.equal(r.headers['referrer-policy'], 'no-referrer', 'the token never leaks in a Referer');
  t.equal(r.headers['cache-control'], 'no-store');
  const h = await http(pub, 'HEAD', path);
  t.equal(h.status, 200);
  t.equal(h.body, '');
  await new Promise((r) => setTimeout(r, 100));
  t.same(await suppressions(), [], 'no suppression');
  const m = await d.daemon.store.getMessage(id);
  t.notOk(m!.events.some((e) => e.type === 'unsubscribe'), 'no event');
  t.equal(unsubEvents().length, 0, 'no webhook');
  t.equal(await rcptCode('app@example.com', 'jane.doe@dest.test'), 250, 'mail still accepted');
});

t.test('RFC 8058 one-click POST: suppressed for the sender domain only, event and webhook once', async (t) => {
  const id = await submit('app@example.com', 'Ann@Dest.test');
  const path = linkFor('ann@dest.test', id);
  const r = await http(pub, 'POST', path, 'List-Unsubscribe=One-Click', ONE_CLICK);
  t.equal(r.status, 200);
  t.match(r.body, 'You are unsubscribed');
  t.match(r.body, 'will no longer receive mail');
  t.match(await suppressions(), [{ address: 'ann@dest.test', scope: 'example.com', source: 'unsubscribe', reason: /one-click/ }]);
  t.equal(await rcptCode('app@example.com', 'ann@dest.test'), 559, 'same domain: 559 at RCPT');
  t.equal(await rcptCode('app@example.com', 'ANN@dest.test'), 559, 'in any case');
  t.equal(await rcptCode('app@other.com', 'ann@dest.test'), 250, 'another sender domain: still accepted');
  const m = await d.daemon.store.getMessage(id);
  const ev = m!.events.filter((e) => e.type === 'unsubscribe');
  t.equal(ev.length, 1, 'one event in the recipient\'s history');
  t.equal(ev[0]!.recipientId, m!.recipients[0]!.recipientId);
  t.match(ev[0]!.detail, { domain: 'example.com', method: 'one-click' });
  t.equal(m!.recipients[0]!.state, 'queued', 'the recipient\'s delivery state is untouched');
  await waitFor('the unsubscribe webhook', () => unsubEvents().length === 1);
  t.match(unsubEvents()[0], {
    event: 'unsubscribe', env_id: id, msg_id: m!.messageId.replace(/[<>]/g, ''), account: 'app@example.com', from: 'app@example.com',
    rcpt: 'Ann@dest.test', domain: 'example.com', method: 'one-click', time: /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$/,
  });

  // Replay: the provider retries, the user clicks again.
  const again = await http(pub, 'POST', path, 'List-Unsubscribe=One-Click', ONE_CLICK);
  t.equal(again.status, 200);
  t.match(again.body, 'was already unsubscribed');
  await new Promise((r) => setTimeout(r, 200));
  t.equal((await suppressions()).length, 1, 'no second suppression');
  t.equal((await d.daemon.store.getMessage(id))!.events.filter((e) => e.type === 'unsubscribe').length, 1, 'no second event');
  t.equal(unsubEvents().length, 1, 'no second webhook');
});

t.test('multipart/form-data one-click (RFC 8058\'s preferred form) and the page\'s own form', async (t) => {
  const id = await submit('app@example.com', 'bob@dest.test');
  const boundary = '----x9a';
  const body = `--${boundary}\r\nContent-Disposition: form-data; name="List-Unsubscribe"\r\n\r\nOne-Click\r\n--${boundary}--\r\n`;
  const r = await http(pub, 'POST', linkFor('bob@dest.test', id), body, { 'content-type': `multipart/form-data; boundary=${boundary}` });
  t.equal(r.status, 200);
  await waitFor('bob\'s webhook', () => unsubEvents().some((e) => e.rcpt === 'bob@dest.test'));
  t.equal(unsubEvents().find((e) => e.rcpt === 'bob@dest.test')!.method, 'one-click');

  const id2 = await submit('app@example.com', 'cy@dest.test');
  const page = await http(pub, 'POST', linkFor('cy@dest.test', id2), 'confirm=yes', ONE_CLICK);
  t.equal(page.status, 200);
  await waitFor('cy\'s webhook', () => unsubEvents().some((e) => e.rcpt === 'cy@dest.test'));
  t.equal(unsubEvents().find((e) => e.rcpt === 'cy@dest.test')!.method, 'link');
  t.match(await d.daemon.store.isSuppressed('cy@dest.test', 'example.com'), { source: 'unsubscribe', reason: /link/ });
});

t.test('forged tokens: refused with 400, nothing changes', async (t) => {
  const id = await submit('app@example.com', 'victim@dest.test');
  const good = linkFor('victim@dest.test', id).slice('/u/'.length);
  const mine = linkFor('mallory@dest.test', id).slice('/u/'.length);
  const flip = (s: string, i: number): string => s.slice(0, i) + (s[i] === 'A' ? 'B' : 'A') + s.slice(i + 1);
  const half = Math.floor(Math.min(good.length, mine.length) / 2);
  const forged = {
    'one byte altered (middle)': flip(good, Math.floor(good.length / 2)),
    'one byte altered (tag)': flip(good, good.length - 3),
    'one byte altered (version)': flip(good, 0),
    'spliced: my token\'s head, the victim\'s tail': mine.slice(0, half) + good.slice(half),
    'spliced: the victim\'s head, my tail': good.slice(0, half) + mine.slice(half),
    'truncated': good.slice(0, -4),
    'random': randomBytes(90).toString('base64url'),
    'another server\'s token': pathOf(unsubscribeLinks(randomBytes(32), 'https://x', { address: 'victim@dest.test', senderDomain: 'example.com', queueId: id, mailtoDomain: 'x.test' }).url).slice(3),
    'not base64': 'hello%20world',
    'empty': '',
  };
  const before = await suppressions();
  const hooksBefore = rx.requests.length;
  for (const [what, tok] of Object.entries(forged)) {
    const g = await http(pub, 'GET', `/u/${tok}`);
    t.equal(g.status, 400, `GET ${what}: 400`);
    t.match(g.body, 'not valid');
    const p = await http(pub, 'POST', `/u/${tok}`, 'List-Unsubscribe=One-Click', ONE_CLICK);
    t.equal(p.status, 400, `POST ${what}: 400`);
  }
  await new Promise((r) => setTimeout(r, 200));
  t.same(await suppressions(), before, 'no suppression added');
  t.equal(rx.requests.length, hooksBefore, 'no webhook');
  t.equal(await rcptCode('app@example.com', 'victim@dest.test'), 250, 'the victim still gets mail');
});

t.test('a link outlives its message: the unsubscribe still works, account-level webhook without message fields', async (t) => {
  const gone = newQueueId();
  const r = await http(pub, 'POST', linkFor('old@dest.test', gone), 'List-Unsubscribe=One-Click', ONE_CLICK);
  t.equal(r.status, 200);
  t.match(await d.daemon.store.isSuppressed('old@dest.test', 'example.com'), { source: 'unsubscribe' });
  await waitFor('old\'s webhook', () => unsubEvents().some((e) => e.rcpt === 'old@dest.test'));
  t.match(unsubEvents().find((e) => e.rcpt === 'old@dest.test'), { env_id: gone, msg_id: null, account: null, from: null, domain: 'example.com' });
});

t.test('HTTP edges: other paths, methods and oversized bodies', async (t) => {
  const id = await submit('app@example.com', 'dee@dest.test');
  const path = linkFor('dee@dest.test', id);
  t.equal((await http(pub, 'GET', '/')).status, 404);
  t.equal((await http(pub, 'GET', '/admin')).status, 404);
  const put = await http(pub, 'PUT', path, 'x');
  t.equal(put.status, 405);
  t.equal(put.headers['allow'], 'GET, HEAD, POST');
  t.equal((await http(pub, 'DELETE', path)).status, 405);
  const big = await http(pub, 'POST', path, `List-Unsubscribe=One-Click&pad=${'x'.repeat(20_000)}`, ONE_CLICK);
  t.equal(big.status, 413, 'body over the limit refused');
  t.notOk(await d.daemon.store.isSuppressed('dee@dest.test', 'example.com'), 'and not acted on');
  t.equal((await http(pub, 'POST', path, '{"a":1}', { 'content-type': 'application/json' })).status, 200, 'any POST to a valid link unsubscribes (a form without one-click)');
});

t.test('a public address that cannot be bound stops the start-up with MTA_ERR_LISTEN', async (t) => {
  await t.rejects(startDaemon(`[public]\nlisten = "127.0.0.1:${pub}"\nbase_url = "https://x.example.com"\n`), { code: 'MTA_ERR_LISTEN', message: /public\.listen/ });
});

t.test('without public.base_url nothing listens (no link could point at it)', async (t) => {
  const d2 = await startDaemon();
  t.teardown(() => d2.stop());
  t.equal(d2.daemon.publicServer, undefined);
  t.equal(d2.daemon.inbound, undefined, 'and inbound is off by default');
});
