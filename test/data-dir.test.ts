// The data dir: one daemon at a time (a second `mta start` is refused and changes
// nothing; kill -9 frees it), and files at rest private whatever the umask.
import t from 'tap';
import { chmodSync, chownSync, existsSync, mkdirSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir } from './helpers/daemon.js';
import { spawnDaemon } from './helpers/child.js';
import { runMta } from './helpers/run.js';

const NOBODY = 65534;

function writeConfig(dir: string, name: string, dataDir: string, extra = ''): string {
  const path = join(dir, name);
  writeFileSync(path, `hostname = "mta.test"\ndata_dir = "${dataDir}"\n[[smtp.listen]]\naddress = "127.0.0.1:0"\ntls = "none"\n[smtp]\nallow_insecure_auth = true\n`
    + `[delivery]\nenabled = false\n[dns]\nservers = ["127.0.0.1:1"]\n[admin]\nlisten = "127.0.0.1:0"\n${extra}`);
  return path;
}

t.test('a second daemon on the same data_dir is refused, deletes nothing, and kill -9 frees the data_dir', async (t) => {
  const dir = tempDir('mta-lock-');
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const dataDir = join(dir, 'data');
  const first = await spawnDaemon(writeConfig(dir, 'a.toml', dataDir));
  t.teardown(() => { first.proc.kill('SIGKILL'); });
  const adminBefore = readFileSync(join(dataDir, 'admin.json'), 'utf8');
  t.equal(JSON.parse(adminBefore).pid, first.proc.pid, 'admin.json names the first daemon');

  // Other ports (all 0), same data_dir.
  const second = await runMta(['start', '--config', writeConfig(dir, 'b.toml', dataDir)]);
  t.equal(second.code, 1, 'the second start exits non-zero');
  t.equal(second.err, `mta: data_dir ${dataDir} is in use by pid ${first.proc.pid} (MTA_ERR_DATA_DIR_IN_USE)\n`);
  t.notMatch(second.out, /listening/, 'the second daemon opened no listener');
  t.equal(readFileSync(join(dataDir, 'admin.json'), 'utf8'), adminBefore, "the first daemon's admin.json is untouched");
  const status = await runMta(['status', '--json', '--config', join(dir, 'a.toml')]);
  t.equal(status.code, 0, 'the first daemon still answers');
  t.equal(JSON.parse(status.out).pid, first.proc.pid);

  first.proc.kill('SIGKILL');
  await first.exited;
  const again = await spawnDaemon(join(dir, 'b.toml'));
  t.equal(JSON.parse(readFileSync(join(dataDir, 'admin.json'), 'utf8')).pid, again.proc.pid, 'after kill -9 of the first, the next start takes the data_dir');
  again.proc.kill('SIGTERM');
  t.equal(await again.exited, 0, 'clean exit');
  t.notOk(existsSync(join(dataDir, 'daemon.pid')), 'a clean stop removes its pid file');
});

