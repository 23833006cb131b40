/**
 * util/accept-trace — TEMPORARY instrumentation for issue 23 (where the p99 accept latency's
 * tail comes from). Off unless $MTA_ACCEPT_TRACE names a file; then every message's accept
 * path is time-stamped (epoch ms, sub-ms, comparable across threads) and written there at
 * exit with the main thread's GC pauses and the writer thread's operations.
 */
import { performance, PerformanceObserver } from 'node:perf_hooks';
import { writeFileSync } from 'node:fs';

export const traceNow = (): number => performance.timeOrigin + performance.now();

interface WriterOp { op: string; size: number; posted: number; start: number; end: number; replied: number }

class AcceptTrace {
  readonly msgs = new Map<string, Record<string, number>>();
  readonly ops: WriterOp[] = [];
  readonly gc: [number, number][] = [];
  readonly stalls: [number, number][] = [];
  readonly commits: { name: string; size: number; start: number; end: number }[] = [];

  constructor(file: string) {
    const obs = new PerformanceObserver((l) => {
      for (const e of l.getEntries()) this.gc.push([performance.timeOrigin + e.startTime, e.duration]);
    });
    obs.observe({ entryTypes: ['gc'] });
    // Loop stalls as a timeline: a 5 ms timer that ran more than 5 ms late, [when it should have run, how late].
    let due = traceNow() + 5;
    const tick = (): void => { const n = traceNow(); if (n - due > 5) this.stalls.push([due, n - due]); due = n + 5; setTimeout(tick, 5).unref(); };
    setTimeout(tick, 5).unref();
    process.on('exit', () => {
      try { writeFileSync(`${file}.${process.pid}`, JSON.stringify({ argv: process.argv.slice(1), msgs: [...this.msgs].map(([id, m]) => ({ id, ...m })), ops: this.ops, gc: this.gc, stalls: this.stalls, commits: this.commits })); } catch { /* best effort */ }
    });
  }

  mark(id: string, name: string, t = traceNow()): void {
    let m = this.msgs.get(id);
    if (!m) { m = {}; this.msgs.set(id, m); }
    if (m[name] === undefined) m[name] = t;
  }
}

const file = process.env['MTA_ACCEPT_TRACE'];
export const acceptTrace: AcceptTrace | undefined = file ? new AcceptTrace(file) : undefined;
