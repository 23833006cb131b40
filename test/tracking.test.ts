// Open and click tracking end to end: tracked mail submitted over SMTP is delivered to real
// sinks as one copy per recipient with its links rewritten and the open pixel added, in
// every MIME shape (7bit HTML, quoted-printable and base64 in multipart/alternative, nested
// mixed/related/alternative), and each copy's DKIM signature verifies with dkimpy. Then a
// real HTTP client against the public listener: the pixel and clicks are counted every time
// as raw and once per recipient as unique; tampered, truncated and forged tokens get a 404
// and never a redirect; a machine open, a scanner click and a honeypot click are classified.
import t, { type Test } from 'tap';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startWorld, allFinal, type World } from './helpers/delivery.js';
import { tempDir } from './helpers/daemon.js';
import { RawSmtp } from './helpers/smtp-client.js';
import { deliverTracked, htmlOf, http, submitTracked, urlPath as path } from './helpers/tracking.js';
import { dkimpyAvailable, verifyDkimpy } from './helpers/dkimpy.js';
import type { Sink } from './helpers/sink.js';
import { newTaskId, type QueueId } from '../src/util/ids.js';
import { dayIn } from '../src/util/time.js';
import { DEFAULT_RULES } from '../src/tracking/rules-data.js';
import { startReceiver, type Receiver } from './helpers/receiver.js';
import { WebhookService } from '../src/events/webhooks.js';
import type { TrackingEventPayload } from '../src/events/payload.js';
import { PASSWORD, startDaemon } from './helpers/daemon.js';
import { apiClient } from './helpers/api.js';
import { runMta } from './helpers/run.js';
import { BATCH, addBatchSender, getTask, makeList, makeTemplate } from './helpers/tasks.js';
import { loadTrackingKeys } from '../src/tracking/keys.js';

const BASE = 'http://links.example.com';
const dir = tempDir('mta-track-');
let w: World;
let rx: Receiver;
let sink: Sink;
let pub: number;
let txt: string;
let dkimName: string;

t.before(async () => {
  // Opens within seconds of delivery count as machine opens by default; this test opens at once.
  const rules = join(dir, 'rules.json');
  writeFileSync(rules, JSON.stringify({ ...DEFAULT_RULES, machineOpens: { ...DEFAULT_RULES.machineOpens, withinSecondsOfDelivery: 0 } }));
  w = await startWorld('', { extraToml: `[public]\nlisten = "127.0.0.1:0"\nbase_url = "${BASE}"\n[tracking]\nrules_file = "${rules}"\n`
    + '[webhooks]\nallow_private = true\nretry_schedule = ["50ms"]\nretry_jitter = 0\ntimeout = "3s"\n' });
  rx = await startReceiver();
  await new WebhookService(w.daemon.daemon.store, () => w.daemon.daemon.config).add({ url: rx.url('/hook'), secret: 'a-test-secret-of-some-length', events: ['open', 'click'] });
  sink = await w.addDomain('dest.test', 61);
  pub = w.daemon.daemon.publicServer!.port;
  const d = (await w.daemon.daemon.store.getDomain('example.com'))!;
  txt = `v=DKIM1; k=ed25519; p=${d.dkimPublicKey}`;
  dkimName = `${d.dkimSelector}._domainkey.example.com`;
});
t.teardown(async () => { await w.stop(); await rx.close(); });

const HTML = '<html><body><p>Hello <a href="https://shop.example.net/item?id=7&amp;ref=mail">the item</a>, '
  + '<a href="mailto:help@example.com">write to us</a>, <a href="#top">top</a>, '
  + '<a data-mta-notrack href="https://shop.example.net/private">private</a>, '
  + `<a href="${BASE}/u/someunsubscribetoken">unsubscribe</a>.</p></body></html>`;

const b64 = (s: string): string => Buffer.from(s).toString('base64').replace(/(.{76})/g, '$1\r\n');