t.test('with umask 022 and a data dir that exists 0755, every file is private', async (t) => {
  const dir = tempDir('mta-perm-');
  const old = process.umask(0o022);
  t.teardown(() => { process.umask(old); rmSync(dir, { recursive: true, force: true }); });
  const dataDir = join(dir, 'data');
  mkdirSync(dataDir, { mode: 0o755 });
  chmodSync(dataDir, 0o755);
  // A spool left 0644 by an older version is made private too.
  writeFileSync(join(dataDir, 'spool.sqlite'), '', { mode: 0o644 });
  chmodSync(join(dataDir, 'spool.sqlite'), 0o644);
  // A token file every local user can read: the daemon says so at start.
  const token = join(dir, 'admin.token');
  writeFileSync(token, 'a-long-admin-token\n');
  const cfg = writeConfig(dir, 'mta.toml', dataDir, `token_file = "${token}"\n[public]\nlisten = "127.0.0.1:0"\nbase_url = "http://127.0.0.1:8080"\n`);
  const d = await spawnDaemon(cfg);
  t.teardown(() => { d.proc.kill('SIGKILL'); });
  t.match(d.output(), /"from":"0755","to":"0750"[^\n]*permissions were tightened/, 'the tightening is logged');
  t.match(d.output(), `"msg":"admin.token_file ${token} is mode 0644: every local user can read the admin token`, 'the readable token file is logged');
  t.notMatch(d.output(), /a-long-admin-token/);
  // The CLI beside the daemon (a DKIM private key goes into the spool).
  const add = await runMta(['domain', 'add', 'example.com', '--dkim', 'ed25519', '--config', cfg]);
  t.equal(add.code, 0, add.err);
  t.equal(statSync(dataDir).mode & 0o777, 0o750, 'data dir 0755 → 0750');
  const names = readdirSync(dataDir);
  for (const f of ['spool.sqlite', 'spool.sqlite-wal', 'spool.sqlite-shm', 'secret.key', 'admin.json', 'daemon.lock', 'daemon.pid']) {
    t.ok(names.includes(f), `${f} exists`);
  }
  for (const f of names) {
    const mode = statSync(join(dataDir, f)).mode & 0o777;
    t.equal(mode & 0o077, 0, `${f} is ${mode.toString(8)}: no group or world permissions`);
  }
  d.proc.kill('SIGTERM');
  t.equal(await d.exited, 0);
});

t.test("root on a service's data dir: refused with the fix; a file the service cannot write is named with its owner", { skip: process.getuid?.() !== 0 ? 'needs root (to own files as two users)' : false }, async (t) => {
  const dir = tempDir('mta-owner-');
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  chmodSync(dir, 0o755); // the service user must read its configuration
  const dataDir = join(dir, 'data');
  mkdirSync(dataDir, { mode: 0o750 });
  chownSync(dataDir, NOBODY, NOBODY);
  const cfg = writeConfig(dir, 'mta.toml', dataDir);
  chmodSync(cfg, 0o644);

  const asRoot = await runMta(['queue', 'list', '--config', cfg]);
  t.equal(asRoot.code, 1);
  t.match(asRoot.err, `data_dir ${dataDir} belongs to nobody (uid 65534), and this is root`);
  t.match(asRoot.err, `sudo -u nobody mta queue list --config ${cfg}`, 'the fix, ready to paste');
  t.same(readdirSync(dataDir), [], 'root created nothing in the data dir');

  // What an older root run left behind: the spool as root's 0644 file.
  writeFileSync(join(dataDir, 'spool.sqlite'), '', { mode: 0o644 });
  chmodSync(join(dataDir, 'spool.sqlite'), 0o644);
  const asService = await runMta(['queue', 'list', '--config', cfg], undefined, {}, dir, { uid: NOBODY });
  t.equal(asService.code, 1);
  t.match(asService.err, `cannot write ${join(dataDir, 'spool.sqlite')}: it is owned by root (uid 0), mode 0644, and this process runs as nobody (uid 65534)`);
  t.notMatch(asService.err, /readonly database/);
});

t.test('a data dir others may enter, that is not ours to tighten: refused with the chmod to run', { skip: process.getuid?.() !== 0 ? 'needs root (to run as another user)' : false }, async (t) => {
  const dir = tempDir('mta-open-');
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  chmodSync(dir, 0o755);
  const dataDir = join(dir, 'data');
  mkdirSync(dataDir);
  chmodSync(dataDir, 0o777); // root's, and everyone may enter
  const cfg = writeConfig(dir, 'mta.toml', dataDir);
  chmodSync(cfg, 0o644);
  const r = await runMta(['domain', 'add', 'example.com', '--config', cfg], undefined, {}, dir, { uid: NOBODY });
  t.equal(r.code, 1);
  t.match(r.err, `data_dir ${dataDir} is mode 0777: every local user can read the spool (DKIM keys, secrets); it cannot be changed by nobody (uid 65534) (EPERM); run "chmod 0750 ${dataDir}" as its owner, root (uid 0)`);
  t.same(readdirSync(dataDir), [], 'nothing was created in it');
});
