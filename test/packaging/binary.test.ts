// The one-file install, end to end: `npm run build:binary` makes dist/bin/mta-linux-<arch>;
// copied alone into an empty directory (no node_modules anywhere above it) the file is the
// whole product: the CLI adds a domain and a sender, the daemon takes mail over SMTP with
// AUTH, signs it on its DKIM thread, spools it through its writer thread and delivers it
// to a sink (the signature checked by python3-dkim), survives kill -9 with its spool, and
// reuses the SQLite addon it extracted; its admin listener serves the web console it
// carries (the page, the hashed assets, gzip'd). Then the Debian package made from that binary
// installs, creates its user, answers --version and leaves /var/lib/mta on removal; and
// the npm tarball installs globally into a temporary prefix and runs `mta --help`.
// The binary is built once for the whole file (about 20 s on an idle machine).
import t, { type Test } from 'tap';
import { gunzipSync } from 'node:zlib';
import { execFileSync, spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { spawnDaemon, cleanEnv, type ChildDaemon } from '../helpers/child.js';
import { runMta, type RunResult } from '../helpers/run.js';
import { PASSWORD } from '../helpers/daemon.js';
import { startDnsServer, type TestDnsServer } from '../helpers/dns-server.js';
import { freePort, startSink, type Sink } from '../helpers/sink.js';
import { RawSmtp, message } from '../helpers/smtp-client.js';
import { httpGet, type RawResponse } from '../helpers/http-get.js';
import { dkimpyAvailable, verifyDkimpy } from '../helpers/dkimpy.js';

const ROOT = process.cwd();
const BUILT = join(ROOT, 'dist', 'bin', `mta-linux-${process.arch}`);

/** Why the binary cannot be built here, or undefined when it can. */
function missingToolchain(): string | undefined {
  if (process.platform !== 'linux') return `the single executable is built for Linux only (this is ${process.platform})`;
  const [major = 0, minor = 0] = process.versions.node.split('.').map(Number);
  if (major < 20 || (major === 20 && minor < 12)) return `node ${process.versions.node} has no node:sea assets (20.12 or later needed)`;
  const require = createRequire(join(ROOT, 'package.json'));
  for (const m of ['esbuild', 'postject']) {
    try { require.resolve(m); } catch { return `${m} is not installed (a devDependency: npm ci)`; }
  }
  return undefined;
}

function sh(cmd: string, args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): { code: number | null; out: string } {
  const r = spawnSync(cmd, args, { cwd: opts.cwd ?? ROOT, env: cleanEnv(opts.env), encoding: 'utf8', maxBuffer: 64 << 20 });
  return { code: r.status, out: `${r.stdout ?? ''}${r.stderr ?? ''}${r.error ? r.error.message : ''}` };
}

async function until<T>(what: string, fn: () => T | false | Promise<T | false>, limitMs = 60_000): Promise<T> {
  const end = Date.now() + limitMs;
  for (;;) {
    const v = await fn();
    if (v !== false) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const get = (port: number, path: string, headers: Record<string, string> = {}): Promise<RawResponse> => httpGet(`http://127.0.0.1:${port}${path}`, headers);

/** The web console from inside the binary: the page names the hashed assets the binary carries, served as dist/console's. */
async function consoleServed(t: Test, daemon: ChildDaemon): Promise<void> {
  const port = Number(/"port":(\d+)[^\n]*"msg":"admin api listening"/.exec(daemon.output())?.[1]);
  t.ok(port > 0, `the admin listener is on port ${port}`);
  const built = JSON.parse(readFileSync(join(ROOT, 'dist', 'console', 'manifest.json'), 'utf8')) as Record<'app.js' | 'style.css', string>;
  const page = await get(port, '/');
  t.equal(page.status, 200, 'GET / answers 200 from the binary');
  t.match(page.headers['content-type'], /^text\/html/);
  t.ok(page.body.toString().includes(`src="${built['app.js']}"`), `the page names the hashed ${built['app.js']}`);
  for (const [path, type] of [[built['app.js'], /^text\/javascript/], [built['style.css'], /^text\/css/]] as const) {
    const file = readFileSync(join(ROOT, 'dist', 'console', path));
    const plain = await get(port, path);
    t.equal(plain.status, 200, `${path}: 200`);
    t.match(plain.headers['content-type'], type, `${path}: ${plain.headers['content-type']}`);
    t.match(plain.headers['cache-control'], /max-age=31536000.*immutable/, `${path}: cached for a year`);
    t.notOk(plain.headers['content-encoding'], `${path}: plain to a client that takes no gzip`);
    t.same(plain.body, file, `${path}: the bytes of dist/console`);
    const gz = await get(port, path, { 'accept-encoding': 'gzip, deflate' });
    t.equal(gz.headers['content-encoding'], 'gzip', `${path}: gzip'd for a client that takes it`);
    t.same(gunzipSync(gz.body), file, `${path}: the same bytes, gzip'd`);
  }
  for (const bad of ['/assets/nothing.js', `${built['app.js']}.gz`, '/assets/..%2Fmanifest.json', '/assets/manifest.json']) {
    t.equal((await get(port, bad)).status, 404, `${bad}: 404`);
  }
}

const missing = missingToolchain();
if (missing) {
  t.plan(0, `skipped: ${missing}`);
} else {
  t.before(() => {
    // The test files run from dist/ already compiled; only the bundle and the SEA are made here.
    const r = sh(process.execPath, ['scripts/build-binary.mjs']);
    if (r.code !== 0) throw new Error(`build:binary failed:\n${r.out}`);
  });

  t.test('the binary alone in an empty directory is the daemon and the CLI', async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'mta-binary-'));
    let dns: TestDnsServer | undefined;
    let sink: Sink | undefined;
    let daemon: ChildDaemon | undefined;
    t.teardown(async () => {
      daemon?.proc.kill('SIGKILL');
      await sink?.close(); await dns?.close();
      rmSync(dir, { recursive: true, force: true });
    });
    for (let d = dir; d !== dirname(d); d = dirname(d)) t.notOk(existsSync(join(d, 'node_modules')), `no node_modules in ${d}`);
    const exe = join(dir, 'mta');
    copyFileSync(BUILT, exe);
    t.same(readdirSync(dir), ['mta'], 'one file');
    t.ok(statSync(exe).mode & 0o100, 'executable');

    dns = await startDnsServer({});
    const port = await freePort();
    dns.set('dest.test', { MX: [{ preference: 10, exchange: 'mx.dest.test' }] });
    dns.set('mx.dest.test', { A: ['127.0.0.41'] });
    // Mail for down.test waits in the queue: its MX refuses connections.
    dns.set('down.test', { MX: [{ preference: 10, exchange: 'mx.down.test' }] });
    dns.set('mx.down.test', { A: ['127.0.0.42'] });
    sink = await startSink('127.0.0.41', port);
    const dataDir = join(dir, 'data');
    const config = join(dir, 'mta.toml');
    writeFileSync(config, [
      'hostname = "mta.test"', `data_dir = "${dataDir}"`,
      '[[smtp.listen]]', 'address = "127.0.0.1:0"', 'tls = "none"',
      '[smtp]', 'allow_insecure_auth = true', '[domains]', 'require_verified = false',
      '[spool]', 'writer_thread = true',
      '[delivery]', `port = ${port}`, 'dkim_threads = 2', 'retry_schedule = ["1h"]', 'send_dsn = false', 'connect_timeout = "2s"',
      '[dns]', `servers = ["${dns.server}"]`,
      '[admin]', 'listen = "127.0.0.1:0"', '',
    ].join('\n'));
    const mta = (args: string[], stdin?: string): Promise<RunResult> => runMta([...args, '--config', config], stdin, {}, undefined, { exe });

    const version = await runMta(['--version'], undefined, {}, undefined, { exe });
    t.match(version.out, /^mta \d+\.\d+\.\d+\S* \(commit [0-9a-f]{7,}(-dirty)?, single executable\)\n$/, `--version: ${version.out.trim()}`);

    const added = await mta(['domain', 'add', 'example.com', '--json']);
    t.equal(added.code, 0, `domain add: ${added.err}`);
    const domain = JSON.parse(added.out) as { dkim_selector: string; dkim_algorithm: string; dkim_public_key: string };
    const sender = await mta(['sender', 'add', 'app@example.com', '--type', 'trigger', '--password-stdin'], `${PASSWORD}\n`);
    t.equal(sender.code, 0, `sender add: ${sender.err}`);
    const addon = join(dataDir, 'native');
    const [versioned] = readdirSync(addon);
    const addonFile = join(addon, versioned!, 'better_sqlite3.node');
    t.ok(existsSync(addonFile), `the SQLite addon is extracted under the data dir (${versioned})`);
    const addonTime = statSync(addonFile).mtimeMs;
    // A directory the addon cannot be written to: a precise error, and nothing is run.
    const bad = sh(exe, ['queue', 'list', '--config', config], { env: { MTA_NATIVE_DIR: join(exe, 'not-a-dir') } });
    t.equal(bad.code, 1, 'an unusable $MTA_NATIVE_DIR fails the command');
    t.match(bad.out, /^mta: cannot write the SQLite addon to \S+not-a-dir\S+: ENOTDIR .*\(MTA_ERR_NATIVE\)\n$/, `and says why: ${bad.out.trim()}`);

    const submit = async (smtpPort: number, to: string): Promise<string> => {
      const c = await RawSmtp.connect(smtpPort);
      await c.greet(); await c.ehlo();
      await c.authPlain('app@example.com', PASSWORD);
      await c.cmd('MAIL FROM:<app@example.com>');
      await c.cmd(`RCPT TO:<${to}>`);
      const r = await c.data(message('app@example.com', to, 'from the binary') + '.\r\n');
      await c.quit();
      t.equal(r.code, 250, `250 for ${to}`);
      return r.text.split(' ').pop()!;
    };
    const dkimpy = dkimpyAvailable();
    const verified = (raw: Buffer): void => {
      t.match(raw.toString('latin1'), /^DKIM-Signature: [^\r\n]*d=example\.com;/m, 'delivered with a DKIM signature');
      if (!dkimpy.ok) { t.fail(`python3-dkim is required (apt-get install -y python3-dkim python3-nacl): ${dkimpy.detail}`); return; }
      const txt = `v=DKIM1; k=${domain.dkim_algorithm === 'ed25519' ? 'ed25519' : 'rsa'}; p=${domain.dkim_public_key}`;
      t.ok(verifyDkimpy(raw, txt, `${domain.dkim_selector}._domainkey.example.com`), 'python3-dkim verifies the signature');
    };

    daemon = await spawnDaemon(config, {}, dir, { exe });
    await consoleServed(t, daemon);
    const first = await submit(daemon.port, 'someone@dest.test');
    const got = await until('delivery to the sink', () => sink!.messages[0] ?? false);
    t.same(got.to, ['someone@dest.test'], 'the sink got the message');
    verified(got.raw);
    const waiting = await submit(daemon.port, 'later@down.test');

    const listed = await until('queue list to show the delivery', async () => {
      // --all: the delivered message is history, which queue list shows only when asked.
      const r = await mta(['queue', 'list', '--all', '--json']);
      const rows = r.out ? (JSON.parse(r.out) as { items: { queue_id: string; state: string }[] }).items : [];
      return rows.some((x) => x.queue_id === first && x.state === 'delivered') && rows.some((x) => x.queue_id === waiting) ? rows : false;
    });
    t.ok(listed.length >= 2, 'mta queue list --json from the same file lists both messages');

    daemon.proc.kill('SIGKILL');
    t.equal(await daemon.exited, null, 'killed with -9');
    daemon = await spawnDaemon(config, {}, dir, { exe });
    const after = (JSON.parse((await mta(['queue', 'list', '--all', '--json'])).out) as { items: { queue_id: string; state: string }[] }).items;
    t.equal(after.find((x) => x.queue_id === first)?.state, 'delivered', 'after kill -9 and restart: the delivered message is still recorded');
    t.match(after.find((x) => x.queue_id === waiting)?.state ?? 'missing', /^(queued|sending|deferred)$/, 'and the waiting one is still in the queue');
    await submit(daemon.port, 'again@dest.test');
    const second = await until('the delivery after the restart', () => sink!.messages.find((m) => m.to[0] === 'again@dest.test') ?? false);
    verified(second.raw);
    t.equal(statSync(addonFile).mtimeMs, addonTime, 'the restart reused the extracted addon');
    daemon.proc.kill('SIGTERM');
    t.equal(await daemon.exited, 0, 'clean exit on SIGTERM');
    daemon = undefined;
  });

  // Installed for real on this machine: only as root, and never over an mta already there.
  const noDpkg = process.getuid?.() !== 0 ? 'dpkg -i needs root'
    : sh('dpkg-deb', ['--version']).code !== 0 ? 'dpkg-deb is missing (package dpkg)'
    : sh('dpkg', ['-s', 'mta']).code === 0 || existsSync('/usr/bin/mta') ? 'an mta package or /usr/bin/mta is installed on this machine already'
    : false;
  t.test('the Debian package installs the binary, creates its user, keeps /var/lib/mta on removal', { skip: noDpkg }, async (t) => {
    const deb = sh('bash', ['scripts/build-deb.sh']);
    t.equal(deb.code, 0, `build-deb: ${deb.out.trim()}`);
    const file = join(ROOT, 'dist', 'deb', readdirSync(join(ROOT, 'dist', 'deb')).find((f) => f.endsWith('.deb'))!);
    const hadUser = sh('getent', ['passwd', 'mta']).code === 0;
    const hadData = existsSync('/var/lib/mta');
    t.teardown(() => {
      sh('dpkg', ['--purge', 'mta']);
      if (!hadData) rmSync('/var/lib/mta', { recursive: true, force: true });
      if (!hadUser) { sh('userdel', ['mta']); sh('groupdel', ['mta']); }
    });
    const contents = execFileSync('dpkg-deb', ['-c', file], { encoding: 'utf8' });
    for (const p of ['./usr/bin/mta', './usr/lib/systemd/system/mta.service', './etc/mta/mta.toml']) t.match(contents, p, `contains ${p}`);
    t.equal(sh('dpkg-deb', ['-I', file, 'conffiles']).out.trim(), '/etc/mta/mta.toml', 'mta.toml is a conffile');
    t.match(sh('dpkg-deb', ['-f', file, 'Package', 'Architecture']).out, /^Package: mta\nArchitecture: (amd64|arm64)\n/, 'control fields');

    const install = sh('dpkg', ['-i', file]);
    t.equal(install.code, 0, `dpkg -i: ${install.out.trim()}`);
    t.equal(sh('getent', ['passwd', 'mta']).code, 0, 'the mta system user exists');
    t.match(sh('/usr/bin/mta', ['--version']).out, /^mta \S+ \(commit \S+, single executable\)/, 'the installed binary answers --version');
    t.equal(sh('stat', ['-c', '%U %a', '/var/lib/mta']).out.trim(), 'mta 750', '/var/lib/mta belongs to mta');
    t.equal(sh('stat', ['-c', '%U:%G %a', '/etc/mta/mta.toml']).out.trim(), 'root:mta 640', 'the configuration is readable by the service only');
    t.notOk(existsSync('/etc/systemd/system/multi-user.target.wants/mta.service'), 'the service is not enabled by the install');
    const remove = sh('dpkg', ['-r', 'mta']);
    t.equal(remove.code, 0, `dpkg -r: ${remove.out.trim()}`);
    t.notOk(existsSync('/usr/bin/mta'), 'the binary is gone');
    t.ok(existsSync('/var/lib/mta'), '/var/lib/mta is kept');
  });

  t.test('npm pack: the tarball installs globally into a prefix and mta --help runs', async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'mta-pack-'));
    t.teardown(() => rmSync(dir, { recursive: true, force: true }));
    // --ignore-scripts: the test files already ran the build (tsc); pack what dist/ holds.
    const pack = sh('npm', ['pack', '--ignore-scripts', '--pack-destination', dir, '--json']);
    t.equal(pack.code, 0, 'npm pack');
    const [{ filename, files }] = JSON.parse(pack.out.slice(pack.out.indexOf('['))) as [{ filename: string; files: { path: string }[] }];
    const paths = files.map((f) => f.path);
    t.ok(paths.includes('dist/src/cli/main.js') && paths.includes('bin/mta'), 'the tarball has bin/ and the compiled program');
    t.notOk(paths.some((p) => p.startsWith('dist/test/') || p.startsWith('dist/bin/') || p.endsWith('.map')), 'and not the tests, the binary or source maps');
    const prefix = join(dir, 'prefix');
    const install = sh('npm', ['install', '-g', '--prefix', prefix, '--prefer-offline', '--no-audit', '--no-fund', join(dir, filename)], { cwd: dir });
    t.equal(install.code, 0, `npm install -g: ${install.out.slice(-2000)}`);
    const help = sh(join(prefix, 'bin', 'mta'), ['--help'], { cwd: dir });
    t.equal(help.code, 0, 'mta --help exits 0');
    t.match(help.out, /Usage: mta \[options\] \[command\]/, 'and prints the usage');
    t.match(sh(join(prefix, 'bin', 'mta'), ['--version'], { cwd: dir }).out, /^mta \d+\.\d+\.\d+\S* \(commit \S+\)\n$/, 'mta --version from the npm install');
  });
}