/** Each shape: the header lines for the top level and the body. */
const SHAPES: Record<string, { headers: string; body: string }> = {
  'html, 7bit': { headers: 'MIME-Version: 1.0\r\nContent-Type: text/html; charset=utf-8\r\n', body: `${HTML}\r\n` },
  'alternative: quoted-printable text and base64 html': {
    headers: 'MIME-Version: 1.0\r\nContent-Type: multipart/alternative; boundary="alt1"\r\n',
    body: ['--alt1', 'Content-Type: text/plain; charset=utf-8', 'Content-Transfer-Encoding: quoted-printable', '',
      'Hello, see https://shop.example.net/item?id=3D7 caf=C3=A9', '',
      '--alt1', 'Content-Type: text/html; charset=utf-8', 'Content-Transfer-Encoding: base64', '', b64(HTML), '--alt1--', ''].join('\r\n'),
  },
  'mixed > related > alternative, quoted-printable html': {
    headers: 'MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="mix"\r\n',
    body: ['--mix', 'Content-Type: multipart/related; boundary="rel"', '',
      '--rel', 'Content-Type: multipart/alternative; boundary="alt"', '',
      '--alt', 'Content-Type: text/plain; charset=utf-8', '', 'Hello https://shop.example.net/plain', '',
      '--alt', 'Content-Type: text/html; charset=utf-8', 'Content-Transfer-Encoding: quoted-printable', '',
      HTML.replace(/=/g, '=3D').replace(/(.{70})/g, '$1=\r\n'), '--alt--', '',
      '--rel', 'Content-Type: image/png', 'Content-ID: <logo>', 'Content-Transfer-Encoding: base64', '', 'iVBORw0KGgoAAAANSUhEUg==', '--rel--', '',
      '--mix', 'Content-Type: text/html; charset=utf-8', 'Content-Disposition: attachment; filename="a.html"', '',
      '<a href="https://attached.example.net/">kept</a>', '--mix--', ''].join('\r\n'),
  },
};

const submitRaw = (rcpts: string[], headers: string, body: string): ReturnType<typeof submitTracked> => submitTracked(w.daemon.port, rcpts, headers, body);
const deliver = (t: Test, rcpts: string[], headers: string, body: string): ReturnType<typeof deliverTracked> => deliverTracked(t, w, sink, rcpts, headers, body);

const dkimOk = dkimpyAvailable();
const links = new Map<string, { pixel: string; click: string; honeypot: string; rid: string }>();

for (const [shape, { headers, body }] of Object.entries(SHAPES)) {
  t.test(`${shape}: one rewritten, DKIM-verified copy per recipient`, async (t) => {
    const rcpts = [`a.${shape.length}@dest.test`, `b.${shape.length}@dest.test`];
    const { copies } = await deliver(t, rcpts, `X-Mta-Track: opens, clicks\r\n${headers}`, body);
    t.equal(copies.size, 2, 'each recipient got its own transaction');
    const pixels = new Set<string>();
    for (const [to, raw] of copies) {
      t.notMatch(raw, /^X-Mta-Track:/im, 'the X-Mta-Track header is taken off');
      if (dkimOk.ok) t.ok(verifyDkimpy(Buffer.from(raw, 'latin1'), txt, dkimName), `${to}: dkimpy verifies the rewritten copy`);
      const html = htmlOf(raw);
      const clicks = [...html.matchAll(/href="(http:\/\/links\.example\.com\/c\/[^"]+)"/g)].map((x) => x[1]!);
      t.equal(clicks.length, 2, 'the one tracked link and the hidden honeypot');
      t.notMatch(html, 'https://shop.example.net/item', 'the tracked link no longer shows its target');
      for (const kept of ['mailto:help@example.com', 'href="#top"', 'https://shop.example.net/private', `${BASE}/u/someunsubscribetoken`]) t.match(html, kept, `${kept} is left alone`);
      const pixel = /<img src="(http:\/\/links\.example\.com\/o\/[^"]+)"[^>]*><\/body>/.exec(html);
      t.ok(pixel, 'the pixel is right before </body>');
      pixels.add(pixel![1]!);
      if (shape.startsWith('mixed')) t.match(raw, '<a href="https://attached.example.net/">kept</a>', 'an attachment is not touched');
      if (shape.startsWith('alternative')) t.match(raw, 'Hello, see https://shop.example.net/item?id=3D7 caf=C3=A9', 'text links are rewritten only with tracking.text_links');
      links.set(`${shape}:${to}`, { pixel: pixel![1]!, click: clicks[0]!, honeypot: clicks[1]!, rid: to });
    }
    t.equal(pixels.size, 2, 'each copy names its own recipient');
  });
}
t.test('dkimpy present', async (t) => { t.ok(dkimOk.ok, `python3-dkim is installed (${dkimOk.detail})`); });

