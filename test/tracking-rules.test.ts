// The parts of tracking that need no daemon, table-driven: each classification rule (a
// hit that matches it and one that does not), the rules-file check, the token codec
// (tampered, truncated, other purpose, key rotation with its overlap), the key file's
// mode, what X-Mta-Track accepts, and the rewriter's rules for links it must leave alone.
import t from 'tap';
import { statSync, writeFileSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir } from './helpers/daemon.js';
import { Classifier, HONEYPOT_LINK, loadRules, type HitFacts } from '../src/tracking/classify.js';
import { DEFAULT_RULES } from '../src/tracking/rules-data.js';
import { loadTrackingKeys, rotateTrackingKeys, TRACKING_KEYS_FILE } from '../src/tracking/keys.js';
import { openToken, sealToken } from '../src/tracking/token.js';
import { parseTrackHeader, resolveTracking } from '../src/tracking/request.js';
import { rewriteMessage } from '../src/tracking/rewrite.js';
import { LinkCounter, rewriteHtml } from '../src/tracking/links.js';
import { truncateIp } from '../src/tracking/endpoint.js';
import type { TrackingHitRecord } from '../src/spool/types-tracking.js';
import type { QueueId, RecipientId } from '../src/util/ids.js';

const NOW = 1_800_000_000_000;
const SENT = NOW - 3_600_000;
const c = new Classifier();
const open = (o: Partial<HitFacts>): HitFacts => ({ kind: 'open', honeypot: false, method: 'GET', ip: '203.0.113.9', userAgent: 'Mozilla/5.0 Thunderbird', at: NOW, sentAt: SENT, ...o });
const click = (o: Partial<HitFacts>): HitFacts => ({ ...open(o), kind: 'click', link: 0, ...o });
let nextId = 1;
const earlier = (o: Partial<TrackingHitRecord>): TrackingHitRecord => ({
  id: nextId++, at: NOW - 2000, kind: 'click', queueId: 'Q' as QueueId, recipientId: 1 as RecipientId, link: 0, ip: '203.0.113.9', userAgent: 'x',
  method: 'GET', class: 'human', reason: null, first: true, ...o,
});

t.test('opens: each rule, and a person', async (t) => {
  const cases: [string, HitFacts, string, string | null][] = [
    ['a mail client', open({}), 'human', null],
    ['Gmail image proxy agent', open({ userAgent: 'Mozilla/5.0 (via ggpht.com GoogleImageProxy)' }), 'machine', 'Gmail image proxy'],
    ['Apple range (MPP)', open({ ip: '17.58.1.2', userAgent: 'Mozilla/5.0' }), 'machine', 'Apple Mail Privacy Protection (Apple address range)'],
    ['Google range', open({ ip: '66.102.8.1', userAgent: 'Mozilla/5.0' }), 'machine', 'Gmail image proxy (Google address range)'],
    ['within seconds of delivery', open({ at: SENT + 3000 }), 'machine', 'opened within 10 s of delivery (prefetch)'],
    ['a minute after delivery', open({ at: SENT + 60_000 }), 'human', null],
  ];
  for (const [what, hit, cls, reason] of cases) t.same(c.classify(hit, []), { class: cls, reason, alsoScanner: [] }, what);
});

t.test('clicks: each rule, and a person', async (t) => {
  const cases: [string, HitFacts, TrackingHitRecord[], string, string | null][] = [
    ['a browser', click({}), [], 'human', null],
    ['HEAD request', click({ method: 'HEAD' }), [], 'scanner', 'HEAD request'],
    ['Mimecast agent', click({ userAgent: 'Mimecast URL Protect' }), [], 'scanner', 'Mimecast URL protection'],
    ['Proofpoint range', click({ ip: '148.163.130.5' }), [], 'scanner', 'Proofpoint (Proofpoint address range)'],
    ['Safe Links range', click({ ip: '40.107.22.1' }), [], 'scanner', 'Microsoft Safe Links (Exchange Online Protection range)'],
    ['Barracuda range', click({ ip: '64.235.150.1' }), [], 'scanner', 'Barracuda (Barracuda address range)'],
    ['after a honeypot click 5 s before', click({}), [earlier({ link: HONEYPOT_LINK, at: NOW - 5000, class: 'scanner' })], 'scanner', 'honeypot link clicked within the window'],
    ['a honeypot click 60 s before is too far', click({}), [earlier({ link: HONEYPOT_LINK, at: NOW - 60_000, class: 'scanner' })], 'human', null],
    ['a third link from one address within 5 s', click({ link: 2 }), [earlier({ link: 0, at: NOW - 1000 }), earlier({ link: 1, at: NOW - 500 })], 'scanner', '3 links from one address within 5 s'],
    ['the same link three times is a person', click({ link: 0 }), [earlier({ link: 0, at: NOW - 1000 }), earlier({ link: 0, at: NOW - 500 })], 'human', null],
    ['three links from different addresses', click({ link: 2 }), [earlier({ link: 0, ip: '198.51.100.1' }), earlier({ link: 1, ip: '198.51.100.2' })], 'human', null],
  ];
  for (const [what, hit, before, cls, reason] of cases) {
    const v = c.classify(hit, before);
    t.same([v.class, v.reason], [cls, reason], what);
  }
});

