// `npm start` with no config file: the development defaults answer EHLO on
// 127.0.0.1:2587; SIGHUP reloads; SIGTERM exits cleanly.
import t from 'tap';
import { existsSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { RawSmtp } from './helpers/smtp-client.js';
import { spawnDaemon } from './helpers/child.js';
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