t.test('the pixel: a GIF, never cached; raw opens every time, unique once per recipient', async (t) => {
  const { id, copies } = await deliver(t, ['open.1@dest.test', 'open.2@dest.test'], 'X-Mta-Track: opens, clicks\r\nContent-Type: text/html\r\n', `${HTML}\r\n`);
  const pixelOf = (to: string): string => path(/<img src="([^"]+)"/.exec(htmlOf(copies.get(to)!))![1]!);
  for (const ua of ['Mozilla/5.0 (Macintosh) Thunderbird/115.0', 'Mozilla/5.0 (Macintosh) Thunderbird/115.0']) {
    const r = await http(pub, 'GET', pixelOf('open.1@dest.test'), { 'user-agent': ua });
    t.equal(r.status, 200);
    t.equal(r.headers['content-type'], 'image/gif');
    t.match(r.headers['cache-control'], /no-store/);
    t.equal(r.body.subarray(0, 6).toString('latin1'), 'GIF89a');
  }
  await http(pub, 'GET', pixelOf('open.2@dest.test'), { 'user-agent': 'Mozilla/5.0 (GoogleImageProxy)' });
  const counts = await w.waitFor('three opens stored', async () => {
    const c = await w.daemon.daemon.store.trackingCountsOf(id);
    return c.human.opens + c.machine.opens === 3 && c;
  });
  t.same(counts.human, { opens: 2, uniqueOpens: 1, clicks: 0, uniqueClicks: 0 }, 'two raw human opens, one unique');
  t.same(counts.machine, { opens: 1, uniqueOpens: 1, clicks: 0, uniqueClicks: 0 }, 'the Gmail image proxy is a machine');
  const m = await w.message(id);
  const hits = await w.daemon.daemon.store.trackingHitsOf(m.recipients.find((r) => r.rcpt === 'open.2@dest.test')!.recipientId);
  t.equal(hits[0]?.reason, 'Gmail image proxy', 'with the rule that said so');
  t.equal(hits[0]?.ip, '127.0.0.1');
});

t.test('a click redirects to the URL in the mail only; bad tokens get a 404 and no redirect', async (t) => {
  const { id, copies } = await deliver(t, ['click.1@dest.test'], 'X-Mta-Track: clicks\r\nContent-Type: text/html\r\n', `${HTML}\r\n`);
  const html = htmlOf(copies.get('click.1@dest.test')!);
  t.notMatch(html, '/o/', 'clicks only: no pixel');
  const click = path(/href="(http:\/\/links\.example\.com\/c\/[^"]+)"/.exec(html)![1]!);
  for (let i = 0; i < 2; i++) {
    const r = await http(pub, 'GET', click, { 'user-agent': 'Mozilla/5.0 Firefox/120.0' });
    t.equal(r.status, 302);
    t.equal(r.headers['location'], 'https://shop.example.net/item?id=7&ref=mail', 'the link as written in the mail, entities decoded');
    t.match(r.headers['cache-control'], /no-store/);
  }
  const token = click.slice('/c/'.length);
  const [kid, payload, mac] = token.split('.') as [string, string, string];
  const forged = Buffer.from(JSON.stringify({ ...JSON.parse(Buffer.from(payload, 'base64url').toString()), u: 'https://evil.example/' })).toString('base64url');
  const bad = {
    tampered: `/c/${kid}.${payload}.${mac.slice(0, -2)}${mac.endsWith('AA') ? 'BB' : 'AA'}`,
    truncated: `/c/${token.slice(0, token.length - 5)}`,
    'open redirect (URL swapped, MAC kept)': `/c/${kid}.${forged}.${mac}`,
    'a pixel token on the click path': `/c/${path(/<a href="(http:\/\/links\.example\.com\/c\/[^"]+)" style="display:none/.exec(html)![1]!).slice(3).replace(/^/, '')}`.replace('/c/', '/o/'),
    'a url parameter': `/c/?url=${encodeURIComponent('https://evil.example/')}`,
    'an unknown key': `/c/ffffff.${payload}.${mac}`,
  };
  for (const [what, p] of Object.entries(bad)) {
    const r = await http(pub, 'GET', p);
    t.equal(r.status, 404, `${what}: 404`);
    t.notOk(r.headers['location'], `${what}: no redirect`);
  }
  const counts = await w.waitFor('two clicks stored', async () => { const c = await w.daemon.daemon.store.trackingCountsOf(id); return c.human.clicks === 2 && c; });
  t.same(counts.human, { opens: 0, uniqueOpens: 0, clicks: 2, uniqueClicks: 1 }, 'replayed: two raw clicks, one unique; the bad tokens counted nothing');
});

