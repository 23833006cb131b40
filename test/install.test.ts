// Running on a server: `mta backup` copies a live spool consistently; the daemon tells
// systemd it is ready (Type=notify) only when asked; the unit carries its hardening.
import t from 'tap';
import Database from 'better-sqlite3';
import { chmodSync, existsSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir, PASSWORD } from './helpers/daemon.js';
import { spawnDaemon } from './helpers/child.js';
import { runMta } from './helpers/run.js';
import { RawSmtp } from './helpers/smtp-client.js';

const dir = tempDir('mta-install-');
t.teardown(() => rmSync(dir, { recursive: true, force: true }));

function config(name: string): string {
  const path = join(dir, `${name}.toml`);
  writeFileSync(path, `hostname = "mta.test"\ndata_dir = "${join(dir, name)}"\n[[smtp.listen]]\naddress = "127.0.0.1:0"\ntls = "none"\n[smtp]\nallow_insecure_auth = true\n`
    + '[domains]\nrequire_verified = false\n[delivery]\nenabled = false\n[dns]\nservers = ["127.0.0.1:1"]\n[admin]\nlisten = "127.0.0.1:0"\n');
  return path;
}

async function send(port: number, n: number): Promise<void> {
  const c = await RawSmtp.connect(port);
  await c.greet(); await c.ehlo();
  if ((await c.authPlain('app@example.com', PASSWORD)).code !== 235) throw new Error('auth failed');
  for (let i = 0; i < n; i++) {
    await c.cmd('MAIL FROM:<app@example.com>');
    await c.cmd('RCPT TO:<someone@dest.test>');
    const r = await c.data(`From: app@example.com\r\nTo: someone@dest.test\r\nSubject: backup ${i}\r\n\r\nhello\r\n.\r\n`);
    if (r.code !== 250) throw new Error(`DATA: ${r.text}`);
  }
  await c.quit();
}

t.test('mta backup: a consistent copy of a running daemon\'s spool and its secret key', async (t) => {
  const cfg = config('live');
  const d = await spawnDaemon(cfg);
  t.teardown(() => { d.proc.kill('SIGKILL'); });
  t.equal((await runMta(['domain', 'add', 'example.com', '--dkim', 'ed25519', '--config', cfg])).code, 0);
  t.equal((await runMta(['sender', 'add', 'app@example.com', '--password-stdin', '--config', cfg], `${PASSWORD}\n`)).code, 0);
  await send(d.port, 5);

  const target = join(dir, 'backups', 'today');
  const r = await runMta(['backup', target, '--config', cfg]);
  t.equal(r.code, 0, r.err);
  t.equal(r.out, `wrote ${join(target, 'spool.sqlite')} and ${join(target, 'secret.key')} (${statSync(join(target, 'spool.sqlite')).size} bytes, integrity ok, schema version ${r.out.match(/schema version (\d+)/)?.[1]})\n`);
  t.equal(statSync(target).mode & 0o777, 0o700, 'the directory is 0700');
  for (const f of ['spool.sqlite', 'secret.key']) t.equal(statSync(join(target, f)).mode & 0o777, 0o600, `${f} is 0600`);
  t.notOk(existsSync(join(target, 'spool.sqlite-wal')), 'a self-contained file, no WAL beside it');
  t.equal(readFileSync(join(target, 'secret.key'), 'utf8'), readFileSync(join(dir, 'live', 'secret.key'), 'utf8'));
  const copy = new Database(join(target, 'spool.sqlite'), { readonly: true });
  t.teardown(() => copy.close());
  t.equal(copy.pragma('integrity_check', { simple: true }), 'ok');
  t.equal((copy.prepare('SELECT count(*) AS n FROM messages').get() as { n: number }).n, 5, 'every acknowledged message is in the copy');
  t.equal((copy.prepare("SELECT count(*) AS n FROM domains WHERE name = 'example.com'").get() as { n: number }).n, 1);

  const again = await runMta(['backup', target, '--config', cfg]);
  t.equal(again.code, 1);
  t.match(again.err, `mta: ${target} exists and is not empty; name a new directory (MTA_ERR_EXISTS)`);
  const status = await runMta(['status', '--json', '--config', cfg]);
  t.equal(JSON.parse(status.out).state, 'running', 'the daemon ran on throughout');
});

t.test('Type=notify: systemd-notify --ready once listeners are bound, only with NOTIFY_SOCKET', async (t) => {
  const bin = join(dir, 'bin');
  mkdirSync(bin);
  const record = join(dir, 'notify.log');
  writeFileSync(join(bin, 'systemd-notify'), `#!/bin/sh\necho "$NOTIFY_SOCKET $*" >> "${record}"\n`);
  chmodSync(join(bin, 'systemd-notify'), 0o755);
  const path = `${bin}:${process.env['PATH'] ?? ''}`;

  const quiet = await spawnDaemon(config('plain'), { PATH: path });
  const ok = await runMta(['status', '--config', join(dir, 'plain.toml')]);
  t.equal(ok.code, 0);
  quiet.proc.kill('SIGTERM');
  t.equal(await quiet.exited, 0);
  t.notOk(existsSync(record), 'without NOTIFY_SOCKET nothing is run');

  const d = await spawnDaemon(config('notify'), { PATH: path, NOTIFY_SOCKET: '/run/systemd/notify' });
  t.teardown(() => { d.proc.kill('SIGKILL'); });
  const by = Date.now() + 15_000;
  // Until the line is written, not only the file: the shell's >> creates the file before it writes to it.
  const line = (): boolean => existsSync(record) && readFileSync(record, 'utf8').endsWith('\n');
  while (!line() && Date.now() < by) await new Promise((r) => setTimeout(r, 50));
  t.equal(readFileSync(record, 'utf8'), `/run/systemd/notify --ready --pid=${d.proc.pid}\n`, 'ready, naming the main pid, exactly once');
  t.match(d.output(), /"msg":"smtp submission listening"[\s\S]*"to":"running"/, 'after the listeners were bound');
  d.proc.kill('SIGTERM');
  t.equal(await d.exited, 0);
});

t.test('config/mta.service: notify, a config check before start, a start limit, the sandbox', async (t) => {
  const text = readFileSync(join(process.cwd(), 'config', 'mta.service'), 'utf8');
  const sections = new Map<string, Map<string, string[]>>();
  let cur = new Map<string, string[]>();
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (!line || line.startsWith('#')) continue;
    const h = /^\[(\w+)\]$/.exec(line);
    if (h) { cur = new Map(); sections.set(h[1]!, cur); continue; }
    const [k, ...v] = line.split('=');
    cur.set(k!, [...(cur.get(k!) ?? []), v.join('=')]);
  }
  const unit = sections.get('Unit')!;
  const service = sections.get('Service')!;
  t.same(unit.get('StartLimitIntervalSec'), ['120']);
  t.same(unit.get('StartLimitBurst'), ['5']);
  t.same(service.get('ExecStartPre'), ['/usr/local/bin/mta config check'], 'a bad config stops before start');
  const want: Record<string, string> = {
    Type: 'notify', NotifyAccess: 'all', StateDirectory: 'mta', StateDirectoryMode: '0700', UMask: '0077',
    SystemCallFilter: '@system-service', ProtectProc: 'invisible', ProcSubset: 'pid', PrivateMounts: 'yes', RemoveIPC: 'yes',
    NoNewPrivileges: 'yes', ProtectSystem: 'strict', ProtectHome: 'yes', PrivateTmp: 'yes', Restart: 'on-failure',
  };
  for (const [k, v] of Object.entries(want)) t.same(service.get(k), [v], `${k}=${v}`);
});
