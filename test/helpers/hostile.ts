/**
 * Shared pieces of the hardening tests (test/hardening/): SMTP sessions from any loopback
 * address, a known-good transaction to prove the daemon still serves, reading back what
 * the spool really stored, and a child daemon on a written config with a seeded sender.
 */
import { randomBytes, scryptSync } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { RawSmtp, message, type Reply } from './smtp-client.js';
import { PASSWORD, tempDir } from './daemon.js';
import { spawnDaemon, type ChildDaemon } from './child.js';
import { readAdminToken } from '../../src/admin/token.js';
import type { Store } from '../../src/spool/types.js';
import { Domains } from '../../src/accounts/domains.js';
import { Senders } from '../../src/accounts/senders.js';
import type { QueueId } from '../../src/util/ids.js';
import { openTestStore } from './store.js';

export const SENDER = 'app@example.com';

/** Connected, greeted and EHLO'd (from `localAddress` when given, e.g. 127.0.3.7). */
export async function session(port: number, localAddress?: string): Promise<RawSmtp> {
  const c = await RawSmtp.connect(port, localAddress ? { localAddress } : {});
  const g = await c.greet();
  if (g.code !== 220) { c.socket.destroy(); throw new Error(`greeting: ${g.text}`); }
  await c.ehlo();
  return c;
}

export async function authedSession(port: number, user = SENDER, pass = PASSWORD): Promise<RawSmtp> {
  const c = await session(port);
  const r = await c.authPlain(user, pass);
  if (r.code !== 235) { c.socket.destroy(); throw new Error(`auth failed: ${r.text}`); }
  return c;
}

/** One ordinary transaction on a fresh connection: the proof that the daemon still serves. */
export async function goodTransaction(port: number, rcpt = 'canary@dest.test'): Promise<Reply> {
  const c = await authedSession(port);
  try {
    const m = await c.cmd(`MAIL FROM:<${SENDER}>`);
    if (m.code !== 250) return m;
    const r = await c.cmd(`RCPT TO:<${rcpt}>`);
    if (r.code !== 250) return r;
    return await c.data(message(SENDER, rcpt) + '.\r\n');
  } finally {
    await c.quit();
  }
}

/**
 * Makes `address`'s password cheap to check (scrypt N=1024 instead of 16384; the hash
 * carries its parameters), so property tests that log in hundreds of times measure the
 * listener, not the KDF. Never used where the cost itself is under test.
 */
export async function cheapenPassword(store: Store, address = SENDER, password = PASSWORD): Promise<void> {
  const salt = randomBytes(16);
  const key = scryptSync(password, salt, 32, { N: 1024, r: 8, p: 1 });
  const hash = `scrypt$1024$8$1$${salt.toString('base64')}$${key.toString('base64')}`;
  if (!await store.setSenderPassword(address, hash)) throw new Error(`no sender ${address}`);
}

/** Every stored message id, oldest first. */
export function storedIds(store: Store): Promise<QueueId[]> {
  return store.auditMessageIds();
}

export async function storedBody(store: Store, id: QueueId): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const ch of store.readBody(id)) parts.push(ch);
  return Buffer.concat(parts);
}

/** The offset of the first CR not followed by LF or LF not preceded by CR; -1 when none. */
export function bareLineBreak(b: Buffer): number {
  for (let i = 0; i < b.length; i++) {
    if (b[i] === 0x0d && b[i + 1] !== 0x0a) return i;
    if (b[i] === 0x0a && b[i - 1] !== 0x0d) return i;
  }
  return -1;
}

/** The queue id at the end of a `250 2.0.0 Ok: queued as <id>` reply, if it is one. */
export function queuedId(r: Reply | undefined): string | undefined {
  return r && /^250 2\.0\.0 Ok: queued as [0-9A-Z]{18}$/.test(r.text) ? r.text.slice(-18) : undefined;
}

export interface ChildSetup { dir: string; dataDir: string; configPath: string }

/**
 * A config file for `mta start` (loopback, no delivery, unverified domains allowed, admin
 * on any port) plus `extraToml`, with example.com and app@example.com already in the spool.
 * `smtp` and `domains` go into those tables; `listeners` replaces the plain-text listener.
 */
export async function prepareChild(opts: { smtp?: string; domains?: string; extra?: string; listeners?: string; logLevel?: string } = {}): Promise<ChildSetup> {
  const dir = tempDir('mta-hard-');
  const dataDir = join(dir, 'data');
  const configPath = join(dir, 'mta.toml');
  const listeners = opts.listeners ?? '[[smtp.listen]]\naddress = "127.0.0.1:0"\ntls = "none"\n';
  writeFileSync(configPath, `hostname = "mta.test"\ndata_dir = "${dataDir}"\n[log]\nlevel = "${opts.logLevel ?? 'info'}"\n${listeners}`
    + `[smtp]\nallow_insecure_auth = true\n${opts.smtp ?? ''}\n[domains]\nrequire_verified = false\n${opts.domains ?? ''}\n[delivery]\nenabled = false\n`
    + `[dns]\nservers = ["127.0.0.1:1"]\n${opts.extra ?? '[admin]\nlisten = "127.0.0.1:0"\n'}`);
  const store = openTestStore(dataDir);
  await new Domains(store).add('example.com', { algorithm: 'ed25519' });
  await new Senders(store).add({ address: SENDER, type: 'trigger', password: PASSWORD });
  await store.close();
  return { dir, dataDir, configPath };
}

export function startChild(setup: ChildSetup, opts: { fdLimit?: number } = {}): Promise<ChildDaemon> {
  return spawnDaemon(setup.configPath, {}, undefined, opts);
}

/** The admin token a child with no admin.token generated in `<data_dir>/admin.token`. */
export function childAdminToken(setup: ChildSetup): string {
  const token = readAdminToken(setup.dataDir);
  if (!token) throw new Error(`no generated admin token in ${setup.dataDir}`);
  return token;
}

/** The admin API port the child wrote to `<data_dir>/admin.json`. */
export function childAdminPort(setup: ChildSetup): number {
  return (JSON.parse(readFileSync(join(setup.dataDir, 'admin.json'), 'utf8')) as { port: number }).port;
}

/** Resident set size of a process in KiB (Linux /proc). */
export function rssKiB(pid: number): number {
  const m = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) : NaN;
}

/** Resolves once `cond` holds, polling; rejects after `deadlineMs` (a deadline, not a measurement). */
export async function until(cond: () => boolean | Promise<boolean>, deadlineMs: number, what: string): Promise<void> {
  const end = Date.now() + deadlineMs;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`not within ${deadlineMs} ms: ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}
