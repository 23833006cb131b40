// Tags and templates: the tag and template CLI and API, the one tag check shared by SMTP
// intake and the send API (unknown tags refused, or created with [tags] auto_create), the
// template life cycle (draft → approved/rejected, edit returns to draft), the body size
// limit, rendering (HTML-escaped values in HTML only, generated text keeps links),
// missing variables and malformed placeholders.
import t from 'tap';
import { writeFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir, startDaemon, PASSWORD, type TestDaemon } from './helpers/daemon.js';
import { runMta } from './helpers/run.js';
import { RawSmtp, message } from './helpers/smtp-client.js';
import { apiClient } from './helpers/api.js';
import { malformedPlaceholders, transition, variablesOf } from '../src/templates/templates.js';

const dir = tempDir('mta-tpl-');
const cfg = join(dir, 'mta.toml');
writeFileSync(cfg, `hostname = "mta.test"\ndata_dir = "${join(dir, 'data')}"\n[[smtp.listen]]\naddress = "127.0.0.1:0"\ntls = "none"\n`);
t.teardown(() => rmSync(dir, { recursive: true, force: true }));
const mta = (args: string[], stdin?: string): ReturnType<typeof runMta> => runMta([...args, '--config', cfg], stdin);
const file = (name: string, content: string): string => { const p = join(dir, name); writeFileSync(p, content); return p; };

async function smtpSend(d: TestDaemon, extra: string): Promise<{ code: number; text: string }> {
  const c = await RawSmtp.connect(d.port);
  await c.greet(); await c.ehlo();
  await c.authPlain('app@example.com', PASSWORD);
  await c.cmd('MAIL FROM:<app@example.com>');
  await c.cmd('RCPT TO:<a@dest.test>');
  const r = await c.data(message('app@example.com', 'a@dest.test', 'hi', 'hello\r\n', extra) + '.\r\n');
  await c.quit();
  return r;
}

t.test('state transitions and placeholder parsing', async (t) => {
  t.equal(transition('draft', 'approve'), 'approved');
  t.equal(transition('approved', 'edit'), 'draft');
  t.equal(transition('rejected', 'edit'), 'draft');
  t.equal(transition('approved', 'reject'), 'rejected');
  t.throws(() => transition('approved', 'approve'), { code: 'MTA_ERR_TEMPLATE_STATE' });
  t.throws(() => transition('rejected', 'approve'), { code: 'MTA_ERR_TEMPLATE_STATE' });
  t.same(variablesOf('Hi {UserName}', '<p>{UserName} {Code}</p>', null), ['UserName', 'Code']);
  t.same(malformedPlaceholders('<p>Hello {Unclosed</p>'), ['{Unclosed']);
  t.same(malformedPlaceholders('<style>p { color: red }</style><p>{Ok}</p>'), [], 'CSS braces are not placeholders');
});

t.test('tag CLI: add, list, remove; bad names and duplicates refused', async (t) => {
  let r = await mta(['tag', 'add', 'spring.promo-1', '--description', 'spring campaign']);
  t.equal(r.code, 0, r.err);
  t.match(r.out, /added tag spring\.promo-1/);
  r = await mta(['tag', 'add', 'spring.promo-1']);
  t.equal(r.code, 1); t.match(r.err, /exists already \(MTA_ERR_EXISTS\)/);
  r = await mta(['tag', 'add', 'bad tag!']);
  t.equal(r.code, 1); t.match(r.err, /not valid: 1-64 letters/);
  r = await mta(['tag', 'add', 'x'.repeat(65)]);
  t.equal(r.code, 1);
  const list = JSON.parse((await mta(['tag', 'list', '--json'])).out) as { name: string; description: string }[];
  t.same(list.map((x) => [x.name, x.description]), [['spring.promo-1', 'spring campaign']]);
  t.equal((await mta(['tag', 'remove', 'spring.promo-1'])).code, 0);
  r = await mta(['tag', 'remove', 'spring.promo-1']);
  t.equal(r.code, 1); t.match(r.err, /no tag spring\.promo-1 \(MTA_ERR_NOT_FOUND\)/);
  t.match((await mta(['tag', 'list'])).out, /no tags/);
});

