/**
 * bench/heap-probe — where the daemon's memory goes, from inside it. Loaded by bench/probe.ts
 * when $MTA_BENCH_HEAP names a directory; it changes nothing in the daemon.
 *
 * - Every 250 ms it samples the process (VmRSS, the main isolate's heap spaces, external and
 *   ArrayBuffer memory) and keeps the sample taken at the highest RSS, written to
 *   `memory.json` in that directory. What is not the main isolate's is the other isolates,
 *   malloc (SQLite's page caches, OpenSSL, libuv) and the code.
 * - On SIGUSR2 it writes a heap snapshot of every isolate: `main-N.heapsnapshot` and one
 *   `thread-T-N.heapsnapshot` per worker thread (spool writer, DKIM signing), which
 *   `node dist/bench/heap-summary.js FILE` summarises by constructor and retainer. Worker
 *   threads are found through process's 'worker' event, so no thread needs code of its own.
 */
import { writeHeapSnapshot, getHeapSpaceStatistics } from 'node:v8';
import { createWriteStream, readFileSync, writeFileSync, renameSync, mkdirSync } from 'node:fs';
import { pipeline } from 'node:stream/promises';
import { join } from 'node:path';
import type { Worker } from 'node:worker_threads';

export interface MemorySample {
  at: string;
  rssMb: number;
  /** the main isolate: committed heap, by space, MB */
  mainSpacesMb: Record<string, number>;
  mainHeapTotalMb: number;
  mainHeapUsedMb: number;
  /** Buffers and other memory V8 objects hold outside the heap (all isolates' ArrayBuffers are counted by their owner) */
  externalMb: number;
  arrayBuffersMb: number;
  threads: number;
}

export interface MemoryReport { peak: MemorySample | undefined; last: MemorySample | undefined; snapshots: string[] }

const mb = (n: number): number => Math.round((n / 1048576) * 10) / 10;

function rssBytes(): number {
  const m = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync('/proc/self/status', 'utf8'));
  return m ? Number(m[1]) * 1024 : process.memoryUsage.rss();
}

function sample(workers: number): MemorySample {
  const u = process.memoryUsage();
  const spaces: Record<string, number> = {};
  for (const s of getHeapSpaceStatistics()) spaces[s.space_name] = mb(s.space_size);
  return {
    at: new Date().toISOString(), rssMb: mb(rssBytes()), mainSpacesMb: spaces, mainHeapTotalMb: mb(u.heapTotal),
    mainHeapUsedMb: mb(u.heapUsed), externalMb: mb(u.external), arrayBuffersMb: mb(u.arrayBuffers), threads: workers,
  };
}

const dir = process.env['MTA_BENCH_HEAP'];
if (dir) {
  mkdirSync(dir, { recursive: true });
  const workers = new Set<Worker>();
  process.on('worker', (w: Worker) => {
    workers.add(w);
    w.once('exit', () => workers.delete(w));
  });
  const report: MemoryReport = { peak: undefined, last: undefined, snapshots: [] };
  const write = (): void => {
    try {
      writeFileSync(join(dir, 'memory.json.tmp'), JSON.stringify(report, null, 1));
      renameSync(join(dir, 'memory.json.tmp'), join(dir, 'memory.json'));
    } catch { /* the bench reads what it finds */ }
  };
  setInterval(() => {
    const s = sample(workers.size);
    report.last = s;
    if (!report.peak || s.rssMb > report.peak.rssMb) report.peak = s;
    write();
  }, 250).unref();
  let n = 0;
  process.on('SIGUSR2', () => {
    const k = ++n;
    report.snapshots.push(writeHeapSnapshot(join(dir, `main-${k}.heapsnapshot`)));
    write();
    for (const w of workers) {
      const file = join(dir, `thread-${w.threadId}-${k}.heapsnapshot`);
      void w.getHeapSnapshot()
        .then((stream) => pipeline(stream, createWriteStream(file)))
        .then(() => { report.snapshots.push(file); write(); }, () => undefined);
    }
  });
  process.on('exit', write);
}
