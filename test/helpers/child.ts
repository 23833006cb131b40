/** Runs `mta start` as a child process (for kill -9 and signal tests). */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const BIN = join(process.cwd(), 'bin', 'mta');

export interface ChildDaemon { proc: ChildProcess; port: number; output: () => string; exited: Promise<number | null> }

export function spawnDaemon(configPath: string | undefined, env: NodeJS.ProcessEnv = {}, cwd?: string, opts: SpawnOptions = {}): Promise<ChildDaemon> {
  const proc = spawnMta(configPath ? ['start', '--config', configPath] : ['start'], env, cwd, opts);
  let out = '';
  // 'close', not 'exit': once it fires the daemon's last log lines have been read too.
  const exited = new Promise<number | null>((resolve) => proc.on('close', (code) => resolve(code)));
  return new Promise((resolve, reject) => {
    // A daemon that never says it listens is not left running behind the failed test.
    const timer = setTimeout(() => { proc.kill('SIGKILL'); reject(new Error(`daemon did not start:\n${out}`)); }, 20_000);
    const onData = (d: Buffer): void => {
      out += d.toString();
      // Ready once start-up has finished (every listener up, admin.json written), not at the first listener.
      const m = /"to":"running"[^\n]*"msg":"daemon state"/.test(out) ? /"port":(\d+)[^\n]*"msg":"smtp submission listening"/.exec(out) : null;
      if (m) { clearTimeout(timer); resolve({ proc, port: Number(m[1]), output: () => out, exited }); }
    };
    proc.stdout!.on('data', (d: Buffer) => { onData(d); });
    proc.stderr!.on('data', (d: Buffer) => { out += d.toString(); });
    void exited.then((code) => { clearTimeout(timer); reject(new Error(`daemon exited with ${code}:\n${out}`)); });
  });
}

/**
 * Runs bin/mta through /bin/sh so the test runner's process hooks (which wrap direct
 * node spawns to inject its loaders) stay out of the real program.
 */
export function spawnMta(args: string[], env: NodeJS.ProcessEnv = {}, cwd?: string, opts: SpawnOptions = {}): ChildProcess {
  // fdLimit: the soft descriptor limit for the child, raised in the shell (never past the hard limit).
  const ulimit = opts.fdLimit ? `ulimit -n ${Math.floor(opts.fdLimit)} 2>/dev/null || ulimit -n "$(ulimit -Hn)"; ` : '';
  const command = opts.exe ? [opts.exe] : [process.execPath, opts.script ?? BIN];
  return spawn('/bin/sh', ['-c', `${ulimit}exec "$0" "$@"`, ...command, ...args], {
    stdio: ['pipe', 'pipe', 'pipe'], env: cleanEnv(env), ...(cwd ? { cwd } : {}), ...(opts.uid !== undefined ? { uid: opts.uid, gid: opts.gid ?? opts.uid } : {}),
  });
}

export interface SpawnOptions {
  fdLimit?: number;
  /** run this script with the same arguments instead of bin/mta (a test-only entry) */
  script?: string;
  /** run this executable (the single-file build) instead of node and a script */
  exe?: string;
  /** run as this user (the test runs as root) */
  uid?: number;
  gid?: number;
}

let runtimeDir: string | undefined;
/**
 * Daemons started by `mta start` record themselves under $XDG_RUNTIME_DIR/mta
 * (src/config/runtime.ts), and a CLI run without a configuration uses a running one: each
 * test file gets its own directory, so parallel test files never find each other's daemons.
 */
function testRuntimeDir(): string {
  if (!runtimeDir) {
    const dir = mkdtempSync(join(tmpdir(), 'mta-run-'));
    process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
    runtimeDir = dir;
  }
  return runtimeDir;
}

/** The test runner's loaders (NODE_OPTIONS) must not leak into the real program. */
export function cleanEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, XDG_RUNTIME_DIR: testRuntimeDir(), ...extra };
  delete env['NODE_OPTIONS'];
  for (const k of Object.keys(env)) if (k.startsWith('TAP') || k.startsWith('_TAPJS')) delete env[k];
  return env;
}
