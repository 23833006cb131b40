// The send API with a stored template and variables (SES's Template/TemplateData) and
// with cc/bcc, against the real daemon: the message sent carries exactly the subject, HTML
// and text that `POST /templates/{name}/render` (what `mta template render` prints) gives
// for the same variables; a missing or unknown variable, an unknown or unapproved
// template, and template mixed with subject/text/html are each a precise 4xx with nothing
// queued; cc is in the Cc header, bcc only in the envelope.
import t from 'tap';
import { startDaemon, type TestDaemon } from './helpers/daemon.js';
import { apiClient, type Call } from './helpers/api.js';
import type { QueueId } from '../src/util/ids.js';

let d: TestDaemon;
let call: Call;
t.before(async () => {
  d = await startDaemon();
  call = apiClient(d);
  const r = await call('POST', '/api/v1/templates', { name: 'welcome', subject: 'Hello {Name}', from_name: 'The Shop', html: '<p>Dear {Name}, your code is {Code}.</p>' });
  if (r.status !== 201) throw new Error(r.text);
});
t.teardown(() => d.stop());

async function stored(id: string): Promise<string> {
  let s = '';
  for await (const c of d.daemon.store.readBody(id as QueueId)) s += c.toString('latin1');
  return s;
}
const messageCount = async (): Promise<number> => (await d.daemon.store.auditMessageIds()).length;
const headerBlock = (raw: string): string => raw.slice(0, raw.indexOf('\r\n\r\n')).replace(/\r\n[ \t]+/g, ' ');
const header = (raw: string, name: string): string | undefined => new RegExp(`^${name}: (.*)$`, 'mi').exec(headerBlock(raw))?.[1];

/** The decoded body of the first MIME part of this type (quoted-printable or base64 as declared). */
function part(raw: string, type: string): string {
  const i = raw.indexOf(`Content-Type: ${type}`);
  if (i < 0) return '';
  const start = raw.indexOf('\r\n\r\n', i) + 4;
  const head = raw.slice(i, start);
  const body = raw.slice(start, raw.indexOf('\r\n--', start));
  if (/base64/i.test(head)) return Buffer.from(body, 'base64').toString('utf8');
  if (/quoted-printable/i.test(head)) return Buffer.from(body.replace(/=\r\n/g, '').replace(/=([0-9A-F]{2})/g, (_m, h: string) => String.fromCharCode(parseInt(h, 16))), 'latin1').toString('utf8');
  return Buffer.from(body, 'latin1').toString('utf8');
}

const VARS = { Name: '<Ann> & co', Code: 'ÆØÅ-42' };
const send = (extra: Record<string, unknown>): ReturnType<Call> => call('POST', '/api/v1/send', { from: 'app@example.com', to: 'ann@dest.test', ...extra });

t.test('a template that is not approved does not send (templates.require_approval)', async (t) => {
  const r = await send({ template: 'welcome', variables: VARS });
  t.equal(r.status, 409);
  t.match(r.json.error, { code: 'MTA_ERR_TEMPLATE_STATE', field: 'template', message: /welcome is draft; only approved templates send/ });
  t.equal(await messageCount(), 0);
  t.equal((await call('POST', '/api/v1/templates/welcome/approve')).status, 200);
});

t.test('template + variables: the message is what render gives for them', async (t) => {
  const r = await send({ template: 'welcome', variables: VARS });
  t.equal(r.status, 200, r.text);
  const sent = await stored(r.json.queue_id);
  const preview = await call('POST', '/api/v1/templates/welcome/render', { vars: VARS, from: 'app@example.com', to: 'ann@dest.test' });
  t.equal(preview.status, 200);
  t.equal(preview.json.html, '<p>Dear &lt;Ann&gt; &amp; co, your code is ÆØÅ-42.</p>', 'HTML escaped as render escapes it');
  t.equal(header(sent, 'Subject'), header(preview.json.mime, 'Subject'), `Subject: ${header(sent, 'Subject')}`);
  t.equal(header(sent, 'From'), header(preview.json.mime, 'From'), 'the template\'s from_name');
  t.equal(part(sent, 'text/html'), preview.json.html, 'the HTML part');
  t.equal(part(sent, 'text/plain'), preview.json.text, 'the text part (generated from the HTML)');
  t.match(part(sent, 'text/plain'), /<Ann> & co/, 'text is not HTML-escaped');
});