t.test('a honeypot click marks the human clicks within 10 s either side, not older ones', async (t) => {
  const near = earlier({ at: NOW - 4000 });
  const far = earlier({ at: NOW - 30_000 });
  const v = c.classify(click({ honeypot: true, link: HONEYPOT_LINK }), [near, far]);
  t.same(v, { class: 'scanner', reason: 'honeypot link clicked', alsoScanner: [near.id] });
  const burst = c.classify(click({ link: 2 }), [earlier({ link: 0, at: NOW - 1000 }), earlier({ link: 1, at: NOW - 500 })]);
  t.equal(burst.alsoScanner.length, 2, 'a burst marks the clicks that made it');
});

t.test('rules file: replaces the shipped rules; a malformed one is a precise error', async (t) => {
  const dir = tempDir('mta-rules-');
  const file = join(dir, 'rules.json');
  writeFileSync(file, JSON.stringify({ ...DEFAULT_RULES, scannerClicks: { ...DEFAULT_RULES.scannerClicks, headRequests: false, userAgents: [{ contains: 'MyGateway', reason: 'our own gateway' }] } }));
  const own = new Classifier(loadRules(file));
  t.equal(own.classify(click({ method: 'HEAD' }), []).class, 'human', 'HEAD rule turned off');
  t.equal(own.classify(click({ userAgent: 'mygateway/1.0' }), []).reason, 'our own gateway');
  t.equal(loadRules(undefined), DEFAULT_RULES);
  writeFileSync(file, JSON.stringify({ ...DEFAULT_RULES, machineOpens: { ...DEFAULT_RULES.machineOpens, ranges: [{ cidr: 7 }] } }));
  t.throws(() => loadRules(file), { code: 'MTA_ERR_CONFIG', message: /machineOpens\.ranges is missing or of the wrong type/ });
  writeFileSync(file, JSON.stringify({ ...DEFAULT_RULES, machineOpens: { ...DEFAULT_RULES.machineOpens, ranges: [{ cidr: '300.1.1.1/8', reason: 'x' }] } }));
  t.throws(() => new Classifier(loadRules(file)), { code: 'MTA_ERR_CONFIG', message: /machineOpens\.ranges\[0\]/ });
  t.throws(() => loadRules(join(dir, 'absent.json')), { code: 'MTA_ERR_CONFIG', message: /ENOENT/ });
});

