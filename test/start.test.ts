// `npm start` with no config file: the development defaults answer EHLO on
// 127.0.0.1:2587; SIGHUP reloads; SIGTERM exits cleanly; the README's five-minute tour
// runs as written. One file, so no two daemons want the fixed development ports at once.
import t from 'tap';
import { existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { execFile } from 'node:child_process';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { RawSmtp } from './helpers/smtp-client.js';
import { BIN, cleanEnv, spawnDaemon } from './helpers/child.js';
import { runMta } from './helpers/run.js';
import { tempDir } from './helpers/daemon.js';

t.test('development defaults: EHLO on 127.0.0.1:2587, data in ./data', { skip: existsSync('/etc/mta/mta.toml') ? '/etc/mta/mta.toml exists on this machine' : false }, async (t) => {
  const cwd = tempDir('mta-start-');
  t.teardown(() => rmSync(cwd, { recursive: true, force: true }));
  const env = { MTA_CONFIG: '' };
  delete (process.env as Record<string, string | undefined>)['MTA_CONFIG'];
  const d = await spawnDaemon(undefined, env, cwd);
  t.equal(d.port, 2587);
  t.match(d.output(), /using the development defaults/);
  const c = await RawSmtp.connect(2587);
  t.equal((await c.greet()).code, 220);
  const e = await c.ehlo();
  t.equal(e.code, 250);
  t.ok(e.lines.some((l) => /^AUTH PLAIN LOGIN/i.test(l)), 'AUTH offered (insecure auth allowed in development)');
  await c.quit();
  t.ok(existsSync(join(cwd, 'data', 'spool.sqlite')), 'spool created in ./data');
  d.proc.kill('SIGHUP');
  const reloadBy = Date.now() + 15_000;
  while (!/"msg":"configuration reloaded"/.test(d.output()) && Date.now() < reloadBy) await new Promise((r) => setTimeout(r, 50));
  t.match(d.output(), /"msg":"configuration reloaded"/, 'SIGHUP reloads');
  d.proc.kill('SIGTERM');
  t.equal(await d.exited, 0, 'SIGTERM: clean exit');
});

t.test('a listener that cannot bind stops start-up (and the bound ones) with one clear line', async (t) => {
  const dir = tempDir('mta-bind-');
  const busy = createServer();
  await new Promise<void>((r) => busy.listen(0, '127.0.0.1', () => r()));
  t.teardown(() => { busy.close(); rmSync(dir, { recursive: true, force: true }); });
  const port = (busy.address() as { port: number }).port;
  const cfg = join(dir, 'mta.toml');
  writeFileSync(cfg, `data_dir = "${join(dir, 'data')}"\n[log]\nlevel = "silent"\n[[smtp.listen]]\naddress = "127.0.0.1:0"\ntls = "none"\n[[smtp.listen]]\naddress = "127.0.0.1:${port}"\ntls = "none"\n`);
  const r = await runMta(['start', '--config', cfg]);
  t.equal(r.code, 1);
  t.equal(r.err, `mta: cannot listen on 127.0.0.1:${port}: EADDRINUSE (MTA_ERR_LISTEN)\n`);
});

/** The shell commands of the README's "Five-minute tour" block, continuations joined, comments dropped. */
function tourCommands(): string[] {
  const readme = readFileSync('README.md', 'utf8');
  const section = readme.slice(readme.indexOf('## Five-minute tour'));
  const block = /```sh\n([\s\S]*?)```/.exec(section)![1]!;
  return block.replace(/\\\n\s*/g, ' ').split('\n')
    .map((l) => l.replace(/(^|\s+)#\s.*$/, '').trim()).filter((l) => l !== '');
}

function sh(command: string, cwd: string): Promise<{ code: number; out: string }> {
  return new Promise((resolve) => {
    execFile('/bin/sh', ['-c', command], { cwd, env: cleanEnv({ MTA_CONFIG: '' }), timeout: 60_000 }, (e, stdout, stderr) => {
      resolve({ code: e ? (typeof e.code === 'number' ? e.code : 1) : 0, out: `${stdout}${stderr}` });
    });
  });
}

const tourSkip = existsSync('/etc/mta/mta.toml') ? '/etc/mta/mta.toml exists on this machine'
  : !['/usr/bin/swaks', '/usr/local/bin/swaks'].some(existsSync) ? 'swaks is not installed (apt-get install swaks)' : false;

t.test('the README five-minute tour runs as written: the first message is delivered to the development sink, nothing suppressed', { skip: tourSkip }, async (t) => {
  const cwd = tempDir('mta-tour-');
  t.teardown(() => rmSync(cwd, { recursive: true, force: true }));
  delete (process.env as Record<string, string | undefined>)['MTA_CONFIG'];
  const commands = tourCommands();
  t.ok(commands.length >= 6, 'the tour has its steps');
  const mta = `"${process.execPath}" "${BIN}"`;
  let queueId: string | undefined;
  let daemon: Awaited<ReturnType<typeof spawnDaemon>> | undefined;
  t.teardown(() => { daemon?.proc.kill('SIGKILL'); });
  for (const command of commands) {
    if (command === 'npm ci && npm start &') {
      // npm ci ran already (it built dist/); `npm start` is `mta start` in the working directory.
      daemon = await spawnDaemon(undefined, { MTA_CONFIG: '' }, cwd);
      const first = JSON.parse(daemon.output().split('\n')[0]!) as { msg: string; sink?: string };
      t.match(first.msg, /development defaults.*development sink/, 'the first log line says mail goes to the development sink');
      t.equal(first.sink, join(cwd, 'data', 'sink'));
      continue;
    }
    if (command.includes('<queue id>')) {
      // Poll until the message has reached its final state, then run the step itself.
      const shown = await waitUntil(async () => { const r = await sh(`${mta} queue show ${queueId!}`, cwd); return /delivered/.test(r.out) && r; });
      t.match(shown.out, /250 2\.0\.0 development sink: kept as /, 'the attempt shows the sink\'s reply');
    }
    const run = command.replace(/\bnpx mta\b/g, mta).replace(/<queue id>/g, queueId ?? '<queue id>');
    const r = await sh(run, cwd);
    t.equal(r.code, 0, `${command}: exits 0`);
    if (r.code !== 0) t.comment(r.out);
    if (command.startsWith('swaks')) {
      queueId = /250 2\.0\.0 Ok: queued as (\S+)/.exec(r.out)?.[1];
      t.ok(queueId, 'swaks: the message is queued');
    }
    if (command.startsWith('ls data/sink')) t.match(r.out, /\.eml/, 'the sink kept the message');
  }
  t.ok(daemon, 'the tour starts the daemon');
  t.ok(queueId, 'the tour sends a message');
  const list = await sh(`${mta} queue list --all --json`, cwd);
  t.match(list.out, /"state": ?"delivered"/, 'queue list: delivered');
  const files = readdirSync(join(cwd, 'data', 'sink'));
  t.equal(files.length, 1, 'one message in the sink');
  const kept = readFileSync(join(cwd, 'data', 'sink', files[0]!), 'utf8');
  t.match(kept, /^DKIM-Signature: /m, 'kept as it would have left: signed');
  t.match(kept, /^Subject: hello/m);
  const supp = await sh(`${mta} suppression list`, cwd);
  t.notMatch(supp.out, /example\.(org|com)/, 'nothing suppressed');
  daemon!.proc.kill('SIGTERM');
  t.equal(await daemon!.exited, 0, 'SIGTERM: clean exit');
});

async function waitUntil<T>(fn: () => Promise<T | false>, timeoutMs = 30_000): Promise<T> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v !== false) return v;
    if (Date.now() > until) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 200));
  }
}
