/**
 * config/restart — the settings a running daemon takes once, at start: listeners are
 * bound, the data dir locked, threads started, the spool opened with its commit settings.
 * A SIGHUP reload applies everything else; for these it names each changed one
 * (`smtp.listen needs a restart`) and `mta status` lists them until the restart.
 *
 * Must never: decide how a setting is applied (each stage's reload does), only whether a
 * running daemon can apply it at all.
 */
import type { Config } from './config.js';

/** Key (as written in the TOML file) → the part of the compiled config it sets. */
const RESTART_ONLY: readonly { key: string; of: (c: Config) => unknown }[] = [
  { key: 'data_dir', of: (c) => c.dataDir },
  { key: 'smtp.listen', of: (c) => c.smtp.listen.map((l) => [l.text, l.tls]) },
  // The gate is put in front of the listeners when they are made (proxy_trusted reloads).
  { key: 'smtp.proxy_protocol', of: (c) => c.smtp.proxyProtocol },
  { key: 'admin.listen', of: (c) => [c.admin.host, c.admin.port] },
  // HTTPS on or off; a renewed certificate at the same paths is read again by a reload.
  { key: 'admin.tls_cert', of: (c) => c.admin.tls !== undefined },
  { key: 'public.listen', of: (c) => [c.public.host, c.public.port] },
  // The unsubscribe server starts only with a base_url; a changed URL itself applies at once.
  { key: 'public.base_url', of: (c) => c.public.baseUrl !== undefined },
  { key: 'inbound.listen', of: (c) => c.inbound.listen },
  { key: 'delivery.enabled', of: (c) => c.delivery.enabled },
  { key: 'delivery.sink', of: (c) => c.delivery.sink },
  { key: 'timezone', of: (c) => c.timeZone },
  { key: 'egress.source', of: (c) => c.egress.sources.map((x) => [x.name, x.address, x.node ?? null]) },
  { key: 'node.id', of: (c) => c.node.id },
  { key: 'delivery.dkim_threads', of: (c) => c.delivery.dkimThreads },
  { key: 'spool.writer_thread', of: (c) => c.spool.writerThread },
  { key: 'spool.commit_window', of: (c) => c.spool.commitWindowMs },
  { key: 'spool.max_commit_batch', of: (c) => c.spool.maxCommitBatch },
  { key: 'storage.node_id', of: (c) => c.storage.nodeId ?? null },
  // The store is opened once: another backend, server or pool needs a new one.
  { key: 'storage.backend', of: (c) => c.storage.backend },
  { key: 'storage.postgres_url', of: (c) => c.storage.postgres?.url ?? null },
  { key: 'storage.pool_size', of: (c) => c.storage.postgres?.poolSize ?? null },
  { key: 'storage.postgres_lock_timeout', of: (c) => c.storage.postgres?.lockTimeoutMs ?? null },
];

/** The restart-only settings whose value in `next` differs from the one the daemon started with. */
export function restartNeeded(started: Config, next: Config): string[] {
  return RESTART_ONLY.filter((s) => JSON.stringify(s.of(started)) !== JSON.stringify(s.of(next))).map((s) => s.key);
}
