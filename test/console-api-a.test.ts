// The admin API calls the console's configuration pages added: a template draft's preview
// (nothing stored, sample values, missing and malformed placeholders named), the running
// configuration with every secret redacted (GET /api/v1/config, and configView on a
// configuration holding one secret of each kind), and a console user's role changed over
// the API and with `mta user role` — applied from the user's next request.
import t from 'tap';
import { startDaemon, type TestDaemon } from './helpers/daemon.js';
import { apiClient, type Call } from './helpers/api.js';
import { runMta } from './helpers/run.js';
import { Users } from '../src/accounts/users.js';
import { compileConfig } from '../src/config/config.js';
import { configView, REDACTED } from '../src/admin/config-view.js';

const TOKEN = 'a-configured-admin-token-that-is-secret';
let d: TestDaemon;
let api: Call;
let base: string;
t.before(async () => {
  d = await startDaemon(`[admin]\nlisten = "127.0.0.1:0"\ntoken = "${TOKEN}"\nallowed_ips = ["127.0.0.1", "10.0.0.0/8"]\n[smtp]\nallow_insecure_auth = true\nallowed_ips = ["127.0.0.1", "192.0.2.1-192.0.2.9"]\n`);
  api = apiClient(d);
  base = `http://127.0.0.1:${d.daemon.admin!.port}`;
});
t.teardown(async () => { await d.stop(); });

t.test('POST /api/v1/templates/preview fills a draft with samples and stores nothing', async (t) => {
  const r = await api('POST', '/api/v1/templates/preview', {
    subject: 'Hello {Name}', html: '<p>Dear {Name}, your code is {Code}. <b>{Bad</b></p>', vars: { Name: '<Ann>' },
  });
  t.equal(r.status, 200, r.text);
  t.equal(r.json.subject, 'Hello <Ann>', 'raw in the subject');
  t.match(r.json.html, 'Dear &lt;Ann&gt;', 'HTML-escaped in the HTML');
  t.match(r.json.html, '{Code}', 'a variable without a sample stays as written');
  t.same(r.json.variables, ['Name', 'Code']);
  t.same(r.json.missing, ['Code']);
  t.same(r.json.malformed, ['{Bad'], 'the placeholder approval would refuse');
  t.equal(r.json.text_generated, true);
  t.match(r.json.text, /Dear <Ann>, your code is \{Code\}/, 'text generated from the filled HTML');

  const withText = await api('POST', '/api/v1/templates/preview', { subject: 's', html: '<p>x</p>', text: 'Hi {Name}', vars: { Name: 'Bo' } });
  t.equal(withText.json.text, 'Hi Bo');
  t.equal(withText.json.text_generated, false);

  const bad = await api('POST', '/api/v1/templates/preview', { subject: 's', html: '<p>x</p>', vars: { Name: 3 } });
  t.equal(bad.status, 400);
  t.equal(bad.json.error.code, 'MTA_ERR_INVALID');
  t.equal(bad.json.error.field, 'vars.Name', 'the field at fault');
  const unknown = await api('POST', '/api/v1/templates/preview', { subject: 's', html: 'x', name: 'stored?' });
  t.equal(unknown.status, 400, 'unknown fields refused');
  t.same((await api('GET', '/api/v1/templates')).json.items, [], 'nothing was stored');
});

t.test('GET /api/v1/config: the running configuration, secrets redacted, IP protection as written', async (t) => {
  const r = await api('GET', '/api/v1/config');
  t.equal(r.status, 200, r.text);
  t.equal(r.json.source, d.configPath);
  t.match(r.json.version, /^\d+\.\d+\.\d+/);
  t.equal(r.json.config.admin.token, REDACTED);
  t.notMatch(r.text, TOKEN, 'the token appears nowhere');
  t.same(r.json.config.admin.allowedIps, ['127.0.0.1', '10.0.0.0/8']);
  t.same(r.json.config.smtp.allowedIps, ['127.0.0.1', '192.0.2.1-192.0.2.9']);
  t.equal(r.json.config.hostname, 'mta.test');
  t.equal(r.json.config.smtp.listen[0].text, '127.0.0.1:0');
  t.equal(typeof r.json.config.delivery.retryScheduleMs[0], 'number');
});

