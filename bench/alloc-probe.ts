/**
 * bench/alloc-probe — what the daemon's main thread allocates, from inside it. Loaded by
 * bench/probe.ts when $MTA_BENCH_ALLOC names a file; it changes nothing in the daemon.
 *
 * V8's sampling heap profiler, told to keep the samples of objects the GC has already
 * collected (`--heap-prof` keeps only what is still alive at the end): every allocation has
 * a chance to be sampled in proportion to its size, so the profile says where the bytes
 * that keep the scavenger busy come from. Sampling starts at the first spool commit
 * (start-up left out) and the profile is written as the daemon exits, in Chrome's
 * `.heapprofile` format; `node dist/bench/alloc-summary.js FILE` prints the top sites.
 *
 * With $MTA_BENCH_ALLOC_PROMOTED=1 the samples of objects a scavenge collected are dropped:
 * what is left is what lived long enough to be promoted to the old generation (or is still
 * alive), the bytes that bring on the major GCs and their concurrent marking.
 */
import { Session } from 'node:inspector';
import { subscribe } from 'node:diagnostics_channel';
import { writeFileSync } from 'node:fs';

const out = process.env['MTA_BENCH_ALLOC'];
if (out) {
  const session = new Session();
  session.connect();
  let started = false;
  subscribe('mta:spool:commit', () => {
    if (started) return;
    started = true;
    session.post('HeapProfiler.startSampling', { samplingInterval: 32 * 1024, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: process.env['MTA_BENCH_ALLOC_PROMOTED'] !== '1' });
  });
  // The inspector answers this synchronously in the main thread, so it still works at exit.
  process.on('exit', () => {
    if (!started) return;
    session.post('HeapProfiler.stopSampling', (err, r) => {
      if (!err) writeFileSync(out, JSON.stringify((r as { profile: unknown }).profile));
    });
  });
}
