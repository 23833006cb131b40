/**
 * bench/probe — preloaded into the daemon under test (`node --import .../probe.js bin/mta
 * start`). It subscribes to the spool's `mta:spool:commit` diagnostics channel and writes a
 * summary of the intake commits (batch sizes, time in the write + fsync) to the file named
 * by $MTA_BENCH_PROBE, a few times a second and at exit. It changes nothing in the daemon
 * and costs one function call per commit.
 */
import { subscribe } from 'node:diagnostics_channel';
import { writeFileSync, renameSync } from 'node:fs';

export interface ProbeReport {
  commits: number;
  messages: number;
  maxBatch: number;
  /** batch size → number of commits of that size */
  sizes: Record<string, number>;
  commitMs: number;
  maxCommitMs: number;
}

const out = process.env['MTA_BENCH_PROBE'];
if (out) {
  const r: ProbeReport = { commits: 0, messages: 0, maxBatch: 0, sizes: {}, commitMs: 0, maxCommitMs: 0 };
  let dirty = true;
  subscribe('mta:spool:commit', (m) => {
    const { size, ms } = m as { size: number; ms: number };
    r.commits++;
    r.messages += size;
    r.maxBatch = Math.max(r.maxBatch, size);
    r.sizes[size] = (r.sizes[size] ?? 0) + 1;
    r.commitMs += ms;
    r.maxCommitMs = Math.max(r.maxCommitMs, ms);
    dirty = true;
  });
  const write = (): void => {
    if (!dirty) return;
    dirty = false;
    try {
      writeFileSync(`${out}.tmp`, JSON.stringify(r));
      renameSync(`${out}.tmp`, out);
    } catch { /* the bench reads what it finds */ }
  };
  setInterval(write, 250).unref();
  process.on('exit', write);
}