t.test('bad template requests: a precise 4xx each, nothing queued', async (t) => {
  const before = await messageCount();
  const cases: [Record<string, unknown>, number, string, string, RegExp][] = [
    [{ template: 'welcome', variables: { Name: 'x' } }, 400, 'MTA_ERR_TEMPLATE_VAR', 'variables.Code', /needs variables that were not given: Code/],
    [{ template: 'welcome' }, 400, 'MTA_ERR_TEMPLATE_VAR', 'variables.Name', /not given: Name, Code/],
    [{ template: 'welcome', variables: { ...VARS, Nmae: 'typo' } }, 400, 'MTA_ERR_TEMPLATE_VAR', 'variables.Nmae', /has no variable Nmae \(it uses: Name, Code\)/],
    [{ template: 'nope', variables: {} }, 404, 'MTA_ERR_NOT_FOUND', 'template', /no template nope/],
    [{ template: 'welcome', variables: VARS, subject: 's' }, 400, 'MTA_ERR_INVALID', 'subject', /comes from the template/],
    [{ template: 'welcome', variables: VARS, html: '<p>x</p>' }, 400, 'MTA_ERR_INVALID', 'html', /comes from the template/],
    [{ subject: 's', text: 'x', variables: VARS }, 400, 'MTA_ERR_INVALID', 'variables', /only go with template/],
    [{ text: 'x' }, 400, 'MTA_ERR_INVALID', 'subject', /^subject: required \(or give template\)/],
    [{ template: 'welcome', variables: { Name: 1, Code: 'x' } }, 400, 'MTA_ERR_INVALID', 'variables.Name', /expected string/],
  ];
  for (const [body, status, code, field, message] of cases) {
    const r = await send(body);
    t.equal(r.status, status, `${JSON.stringify(body)} → ${status}`);
    t.match(r.json.error, { code, field, message });
  }
  t.equal(await messageCount(), before, 'nothing queued');
});

t.test('cc is shown, bcc only in the envelope; suppressed ones in neither', async (t) => {
  await d.daemon.store.addSuppression({ address: 'gone@dest.test', scope: '', reason: 'test', source: 'manual', createdAt: Date.now() });
  const r = await send({ to: ['ann@dest.test'], cc: ['bob@dest.test', 'gone@dest.test'], bcc: 'hidden@dest.test', subject: 'cc and bcc', text: 'hi' });
  t.equal(r.status, 200, r.text);
  t.same(r.json.recipients.map((x: { rcpt: string; code: number }) => [x.rcpt, x.code]), [
    ['ann@dest.test', 250], ['bob@dest.test', 250], ['gone@dest.test', 559], ['hidden@dest.test', 250],
  ]);
  const m = await d.daemon.store.getMessage(r.json.queue_id as QueueId);
  t.same(m!.recipients.map((x) => x.rcpt).sort(), ['ann@dest.test', 'bob@dest.test', 'hidden@dest.test'], 'the envelope has to, cc and bcc');
  const raw = await stored(r.json.queue_id);
  t.equal(header(raw, 'To'), 'ann@dest.test');
  t.equal(header(raw, 'Cc'), 'bob@dest.test', 'Cc without the suppressed address');
  t.notMatch(headerBlock(raw), /^Bcc:/mi, 'no Bcc header');
  t.notOk(raw.includes('hidden@dest.test'), 'the bcc address appears nowhere in the message');
  const tooMany = await send({ to: 'a@dest.test', cc: Array.from({ length: 60 }, (_, i) => `c${i}@dest.test`), bcc: Array.from({ length: 60 }, (_, i) => `b${i}@dest.test`), subject: 's', text: 'x' });
  t.match([tooMany.status, tooMany.json.error], [422, { smtp_code: 556 }], 'to, cc and bcc count together against smtp.max_recipients');
});
