/**
 * config/runtime — running daemons say where they are. `mta start` writes
 * `$XDG_RUNTIME_DIR/mta/daemons/<pid>.json` (or `~/.mta/daemons/` without
 * XDG_RUNTIME_DIR) naming its configuration file, working directory and data_dir, and
 * removes it when it stops. A CLI command given no configuration (no --config, no
 * $MTA_CONFIG, no /etc/mta/mta.toml) uses the configuration of the one daemon running,
 * instead of quietly opening an empty ./data of whatever directory it was typed in.
 *
 * A record counts only while its pid lives and still holds the data_dir
 * (`<data_dir>/daemon.pid`, spool/data-dir-lock.ts), so a kill -9 leaves nothing that
 * misleads. Must never: hold secrets (the file names paths only) or be trusted for more
 * than finding the configuration.
 */
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';

/** Written by the data_dir lock's holder (spool/data-dir-lock.ts): the pid that holds it. */
export const PID_FILE = 'daemon.pid';

export interface DaemonRecord {
  pid: number;
  /** the configuration file, or null for the development defaults */
  config: string | null;
  /** the daemon's working directory: relative paths in its configuration start there */
  cwd: string;
  data_dir: string;
  started_at: string;
}

export function runtimeDir(env: NodeJS.ProcessEnv = process.env): string {
  const xdg = env['XDG_RUNTIME_DIR'];
  return join(xdg ? join(xdg, 'mta') : join(homedir(), '.mta'), 'daemons');
}

/** kill(pid, 0): EPERM means alive too (another user's process). */
export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function holds(r: DaemonRecord): boolean {
  try {
    return Number(readFileSync(join(r.data_dir, PID_FILE), 'utf8').trim()) === r.pid;
  } catch {
    // A data dir we may not read (another user's daemon): the live pid has to do.
    return true;
  }
}

function readRecords(dir: string): DaemonRecord[] {
  let names: string[];
  try {
    names = readdirSync(dir).filter((n) => /^\d+\.json$/.test(n));
  } catch {
    return [];
  }
  const out: DaemonRecord[] = [];
  for (const n of names) {
    try {
      const r = JSON.parse(readFileSync(join(dir, n), 'utf8')) as DaemonRecord;
      if (typeof r.pid === 'number' && typeof r.data_dir === 'string' && typeof r.cwd === 'string') out.push(r);
    } catch { /* being written, or not ours: skip */ }
  }
  return out;
}

/** The daemons running now, by their records. */
export function runningDaemons(): DaemonRecord[] {
  return readRecords(runtimeDir()).filter((r) => pidAlive(r.pid) && holds(r));
}

/** Writes this process's record; records of daemons that died without removing theirs go. Best effort. */
export function recordDaemon(r: Omit<DaemonRecord, 'pid' | 'started_at'>): string | undefined {
  const dir = runtimeDir();
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    for (const old of readRecords(dir)) if (!pidAlive(old.pid)) rmSync(join(dir, `${old.pid}.json`), { force: true });
    const file = join(dir, `${process.pid}.json`);
    const rec: DaemonRecord = { pid: process.pid, ...r, started_at: new Date().toISOString() };
    writeFileSync(file, `${JSON.stringify(rec)}\n`, { mode: 0o600 });
    return file;
  } catch {
    return undefined;
  }
}

export function removeRecord(file: string | undefined): void {
  if (file) rmSync(file, { force: true });
}