t.test('template CLI life cycle: create, show, list, approve, edit returns to draft, reject, remove', async (t) => {
  const html = file('welcome.html', '<p>Hello {UserName}, see <a href="https://example.com/offer?id=1">our offer</a>.</p>');
  const text = file('welcome.txt', 'Hello {UserName}\n');
  let r = await mta(['template', 'create', 'welcome', '--subject', 'Welcome {UserName}', '--html', html, '--from-name', 'Example Team']);
  t.equal(r.code, 0, r.err);
  t.match(r.out, /created template welcome \(draft; variables: UserName\)/);
  r = await mta(['template', 'create', 'welcome', '--subject', 's', '--html', html]);
  t.equal(r.code, 1); t.match(r.err, /exists already/);
  r = await mta(['template', 'create', 'nofile', '--subject', 's', '--html', join(dir, 'missing.html')]);
  t.equal(r.code, 1); t.match(r.err, /cannot read/);
  let show = JSON.parse((await mta(['template', 'show', 'welcome', '--json'])).out) as Record<string, unknown>;
  t.match(show, { name: 'welcome', subject: 'Welcome {UserName}', from_name: 'Example Team', state: 'draft', text: null, variables: ['UserName'] });
  r = await mta(['template', 'approve', 'welcome']);
  t.equal(r.code, 0, r.err); t.match(r.out, /approved template welcome/);
  r = await mta(['template', 'approve', 'welcome']);
  t.equal(r.code, 1); t.match(r.err, /MTA_ERR_TEMPLATE_STATE/);
  r = await mta(['template', 'edit', 'welcome', '--text', text]);
  t.equal(r.code, 0, r.err); t.match(r.out, /updated template welcome \(draft\)/, 'editing an approved template returns it to draft');
  show = JSON.parse((await mta(['template', 'show', 'welcome', '--json'])).out) as Record<string, unknown>;
  t.match(show, { state: 'draft', text: 'Hello {UserName}\n', subject: 'Welcome {UserName}' });
  r = await mta(['template', 'reject', 'welcome', '--reason', 'needs a footer']);
  t.equal(r.code, 0, r.err);
  show = JSON.parse((await mta(['template', 'show', 'welcome', '--json'])).out) as Record<string, unknown>;
  t.match(show, { state: 'rejected', reject_reason: 'needs a footer' });
  r = await mta(['template', 'approve', 'welcome']);
  t.equal(r.code, 1, 'a rejected template must be edited before approval');
  t.equal((await mta(['template', 'edit', 'welcome', '--no-text'])).code, 0);
  show = JSON.parse((await mta(['template', 'show', 'welcome', '--json'])).out) as Record<string, unknown>;
  t.match(show, { state: 'draft', reject_reason: null, text: null });
  const list = JSON.parse((await mta(['template', 'list', '--json'])).out) as { name: string; state: string }[];
  t.same(list.map((x) => [x.name, x.state]), [['welcome', 'draft']]);
  t.equal((await mta(['template', 'remove', 'welcome'])).code, 0);
  t.equal((await mta(['template', 'show', 'welcome'])).code, 1);
});

t.test('template body size limit (28 KiB by default)', async (t) => {
  const big = file('big.html', `<p>${'x'.repeat(28 * 1024)}</p>`);
  let r = await mta(['template', 'create', 'big', '--subject', 's', '--html', big]);
  t.equal(r.code, 1);
  t.match(r.err, /html body is 28679 bytes, over templates\.max_body_size \(28672 bytes\) \(MTA_ERR_TEMPLATE_SIZE\)/);
  const ok = file('ok.html', `<p>${'x'.repeat(28 * 1024 - 7)}</p>`);
  r = await mta(['template', 'create', 'big', '--subject', 's', '--html', ok]);
  t.equal(r.code, 0, r.err);
  r = await mta(['template', 'edit', 'big', '--html', big]);
  t.equal(r.code, 1); t.match(r.err, /MTA_ERR_TEMPLATE_SIZE/);
  t.equal((await mta(['template', 'remove', 'big'])).code, 0);
});

