/**
 * bench/cpuprofile — reads a V8 .cpuprofile (node --cpu-prof) and summarises where the
 * time went: the top functions by self time, and self time grouped by where the code
 * lives (our src/ folders, each npm package, node internals, GC, idle).
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

export interface CallFrame { functionName: string; url: string; lineNumber: number; columnNumber: number }
export interface ProfileNode { id: number; callFrame: CallFrame; hitCount?: number; children?: number[] }
export interface CpuProfile { nodes: ProfileNode[]; startTime: number; endTime: number; samples: number[]; timeDeltas: number[] }

export interface ProfileSummary {
  totalMs: number;
  idleMs: number;
  top: { name: string; where: string; selfMs: number; share: number }[];
  groups: { group: string; selfMs: number; share: number }[];
}

export function groupOf(url: string, name: string): string {
  if (name === '(idle)') return '(idle)';
  if (name === '(garbage collector)') return '(garbage collector)';
  if (name === '(program)') return '(program: native, outside JS)';
  if (!url) return '(native / builtins)';
  const nm = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (nm) return nm[1]!;
  const src = /\/dist\/src\/([^/]+)\//.exec(url);
  if (src) return `src/${src[1]}`;
  if (url.startsWith('node:')) return 'node internals';
  return url.replace(/^file:\/\//, '');
}

/**
 * The profiles one process wrote (node --cpu-prof names them CPU.<date>.<time>.<pid>.<thread>.<seq>.cpuprofile):
 * the main thread's first, then its worker threads' (the spool writer, DKIM signing).
 */
export function profileFilesOf(dir: string, pid?: number): string[] {
  const all = readdirSync(dir).filter((f) => f.endsWith('.cpuprofile'));
  const pidOf = (f: string): number => Number(f.split('.')[3]);
  const newest = pid ?? Math.max(...all.map(pidOf));
  const thread = (f: string): number => Number(f.split('.')[4]);
  return all.filter((f) => pidOf(f) === newest).sort((a, b) => thread(a) - thread(b)).map((f) => join(dir, f));
}

export function readProfile(file: string): CpuProfile {
  return JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
}

export function summariseProfile(file: string, top = 20): ProfileSummary {
  const p = readProfile(file);
  const byId = new Map<number, ProfileNode>();
  for (const n of p.nodes) byId.set(n.id, n);
  // Self time from the samples and their time deltas (more exact than hitCount × interval).
  const selfUs = new Map<number, number>();
  for (let i = 0; i < p.samples.length; i++) {
    const id = p.samples[i]!;
    const dt = p.timeDeltas[i + 1] ?? 0;
    selfUs.set(id, (selfUs.get(id) ?? 0) + dt);
  }
  const fn = new Map<string, { name: string; where: string; us: number }>();
  const groups = new Map<string, number>();
  let total = 0;
  let idle = 0;
  for (const [id, us] of selfUs) {
    const n = byId.get(id);
    if (!n) continue;
    const cf = n.callFrame;
    const name = cf.functionName || '(anonymous)';
    total += us;
    if (name === '(idle)') { idle += us; continue; }
    const short = cf.url.replace(/^file:\/\/.*?\/(node_modules|dist)\//, '$1/');
    const where = cf.url ? `${short}:${cf.lineNumber + 1}` : '';
    const key = `${name}@${where}`;
    const f = fn.get(key) ?? { name, where, us: 0 };
    f.us += us;
    fn.set(key, f);
    const g = groupOf(cf.url, name);
    groups.set(g, (groups.get(g) ?? 0) + us);
  }
  const busy = Math.max(total - idle, 1);
  return {
    totalMs: total / 1000,
    idleMs: idle / 1000,
    top: [...fn.values()].sort((a, b) => b.us - a.us).slice(0, top)
      .map((f) => ({ name: f.name, where: f.where, selfMs: f.us / 1000, share: f.us / busy })),
    groups: [...groups.entries()].sort((a, b) => b[1] - a[1]).slice(0, 25)
      .map(([group, us]) => ({ group, selfMs: us / 1000, share: us / busy })),
  };
}

export function formatProfile(s: ProfileSummary): string {
  const pct = (x: number): string => `${(x * 100).toFixed(1)}%`.padStart(6);
  const lines = [
    `profile: ${(s.totalMs / 1000).toFixed(1)} s sampled, ${(s.idleMs / 1000).toFixed(1)} s idle; shares are of the busy time`,
    '',
    'self time by place:',
    ...s.groups.map((g) => `  ${pct(g.share)}  ${(g.selfMs / 1000).toFixed(2).padStart(7)} s  ${g.group}`),
    '',
    'top functions by self time:',
    ...s.top.map((f) => `  ${pct(f.share)}  ${(f.selfMs / 1000).toFixed(2).padStart(7)} s  ${f.name}  ${f.where}`),
  ];
  return lines.join('\n');
}
