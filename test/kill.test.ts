// Durability: every message that got a 250 survives kill -9 of the daemon.
import t from 'tap';
import { writeFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { startLoad, until } from './helpers/fault-world.js';
import { tempDir, PASSWORD } from './helpers/daemon.js';
import { spawnDaemon } from './helpers/child.js';
import { openTestStore } from './helpers/store.js';
import { Domains } from '../src/accounts/domains.js';
import { Senders } from '../src/accounts/senders.js';
import { parseQueueId } from '../src/util/ids.js';

const dir = tempDir('mta-kill-');
const dataDir = join(dir, 'data');
const configPath = join(dir, 'mta.toml');
writeFileSync(configPath, `hostname = "mta.test"\ndata_dir = "${dataDir}"\n[[smtp.listen]]\naddress = "127.0.0.1:0"\ntls = "none"\n[smtp]\nallow_insecure_auth = true\nmax_connections_per_ip = 100\n[domains]\nrequire_verified = false\n[delivery]\nenabled = false\n[dns]\nservers = ["127.0.0.1:1"]\n[admin]\nlisten = "127.0.0.1:0"\n`);
t.teardown(() => rmSync(dir, { recursive: true, force: true }));

t.before(async () => {
  const store = openTestStore(dataDir);
  await new Domains(store).add('example.com', { algorithm: 'ed25519' });
  await new Senders(store).add({ address: 'app@example.com', type: 'trigger', password: PASSWORD });
  await store.close();
});

for (let round = 1; round <= 3; round++) {
  t.test(`kill -9 round ${round}`, async (t) => {
    const child = await spawnDaemon(configPath);
    // Five clients, one recipient per message (test/helpers/fault-world.ts).
    const load = startLoad(child.port, { prefix: `r${round}`, clients: 5, maxRcpts: 1, domain: 'dest.test' });
    const acked = load.acked;
    // Kill at a random moment once traffic is flowing (not at a fixed time: a slow
    // machine must not turn this into a test of nothing).
    await until('the first acknowledgements', () => acked.length >= 5, 30_000, 20);
    await new Promise((r) => setTimeout(r, Math.floor(Math.random() * 500)));
    child.proc.kill('SIGKILL');
    await child.exited;
    await load.stop();
    t.ok(acked.length > 0, `${acked.length} messages acknowledged before the kill`);
    // Restart on the same data dir, then check what the daemon sees.
    const again = await spawnDaemon(configPath);
    const store = openTestStore(dataDir);
    let missing = 0;
    for (const { queueId } of acked) {
      const m = await store.getMessage(parseQueueId(queueId)!);
      if (!m || m.recipients.length !== 1) missing++;
    }
    await store.close();
    t.equal(missing, 0, `every acknowledged message (${acked.length}) is in the spool after kill -9 and restart`);
    again.proc.kill('SIGTERM');
    t.equal(await again.exited, 0, 'clean exit on SIGTERM');
  });
}