t.test('scanners: a HEAD request, a gateway user agent, and the honeypot marking clicks around it', async (t) => {
  const { id, copies } = await deliver(t, ['scan.1@dest.test', 'scan.2@dest.test'], 'X-Mta-Track: opens, clicks\r\nContent-Type: text/html\r\n', `${HTML}\r\n`);
  const clicksOf = (to: string): string[] => [...htmlOf(copies.get(to)!).matchAll(/href="(http:\/\/links\.example\.com\/c\/[^"]+)"/g)].map((x) => path(x[1]!));
  const [link1, honey1] = clicksOf('scan.1@dest.test') as [string, string];
  const [link2] = clicksOf('scan.2@dest.test') as [string];
  const head = await http(pub, 'HEAD', link2);
  t.equal(head.status, 302, 'a HEAD still gets its redirect');
  await http(pub, 'GET', link2, { 'user-agent': 'Mozilla/5.0 Mimecast-URL-Protect' });
  // recipient 1: a click, then the honeypot within seconds: both were the gateway's.
  await http(pub, 'GET', link1, { 'user-agent': 'Mozilla/5.0 Chrome/120' });
  await w.waitFor('the first click stored', async () => (await w.daemon.daemon.store.trackingCountsOf(id)).human.clicks === 1);
  const h = await http(pub, 'GET', honey1);
  t.equal(h.status, 200, 'the honeypot answers an empty page');
  t.notOk(h.headers['location']);
  const m = await w.message(id);
  const rid = (to: string) => m.recipients.find((r) => r.rcpt === to)!.recipientId;
  const hits1 = await w.waitFor('the honeypot marks the click', async () => {
    const hs = await w.daemon.daemon.store.trackingHitsOf(rid('scan.1@dest.test'));
    return hs.length === 2 && hs.every((x) => x.class === 'scanner') && hs;
  });
  t.same(hits1.map((x) => x.reason), ['honeypot link clicked', 'honeypot link clicked']);
  const hits2 = await w.waitFor('two scanner clicks', async () => { const hs = await w.daemon.daemon.store.trackingHitsOf(rid('scan.2@dest.test')); return hs.length === 2 && hs; });
  t.same(hits2.map((x) => [x.method, x.class, x.reason]), [['HEAD', 'scanner', 'HEAD request'], ['GET', 'scanner', 'Mimecast URL protection']]);
  const counts = await w.daemon.daemon.store.trackingCountsOf(id);
  t.equal(counts.human.clicks, 0, 'no human clicks left');
  t.equal(counts.scanner.uniqueClicks, 2);
});

t.test('intake: an unknown X-Mta-Track value is refused with a clear reply', async (t) => {
  const r = await submitRaw(['x@dest.test'], 'X-Mta-Track: opens, pixels\r\n', 'hi\r\n');
  t.equal(r.code, 554);
  t.match(r.text, /5\.6\.0 Tracking refused: X-Mta-Track: unknown value "pixels"/);
  const none = await submitRaw(['x@dest.test'], 'X-Mta-Track: none\r\n', 'hi\r\n');
  t.equal(none.code, 250, '"none" is a value');
});