t.test('tokens: round trip; tampered, truncated, foreign and retired keys do not open', async (t) => {
  const dir = tempDir('mta-keys-');
  const keys = loadTrackingKeys(dir, NOW);
  t.equal(statSync(join(dir, TRACKING_KEYS_FILE)).mode & 0o777, 0o600, 'the key file is 0600');
  t.same(loadTrackingKeys(dir).current.key, keys.current.key, 'read back, not made anew');
  const tok = { kind: 'c' as const, queueId: 'Q1' as QueueId, recipientId: 42 as RecipientId, sentAt: NOW, link: 3, url: 'https://example.net/a?b=c' };
  const s = sealToken(keys, tok);
  t.same(openToken(keys, s), tok);
  t.equal(openToken(keys, s.slice(0, -1)), undefined, 'truncated');
  t.equal(openToken(keys, `${s.slice(0, -2)}${s.at(-2) === 'A' ? 'B' : 'A'}${s.at(-1)}`), undefined, 'MAC changed');
  // Only the unused low bits of the last character changed: the same MAC bytes, still refused.
  const last = 'AEIMQUYcgkosw048'.indexOf(s.at(-1)!);
  t.equal(openToken(keys, `${s.slice(0, -1)}${'BFJNRVZdhlptx159'[last]}`), undefined, 'a non-canonical MAC encoding');
  const [kid, payload, mac] = s.split('.') as [string, string, string];
  const swapped = Buffer.from(JSON.stringify({ ...JSON.parse(Buffer.from(payload, 'base64url').toString()), u: 'https://evil.example/' })).toString('base64url');
  t.equal(openToken(keys, `${kid}.${swapped}.${mac}`), undefined, 'URL swapped');
  t.equal(openToken(loadTrackingKeys(tempDir('mta-keys-other-')), s), undefined, 'another installation\'s key');
  t.equal(openToken(keys, 'x'.repeat(9000)), undefined, 'too long');
  // Rotation: the old key keeps verifying during the overlap, then is dropped.
  const day = 86_400_000;
  const r1 = rotateTrackingKeys(dir, 30 * day, NOW + day);
  t.not(r1.keys.current.id, kid, 'a new key signs');
  t.same(openToken(r1.keys, s), tok, 'old tokens still open during the overlap');
  t.equal(statSync(join(dir, TRACKING_KEYS_FILE)).mode & 0o777, 0o600, 'still 0600 after rotation');
  const r2 = rotateTrackingKeys(dir, 30 * day, NOW + 40 * day);
  t.same(r2.dropped, [kid], 'the first key is dropped once its successor is older than the overlap');
  t.equal(openToken(r2.keys, s), undefined, 'and its tokens no longer open');
  t.equal(r2.keys.keys.length, 2);
  writeFileSync(join(dir, TRACKING_KEYS_FILE), 'garbage\n');
  t.throws(() => loadTrackingKeys(dir), { code: 'MTA_ERR_DATA_DIR', message: /line 1 is not/ });
  void readFileSync;
});

t.test('X-Mta-Track: accepted values, refusals, domain default, tracking host', async (t) => {
  t.same(parseTrackHeader('opens, clicks'), { opens: true, clicks: true });
  t.same(parseTrackHeader('Clicks'), { opens: false, clicks: true });
  t.same(parseTrackHeader('none'), { opens: false, clicks: false });
  t.match(parseTrackHeader('opens, pixels'), { error: /unknown value "pixels"/ });
  t.match(parseTrackHeader('none, opens'), { error: /cannot be combined/ });
  t.match(parseTrackHeader(' '), { error: /empty value/ });
  const cfg = { tracking: { textLinks: false, keyOverlapMs: 0, domains: new Map([['news.example.com', { opens: true, clicks: false }]]) }, public: { host: '', port: 0, baseUrl: 'https://t.example' } };
  t.same(resolveTracking([], 'news.example.com', cfg), { track: { opens: true, clicks: false } }, 'the domain default');
  t.same(resolveTracking(['none'], 'news.example.com', cfg), {}, '"none" overrides the default');
  t.same(resolveTracking([], 'other.example.com', cfg), {});
  t.match(resolveTracking(['opens'], 'x.example', { ...cfg, public: {} }), { error: /tracking needs a tracking host: set public\.base_url/ });
  t.match(resolveTracking(['opens'], 'x.example', undefined), { error: /tracking host/ });
  t.match(resolveTracking(['opens', 'clicks'], 'x.example', cfg), { error: /once/ });
});

const rw = { click: (u: string, i: number) => `https://t.example/c/${i}`, pixel: 'https://t.example/o/P', keep: (u: string) => u.startsWith('https://t.example/u/') };

