/**
 * cli/context — what a command needs: the config it was pointed at and the store.
 * The CLI opens the same SQLite file as the daemon (WAL allows both); operations that
 * must reach the running daemon at once go through the admin API (later stages).
 */
import type { Command } from 'commander';
import { statSync } from 'node:fs';
import { DEV_SOURCE, loadConfig, type Config } from '../config/config.js';
import { openStoreAsync, type Store } from '../spool/index.js';
import { MtaError } from '../util/errors.js';
import { callAdmin, type AdminReply } from './admin-client.js';

export interface CliContext { config: Config; store: Store }

export function configPathOf(cmd: Command): string | undefined {
  // --config may sit on the root command or the subcommand: take the nearest.
  for (let c: Command | null = cmd; c; c = c.parent) {
    const v = c.opts()['config'] as string | undefined;
    if (v) return v;
  }
  return undefined;
}

/** Commands that only read (by their last word): they must not create a data dir as a side effect. */
const READ_ONLY = new Set(['list', 'show', 'summary', 'export', 'log', 'stats', 'dns', 'doctor', 'render']);

function assertDataDirExists(cmd: Command, config: Config): void {
  if (!READ_ONLY.has(cmd.name())) return;
  try {
    statSync(config.dataDir);
  } catch (e) {
    // Other failures (a parent that is a file, no permission) are named by the store.
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') return;
    const hint = config.source === DEV_SOURCE ? 'pass --config FILE, the configuration the daemon runs with' : `no daemon has run with ${config.source} yet`;
    throw new MtaError('MTA_ERR_DATA_DIR', `data_dir ${config.dataDir} does not exist, so there is nothing to show: ${hint}`);
  }
}

export async function withContext<T>(cmd: Command, fn: (ctx: CliContext) => Promise<T>): Promise<T> {
  const config = loadConfig({ path: configPathOf(cmd) });
  assertDataDirExists(cmd, config);
  const store = await openStoreAsync(config);
  try {
    return await fn({ config, store });
  } finally {
    await store.close();
  }
}

/**
 * The running daemon's answer to an admin API call, or, when no daemon answers, the same
 * answer computed on the spool by `offline` (a change is then said on stderr: the daemon
 * acts on it when it starts). For commands whose effect the daemon must see at once.
 */
export async function daemonOrSpool(cmd: Command, method: 'GET' | 'POST' | 'PUT' | 'DELETE', path: string, body: unknown, offline: (ctx: CliContext) => Promise<unknown>): Promise<AdminReply> {
  const config = loadConfig({ path: configPathOf(cmd) });
  const reply = await callAdmin(config, method, path, body);
  if (reply) return reply;
  const store = await openStoreAsync(config);
  try {
    const r = (await offline({ config, store })) as AdminReply;
    if (method !== 'GET') process.stderr.write('mta: daemon not running; changed the spool directly (the daemon acts on it when it starts)\n');
    return r;
  } finally {
    await store.close();
  }
}
