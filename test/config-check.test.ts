// `mta config check` refuses what `mta start` refuses (TLS files missing or unusable,
// files the service user cannot read), warns about placeholders and a token file others
// can read; typos get a did-you-mean; missing and invalid files exit 66 and 78.
import t from 'tap';
import { chmodSync, chownSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { compileConfig, ConfigError } from '../src/config/config.js';
import { configWarnings } from '../src/config/checks.js';
import { tempDir } from './helpers/daemon.js';
import { runMta } from './helpers/run.js';
import { makeCert } from './helpers/tls.js';

const dir = tempDir('mta-check-');
t.teardown(() => rmSync(dir, { recursive: true, force: true }));
const BASE = `hostname = "mta.test"\ndata_dir = "${join(dir, 'data')}"\n`;
const TLS_LISTENER = '[[smtp.listen]]\naddress = "127.0.0.1:0"\ntls = "starttls"\n';
const PLAIN_LISTENER = '[[smtp.listen]]\naddress = "127.0.0.1:0"\ntls = "none"\n';

function problems(toml: string): string {
  try { compileConfig(toml, 'test.toml'); } catch (e) { if (e instanceof ConfigError) return e.message; throw e; }
  return '';
}

function file(name: string, text: string): string {
  const p = join(dir, name);
  writeFileSync(p, text);
  return p;
}

t.test('a typo gets the closest key; a missing required key says so', async (t) => {
  t.match(problems('[smtp]\nmax_mesage_size = "1MB"\n'), /^test\.toml:2: smtp\.max_mesage_size: unknown key; did you mean max_message_size\?$/m);
  t.match(problems('[[delivery.shaping]]\nname = "g"\ndomains = ["x"]\nmax_conections = 3\n'), /test\.toml:4: delivery\.shaping\[0\]\.max_conections: unknown key; did you mean max_connections\?/);
  t.match(problems('hostnme = "a.b"\n'), /test\.toml:1: hostnme: unknown key; did you mean hostname\?/);
  t.match(problems('[smtp]\ncolour = 1\n'), /test\.toml:2: smtp\.colour: unknown key$/m, 'no far-fetched suggestion');
  const two = problems('[smtp]\nmax_recipents = 1\nidle_timout = "1m"\n');
  t.match(two, /test\.toml:2: smtp\.max_recipents: unknown key; did you mean max_recipients\?/);
  t.match(two, /test\.toml:3: smtp\.idle_timout: unknown key; did you mean idle_timeout\?/, 'each unknown key on its own line');
  t.match(problems('[[route]]\ndomains = ["*"]\n'), /route\[0\]\.host: required key missing: add host = \.\.\. here/);
});

t.test('a missing file exits 66, an invalid one 78', async (t) => {
  const missing = await runMta(['config', 'check', '--config', join(dir, 'nope.toml')]);
  t.equal(missing.code, 66);
  t.match(missing.err, /nope\.toml: cannot read the configuration file: ENOENT/);
  const bad = await runMta(['config', 'check', '--config', file('typo.toml', `${BASE}${PLAIN_LISTENER}[smtp]\nmax_mesage_size = "1MB"\n`)]);
  t.equal(bad.code, 78);
  t.match(bad.err, /typo\.toml:7: smtp\.max_mesage_size: unknown key; did you mean max_message_size\?/);
  const start = await runMta(['start', '--config', join(dir, 'typo.toml')]);
  t.equal(start.code, 78, 'start refuses it with the same code');
});

t.test('TLS certificate files that start would refuse', async (t) => {
  const missing = await runMta(['config', 'check', '--config', file('nocert.toml', `${BASE}${TLS_LISTENER}[smtp.tls]\ncert = "${join(dir, 'none.pem')}"\nkey = "${join(dir, 'none.key')}"\n`)]);
  t.equal(missing.code, 78);
  t.match(missing.err, `nocert.toml: smtp.tls.cert: cannot read ${join(dir, 'none.pem')}: ENOENT`);
  t.match(missing.err, `nocert.toml: smtp.tls.key: cannot read ${join(dir, 'none.key')}: ENOENT`);
  const junk = file('junk.pem', 'not a certificate\n');
  const bad = await runMta(['config', 'check', '--config', file('junk.toml', `${BASE}${TLS_LISTENER}[smtp.tls]\ncert = "${junk}"\nkey = "${junk}"\n`)]);
  t.equal(bad.code, 78);
  t.match(bad.err, /junk\.toml: smtp\.tls: the certificate or key cannot be used/);
  const { cert, key } = makeCert(dir);
  const good = await runMta(['config', 'check', '--config', file('tls.toml', `${BASE}${TLS_LISTENER}[smtp.tls]\ncert = "${cert}"\nkey = "${key}"\n`)]);
  t.equal(good.code, 0, good.err);
  t.match(good.out, /^ok /);
});

t.test('an MTA-STS CA file that start would refuse', async (t) => {
  const missing = await runMta(['config', 'check', '--config', file('noca.toml', `${BASE}${PLAIN_LISTENER}[delivery.mta_sts]\nca_file = "${join(dir, 'none-ca.pem')}"\n`)]);
  t.equal(missing.code, 78);
  t.match(missing.err, `noca.toml: delivery.mta_sts.ca_file: cannot read ${join(dir, 'none-ca.pem')}: ENOENT`);
  const junk = file('junk-ca.pem', 'not a certificate\n');
  const bad = await runMta(['config', 'check', '--config', file('junkca.toml', `${BASE}${PLAIN_LISTENER}[delivery.mta_sts]\nca_file = "${junk}"\n`)]);
  t.equal(bad.code, 78);
  t.match(bad.err, `junkca.toml: delivery.mta_sts.ca_file: no CA certificate in ${junk}`);
  const { cert } = makeCert(dir, 'ca.test');
  const good = await runMta(['config', 'check', '--config', file('ca.toml', `${BASE}${PLAIN_LISTENER}[delivery.mta_sts]\nca_file = "${cert}"\n`)]);
  t.equal(good.code, 0, good.err);
});

t.test('placeholders and a token file others can read: warnings, exit 0', async (t) => {
  const token = file('token', 's3cret-token\n');
  chmodSync(token, 0o644);
  const r = await runMta(['config', 'check', '--config', file('placeholders.toml',
    `hostname = "mta.example.com"\ndata_dir = "${join(dir, 'data')}"\n${PLAIN_LISTENER}[smtp]\nallow_insecure_auth = true\n[admin]\ntoken_file = "${token}"\n[public]\nbase_url = "https://track.example.com"\n`)]);
  t.equal(r.code, 0, r.err);
  t.match(r.out, /^ok \(.*placeholders\.toml\), 3 warnings\n$/);
  t.match(r.err, 'placeholders.toml: warning: hostname = "mta.example.com" looks like a placeholder left from mta.example.toml');
  t.match(r.err, 'placeholders.toml: warning: public.base_url = "https://track.example.com" looks like a placeholder');
  t.match(r.err, `placeholders.toml: warning: admin.token_file ${token} is mode 0644: every local user can read the admin token`);
  t.notMatch(r.err, /s3cret/, 'the token itself is never printed');
  chmodSync(token, 0o600);
  const quiet = await runMta(['config', 'check', '--config', join(dir, 'placeholders.toml')]);
  t.notMatch(quiet.err, /token_file/, 'a private token file: no warning');
});

t.test('as root: files the service user (the data dir owner) cannot read are refused', { skip: process.getuid?.() !== 0 ? 'needs root' : false }, async (t) => {
  const svc = join(dir, 'svc');
  mkdirSync(join(svc, 'data'), { recursive: true });
  chmodSync(dir, 0o755); chmodSync(svc, 0o755); // mkdtemp makes 0700: the service user must get in
  chownSync(join(svc, 'data'), 65534, 65534);
  // certbot's layout: the live directory is root's 0700.
  const live = join(svc, 'live');
  mkdirSync(live, { mode: 0o700 });
  const { cert, key } = makeCert(live);
  const token = join(svc, 'token');
  writeFileSync(token, 'x\n', { mode: 0o600 });
  const r = await runMta(['config', 'check', '--config', file('svc.toml',
    `hostname = "mta.test"\ndata_dir = "${join(svc, 'data')}"\n${TLS_LISTENER}[smtp.tls]\ncert = "${cert}"\nkey = "${key}"\n[admin]\ntoken_file = "${token}"\n`)]);
  t.equal(r.code, 78);
  t.match(r.err, `smtp.tls.cert: ${cert} is not readable by nobody (uid 65534), the data dir's owner the service runs as: ${live} is owned by root (uid 0), mode 0700`);
  t.match(r.err, `admin.token_file: ${token} is not readable by nobody (uid 65534)`);
});

t.test('an admin listener other machines can reach is a warning (it speaks plain HTTP); loopback is not', async (t) => {
  const warnings = (listen: string): string[] => configWarnings(compileConfig(`${BASE}${PLAIN_LISTENER}[smtp]\nallow_insecure_auth = true\n[admin]\nlisten = "${listen}"\n`, 'test.toml'), undefined);
  const wild = warnings('0.0.0.0:8025');
  t.equal(wild.length, 1, wild.join('\n'));
  t.match(wild[0], 'admin.listen = "0.0.0.0:8025" is reachable from other machines');
  t.match(wild[0], 'ssh -L 8025:127.0.0.1:8025 HOST');
  t.match(warnings('[2001:db8::1]:9000')[0], 'admin.listen = "[2001:db8::1]:9000" is reachable');
  t.match(warnings('192.0.2.10:8025')[0], 'plain HTTP');
  for (const l of ['127.0.0.1:8025', '127.0.0.2:8025', '[::1]:8025', 'localhost:8025']) t.same(warnings(l), [], `${l}: no warning`);
  const r = await runMta(['config', 'check', '--config', file('admin-wild.toml', `${BASE}${PLAIN_LISTENER}[smtp]\nallow_insecure_auth = true\n[admin]\nlisten = "0.0.0.0:8025"\n`)]);
  t.equal(r.code, 0, 'a warning, not a refusal');
  t.match(r.err, 'admin-wild.toml: warning: admin.listen = "0.0.0.0:8025" is reachable from other machines');
});