t.test('configView redacts every kind of secret and keeps the rest', async (t) => {
  const toml = `hostname = "h.test"\ndata_dir = "/tmp/x"\n[admin]\ntoken = "tok-123456789"\n[storage]\nbackend = "postgres"\npostgres_url = "postgres://mta:pgsecret@db.test:5432/mta"\n`
    + `[[route]]\ndomains = ["*"]\nhost = "relay.test:587"\nusername = "relay-user"\npassword = "relaysecret"\n`
    + `[[smtp.listen]]\naddress = "127.0.0.1:2525"\ntls = "none"\n[[tracking.domain]]\nname = "example.com"\ntrack = ["clicks"]\n`;
  const view = configView(compileConfig(toml, 'test.toml')) as any;
  const text = JSON.stringify(view);
  for (const secret of ['tok-123456789', 'pgsecret', 'relaysecret']) t.notMatch(text, secret, `${secret} is not shown`);
  t.equal(view.admin.token, REDACTED);
  t.equal(view.storage.postgres.url, REDACTED);
  t.equal(view.routes[0].auth.pass, REDACTED);
  t.equal(view.routes[0].auth.user, 'relay-user', 'a user name is not a secret');
  t.equal(view.routes[0].host, 'relay.test');
  t.same(view.tracking.domains['example.com'], { opens: false, clicks: true }, 'maps become objects');
  t.equal((configView({ hook: 'https://u:p@h.test/x' }) as any).hook, 'https://***@h.test/x', 'credentials in any URL');
  t.equal((configView({ token: '' }) as any).token, '', 'an empty secret is shown empty (nothing set)');
});

/** Signs in with fetch and returns the session cookie. */
async function sessionCookie(name: string, password: string): Promise<string> {
  const res = await fetch(`${base}/api/v1/session`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ name, password }) });
  t.equal(res.status, 200, `${name} signs in`);
  return res.headers.getSetCookie().map((c) => c.split(';')[0]).join('; ');
}

t.test('PUT /api/v1/users/:name/role and mta user role: the new role applies from the next request', async (t) => {
  await new Users(d.daemon.store).add('rita', 'viewer', 'rita has a long password');
  const cookie = await sessionCookie('rita', 'rita has a long password');
  const who = async (): Promise<string> => (await (await fetch(`${base}/api/v1/session`, { headers: { cookie } })).json() as { role: string }).role;
  t.equal(await who(), 'viewer');

  const r = await api('PUT', '/api/v1/users/rita/role', { role: 'operator' });
  t.equal(r.status, 200, r.text);
  t.equal(r.json.role, 'operator');
  t.equal(await who(), 'operator', 'the same session, the new role');
  t.same((await api('GET', '/api/v1/users')).json.items.map((u: { name: string; role: string }) => [u.name, u.role]), [['rita', 'operator']]);

  const bad = await api('PUT', '/api/v1/users/rita/role', { role: 'root' });
  t.equal(bad.status, 400);
  t.equal(bad.json.error.field, 'role');
  const none = await api('PUT', '/api/v1/users/nobody/role', { role: 'viewer' });
  t.equal(none.status, 404);
  t.equal(none.json.error.code, 'MTA_ERR_NOT_FOUND');

  // An operator may not change roles (users are an admin's), even their own.
  const csrf = (await (await fetch(`${base}/api/v1/session`, { headers: { cookie } })).json() as { csrf_token: string }).csrf_token;
  const self = await fetch(`${base}/api/v1/users/rita/role`, { method: 'PUT', headers: { cookie, 'x-csrf-token': csrf, 'content-type': 'application/json' }, body: JSON.stringify({ role: 'admin' }) });
  t.equal(self.status, 403, 'an operator cannot make themselves admin');
  t.equal(await who(), 'operator');

  const cli = await runMta(['user', 'role', 'rita', '--role', 'viewer', '--json', '--config', d.configPath]);
  t.equal(cli.code, 0, cli.err);
  t.equal(JSON.parse(cli.out).role, 'viewer');
  t.equal(await who(), 'viewer', 'the CLI\'s change applies at once too');
  const cliBad = await runMta(['user', 'role', 'rita', '--role', 'root', '--config', d.configPath]);
  t.not(cliBad.code, 0);
  t.match(cliBad.err, /admin, operator, viewer|choices/);
});
