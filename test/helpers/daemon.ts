/**
 * Starts the real daemon in this process on ephemeral loopback ports with a temp data
 * dir, and seeds a domain and a sender through the same services the CLI uses.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Daemon } from '../../src/daemon/daemon.js';
import { compileConfig } from '../../src/config/config.js';
import { createLogger, type Logger } from '../../src/util/log.js';
import { Domains } from '../../src/accounts/domains.js';
import { Senders } from '../../src/accounts/senders.js';
import type { SenderType } from '../../src/spool/types-senders.js';

export const PASSWORD = 'correct horse battery';

export interface TestDaemon {
  daemon: Daemon;
  port: number;
  ports: number[];
  dir: string;
  configPath: string;
  addSender(address: string, type?: SenderType, password?: string): Promise<void>;
  stop(): Promise<void>;
}

export function tempDir(prefix = 'mta-test-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

/** `seed: false`: no domain nor sender added (a second node on a shared PostgreSQL store finds them there). */
export async function startDaemon(extraToml = '', opts: { listeners?: string; domains?: string[]; logger?: Logger; now?: () => number; seed?: boolean } = {}): Promise<TestDaemon> {
  const dir = tempDir();
  const listeners = opts.listeners ?? '[[smtp.listen]]\naddress = "127.0.0.1:0"\ntls = "none"\n';
  const toml = `hostname = "mta.test"\ndata_dir = "${join(dir, 'data')}"\n[log]\nlevel = "silent"\n${listeners}\n${extraToml}`;
  const full = /\[smtp\]/.test(toml) ? toml : `${toml}\n[smtp]\nallow_insecure_auth = true\n`;
  let withDomains = /\[domains\]/.test(full) ? full : `${full}\n[domains]\nrequire_verified = false\n`;
  // Tests never reach the Internet: without an explicit [delivery] nothing is delivered,
  // and without an explicit [dns] the resolver is a closed loopback port.
  if (!/^\[delivery\]/m.test(withDomains)) withDomains += '\n[delivery]\nenabled = false\n';
  if (!/^\[dns\]/m.test(withDomains)) withDomains += '\n[dns]\nservers = ["127.0.0.1:1"]\n';
  // Tests tag mail freely: unknown tags are created unless a test sets [tags] itself.
  if (!/^\[tags\]/m.test(withDomains)) withDomains += '\n[tags]\nauto_create = true\n';
  // Several daemons run at once (and test files in parallel): the admin API takes any free port.
  if (!/^\[admin\]/m.test(withDomains)) withDomains += '\n[admin]\nlisten = "127.0.0.1:0"\n';
  // The public endpoint starts only with a base_url; when a test sets one, any free port too.
  if (!/^\[public\]/m.test(withDomains)) withDomains += '\n[public]\nlisten = "127.0.0.1:0"\n';
  const configPath = join(dir, 'mta.toml');
  writeFileSync(configPath, withDomains);
  const config = compileConfig(withDomains, configPath);
  const daemon = new Daemon({ configPath, config, logger: opts.logger ?? createLogger('silent'), ...(opts.now ? { now: opts.now } : {}) });
  await daemon.start();
  const domains = new Domains(daemon.store);
  for (const d of opts.seed === false ? [] : opts.domains ?? ['example.com']) await domains.add(d, { algorithm: 'ed25519' });
  const senders = new Senders(daemon.store);
  const t: TestDaemon = {
    daemon, dir, configPath, port: daemon.submission.ports[0]!, ports: daemon.submission.ports,
    addSender: async (address, type = 'trigger', password = PASSWORD) => { await senders.add({ address, type, password }); },
    stop: async () => { await daemon.stop(); rmSync(dir, { recursive: true, force: true }); },
  };
  if (opts.seed !== false) await t.addSender('app@example.com');
  return t;
}
