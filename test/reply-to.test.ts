// Reply-to verification end to end: a real daemon whose verification mail is really
// delivered (DKIM-signed, into the development sink), its link opened with a real HTTP
// client on the public listener, the admin API and the CLI. The clock of the links is
// injected: a link works once within its 10 minutes and not after, a replayed, tampered,
// cut or replaced link fails with its own page, GET never verifies, the rate limits refuse
// with their wait, and the send API refuses an unverified reply-to and adds a verified one.
import t from 'tap';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { request } from 'node:http';
import { startDaemon, tempDir, type TestDaemon } from './helpers/daemon.js';
import { apiClient, type Call } from './helpers/api.js';
import { header, waitFor } from './helpers/tasks.js';
import { runMta } from './helpers/run.js';
import { mimeParts } from './helpers/mime.js';
import { Senders } from '../src/accounts/senders.js';
import { openReplyToToken, sealReplyToToken } from '../src/accounts/reply-to-token.js';
import { rateRefusal, replyToView } from '../src/accounts/reply-to.js';
import { loadSecret } from '../src/util/secret.js';

interface HttpReply { status: number; headers: Record<string, string | string[] | undefined>; body: string }

function http(port: number, method: string, path: string, body?: string): Promise<HttpReply> {
  return new Promise((resolve, reject) => {
    const headers = body !== undefined ? { 'content-type': 'application/x-www-form-urlencoded', 'content-length': String(Buffer.byteLength(body)) } : {};
    const req = request({ host: '127.0.0.1', port, method, path, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

const MIN = 60_000;
const BASE = 'https://links.example.com';
const dir = tempDir('mta-replyto-');
const sink = join(dir, 'sink');
// Whole seconds (links carry seconds), starting from now: the CLI reads states with the real clock.
let clock = Math.floor(Date.now() / 1000) * 1000;
let d: TestDaemon;
let call: Call;
let pub: number;

t.before(async () => {
  d = await startDaemon(
    `[public]\nlisten = "127.0.0.1:0"\nbase_url = "${BASE}"\n[delivery]\nsink = "${sink}"\n[reply_to]\nmax_per_sender = 3\nmax_per_address = 3\n`,
    { domains: ['example.com', 'other.com'], now: () => clock },
  );
  call = apiClient(d);
  pub = d.daemon.publicServer!.port;
  for (const s of ['news@example.com', 'shop@example.com', 'a@other.com', 'b@other.com', 'c@other.com', 'd@other.com', 'loud@other.com']) await new Senders(d.daemon.store).add({ address: s, type: 'trigger' });
});
t.teardown(() => d.stop());

/** The delivered messages in the sink whose To is `to`, oldest first. */
function delivered(to: string): string[] {
  let files: string[] = [];
  try { files = readdirSync(sink).filter((f) => f.endsWith('.eml')).sort(); } catch { return []; }
  return files.map((f) => readFileSync(join(sink, f), 'utf8')).filter((raw) => header(raw, 'To') === to);
}

/** The path of the verification link in the newest mail to `to`, once it is delivered (the `n`th). */
async function linkMailedTo(to: string, n: number): Promise<{ path: string; raw: string; text: string; subject: string }> {
  const raw = await waitFor(`verification mail ${n} to ${to}`, () => delivered(to)[n - 1]);
  const { subject, parts } = await mimeParts(Buffer.from(raw, 'latin1'));
  const text = parts.map((p) => p.text).join('\n');
  const m = new RegExp(`${BASE.replace(/\./g, '\\.')}(/reply-to/[A-Za-z0-9_.-]+)`).exec(text);
  if (!m) throw new Error(`no link in the mail to ${to}:\n${raw}`);
  return { path: m[1]!, raw, text, subject };
}

async function stateOf(sender: string): Promise<{ reply_to: string | null; reply_to_state: string; reply_to_expires_at: string | null }> {
  return (await call('GET', `/api/v1/senders/${sender}`)).json;
}

t.test('set: pending, the mail is delivered with the link; GET shows a page and verifies nothing; POST verifies once; replay and tampering fail', async (t) => {
  const r = await call('PUT', '/api/v1/senders/news@example.com/reply-to', { address: 'Help@Dest.test' });
  t.equal(r.status, 200, r.text);
  t.match(r.json, { address: 'news@example.com', reply_to: 'Help@dest.test', reply_to_state: 'pending', reply_to_expires_at: new Date(clock + 10 * MIN).toISOString() });

  // Not yet usable: the send API refuses it, and without reply_to adds no Reply-To.
  const refused = await call('POST', '/api/v1/send', { from: 'news@example.com', to: 'x@dest.test', subject: 's', text: 'x', reply_to: 'help@dest.test' });
  t.equal(refused.status, 409, refused.text);
  t.match(refused.json.error, { code: 'MTA_ERR_REPLY_TO_UNVERIFIED', field: 'reply_to', message: /Help@dest\.test is not verified for news@example\.com: its verification link was mailed at/ });
  const plain = await call('POST', '/api/v1/send', { from: 'news@example.com', to: 'before@dest.test', subject: 'before', text: 'x' });
  t.equal(plain.status, 200, plain.text);

  const { path, raw, text, subject } = await linkMailedTo('Help@dest.test', 1);
  t.match(raw, /^DKIM-Signature: [^]*?d=example\.com/m, 'signed with the sender domain\'s key, as it left');
  t.equal(header(raw, 'From'), 'news@example.com');
  t.equal(header(raw, 'Auto-Submitted'), 'auto-generated');
  t.equal(subject, 'Confirm this reply-to address / 确认回信地址');
  t.match(text, /news@example\.com asked to have replies to its mail sent to Help@dest\.test/);
  t.match(text, new RegExp(`works once, for 10 minutes \\(until ${new Date(clock + 10 * MIN).toISOString().replace('.000', '')}\\)`));
  const before = await waitFor('the plain mail', () => delivered('before@dest.test')[0]);
  t.equal(header(before, 'Reply-To'), undefined, 'a pending reply-to is not added');

  clock += 9 * MIN;
  for (const method of ['GET', 'HEAD', 'GET']) {
    const page = await http(pub, method, path);
    t.equal(page.status, 200, `${method} answers the page`);
    t.equal(page.headers['cache-control'], 'no-store');
    if (method === 'GET') t.match(page.body, /<form method="post"[^>]*>.*Confirm<\/button>/s);
  }
  t.equal((await stateOf('news@example.com')).reply_to_state, 'pending', 'GET and HEAD verified nothing (scanners fetch links)');

  const token = path.slice('/reply-to/'.length);
  const [payload, mac] = token.split('.') as [string, string];
  const flip = (s: string, i: number): string => s.slice(0, i) + (s[i] === 'A' ? 'B' : 'A') + s.slice(i + 1);
  const secret = loadSecret(join(d.dir, 'data'));
  const opened = openReplyToToken(secret, token)!;
  const forged = [
    `${flip(payload, 3)}.${mac}`, `${payload}.${flip(mac, 0)}`, token.slice(0, -2), `${payload}.`, 'nothing-like-a-token',
    // re-signed with another key: a longer validity cannot be forged
    sealReplyToToken(Buffer.alloc(32, 7), { ...opened, expiresAt: opened.expiresAt + 3600_000 }),
  ];
  for (const bad of forged) {
    const p = await http(pub, 'POST', `/reply-to/${bad}`, 'confirm=yes');
    t.equal(p.status, 400, `tampered ${bad.slice(0, 20)}… refused`);
    t.match(p.body, /This verification link is not valid/);
  }
  t.equal((await stateOf('news@example.com')).reply_to_state, 'pending', 'no tampered link changed anything');

  const ok = await http(pub, 'POST', path, 'confirm=yes');
  t.equal(ok.status, 200, ok.body);
  t.match(ok.body, /Reply-to address confirmed.*news@example\.com.*Help@dest\.test/s);
  const v = await stateOf('news@example.com');
  t.match(v, { reply_to: 'Help@dest.test', reply_to_state: 'verified', reply_to_expires_at: null });

  for (const method of ['POST', 'GET']) {
    const again = await http(pub, method, path, method === 'POST' ? 'confirm=yes' : undefined);
    t.equal(again.status, 410, `replayed ${method} refused`);
    t.match(again.body, /already used/);
  }

  // Verified: asked for (any case of the address) or by default, it is the Reply-To.
  const asked = await call('POST', '/api/v1/send', { from: 'news@example.com', to: 'after@dest.test', subject: 'after', text: 'x', reply_to: 'help@DEST.test' });
  t.equal(asked.status, 200, asked.text);
  const byDefault = await call('POST', '/api/v1/send', { from: 'news@example.com', to: 'default@dest.test', subject: 'default', text: 'x' });
  t.equal(byDefault.status, 200, byDefault.text);
  t.equal(header(await waitFor('the mail asking for the reply-to', () => delivered('after@dest.test')[0]), 'Reply-To'), 'Help@dest.test');
  t.equal(header(await waitFor('the mail by default', () => delivered('default@dest.test')[0]), 'Reply-To'), 'Help@dest.test');
  const other = await call('POST', '/api/v1/send', { from: 'news@example.com', to: 'x@dest.test', subject: 's', text: 'x', reply_to: 'someone@else.test' });
  t.equal(other.status, 409);
  t.match(other.json.error, { code: 'MTA_ERR_REPLY_TO_UNVERIFIED', message: /someone@else\.test is not the reply-to address of news@example\.com \(that is Help@dest\.test\)/ });

  const same = await call('PUT', '/api/v1/senders/news@example.com/reply-to', { address: 'help@dest.test' });
  t.equal(same.json.reply_to_state, 'verified', 'setting the verified address again changes nothing and mails nothing');
  const resend = await call('POST', '/api/v1/senders/news@example.com/reply-to/resend');
  t.same([resend.status, resend.json.error.code], [409, 'MTA_ERR_STATE']);
});

t.test('a link fails after its 10 minutes; resend mails a new one and the old one stays dead', async (t) => {
  const set = await call('PUT', '/api/v1/senders/shop@example.com/reply-to', { address: 'desk@dest.test' });
  t.equal(set.json.reply_to_state, 'pending', set.text);
  const first = (await linkMailedTo('desk@dest.test', 1)).path;
  clock += 10 * MIN + 1000;
  t.equal((await stateOf('shop@example.com')).reply_to_state, 'expired');
  for (const method of ['GET', 'POST']) {
    const r = await http(pub, method, first, method === 'POST' ? 'confirm=yes' : undefined);
    t.equal(r.status, 410, `${method} after 10 minutes`);
    t.match(r.body, /has expired/);
  }
  const plain = await call('POST', '/api/v1/send', { from: 'shop@example.com', to: 'x@dest.test', subject: 's', text: 'x', reply_to: 'desk@dest.test' });
  t.match(plain.json.error, { code: 'MTA_ERR_REPLY_TO_UNVERIFIED', message: /ran out at .*reply-to resend shop@example\.com/ });

  const resent = await call('POST', '/api/v1/senders/shop@example.com/reply-to/resend');
  t.equal(resent.json.reply_to_state, 'pending', resent.text);
  const second = (await linkMailedTo('desk@dest.test', 2)).path;
  t.not(second, first);
  // A third link replaces the second before it is used: the second is dead, not expired.
  clock += MIN;
  t.equal((await call('POST', '/api/v1/senders/shop@example.com/reply-to/resend')).status, 200);
  const third = (await linkMailedTo('desk@dest.test', 3)).path;
  const replaced = await http(pub, 'POST', second, 'confirm=yes');
  t.equal(replaced.status, 410);
  t.match(replaced.body, /no longer valid.*newer link/s);
  t.equal((await http(pub, 'POST', first, 'confirm=yes')).status, 410);
  clock += 10 * MIN - 1000; // the third one's last second: still inside its 10 minutes
  t.equal((await http(pub, 'POST', third, 'confirm=yes')).status, 200);
  t.equal((await stateOf('shop@example.com')).reply_to_state, 'verified');

  // Cleared: no Reply-To any more, and the used link stays used.
  const cleared = await call('DELETE', '/api/v1/senders/shop@example.com/reply-to');
  t.match(cleared.json, { reply_to: null, reply_to_state: 'none' });
});

t.test('rate limits: per address whichever sender asks, and per sender; 429 with the wait; nothing changes', async (t) => {
  for (const s of ['a@other.com', 'b@other.com', 'c@other.com']) t.equal((await call('PUT', `/api/v1/senders/${s}/reply-to`, { address: 'victim@dest.test' })).status, 200);
  const fourth = await call('PUT', '/api/v1/senders/d@other.com/reply-to', { address: 'Victim@dest.test' });
  t.equal(fourth.status, 429, fourth.text);
  t.match(fourth.json.error, { code: 'MTA_ERR_REPLY_TO_RATE', retry_after: 3600, message: /^Victim@dest\.test has been sent 3 reply-to verification mails in the last hour \(reply_to\.max_per_address\); try again in 3600 s$/ });
  t.equal(fourth.headers.get('retry-after'), '3600');
  t.match(await stateOf('d@other.com'), { reply_to: null, reply_to_state: 'none' }, 'the refused set stored nothing');

  for (const [i, a] of ['one', 'two', 'three'].entries()) {
    clock += MIN;
    t.equal((await call('PUT', '/api/v1/senders/loud@other.com/reply-to', { address: `${a}@dest.test` })).status, 200, `mail ${i + 1} of the sender`);
  }
  const over = await call('PUT', '/api/v1/senders/loud@other.com/reply-to', { address: 'four@dest.test' });
  t.equal(over.status, 429);
  t.match(over.json.error, { code: 'MTA_ERR_REPLY_TO_RATE', retry_after: 3600 - 2 * 60, message: /loud@other\.com has sent 3 .*max_per_sender/ });
  t.match(await stateOf('loud@other.com'), { reply_to: 'three@dest.test', reply_to_state: 'pending' }, 'the pending address stayed');
  t.equal((await call('POST', '/api/v1/senders/loud@other.com/reply-to/resend')).status, 429);
  clock += 3600_000 - 2 * MIN + 1000;
  t.equal((await call('PUT', '/api/v1/senders/loud@other.com/reply-to', { address: 'four@dest.test' })).status, 200, 'an hour after the first, room again');
  t.equal((await call('PUT', '/api/v1/senders/d@other.com/reply-to', { address: 'victim@dest.test' })).status, 200);
});

t.test('bad input changes nothing; no public endpoint or an unknown sender is a precise error', async (t) => {
  const bad = await call('PUT', '/api/v1/senders/a@other.com/reply-to', { address: 'not an address' });
  t.same([bad.status, bad.json.error.code, bad.json.error.field], [400, 'MTA_ERR_INVALID', 'reply_to']);
  const none = await call('PUT', '/api/v1/senders/nobody@other.com/reply-to', { address: 'x@dest.test' });
  t.same([none.status, none.json.error.code], [404, 'MTA_ERR_NOT_FOUND']);
  const nothing = await call('POST', '/api/v1/senders/b@other.com/reply-to/resend');
  t.equal(nothing.status, 200, 'an expired link is resent (the limits have room an hour later)');
  await d.daemon.store.setSenderDisabled('b@other.com', true);
  const disabled = await call('PUT', '/api/v1/senders/b@other.com/reply-to', { address: 'fresh@dest.test' });
  t.same([disabled.status, disabled.json.error.code], [409, 'MTA_ERR_STATE']);
  t.match(disabled.json.error.message, /b@other\.com cannot send the verification mail now: 551/);

  // A sender added with a reply-to that cannot be mailed is not added at all.
  await d.daemon.store.addSuppression({ address: 'blocked@dest.test', scope: '', reason: 'test', source: 'manual', createdAt: Date.now() });
  const add = await call('POST', '/api/v1/senders', { address: 'g@other.com', reply_to: 'blocked@dest.test' });
  t.same([add.status, add.json.error.code, add.json.error.field], [409, 'MTA_ERR_STATE', 'reply_to']);
  t.match(add.json.error.message, /blocked@dest\.test is on the suppression list for other\.com/);
  t.equal((await call('GET', '/api/v1/senders/g@other.com')).status, 404, 'all or nothing');
});

t.test('CLI: set through the running daemon, list shows the state, clear', async (t) => {
  const mta = (args: string): ReturnType<typeof runMta> => runMta([...args.split(' '), '--config', d.configPath]);
  const set = await mta('sender reply-to set a@other.com cli@dest.test --json');
  t.equal(set.code, 0, set.err);
  t.match(JSON.parse(set.out), { address: 'a@other.com', reply_to: 'cli@dest.test', reply_to_state: 'pending' });
  await linkMailedTo('cli@dest.test', 1);
  const list = JSON.parse((await mta('sender list --domain other.com --json')).out) as { address: string; reply_to: string | null; reply_to_state: string }[];
  t.match(list.find((s) => s.address === 'a@other.com'), { reply_to: 'cli@dest.test', reply_to_state: 'pending' });
  const table = await mta('sender list --domain other.com');
  t.match(table.out, /^ADDRESS\s+TYPE\s+REPLY_TO\s+REPLY_TO_STATE\s+SMTP\s+CREATED$/m);
  t.match(table.out, /^a@other\.com\s+trigger\s+cli@dest\.test\s+pending\s/m);
  const cleared = await mta('sender reply-to clear a@other.com');
  t.equal(cleared.code, 0, cleared.err);
  t.match(cleared.out, /a@other\.com has no reply-to address/);
  const added = await mta('sender add e@other.com --reply-to added@dest.test --json');
  t.equal(added.code, 0, added.err);
  t.match(JSON.parse(added.out), { address: 'e@other.com', reply_to: 'added@dest.test', reply_to_state: 'pending' });
  await linkMailedTo('added@dest.test', 1);
  const blocked = await mta('sender add f@other.com --reply-to blocked@dest.test');
  t.equal(blocked.code, 1);
  t.match(blocked.err, /blocked@dest\.test is on the suppression list for other\.com.*\(MTA_ERR_STATE\)/);
  t.notMatch((await mta('sender list --domain other.com')).out, /f@other\.com/, 'all or nothing: the sender was not kept');
  const unknown = await mta('sender reply-to resend a@other.com');
  t.equal(unknown.code, 1);
  t.match(unknown.err, /a@other\.com has no reply-to address; set one: mta sender reply-to set a@other\.com ADDRESS \(MTA_ERR_STATE\)/);
});

t.test('the rules alone: which limit refuses and for how long; what a stored reply-to shows at a time', async (t) => {
  const H = 3600_000, now = 10 * H;
  const limits = { maxPerSender: 2, maxPerAddress: 2 };
  const cases: [string, { sender: number[]; address: number[] }, ReturnType<typeof rateRefusal>][] = [
    ['room', { sender: [now - 10], address: [now - 10] }, undefined],
    ['old sends do not count', { sender: [now - H - 1, now - H, now - 5], address: [] }, undefined],
    ['sender full: the older of the last two must leave', { sender: [now - 50 * MIN, now - 5 * MIN], address: [] }, { scope: 'sender', retryAfterMs: 10 * MIN }],
    ['both full: the longer wait', { sender: [now - 50 * MIN, now - 40 * MIN], address: [now - 30 * MIN, now - 1] }, { scope: 'address', retryAfterMs: 30 * MIN }],
    ['at least a second', { sender: [now - H + 1, now - H + 2], address: [] }, { scope: 'sender', retryAfterMs: 1000 }],
  ];
  for (const [name, times, want] of cases) t.same(rateRefusal(times, limits, now), want, name);

  const pending = { address: 'h@dest.test', state: 'pending' as const, nonce: 'n', sentAt: now - MIN, expiresAt: now + 9 * MIN };
  t.equal(replyToView(null, now).state, 'none');
  t.equal(replyToView(pending, now + 9 * MIN).state, 'pending', 'its last millisecond');
  t.equal(replyToView(pending, now + 9 * MIN + 1).state, 'expired');
  t.match(replyToView({ address: 'h@dest.test', state: 'verified', verifiedAt: null }, now), { state: 'verified', expiresAt: null });
});
