/**
 * bench/mta — our daemon under test, as a child process exactly as an operator runs it
 * (`bin/mta start --config FILE`), with a bench configuration in a temp dir. The sending
 * domain (DKIM RSA-2048) and the SMTP sender are created through the CLI beforehand.
 * The process is started with bench/probe.js preloaded (intake commit batch sizes) and,
 * when asked, with --cpu-prof.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, openSync, closeSync, readFileSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join, dirname } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { ProbeReport } from './probe.js';
import { stopChild } from './util.js';

const HERE = dirname(fileURLToPath(import.meta.url));
/** The repository root: dist/bench/ → ../.. */
export const ROOT = join(HERE, '..', '..');
export const BIN = join(ROOT, 'bin', 'mta');

export const SENDER = 'app@bench.test';
export const PASSWORD = 'bench password, long enough';
/** The admin API always wants a token; the bench sets its own so old and new daemons take the same file. */
const BENCH_ADMIN_TOKEN = 'bench-admin-token-0123456789';

export interface MtaSetup {
  dir: string;
  smtpPort: number;
  adminPort: number;
  sinkPort: number;
  dnsServer: string;
  /** the address the submission listener binds (default 127.0.0.1; cluster nodes take 127.0.0.2–4) */
  host?: string;
  /** extra lines for [delivery] */
  delivery?: string;
  maxRecipients?: number;
  /** appended to the file as is (experiments: `--mta-toml '[spool]\ncommit_window = "2ms"'`) */
  extraToml?: string;
}

export interface DkimRecord { selector: string; publicKey: string }

export function writeConfig(s: MtaSetup): string {
  const toml = `# written by bench/mta.ts
hostname = "mta.bench.test"
data_dir = "${join(s.dir, 'data')}"

[log]
level = "info"

[[smtp.listen]]
address = "${s.host ?? '127.0.0.1'}:${s.smtpPort}"
tls = "none"

[smtp]
allow_insecure_auth = true
max_connections_per_ip = 200
max_recipients = ${s.maxRecipients ?? 100}

[delivery]
port = ${s.sinkPort}
${s.delivery ?? ''}

[dns]
servers = ["${s.dnsServer}"]

[domains]
require_verified = false
dkim_algorithm = "rsa"

[admin]
listen = "127.0.0.1:${s.adminPort}"
token = "${BENCH_ADMIN_TOKEN}"
${s.extraToml ?? ''}
`;
  const path = join(s.dir, 'mta.toml');
  writeFileSync(path, toml);
  return path;
}

export function cli(configPath: string, args: string[], input?: string): string {
  const r = spawnSync(process.execPath, [BIN, ...args, '--config', configPath], { input, encoding: 'utf8', cwd: ROOT });
  if (r.status !== 0) throw new Error(`mta ${args.join(' ')} failed (${r.status}): ${r.stderr}${r.stdout}`);
  return r.stdout;
}

/** `mta domain add bench.test --dkim rsa` and `mta sender add app@bench.test`, through the CLI. */
export function createSenderThroughCli(configPath: string): DkimRecord {
  const out = JSON.parse(cli(configPath, ['domain', 'add', 'bench.test', '--dkim', 'rsa', '--json'])) as { dkim_selector: string; dkim_public_key: string; dkim_algorithm: string };
  if (out.dkim_algorithm !== 'rsa') throw new Error(`expected an RSA key, got ${out.dkim_algorithm}`);
  cli(configPath, ['sender', 'add', SENDER, '--type', 'trigger', '--password-stdin'], `${PASSWORD}\n`);
  return { selector: out.dkim_selector, publicKey: out.dkim_public_key };
}

export interface RunningMta {
  proc: ChildProcess;
  pid: number;
  logFile: string;
  /** VmHWM of the daemon process, bytes */
  peakRss(): number;
  /** VmRSS now, bytes */
  rss(): number;
  /** forget the peak so far (writes 5 to /proc/PID/clear_refs) */
  resetPeak(): void;
  probe(): ProbeReport | undefined;
  summary(): Promise<{ counts: Record<string, number>; waiting: number }>;
  stop(): Promise<void>;
}

export function procStatusBytes(pid: number, field: 'VmHWM' | 'VmRSS'): number {
  try {
    const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : 0;
  } catch { return 0; }
}

