// Durability: every message that got a 250 survives kill -9 of the daemon.
import t from 'tap';
import { writeFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { RawSmtp, message } from './helpers/smtp-client.js';
import { tempDir, PASSWORD } from './helpers/daemon.js';
import { spawnDaemon } from './helpers/child.js';
import { SqliteStore } from '../src/spool/sqlite-store.js';
import { Domains } from '../src/accounts/domains.js';
import { Senders } from '../src/accounts/senders.js';
import { parseQueueId } from '../src/util/ids.js';

const dir = tempDir('mta-kill-');
const dataDir = join(dir, 'data');
const configPath = join(dir, 'mta.toml');
writeFileSync(configPath, `hostname = "mta.test"\ndata_dir = "${dataDir}"\n[[smtp.listen]]\naddress = "127.0.0.1:0"\ntls = "none"\n[smtp]\nallow_insecure_auth = true\nmax_connections_per_ip = 100\n[domains]\nrequire_verified = false\n[delivery]\nenabled = false\n[dns]\nservers = ["127.0.0.1:1"]\n[admin]\nlisten = "127.0.0.1:0"\n`);
t.teardown(() => rmSync(dir, { recursive: true, force: true }));

t.before(async () => {
  const store = SqliteStore.open(dataDir);
  await new Domains(store).add('example.com', { algorithm: 'ed25519' });
  await new Senders(store).add({ address: 'app@example.com', type: 'trigger', password: PASSWORD });
  await store.close();
});

async function client(port: number, acked: string[], stop: { now: boolean }, n: number): Promise<void> {
  let c: RawSmtp;
  try {
    c = await RawSmtp.connect(port);
    await c.greet(); await c.ehlo();
    if ((await c.authPlain('app@example.com', PASSWORD)).code !== 235) return;
  } catch { return; }
  for (let i = 0; !stop.now; i++) {
    try {
      await c.cmd('MAIL FROM:<app@example.com>');
      await c.cmd(`RCPT TO:<c${n}-${i}@dest.test>`);
      const r = await c.data(message('app@example.com', `c${n}-${i}@dest.test`, `m${i}`, 'body line\r\n'.repeat(20)) + '.\r\n');
      if (r.code === 250) acked.push(r.text.split(' ').pop()!);
    } catch { return; }
  }
}

for (let round = 1; round <= 3; round++) {
  t.test(`kill -9 round ${round}`, async (t) => {
    const child = await spawnDaemon(configPath);
    const acked: string[] = [];
    const stop = { now: false };
    const clients = [0, 1, 2, 3, 4].map((n) => client(child.port, acked, stop, round * 10 + n));
    // Kill at a random moment once traffic is flowing (not at a fixed time: a slow
    // machine must not turn this into a test of nothing).
    for (let waited = 0; acked.length < 5 && waited < 30_000; waited += 20) await new Promise((r) => setTimeout(r, 20));
    await new Promise((r) => setTimeout(r, Math.floor(Math.random() * 500)));
    child.proc.kill('SIGKILL');
    await child.exited;
    stop.now = true;
    await Promise.all(clients);
    t.ok(acked.length > 0, `${acked.length} messages acknowledged before the kill`);
    // Restart on the same data dir, then check what the daemon sees.
    const again = await spawnDaemon(configPath);
    const store = SqliteStore.open(dataDir);
    let missing = 0;
    for (const id of acked) {
      const m = await store.getMessage(parseQueueId(id)!);
      if (!m || m.recipients.length !== 1) missing++;
    }
    await store.close();
    t.equal(missing, 0, `every acknowledged message (${acked.length}) is in the spool after kill -9 and restart`);
    again.proc.kill('SIGTERM');
    t.equal(await again.exited, 0, 'clean exit on SIGTERM');
  });
}
