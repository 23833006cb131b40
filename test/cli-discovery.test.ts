// A CLI command given no configuration uses the running daemon's (found through its
// record in $XDG_RUNTIME_DIR/mta), from any directory; with no daemon it says loudly that
// it uses the development defaults, and a read-only command creates no data dir.
import t from 'tap';
import { existsSync, mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir } from './helpers/daemon.js';
import { spawnDaemon } from './helpers/child.js';
import { runMta } from './helpers/run.js';

t.test('from another directory, without --config, the CLI reads the running daemon\'s spool', { skip: existsSync('/etc/mta/mta.toml') ? '/etc/mta/mta.toml exists on this machine' : false }, async (t) => {
  const dir = tempDir('mta-discover-');
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const home = join(dir, 'srv'), elsewhere = join(dir, 'elsewhere'), runtime = join(dir, 'run');
  for (const d of [home, elsewhere, runtime]) mkdirSync(d);
  // A relative data_dir: it means the daemon's directory, not the one the CLI is typed in.
  writeFileSync(join(home, 'mta.toml'), `hostname = "mta.test"\ndata_dir = "./spool"\n[[smtp.listen]]\naddress = "127.0.0.1:0"\ntls = "none"\n[smtp]\nallow_insecure_auth = true\n`
    + '[delivery]\nenabled = false\n[dns]\nservers = ["127.0.0.1:1"]\n[admin]\nlisten = "127.0.0.1:0"\n');
  const env = { XDG_RUNTIME_DIR: runtime, MTA_CONFIG: '' };
  const d = await spawnDaemon('mta.toml', env, home);
  t.teardown(() => { d.proc.kill('SIGKILL'); });
  t.equal((await runMta(['domain', 'add', 'example.com', '--dkim', 'ed25519', '--config', 'mta.toml'], undefined, env, home)).code, 0);

  const list = await runMta(['domain', 'list', '--json'], undefined, env, elsewhere);
  t.equal(list.code, 0, list.err);
  t.match(JSON.parse(list.out), [{ domain: 'example.com' }], "the daemon's domains, not an empty ./data");
  t.match(list.err, `mta: no configuration file given: using the running daemon's (pid ${d.proc.pid}): ${join(home, 'mta.toml')}`);
  const status = await runMta(['status', '--json'], undefined, env, elsewhere);
  t.equal(JSON.parse(status.out).pid, d.proc.pid, 'status reaches the same daemon');
  t.same(readdirSync(elsewhere), [], 'nothing created where the CLI was typed');

  d.proc.kill('SIGTERM');
  t.equal(await d.exited, 0);
  t.same(readdirSync(join(runtime, 'mta', 'daemons')), [], 'a stopped daemon removes its record');

  const alone = await runMta(['queue', 'list'], undefined, env, elsewhere);
  t.equal(alone.code, 1);
  t.match(alone.err, `mta: no configuration file (--config, $MTA_CONFIG or /etc/mta/mta.toml) and no running daemon found: using the development defaults, data in ${join(elsewhere, 'data')}\n`);
  t.match(alone.err, `mta: data_dir ${join(elsewhere, 'data')} does not exist, so there is nothing to show: pass --config FILE`);
  t.same(readdirSync(elsewhere), [], 'a read-only command created no data dir');
});
