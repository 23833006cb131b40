// SPEC: "Submitting to a suppressed address gets 559 Invalid rcptto (per recipient) and an
// event." Over SMTP and the send API: the 559, one message-less `rejected` event row with the
// suppression's reason, and a signed `rejected` webhook event with the recipient fields
// (status 2, err_code 559, bounce_category suppressed, empty env_id/msg_id; the address as
// given). A webhook that
// filters for other events hears nothing; a recipient that is not suppressed makes no event.
import t from 'tap';
import { startDaemon, PASSWORD, type TestDaemon } from './helpers/daemon.js';
import { startReceiver, verifySignature, type Receiver } from './helpers/receiver.js';
import { RawSmtp } from './helpers/smtp-client.js';
import { apiClient } from './helpers/api.js';
import { waitFor } from './helpers/tasks.js';
import { WebhookService } from '../src/events/webhooks.js';
import { SubmissionService } from '../src/submission/listener.js';
import { createLogger } from '../src/util/log.js';
import { runMta } from './helpers/run.js';
import { PassThrough } from 'node:stream';
import type { RecipientEventPayload } from '../src/events/payload.js';
import type { AuditEvent } from '../src/spool/types-audit.js';

const SECRET = 'a-test-secret-of-some-length';
let d: TestDaemon;
let rx: Receiver;

t.before(async () => {
  d = await startDaemon('[webhooks]\nallow_private = true\nretry_schedule = ["50ms"]\nretry_jitter = 0\ntimeout = "3s"\n');
  rx = await startReceiver();
  const hooks = new WebhookService(d.daemon.store, () => d.daemon.config);
  await hooks.add({ url: rx.url('/all'), secret: SECRET });
  await hooks.add({ url: rx.url('/delivered-only'), secret: SECRET, events: ['delivered'] });
  await d.daemon.store.addSuppression({ address: 'gone@dest.test', scope: '', reason: 'user unknown', source: 'bounce', createdAt: Date.now() });
  await d.daemon.store.addSuppression({ address: 'left@dest.test', scope: 'example.com', reason: 'unsubscribed', source: 'unsubscribe', createdAt: Date.now() });
});
t.teardown(async () => { await d.stop(); await rx.close(); });

const rejected = (): RecipientEventPayload[] =>
  rx.acked('/all').map((r) => JSON.parse(r.body) as RecipientEventPayload).filter((e) => e.event === 'rejected');
const rows = (): Promise<AuditEvent[]> => d.daemon.store.auditEvents('rejected');

t.test('SMTP: 559 at RCPT, one event row and one webhook event', async (t) => {
  const c = await RawSmtp.connect(d.port);
  await c.greet(); await c.ehlo();
  t.equal((await c.authPlain('app@example.com', PASSWORD)).code, 235);
  await c.cmd('MAIL FROM:<app@example.com>');
  t.equal((await c.cmd('RCPT TO:<Gone@dest.test>')).text, '559 5.1.1 Invalid rcptto');
  t.equal((await c.cmd('RCPT TO:<fine@dest.test>')).code, 250, 'a recipient that is not suppressed');
  await c.quit();

  const [e] = await waitFor('the rejected webhook event', () => rejected().length >= 1 && rejected());
  t.match(e, {
    event: 'rejected', env_id: '', msg_id: '', account: 'app@example.com', from: 'app@example.com', rcpt: 'Gone@dest.test',
    status: 2, err_code: 559, err_msg: '559 5.1.1 Invalid rcptto', bounce_category: 'suppressed', attempts: 0, tag: null, task_id: null,
  });
  t.ok(verifySignature(rx.acked('/all').find((r) => JSON.parse(r.body).event === 'rejected')!, SECRET), 'signed like every event');
  const r = await rows();
  t.equal(r.length, 1, 'one event row, none for the accepted recipient');
  t.same([r[0]!.queueId, r[0]!.recipientId], [null, null], 'no message exists');
  t.match(r[0]!.detail, { rcpt: 'Gone@dest.test', sender: 'app@example.com', via: 'smtp', suppression: { reason: 'user unknown', source: 'bounce', scope: '' } });
});

t.test('send API: each suppressed recipient of a request makes its own event', async (t) => {
  const before = rejected().length;
  const call = apiClient(d);
  const r = await call('POST', '/api/v1/send', { from: 'app@example.com', to: ['gone@dest.test', 'left@dest.test', 'ok@dest.test'], subject: 's', text: 'x' });
  t.equal(r.status, 200, r.text);
  t.match(r.json.recipients, [{ code: 559 }, { code: 559 }, { code: 250 }]);
  const got = await waitFor('two more rejected events', () => rejected().length >= before + 2 && rejected().slice(before));
  t.same(got.map((e) => e.rcpt).sort(), ['gone@dest.test', 'left@dest.test']);
  t.match((await rows()).slice(-2).map((x) => x.detail), [{ via: 'api', rcpt: 'gone@dest.test' }, { via: 'api', rcpt: 'left@dest.test', suppression: { scope: 'example.com', source: 'unsubscribe' } }]);
});

t.test('the 559 log line and `mta log --rcpt` name the suppression entry and how to remove it', async (t) => {
  // A second listener on the same spool, with a logger we can read.
  const out = new PassThrough();
  let logged = '';
  out.on('data', (b: Buffer) => { logged += b.toString(); });
  const sub = new SubmissionService({ config: d.daemon.config, store: d.daemon.store, log: createLogger('info', out) });
  await sub.start();
  t.teardown(() => sub.stop());
  const c = await RawSmtp.connect(sub.ports[0]!);
  await c.greet(); await c.ehlo();
  t.equal((await c.authPlain('app@example.com', PASSWORD)).code, 235);
  await c.cmd('MAIL FROM:<app@example.com>');
  t.equal((await c.cmd('RCPT TO:<gone@dest.test>')).code, 559);
  await c.quit();
  const line = await waitFor('the refusal log line', () => logged.split('\n').find((l) => /"reply":559/.test(l)));
  const entry = (await d.daemon.store.listSuppressions({ search: 'gone@dest.test' }))[0]!;
  t.match(JSON.parse(line), {
    msg: 'smtp command refused', rcpt: 'gone@dest.test', suppression: 'user unknown', source: 'bounce', scope: 'all',
    suppressed_at: new Date(entry.createdAt).toISOString(), remove: 'mta suppression remove gone@dest.test',
  });
  const r = await runMta(['log', '--rcpt', 'gone@dest.test', '--config', d.configPath]);
  t.equal(r.code, 0, r.err);
  t.match(r.out, `gone@dest.test is on the suppression list (scope all, source bounce, since ${new Date(entry.createdAt).toISOString()}): user unknown; remove with "mta suppression remove gone@dest.test"`);
  const scoped = await runMta(['log', '--rcpt', 'left@dest.test', '--json', '--config', d.configPath]);
  t.match(JSON.parse(scoped.out).suppressions, [{ address: 'left@dest.test', scope: 'example.com', source: 'unsubscribe', remove: 'mta suppression remove left@dest.test --scope example.com' }]);
});

t.test('a webhook filtered to other events hears nothing of it', async (t) => {
  await new Promise((r) => setTimeout(r, 300));
  t.equal(rx.requests.filter((r) => r.path === '/delivered-only').length, 0);
  t.ok(rejected().length >= 3);
});