t.test('send API: `tracking` becomes the message\'s tracking; opens only adds the pixel and leaves links', async (t) => {
  const call = apiClient(w.daemon);
  const r = await call('POST', '/api/v1/send', { from: 'app@example.com', to: 'api.1@dest.test', subject: 'api', html: HTML, tracking: { opens: true } });
  t.equal(r.status, 200, JSON.stringify(r.json));
  const id = (r.json as { queue_id: QueueId }).queue_id;
  await w.waitFor('delivered', async () => allFinal(await w.message(id)));
  const raw = sink.messages.find((m) => m.raw.toString('latin1').includes(id))!.raw.toString('latin1');
  t.notMatch(raw, /^X-Mta-Track:/im);
  const html = htmlOf(raw);
  t.match(html, /<img src="http:\/\/links\.example\.com\/o\//, 'the pixel');
  t.match(html, 'https://shop.example.net/item?id=7&amp;ref=mail', 'links as written');
  if (dkimOk.ok) t.ok(verifyDkimpy(Buffer.from(raw, 'latin1'), txt, dkimName), 'dkimpy verifies it');
  const bad = await call('POST', '/api/v1/send', { from: 'app@example.com', to: 'api.1@dest.test', subject: 'api', html: HTML, tracking: { pixels: true } });
  t.equal(bad.status, 400, 'an unknown tracking field is refused');
});

t.test('without a tracking host, tracked mail is refused (SMTP 554, send API 400), never sent untracked', async (t) => {
  const d = await startDaemon();
  t.teardown(() => d.stop());
  const c = await RawSmtp.connect(d.port);
  await c.greet(); await c.ehlo();
  await c.authPlain('app@example.com', PASSWORD);
  await c.cmd('MAIL FROM:<app@example.com>');
  await c.cmd('RCPT TO:<x@dest.test>');
  const r = await c.data(Buffer.from('From: app@example.com\r\nTo: x@dest.test\r\nSubject: s\r\nX-Mta-Track: opens\r\n\r\nhi\r\n.\r\n'));
  await c.quit();
  t.equal(r.code, 554);
  t.match(r.text, '5.6.0 Tracking refused: tracking needs a tracking host: set public.base_url');
  const api = await apiClient(d)('POST', '/api/v1/send', { from: 'app@example.com', to: 'x@dest.test', subject: 's', text: 'hi', tracking: { clicks: true } });
  t.equal(api.status, 400);
  t.match(api.json, { error: { code: 'MTA_ERR_INVALID', field: 'tracking', smtp_code: 554 } });
  t.same(await d.daemon.store.listQueue({}), [], 'nothing was queued');
});

t.test('mta tracking rotate-key: a new signing key; the old one still opens links until the overlap ends', async (t) => {
  const before = loadTrackingKeys(join(w.daemon.dir, 'data'));
  const r = await runMta(['tracking', 'rotate-key', '--json', '--config', w.daemon.configPath]);
  t.equal(r.code, 0, r.err);
  const out = JSON.parse(r.out) as { current: string; keys: { id: string; created_at: string }[]; dropped: string[] };
  t.not(out.current, before.current.id);
  t.same(out.keys.map((k) => k.id), [before.current.id, out.current], 'the old key kept for the overlap');
  t.match(out.keys[1]!.created_at, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
  t.notMatch(r.out, /[0-9a-f]{64}/, 'no key printed');
  // A link signed before the rotation still redirects.
  const old = links.values().next().value!;
  const res = await http(pub, 'GET', path(old.click));
  t.equal(res.status, 302);
  // After a reload, new copies are signed with the new key, and the endpoint knows it.
  w.daemon.daemon.reload();
  const { copies } = await deliver(t, ['rot.1@dest.test'], 'X-Mta-Track: clicks\r\nContent-Type: text/html\r\n', `${HTML}\r\n`);
  const click = path(/href="(http:\/\/links\.example\.com\/c\/[^"]+)"/.exec(htmlOf(copies.get('rot.1@dest.test')!))![1]!);
  t.ok(click.startsWith(`/c/${out.current}.`), 'signed with the new key');
  t.equal((await http(pub, 'GET', click)).status, 302);
});

t.test('webhooks: open and click events, the first hit of each kind per recipient, with class and reason', async (t) => {
  const { id, copies } = await deliver(t, ['hook.1@dest.test'], 'X-Mta-Track: opens, clicks\r\nX-Mta-Tag: spring\r\nContent-Type: text/html\r\n', `${HTML}\r\n`);
  const html = htmlOf(copies.get('hook.1@dest.test')!);
  const pixel = path(/<img src="([^"]+)"/.exec(html)![1]!);
  const click = path(/href="(http:\/\/links\.example\.com\/c\/[^"]+)"/.exec(html)![1]!);
  await http(pub, 'GET', pixel, { 'user-agent': 'Mozilla/5.0 (GoogleImageProxy)' });
  await http(pub, 'GET', pixel);
  await http(pub, 'GET', click, { 'user-agent': 'Mozilla/5.0 Firefox/120.0' });
  await http(pub, 'GET', click, { 'user-agent': 'Mozilla/5.0 Firefox/120.0' });
  await w.waitFor('four hits stored', async () => { const c = await w.daemon.daemon.store.trackingCountsOf(id); return c.human.opens + c.machine.opens + c.human.clicks === 4; });
  const mine = (): TrackingEventPayload[] => rx.acked('/hook').map((r) => JSON.parse(r.body) as TrackingEventPayload).filter((e) => e.env_id === id);
  const events = await w.waitFor('an open and a click event', () => mine().length >= 2 && mine());
  t.same(events.map((e) => [e.event, e.class, e.reason, e.first]).sort(), [['click', 'human', null, true], ['open', 'machine', 'Gmail image proxy', true]]);
  const c = events.find((e) => e.event === 'click')!;
  t.match(c, { rcpt: 'hook.1@dest.test', from: 'app@example.com', tag: 'spring', url: 'https://shop.example.net/item?id=7&ref=mail', ip: '127.0.0.1' });
  t.match(c.time, /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$/, 'DirectMail time form, as every event');
  t.equal(mine().length, 2, 'repeated hits emit nothing more');
});

