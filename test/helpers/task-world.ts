/**
 * A delivery world whose daemon is a child process (`mta start`), for the batch task
 * tests that kill it with SIGKILL or that need two cores (the daemon in one process, the
 * sinks in this one). DNS and the sink MX hosts run here; the daemon logs at `warn`, and
 * is ready when its admin.json names a live admin port.
 */
import { readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import type { ChildProcess } from 'node:child_process';
import { tempDir } from './daemon.js';
import { spawnMta } from './child.js';
import { startDnsServer, type TestDnsServer } from './dns-server.js';
import { freePort, type Sink, type SinkOptions } from './sink.js';
import { sinkAdder } from './delivery.js';
import { openTestStore } from './store.js';
import type { Store } from '../../src/spool/index.js';
import { Domains } from '../../src/accounts/domains.js';
import { ADMIN_FILE } from '../../src/admin/address.js';

export interface ChildWorld {
  dir: string;
  dataDir: string;
  dns: TestDnsServer;
  sinks: Sink[];
  /** the store, opened in this process (WAL: the daemon writes, tests read) */
  store: Store;
  addDomain(domain: string, n: number, opts?: SinkOptions): Promise<Sink>;
  /** writes the config and starts the daemon: `delivery` keys (false: delivery off), then `toml` */
  start(opts?: { delivery?: string | false; toml?: string }): Promise<{ proc: ChildProcess; exited: Promise<number | null>; adminPort: number; output: () => string }>;
  close(): Promise<void>;
}

export async function childWorld(): Promise<ChildWorld> {
  const dir = tempDir('mta-tasks-');
  const dataDir = join(dir, 'data');
  const port = await freePort();
  const dns = await startDnsServer({});
  const sinks: Sink[] = [];
  const configPath = join(dir, 'mta.toml');
  const store0 = openTestStore(dataDir);
  await new Domains(store0).add('example.com', { algorithm: 'ed25519' });
  const ed = await store0.getDomain('example.com');
  dns.set(`${ed!.dkimSelector}._domainkey.example.com`, { TXT: [`v=DKIM1; k=ed25519; p=${ed!.dkimPublicKey}`] });
  const procs: ChildProcess[] = [];
  const w: ChildWorld = {
    dir, dataDir, dns, sinks, store: store0,
    addDomain: sinkAdder(dns, port, sinks),
    async start(o = {}) {
      rmSync(join(dataDir, ADMIN_FILE), { force: true });
      const delivery = o.delivery === false ? '[delivery]\nenabled = false\n'
        : `[delivery]\nport = ${port}\nretry_schedule = ["400ms", "800ms"]\nretry_jitter = 0\n${o.delivery ?? ''}\n`;
      const toml = o.toml ?? '';
      writeFileSync(configPath, `hostname = "mta.test"\ndata_dir = "${dataDir}"\n[log]\nlevel = "warn"\n[[smtp.listen]]\naddress = "127.0.0.1:0"\ntls = "none"\n`
        + `[smtp]\nallow_insecure_auth = true\n[domains]\nrequire_verified = false\n[dns]\nservers = ["${dns.server}"]\n[admin]\nlisten = "127.0.0.1:0"\n`
        + `[tags]\nauto_create = true\n${delivery}${toml}\n`);
      const proc = spawnMta(['start', '--config', configPath]);
      procs.push(proc);
      let out = '';
      proc.stdout!.on('data', (d: Buffer) => { if (out.length < 1e6) out += d.toString(); });
      proc.stderr!.on('data', (d: Buffer) => { if (out.length < 1e6) out += d.toString(); });
      const exited = new Promise<number | null>((r) => proc.on('exit', (code) => r(code)));
      let dead = false;
      void exited.then(() => { dead = true; });
      const file = join(dataDir, ADMIN_FILE);
      for (const end = Date.now() + 20_000; ;) {
        if (dead) throw new Error(`daemon exited:\n${out}`);
        if (existsSync(file)) {
          try {
            const a = JSON.parse(readFileSync(file, 'utf8')) as { port: number; pid: number };
            if (a.port > 0) return { proc, exited, adminPort: a.port, output: () => out };
          } catch { /* being written */ }
        }
        if (Date.now() > end) { proc.kill('SIGKILL'); throw new Error(`daemon did not start:\n${out}`); }
        await new Promise((r) => setTimeout(r, 50));
      }
    },
    async close() {
      for (const p of procs) if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
      await store0.close();
      for (const s of sinks) await s.close();
      await dns.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
  return w;
}
