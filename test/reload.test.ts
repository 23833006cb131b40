// SIGHUP applies every setting that can be applied: new DNS servers are used by delivery
// at once (and the old servers' answers are forgotten); a restart-only setting is logged
// by name and shown by `mta status` until the restart.
import t from 'tap';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startWorld, allFinal, sinkAdder } from './helpers/delivery.js';
import { startDnsServer } from './helpers/dns-server.js';
import { apiClient } from './helpers/api.js';
import { tempDir } from './helpers/daemon.js';
import { spawnDaemon } from './helpers/child.js';
import { runMta } from './helpers/run.js';

t.test('changed [dns] servers: the next message is resolved through the new ones', async (t) => {
  const w = await startWorld();
  t.teardown(() => w.stop());
  // moved.test is known only to the new resolver; the old one says NXDOMAIN.
  const fresh = await startDnsServer({});
  t.teardown(() => fresh.close());
  const sink = await sinkAdder(fresh, w.port, w.sinks)('moved.test', 7);

  const before = await w.submit('early@moved.test');
  const early = await w.waitFor('the old resolver\'s answer', async () => { const m = await w.message(before); return allFinal(m) && m; });
  t.match(early.recipients[0]!.lastReply, /^524 /, 'through the old servers: host not found');

  const file = w.daemon.configPath;
  writeFileSync(file, readFileSync(file, 'utf8').replace(`servers = ["${w.dns.server}"]`, `servers = ["${fresh.server}"]`));
  t.equal(w.daemon.daemon.reload(), undefined, 'reload accepted');
  t.same(w.daemon.daemon.pendingRestart, [], 'dns.servers needs no restart');

  const after = await w.submit('later@moved.test');
  const m = await w.waitFor('delivery through the new resolver', async () => { const m = await w.message(after); return allFinal(m) && m; });
  t.equal(m.recipients[0]!.state, 'delivered', `delivered (${m.recipients[0]!.lastReply ?? ''})`);
  t.same(sink.messages.map((x) => x.to), [['later@moved.test']]);
  t.ok(fresh.queries.some((q) => q.name === 'moved.test' && q.type === 'MX'), 'the new server was asked');

  const status = await apiClient(w.daemon)('GET', '/api/v1/status');
  t.same(status.json.pending_restart, []);
});

t.test('a restart-only setting: logged by name, listed by mta status, nothing else held back', async (t) => {
  const dir = tempDir('mta-reload-');
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const cfg = join(dir, 'mta.toml');
  const toml = (listen: string, maxRcpt: number): string => `hostname = "mta.test"\ndata_dir = "${join(dir, 'data')}"\n[[smtp.listen]]\naddress = "${listen}"\ntls = "none"\n`
    + `[smtp]\nallow_insecure_auth = true\nmax_recipients = ${maxRcpt}\n[delivery]\nenabled = false\n[dns]\nservers = ["127.0.0.1:1"]\n[admin]\nlisten = "127.0.0.1:0"\n`;
  writeFileSync(cfg, toml('127.0.0.1:0', 30));
  const d = await spawnDaemon(cfg);
  t.teardown(() => { d.proc.kill('SIGKILL'); });
  writeFileSync(cfg, toml('127.0.0.1:1', 50));
  d.proc.kill('SIGHUP');
  const by = Date.now() + 15_000;
  while (!/"msg":"configuration reloaded"/.test(d.output()) && Date.now() < by) await new Promise((r) => setTimeout(r, 50));
  t.match(d.output(), /"setting":"smtp\.listen","msg":"smtp\.listen needs a restart"/);
  t.match(d.output(), /"pending_restart":\["smtp\.listen"\],"msg":"configuration reloaded"/);
  const status = await runMta(['status', '--config', cfg]);
  t.equal(status.code, 0, status.err);
  t.match(status.out, /restart needed\s+smtp\.listen changed in the file; they take effect at the next restart/);
  const json = JSON.parse((await runMta(['status', '--json', '--config', cfg])).out);
  t.same(json.pending_restart, ['smtp.listen']);
  d.proc.kill('SIGTERM');
  t.equal(await d.exited, 0);
});