t.test('reputation: the open rate counts recipients with a human open, not machine opens', async (t) => {
  const store = w.daemon.daemon.store;
  const day = dayIn(Date.now(), w.daemon.daemon.config.timeZone);
  const before = (await store.dailyFigures('example.com', day)).opens;
  const { id, copies } = await deliver(t, ['rep.1@dest.test', 'rep.2@dest.test'], 'X-Mta-Track: opens\r\nContent-Type: text/html\r\n', `${HTML}\r\n`);
  const pixelOf = (to: string): string => path(/<img src="([^"]+)"/.exec(htmlOf(copies.get(to)!))![1]!);
  await http(pub, 'GET', pixelOf('rep.1@dest.test'), { 'user-agent': 'Mozilla/5.0 Thunderbird' });
  await http(pub, 'GET', pixelOf('rep.1@dest.test'), { 'user-agent': 'Mozilla/5.0 Thunderbird' });
  await http(pub, 'GET', pixelOf('rep.2@dest.test'), { 'user-agent': 'Mozilla/5.0 (GoogleImageProxy)' });
  await w.waitFor('three opens stored', async () => { const c = await store.trackingCountsOf(id); return c.human.opens + c.machine.opens === 3; });
  t.equal((await store.dailyFigures('example.com', day)).opens, before + 1, 'one more recipient with a human open');
});

t.test('send details: opens and clicks are on the recipient\'s timeline', async (t) => {
  const r = await apiClient(w.daemon)('GET', '/api/v1/messages?rcpt=open.1@dest.test&events=true');
  t.equal(r.status, 200, r.text);
  const item = (r.json as { items: { rcpt: string; events: { at: string; type: string; class?: string; first?: boolean }[] }[] }).items[0]!;
  const opens = item.events.filter((e) => e.type === 'open');
  t.equal(opens.length, 2, 'both opens');
  t.same(opens.map((e) => [e.class, e.first]), [['human', true], ['human', false]]);
  t.match(opens[0]!.at, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/, 'ISO 8601');
  const types = item.events.map((e) => e.type);
  t.ok(types.indexOf('delivered') < types.indexOf('open'), `in time order: ${types.join(', ')}`);
});

