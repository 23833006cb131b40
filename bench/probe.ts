/**
 * bench/probe — preloaded into the daemon under test (`node --import .../probe.js bin/mta
 * start`). It subscribes to the spool's `mta:spool:commit` diagnostics channel and writes a
 * summary of the intake commits (batch sizes, time in the write + fsync), and beside it of
 * the delivery-outcome commits, to the file named by $MTA_BENCH_PROBE, a few times a second
 * and at exit. It also keeps the event loop's delay histogram (perf_hooks, 10 ms
 * resolution, from the first commit on): a loop that stands still delays every SMTP reply, DKIM reply and dispatch
 * behind it, which is where accept and trigger-latency tails come from. And it keeps the
 * daemon's own accept latency of every message (`mta:smtp:accept`), the server's side of the
 * client's figure: what the client adds is its own loop on the same cores. It changes nothing
 * in the daemon and costs a function call per commit and per accepted message, and one timer.
 */
import { subscribe } from 'node:diagnostics_channel';
import { monitorEventLoopDelay, PerformanceObserver, constants, performance } from 'node:perf_hooks';
import { writeFileSync, renameSync } from 'node:fs';
import { STEADY_AFTER_MS, TIMELINE_MS, TIMELINE_WINDOWS, boundedTimeline, percentile, steadyLatencies } from './smtp-load.js';

export interface ProbeReport {
  commits: number;
  messages: number;
  maxBatch: number;
  /** batch size → number of commits of that size */
  sizes: Record<string, number>;
  commitMs: number;
  maxCommitMs: number;
  /** the delivery queue's commits: outcomes and hand-backs (writes = callers) */
  outcomes: { commits: number; writes: number; maxBatch: number; commitMs: number };
  /** how late the event loop ran its timers, ms, from the first spool commit on (start-up left out) */
  loopDelay?: { p50: number; p99: number; max: number };
  /** the main thread's GC pauses from the first spool commit on: scavenges (minor) and the rest (major, incremental steps) */
  gc: { minor: GcTally; major: GcTally };
  /** the daemon's own accept latency (end of DATA → 250, `mta:smtp:accept`), ms: all, and after the first second */
  accept?: { n: number; p50: number; p99: number; steady?: { n: number; p50: number; p99: number }; timeline?: ReturnType<typeof boundedTimeline> };
}

export interface GcTally { count: number; ms: number; maxMs: number; over5: number }

const out = process.env['MTA_BENCH_PROBE'];
if (out) {
  const tally = (): GcTally => ({ count: 0, ms: 0, maxMs: 0, over5: 0 });
  const r: ProbeReport = { commits: 0, messages: 0, maxBatch: 0, sizes: {}, commitMs: 0, maxCommitMs: 0, outcomes: { commits: 0, writes: 0, maxBatch: 0, commitMs: 0 }, gc: { minor: tally(), major: tally() } };
  let dirty = true;
  const delay = monitorEventLoopDelay({ resolution: 10 });
  delay.enable();
  let first = true;
  subscribe('mta:spool:commit', (m) => {
    const { name, size, ms } = m as { name: string; size: number; ms: number };
    dirty = true;
    // Start-up (loading modules, opening the spool) is not part of the run's delays.
    if (first) { first = false; delay.reset(); r.gc = { minor: tally(), major: tally() }; }
    if (name === 'outcomes') {
      const o = r.outcomes;
      o.commits++; o.writes += size; o.maxBatch = Math.max(o.maxBatch, size); o.commitMs += ms;
      return;
    }
    r.commits++;
    r.messages += size;
    r.maxBatch = Math.max(r.maxBatch, size);
    r.sizes[size] = (r.sizes[size] ?? 0) + 1;
    r.commitMs += ms;
    r.maxCommitMs = Math.max(r.maxCommitMs, ms);
  });
  // when (performance.now()) and how long (ms) each accepted message took, for the daemon's own percentiles
  const acceptedAt: number[] = [];
  const latencies: number[] = [];
  subscribe('mta:smtp:accept', (m) => { acceptedAt.push(performance.now()); latencies.push((m as { ms: number }).ms); dirty = true; });
  const summary = (v: Float64Array): { n: number; p50: number; p99: number } => ({ n: v.length, p50: percentile(v, 50), p99: percentile(v, 99) });
  new PerformanceObserver((list) => {
    for (const e of list.getEntries()) {
      const kind = (e as unknown as { detail?: { kind?: number } }).detail?.kind;
      const t = kind === constants.NODE_PERFORMANCE_GC_MINOR ? r.gc.minor : r.gc.major;
      t.count++; t.ms += e.duration; t.maxMs = Math.max(t.maxMs, e.duration);
      if (e.duration > 5) t.over5++;
    }
    dirty = true;
  }).observe({ entryTypes: ['gc'] });
  /**
   * The running reports (a fallback should the daemon be killed) leave out the accept
   * latency's percentiles: sorting every latency so far four times a second took 1–2 ms of
   * the daemon's event loop each time by the end of a run (bench/RESULTS.md, 2026-12-06 11:15),
   * delaying the very replies being measured. The report at exit, which the bench reads, has them.
   */
  const write = (final: boolean): void => {
    if (!dirty) return;
    dirty = false;
    // nanoseconds; the 10 ms sampling interval itself is not a delay
    const ms = (ns: number): number => Math.max(0, ns / 1e6 - 10);
    r.loopDelay = { p50: ms(delay.percentile(50)), p99: ms(delay.percentile(99)), max: ms(delay.max) };
    if (final && latencies.length > 0) {
      const all = { latencies: Float64Array.from(latencies), acceptedAt: Float64Array.from(acceptedAt) };
      const steady = steadyLatencies(all, STEADY_AFTER_MS);
      r.accept = { ...summary(all.latencies), ...(steady.length > 0 ? { steady: summary(steady) } : {}), timeline: boundedTimeline(all, TIMELINE_MS, TIMELINE_WINDOWS) };
    }
    try {
      writeFileSync(`${out}.tmp`, JSON.stringify(r));
      renameSync(`${out}.tmp`, out);
    } catch { /* the bench reads what it finds */ }
  };
  setInterval(() => write(false), 250).unref();
  process.on('exit', () => { dirty = true; write(true); });
}

// Memory samples and heap snapshots on SIGUSR2 (bench/heap-probe.ts), only when asked for.
if (process.env['MTA_BENCH_HEAP']) await import('./heap-probe.js');
// Allocation sampling (bench/alloc-probe.ts), only when asked for.
if (process.env['MTA_BENCH_ALLOC']) await import('./alloc-probe.js');