export function waitPort(port: number, timeoutMs: number, alive: () => boolean = () => true, host = '127.0.0.1'): Promise<void> {
  const until = Date.now() + timeoutMs;
  return new Promise((resolve, reject) => {
    const attempt = (): void => {
      if (!alive()) return reject(new Error(`process exited before listening on ${port}`));
      const s = connect({ host, port });
      s.once('connect', () => { s.destroy(); resolve(); });
      s.once('error', () => {
        s.destroy();
        if (Date.now() > until) reject(new Error(`nothing listening on ${host}:${port} after ${timeoutMs} ms`));
        else setTimeout(attempt, 50);
      });
    };
    attempt();
  });
}

/**
 * The memory settings of the systemd unit (config/mta.service: NODE_OPTIONS, MALLOC_ARENA_MAX),
 * so the daemon's RSS is measured as it runs in production. $MTA_BENCH_NODE_OPTIONS, when
 * set (even empty), replaces the unit's NODE_OPTIONS: `MTA_BENCH_NODE_OPTIONS= npm run bench`
 * measures V8's own defaults.
 */
export function unitMemoryEnv(unit = readFileSync(join(ROOT, 'config', 'mta.service'), 'utf8')): Record<string, string> {
  const out: Record<string, string> = {};
  for (const m of unit.matchAll(/^Environment="?(NODE_OPTIONS|MALLOC_ARENA_MAX)=([^"\n]*)"?$/gm)) out[m[1]!] = m[2]!;
  const override = process.env['MTA_BENCH_NODE_OPTIONS'];
  if (override !== undefined) out['NODE_OPTIONS'] = override;
  return out;
}

export async function startMta(s: MtaSetup, configPath: string, opts: { cpuProfDir?: string } = {}): Promise<RunningMta> {
  const logFile = join(s.dir, 'mta.log');
  const probeFile = join(s.dir, 'probe.json');
  const fd = openSync(logFile, 'a');
  const nodeArgs = ['--import', pathToFileURL(join(HERE, 'probe.js')).href];
  if (opts.cpuProfDir) { mkdirSync(opts.cpuProfDir, { recursive: true }); nodeArgs.push('--cpu-prof', `--cpu-prof-dir=${opts.cpuProfDir}`); }
  const env: NodeJS.ProcessEnv = { ...process.env, MTA_BENCH_PROBE: probeFile };
  delete env['NODE_OPTIONS'];
  Object.assign(env, unitMemoryEnv());
  const proc = spawn(process.execPath, [...nodeArgs, BIN, 'start', '--config', configPath], { stdio: ['ignore', fd, fd], env, cwd: ROOT });
  closeSync(fd);
  // Its output goes to a file, so nothing ends it when the bench dies: the bench's exit does (Ctrl-C included, see run.ts).
  const orphan = (): void => { proc.kill('SIGKILL'); };
  process.once('exit', orphan);
  proc.once('exit', () => process.removeListener('exit', orphan));
  try {
    await waitPort(s.smtpPort, 30_000, () => proc.exitCode === null && proc.signalCode === null, s.host);
    await waitPort(s.adminPort, 10_000, () => proc.exitCode === null);
  } catch (e) {
    proc.kill('SIGKILL');
    throw new Error(`${(e as Error).message}\n${readFileSync(logFile, 'utf8').split('\n').slice(-20).join('\n')}`);
  }
  const pid = proc.pid!;
  return {
    proc, pid, logFile,
    peakRss: () => procStatusBytes(pid, 'VmHWM'),
    rss: () => procStatusBytes(pid, 'VmRSS'),
    resetPeak: () => { try { writeFileSync(`/proc/${pid}/clear_refs`, '5'); } catch { /* needs Linux ≥ 4.0 and our own process */ } },
    probe: () => {
      try { return JSON.parse(readFileSync(probeFile, 'utf8')) as ProbeReport; } catch { return undefined; }
    },
    summary: async () => {
      // The admin API moved under /api/v1; older daemons answer at /v1.
      for (const path of ['/api/v1/queue/summary', '/v1/queue/summary']) {
        const res = await fetch(`http://127.0.0.1:${s.adminPort}${path}`, { headers: { authorization: `Bearer ${BENCH_ADMIN_TOKEN}` } });
        if (res.status === 404) continue;
        const body = await res.json() as { counts?: Record<string, number>; waiting?: number };
        if (!res.ok || !body.counts || typeof body.waiting !== 'number') throw new Error(`queue summary: ${res.status} ${JSON.stringify(body)}`);
        return { counts: body.counts, waiting: body.waiting };
      }
      throw new Error('queue summary: the admin API has no queue summary');
    },
    stop: stopChild(proc, 30_000),
  };
}
