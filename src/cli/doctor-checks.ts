/**
 * cli/doctor-checks — the parts of `mta doctor` that read the configuration and the spool
 * rather than the network: how exposed the server is (plaintext listeners, AUTH in clear
 * text, an admin API without a token, the development sink) and whether mail is stuck in
 * the queue. Each answer is a checklist item with the fix.
 *
 * Must never: call something fine that a new operator would regret in production; a
 * loopback-only risk is a warning, the same risk on a public address is a failure.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { Config } from '../config/config.js';
import { loopbackHost as isLoopback } from '../config/checks.js';
import type { MessageStore, QueueEntry } from '../spool/types-queue.js';

export type Verdict = 'ok' | 'fail' | 'warn' | 'skip';
export interface DoctorItem { check: string; verdict: Verdict; detail: string; fix?: string }

const HOUR = 3_600_000;
/** The token file the daemon makes at its first start when admin.token is empty. */
const ADMIN_TOKEN_FILE = 'admin.token';

function ago(ms: number): string {
  return ms >= 48 * HOUR ? `${Math.floor(ms / (24 * HOUR))} days` : ms >= HOUR ? `${Math.floor(ms / HOUR)} hours` : `${Math.floor(ms / 60_000)} minutes`;
}

/** Plaintext listeners, AUTH in clear text, the admin listener and token, the development sink. */
export function postureItems(config: Config): DoctorItem[] {
  const items: DoctorItem[] = [];
  const plain = config.smtp.listen.filter((l) => l.tls === 'none');
  const exposed = plain.filter((l) => !isLoopback(l.host));
  for (const l of plain) {
    const open = !isLoopback(l.host);
    items.push({
      check: `plaintext listener ${l.text}`, verdict: open ? 'fail' : 'warn',
      detail: open ? 'tls = "none" on an address other machines reach: passwords and mail cross the network unencrypted'
        : 'tls = "none" (loopback only: acceptable for development)',
      fix: 'use tls = "starttls" (587) or "implicit" (465) with smtp.tls.cert and smtp.tls.key',
    });
  }
  if (config.smtp.allowInsecureAuth) {
    const where = exposed.length ? `, and ${exposed.map((l) => l.text).join(', ')} is plaintext on the network` : '';
    items.push({
      check: 'insecure AUTH', verdict: exposed.length ? 'fail' : 'warn',
      detail: `smtp.allow_insecure_auth = true: passwords are accepted without TLS${where}`,
      fix: 'set smtp.allow_insecure_auth = false and give the listeners TLS',
    });
  }
  if (!isLoopback(config.admin.host) && !config.admin.tls) {
    items.push({
      check: `admin listener ${config.admin.host}:${config.admin.port}`, verdict: 'fail',
      detail: 'plain HTTP on an address other machines reach: the admin token, console passwords and session cookies cross the network unencrypted',
      fix: `listen = "127.0.0.1:${config.admin.port}" in [admin], and reach it through ssh -L ${config.admin.port}:127.0.0.1:${config.admin.port} HOST; or set admin.tls_cert and admin.tls_key`,
    });
  }
  const tokenFile = join(config.dataDir, ADMIN_TOKEN_FILE);
  if (config.admin.token !== '') items.push({ check: 'admin token', verdict: 'ok', detail: 'admin.token is set' });
  else if (existsSync(tokenFile)) items.push({ check: 'admin token', verdict: 'ok', detail: `generated, in ${tokenFile}` });
  else {
    const open = !isLoopback(config.admin.host);
    items.push({
      check: 'admin token', verdict: open ? 'fail' : 'warn',
      detail: `admin.token is empty: whoever reaches ${config.admin.host}:${config.admin.port} controls the server${open ? ' (not a loopback address)' : ''}`,
      fix: 'set admin.token (or admin.token_file) to a long random secret: openssl rand -hex 32',
    });
  }
  if (config.delivery.sink) {
    items.push({
      check: 'delivery', verdict: 'warn', detail: `development sink: nothing is sent, messages are kept in ${config.delivery.sink}`,
      fix: 'remove [delivery] sink (write a configuration file) to deliver for real',
    });
  }
  return items;
}

/** Deferred mail older than an hour is worth a look; older than a day, something is wrong. */
export async function queueItem(store: Pick<MessageStore, 'listQueue'>, now: number): Promise<DoctorItem> {
  const deferred = await store.listQueue({ states: ['deferred'], limit: 10_000 });
  const old = deferred.filter((r) => now - r.receivedAt >= HOUR);
  if (old.length === 0) return { check: 'queue', verdict: 'ok', detail: deferred.length ? `${deferred.length} deferred, none older than an hour` : 'no deferred mail' };
  const oldest = old.reduce((a, b) => (b.receivedAt < a.receivedAt ? b : a));
  const byDomain = new Map<string, QueueEntry[]>();
  for (const r of old) byDomain.set(r.domain, [...(byDomain.get(r.domain) ?? []), r]);
  const top = [...byDomain.entries()].sort((a, b) => b[1].length - a[1].length).slice(0, 3).map(([d, rs]) => `${d} ${rs.length}`).join(', ');
  return {
    check: 'queue', verdict: now - oldest.receivedAt >= 24 * HOUR ? 'fail' : 'warn',
    detail: `${old.length} recipient${old.length > 1 ? 's' : ''} deferred for over an hour (oldest ${ago(now - oldest.receivedAt)}, ${oldest.queueId}; ${top}); last reply: ${oldest.lastReply ?? 'none'}`,
    fix: `read the replies (mta queue show ${oldest.queueId}), fix the cause, then mta queue flush`,
  };
}