t.test('HTML links: which are rewritten and which are left alone', async (t) => {
  const cases: [string, string, string][] = [
    ['double-quoted, entities decoded', '<a href="https://a.example/?x=1&amp;y=2">a</a>', '<a href="https://t.example/c/0">a</a>'],
    ['single-quoted, other attributes kept', `<a class='b' href='http://a.example/'>a</a>`, `<a class='b' href="https://t.example/c/0">a</a>`],
    ['unquoted, area tag', '<area shape=rect HREF=https://a.example/>', '<area shape=rect HREF="https://t.example/c/0">'],
    ['mailto', '<a href="mailto:x@a.example">m</a>', '<a href="mailto:x@a.example">m</a>'],
    ['anchor', '<a href="#part2">p</a>', '<a href="#part2">p</a>'],
    ['tel and relative', '<a href="tel:+1">t</a><a href="/x">r</a>', '<a href="tel:+1">t</a><a href="/x">r</a>'],
    ['data-mta-notrack', '<a data-mta-notrack href="https://a.example/">n</a>', '<a data-mta-notrack href="https://a.example/">n</a>'],
    ['unsubscribe', '<a href="https://t.example/u/TOKEN">u</a>', '<a href="https://t.example/u/TOKEN">u</a>'],
    ['data-href is not href', '<a data-href="https://a.example/">d</a>', '<a data-href="https://a.example/">d</a>'],
  ];
  for (const [what, html, want] of cases) t.equal(rewriteHtml(html, { ...rw, pixel: undefined }, new LinkCounter(), true), want, what);
  t.equal(rewriteHtml('<p>x</p>', rw, new LinkCounter(), false).endsWith('<img src="https://t.example/o/P" width="1" height="1" alt="" border="0" style="display:block;width:1px;height:1px;border:0;margin:0;padding:0" />'), true, 'no </body>: the pixel is appended');
  t.equal(rewriteHtml('<a href="https://a.example/">a</a>', { ...rw, pixel: undefined }, new LinkCounter(), false), '<a href="https://a.example/">a</a>', 'opens only: links untouched, no pixel');
});

const msg = (headers: string, body: string): Buffer => Buffer.from(`From: a@example.com\r\nX-Mta-Track: opens, clicks\r\nSubject: s\r\n${headers}\r\n${body}`);
const opts = { ...rw, opens: true, clicks: true, textLinks: false };

t.test('MIME: text links on request, long 7bit lines go quoted-printable, UTF-16 parts untouched', async (t) => {
  const text = (await rewriteMessage(msg('Content-Type: text/plain\r\n', 'See https://a.example/x.\r\n'), { ...opts, textLinks: true })).toString();
  t.match(text, 'See https://t.example/c/0.\r\n', 'a text link (sentence dot kept outside)');
  t.notMatch(text, /X-Mta-Track/i, 'the header is taken off');
  t.match((await rewriteMessage(msg('Content-Type: text/plain\r\n', 'See https://a.example/x\r\n'), opts)).toString(), 'See https://a.example/x', 'text links off by default');
  const long = `<html><body>${'<a href="https://a.example/">a</a>'.repeat(28)}</body></html>`;
  const out = (await rewriteMessage(msg('Content-Type: text/html\r\n', `${long}\r\n`), { ...opts, click: (_u, i) => `https://t.example/c/${'x'.repeat(40)}${i}` })).toString();
  t.match(out, /Content-Transfer-Encoding: quoted-printable/, 'a line that grew past 998 octets makes the part quoted-printable');
  t.ok(out.split('\r\n').every((l) => l.length <= 998), 'no line longer than 998');
  const dash = (await rewriteMessage(msg('Content-Type: text/html\r\nContent-Transfer-Encoding: quoted-printable\r\n', '=2D-boundary\r\n<a href=3D"https://a.example/">a</a>\r\n'), opts)).toString();
  t.notMatch(dash, /^--boundary/m, 'a decoded "=2D-" line start does not come back as "--"');
  const utf16 = Buffer.from('<a href="https://a.example/">a</a>', 'utf16le').toString('base64');
  const u = (await rewriteMessage(msg('Content-Type: text/html; charset=utf-16le\r\nContent-Transfer-Encoding: base64\r\n', `${utf16}\r\n`), opts)).toString();
  t.match(u, utf16, 'a UTF-16 part is left as it was');
});

t.test('tracking.privacy: IPs are cut to their network', async (t) => {
  t.equal(truncateIp('203.0.113.77'), '203.0.113.0');
  t.equal(truncateIp('2001:db8:abcd:12::1'), '2001:db8:abcd::');
  t.equal(truncateIp('2001:db8::1'), '2001:db8:0::');
  t.equal(truncateIp(null), null);
  t.equal(truncateIp('not-an-ip'), null, 'anything else is not kept');
});