t.test('render: escaping in HTML only, generated text keeps links, missing variables, malformed placeholders', async (t) => {
  const html = file('r.html', '<html><body><p>Hi {UserName},</p><p><a href="https://example.com/u?c={Code}">Claim</a> now.</p></body></html>');
  t.equal((await mta(['template', 'create', 'promo', '--subject', 'Offer for {UserName}', '--html', html, '--from-name', 'Shop'])).code, 0);
  const vars = JSON.stringify({ UserName: 'Tom & <Jerry>', Code: 'A1' });
  let r = await mta(['template', 'render', 'promo', '--vars', vars, '--json']);
  t.equal(r.code, 0, r.err);
  const j = JSON.parse(r.out) as { subject: string; html: string; text: string; text_generated: boolean; mime: string };
  t.equal(j.subject, 'Offer for Tom & <Jerry>', 'subject carries the value as given');
  t.match(j.html, /<p>Hi Tom &amp; &lt;Jerry&gt;,<\/p>/, 'HTML body escapes the value');
  t.match(j.text, /Hi Tom & <Jerry>,/, 'text body does not');
  t.match(j.text, /Claim \[https:\/\/example\.com\/u\?c=A1\]/, 'generated text keeps the link');
  t.ok(j.text_generated);
  r = await mta(['template', 'render', 'promo', '--vars', vars, '--to', 'tom@dest.test']);
  t.equal(r.code, 0, r.err);
  t.match(r.out, /^From: Shop <noreply@mta\.test>\r$/m);
  t.match(r.out, /^To: tom@dest\.test\r$/m);
  t.match(r.out, /^Subject: Offer for Tom & <Jerry>\r$/m);
  t.match(r.out, /Content-Type: multipart\/alternative/);
  t.match(r.out, /Content-Type: text\/plain/); t.match(r.out, /Content-Type: text\/html/);
  r = await mta(['template', 'render', 'promo', '--vars', '{"Other":"x"}']);
  t.equal(r.code, 1);
  t.match(r.err, /variables used by template promo are missing: UserName, Code \(MTA_ERR_TEMPLATE_VAR\)/);
  r = await mta(['template', 'render', 'promo', '--vars', '[1]']);
  t.equal(r.code, 1); t.match(r.err, /must be a JSON object/);
  const bad = file('bad.html', '<p>Hello {Unclosed</p><p>{Fine}</p>');
  t.equal((await mta(['template', 'create', 'bad', '--subject', 'x', '--html', bad])).code, 0);
  r = await mta(['template', 'approve', 'bad']);
  t.equal(r.code, 1);
  t.match(r.err, /malformed placeholders \(write \{Name\}\): \{Unclosed \(MTA_ERR_TEMPLATE\)/);
  t.match(JSON.parse((await mta(['template', 'show', 'bad', '--json'])).out), { state: 'draft' }, 'still a draft');
});

t.test('unknown tags are refused over SMTP and the send API when auto_create = false', async (t) => {
  const d = await startDaemon('[tags]\nauto_create = false\n');
  t.teardown(() => d.stop());
  const call = apiClient(d);
  const before = (await d.daemon.store.listQueue({})).length;
  let s = await smtpSend(d, 'X-Mta-Tag: promo\r\n');
  t.equal(s.code, 550);
  t.equal(s.text, '550 5.7.1 Unknown tag "promo"');
  let r = await call('POST', '/api/v1/send', { from: 'app@example.com', to: 'a@dest.test', subject: 's', text: 'x', tag: 'promo' });
  t.equal(r.status, 400, r.text);
  t.match(r.json.error, { code: 'MTA_ERR_INVALID', field: 'tag', smtp_code: 550, reason: '5.7.1 Unknown tag "promo"' });
  t.equal((await d.daemon.store.listQueue({})).length, before, 'nothing stored');
  t.same(await d.daemon.store.listTags(), [], 'no tag created');

  r = await call('POST', '/api/v1/tags', { name: 'promo', description: 'spring' });
  t.equal(r.status, 201, r.text);
  t.match(r.json, { name: 'promo', description: 'spring' });
  t.equal((await call('POST', '/api/v1/tags', { name: 'promo' })).status, 409);
  r = await call('POST', '/api/v1/tags', { name: 'no spaces' });
  t.equal(r.status, 400); t.match(r.json.error, { code: 'MTA_ERR_INVALID', field: 'name' });
  t.match((await call('GET', '/api/v1/tags')).json, { items: [{ name: 'promo' }] });

  s = await smtpSend(d, 'X-Mta-Tag: promo\r\n');
  t.equal(s.code, 250, s.text);
  const id = /queued as (\S+)/.exec(s.text)![1]!;
  t.equal((await d.daemon.store.getMessage(id as never))!.tag, 'promo');
  r = await call('POST', '/api/v1/send', { from: 'app@example.com', to: 'a@dest.test', subject: 's', text: 'x', tag: 'promo' });
  t.equal(r.status, 200, r.text);
  t.equal((await smtpSend(d, '')).code, 250, 'untagged mail is not affected');

  t.equal((await call('DELETE', '/api/v1/tags/promo')).status, 200);
  t.equal((await call('DELETE', '/api/v1/tags/promo')).status, 404);
  t.equal((await smtpSend(d, 'X-Mta-Tag: promo\r\n')).code, 550, 'refused again once removed');
});

t.test('auto_create = true creates unknown tags', async (t) => {
  const d = await startDaemon('[tags]\nauto_create = true\n');
  t.teardown(() => d.stop());
  const s = await smtpSend(d, 'X-Mta-Tag: new.tag\r\n');
  t.equal(s.code, 250, s.text);
  const r = await apiClient(d)('POST', '/api/v1/send', { from: 'app@example.com', to: 'a@dest.test', subject: 's', text: 'x', tag: 'api-tag' });
  t.equal(r.status, 200, r.text);
  t.same((await d.daemon.store.listTags()).map((x) => x.name), ['api-tag', 'new.tag']);
  const bad = await smtpSend(d, 'X-Mta-Tag: has space\r\n');
  t.equal(bad.code, 550, 'an invalid tag name is refused even with auto_create');
  t.match(bad.text, /Unknown tag "has space" \(a tag is 1-64 letters/);
});

t.test('template API: happy path and a malformed body each', async (t) => {
  const d = await startDaemon();
  t.teardown(() => d.stop());
  const call = apiClient(d);
  const P = '/api/v1/templates';
  let r = await call('POST', P, { name: 'news', subject: 'News for {UserName}', from_name: 'News', html: '<p>Hi {UserName} <a href="https://e.test/x">read</a></p>' });
  t.equal(r.status, 201, r.text);
  t.match(r.json, { name: 'news', state: 'draft', text: null, variables: ['UserName'] });
  t.equal((await call('POST', P, { name: 'news', subject: 's', html: '<p>x</p>' })).status, 409);
  r = await call('POST', P, { name: 'x', subject: 's' });
  t.equal(r.status, 400, 'create without html'); t.match(r.json.error, { code: 'MTA_ERR_INVALID', field: 'html' });
  r = await call('POST', P, { name: 'big', subject: 's', html: 'x'.repeat(29 * 1024) });
  t.equal(r.status, 413); t.match(r.json.error, { code: 'MTA_ERR_TEMPLATE_SIZE', field: 'html' });
  t.match((await call('GET', P)).json, { items: [{ name: 'news' }] });
  t.match((await call('GET', `${P}/news`)).json, { name: 'news', from_name: 'News' });
  t.equal((await call('GET', `${P}/none`)).status, 404);

  r = await call('POST', `${P}/news/approve`);
  t.equal(r.status, 200, r.text); t.equal(r.json.state, 'approved');
  r = await call('PUT', `${P}/news`, { text: 'Hi {UserName}' });
  t.equal(r.status, 200, r.text); t.match(r.json, { state: 'draft', text: 'Hi {UserName}' });
  r = await call('PUT', `${P}/news`, { subject: 'a\nb' });
  t.equal(r.status, 400, 'edit with a two-line subject'); t.match(r.json.error, { field: 'subject' });
  r = await call('POST', `${P}/news/reject`, { reason: 'too short' });
  t.equal(r.status, 200, r.text); t.match(r.json, { state: 'rejected', reject_reason: 'too short' });
  r = await call('POST', `${P}/news/reject`, {});
  t.equal(r.status, 400, 'reject without a reason');
  t.equal((await call('POST', `${P}/news/approve`)).status, 409, 'rejected cannot be approved before an edit');

  r = await call('POST', `${P}/news/render`, { vars: { UserName: '<b>Ann</b>' }, to: 'ann@dest.test' });
  t.equal(r.status, 200, r.text);
  t.match(r.json, { subject: 'News for <b>Ann</b>', text: 'Hi <b>Ann</b>', text_generated: false });
  t.match(r.json.html, /Hi &lt;b&gt;Ann&lt;\/b&gt;/);
  t.match(r.json.mime, /\r\nTo: ann@dest\.test\r\n/);
  r = await call('POST', `${P}/news/render`, { vars: {} });
  t.equal(r.status, 400); t.match(r.json.error, { code: 'MTA_ERR_TEMPLATE_VAR', message: /missing: UserName/ });
  r = await call('POST', `${P}/news/render`, { vars: { UserName: 1 } });
  t.equal(r.status, 400, 'render with a non-string variable');

  r = await call('POST', P, { name: 'broken', subject: 's', html: '<p>{Unclosed</p>' });
  t.equal(r.status, 201);
  r = await call('POST', `${P}/broken/approve`);
  t.equal(r.status, 400); t.match(r.json.error, { code: 'MTA_ERR_TEMPLATE', message: /\{Unclosed/ });

  t.equal((await call('DELETE', `${P}/news`)).status, 200);
  t.equal((await call('DELETE', `${P}/news`)).status, 404);
});