t.test('hits follow the details retention', async (t) => {
  const store = w.daemon.daemon.store;
  const m = (await store.listSendDetails({ from: 0, to: Date.now(), rcpt: { exact: 'open.1@dest.test' }, limit: 1 }))[0]!;
  t.equal((await store.trackingHitsOf(m.recipientId)).length, 2);
  await store.purge({ detailsBefore: Date.now() + 1, statsBeforeDay: '1970-01-01' });
  t.same(await store.trackingHitsOf(m.recipientId), [], 'purged with the send details');
});

t.test('a batch task with --tracking: every copy tracked; mta tracking show and the API give counts, rates and clicks per link', async (t) => {
  const store = w.daemon.daemon.store;
  await addBatchSender(store);
  await makeList(store, 'club', 4, (i) => ({ address: `member${i}@dest.test`, vars: {} }));
  await makeTemplate(store, 'promo', { subject: 'Promo', html: `<html><body><a href="https://shop.example.net/a">a</a> <a href="https://shop.example.net/b">b</a></body></html>` });
  const call = apiClient(w.daemon);
  const created = await call('POST', '/api/v1/tasks', { list: 'club', template: 'promo', from: BATCH, tracking: true });
  t.equal(created.status, 201, created.text);
  const taskId = (created.json as { id: string }).id;
  await w.waitFor('the task delivered', async () => (await getTask(store, taskId)).delivered === 4 && true, 60_000);
  const copies = sink.messages.filter((m) => m.to[0]?.startsWith('member'));
  t.equal(copies.length, 4);
  const linksOf = (i: number): string[] => [...htmlOf(copies[i]!.raw.toString('latin1')).matchAll(/href="(http:\/\/links\.example\.com\/c\/[^"]+)"/g)].map((x) => path(x[1]!));
  if (dkimOk.ok) t.ok(copies.every((m) => verifyDkimpy(m.raw, txt, dkimName)), 'every copy verifies');
  // Two members open; one clicks link a twice and link b once; another clicks link a.
  const pixelOf = (i: number): string => path(/<img src="([^"]+)"/.exec(htmlOf(copies[i]!.raw.toString('latin1')))![1]!);
  await http(pub, 'GET', pixelOf(0)); await http(pub, 'GET', pixelOf(0)); await http(pub, 'GET', pixelOf(1));
  await http(pub, 'GET', linksOf(0)[0]!); await http(pub, 'GET', linksOf(0)[0]!); await http(pub, 'GET', linksOf(0)[1]!);
  await http(pub, 'GET', linksOf(1)[0]!);
  const r = await w.waitFor('seven hits counted', async () => {
    const x = await call('GET', `/api/v1/tasks/${taskId}/tracking`);
    return x.json?.human?.opens + x.json?.human?.clicks === 7 && x;
  });
  t.match(r.json, {
    task_id: taskId, tracking: true, delivered: 4,
    human: { opens: 3, unique_opens: 2, open_rate: 0.5, clicks: 4, unique_clicks: 2, click_rate: 0.5 },
    machine: { opens: 0 }, scanner: { clicks: 0 },
  });
  t.same(r.json.links, [
    { link: 0, url: 'https://shop.example.net/a', class: 'human', clicks: 3, unique_clicks: 2 },
    { link: 1, url: 'https://shop.example.net/b', class: 'human', clicks: 1, unique_clicks: 1 },
  ], 'clicks per link');
  const cli = await runMta(['tracking', 'show', taskId, '--config', w.daemon.configPath]);
  t.equal(cli.code, 0, cli.err);
  t.match(cli.out, /human\s+3\s+2\s+50\.00%\s+4\s+2\s+50\.00%/);
  t.match(cli.out, /0\s+human\s+3\s+2\s+https:\/\/shop\.example\.net\/a/);
  const missing = await call('GET', `/api/v1/tasks/${newTaskId(Date.now())}/tracking`);
  t.equal(missing.status, 404);
});
