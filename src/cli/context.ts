/**
 * cli/context — what a command needs: the config it was pointed at and the store.
 * The CLI opens the same SQLite file as the daemon (WAL allows both); operations that
 * must reach the running daemon at once go through the admin API (later stages).
 */
import type { Command } from 'commander';
import { loadConfig, type Config } from '../config/config.js';
import { SqliteStore } from '../spool/sqlite-store.js';

export interface CliContext { config: Config; store: SqliteStore }

export function configPathOf(cmd: Command): string | undefined {
  // --config may sit on the root command or the subcommand: take the nearest.
  for (let c: Command | null = cmd; c; c = c.parent) {
    const v = c.opts()['config'] as string | undefined;
    if (v) return v;
  }
  return undefined;
}

export async function withContext<T>(cmd: Command, fn: (ctx: CliContext) => Promise<T>): Promise<T> {
  const config = loadConfig({ path: configPathOf(cmd) });
  const store = SqliteStore.open(config.dataDir, { timeZone: config.timeZone });
  try {
    return await fn({ config, store });
  } finally {
    await store.close();
  }
}
