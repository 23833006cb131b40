/**
 * bench/machine — how busy the machine was with work that is not ours while a run lasted.
 * The benchmark shares two cores with whatever else runs (a test suite, a build); a run
 * disturbed by that is not comparable. Every 500 ms it reads the CPU time of every process
 * and adds up what processes outside ours (the bench, its children, Postfix's tree) used.
 */
import { readdirSync, readFileSync } from 'node:fs';

const TICKS_PER_SECOND = 100; // Linux USER_HZ

interface ProcCpu { ppid: number; ticks: number }

function readProcs(): Map<number, ProcCpu> {
  const out = new Map<number, ProcCpu>();
  for (const d of readdirSync('/proc')) {
    if (d.charCodeAt(0) < 48 || d.charCodeAt(0) > 57) continue;
    try {
      const stat = readFileSync(`/proc/${d}/stat`, 'latin1');
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      // after the name: state ppid ... utime(14th field overall → index 11 here) stime(12)
      out.set(Number(d), { ppid: Number(f[1]), ticks: Number(f[11]) + Number(f[12]) });
    } catch { /* exited meanwhile */ }
  }
  return out;
}

function treeOf(roots: number[], procs: Map<number, ProcCpu>): Set<number> {
  const mine = new Set(roots);
  let grew = true;
  while (grew) {
    grew = false;
    for (const [pid, p] of procs) if (!mine.has(pid) && mine.has(p.ppid)) { mine.add(pid); grew = true; }
  }
  return mine;
}

export interface ForeignLoad { stop(): { foreignCores: number; loadAvg: string } }

/** Starts watching; `roots()` names our own process trees (the bench itself is always one). */
export function watchForeignLoad(roots: () => number[]): ForeignLoad {
  let last = readProcs();
  let foreignTicks = 0;
  const started = Date.now();
  const sample = (): void => {
    const now = readProcs();
    const mine = treeOf([process.pid, ...roots()], now);
    for (const [pid, p] of now) {
      if (mine.has(pid)) continue;
      const before = last.get(pid);
      foreignTicks += before ? Math.max(0, p.ticks - before.ticks) : Math.min(p.ticks, 100); // new since the last look
    }
    last = now;
  };
  const timer = setInterval(sample, 500);
  return {
    stop: () => {
      clearInterval(timer);
      sample();
      const seconds = (Date.now() - started) / 1000;
      return { foreignCores: foreignTicks / TICKS_PER_SECOND / Math.max(seconds, 0.001), loadAvg: readFileSync('/proc/loadavg', 'latin1').split(' ').slice(0, 3).join(' ') };
    },
  };
}

/**
 * Waits (up to `maxMs`) until processes outside the run use less than `threshold` cores
 * over a 3-second look. Returns what it saw last; the caller reports it either way.
 */
export async function waitQuiet(maxMs: number, threshold = 0.15, log: (s: string) => void = () => {}): Promise<number> {
  const until = Date.now() + maxMs;
  let said = false;
  for (;;) {
    const w = watchForeignLoad(() => []);
    await new Promise((r) => setTimeout(r, 3000));
    const { foreignCores } = w.stop();
    if (foreignCores < threshold || Date.now() > until) return foreignCores;
    if (!said) { log(`  waiting for a quieter machine (other processes use ${foreignCores.toFixed(2)} cores) ...`); said = true; }
  }
}

/**
 * The PostgreSQL server listening on `port` (its postmaster; pg_ctl detaches it, so it is no
 * child of ours), found by its command line; undefined when there is none.
 */
export function postmasterPid(port: number): number | undefined {
  for (const d of readdirSync('/proc')) {
    if (d.charCodeAt(0) < 48 || d.charCodeAt(0) > 57) continue;
    try {
      const argv = readFileSync(`/proc/${d}/cmdline`, 'latin1').split('\0');
      const p = argv.indexOf('-p');
      if (argv[0]?.endsWith('/postgres') && p > 0 && argv[p + 1] === String(port)) return Number(d);
    } catch { /* exited meanwhile */ }
  }
  return undefined;
}

/**
 * CPU seconds used so far by a process tree: every live process's own time, plus what its
 * children that exited and were waited for used (a server's closed connections).
 */
export function treeCpuSeconds(root: number): number {
  const procs = readProcs();
  let ticks = 0;
  for (const pid of treeOf([root], procs)) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      ticks += Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14]);
    } catch { /* exited meanwhile */ }
  }
  return ticks / TICKS_PER_SECOND;
}

/**
 * CPU seconds (user + system) of a process with all its threads, or of one thread
 * (`tid`; a process's main thread has tid = pid, which is the event loop for node).
 */
export function cpuSeconds(pid: number, tid?: number): number {
  try {
    const stat = readFileSync(tid === undefined ? `/proc/${pid}/stat` : `/proc/${pid}/task/${tid}/stat`, 'latin1');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(f[11]) + Number(f[12])) / TICKS_PER_SECOND;
  } catch { return 0; }
}
