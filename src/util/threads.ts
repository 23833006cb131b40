/**
 * util/threads — options for the daemon's worker threads (spool writer, DKIM signing):
 * their command-line flags and the size of their V8 heaps.
 *
 * A worker inherits the process's command-line flags. Module hooks among them (`--import`,
 * `--loader`, `--require`: a test runner's TypeScript and coverage hooks, an APM agent)
 * are re-run in every thread; under the test runner that took 1.3 s per thread start
 * instead of 0.3 s. Our threads run compiled JavaScript that needs none of them, so they
 * are dropped, and so are V8's flags (below); every other flag (source maps, --cpu-prof
 * for the benchmark) is kept.
 */
const HOOK_FLAGS = ['--import', '--loader', '--experimental-loader', '--require', '-r'];
/**
 * V8's own flags are process-wide, so a worker has them already, and Node refuses a worker
 * whose execArgv names one (ERR_WORKER_INVALID_EXEC_ARGV): `node --max-old-space-size=512
 * bin/mta start` stopped the daemon at its first thread. These are the V8 flags an operator
 * puts on a command line; the threads' heap limits are THREAD_RESOURCE_LIMITS anyway.
 */
const V8_FLAG = /^--(?:max|initial)[-_](?:old|semi|young|heap)[-_a-z]*(?:=|$)|^--(?:expose[-_]gc|stack[-_]size|trace[-_]gc[-_a-z]*|jitless|single[-_]threaded[-_]gc|optimize[-_]for[-_]size)(?:=|$)/;

export function threadExecArgv(argv: readonly string[] = process.execArgv): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (HOOK_FLAGS.includes(a)) { i++; continue; } // "--import X": skip the value too
    if (HOOK_FLAGS.some((f) => a.startsWith(`${f}=`))) continue;
    if (V8_FLAG.test(a)) continue;
    out.push(a);
  }
  return out;
}

/**
 * The heap of each worker thread. Without limits a worker's heap is sized for the machine,
 * as the main thread's is: on a 24 GB host, 16 MB semi-spaces (a young generation of up to
 * 48 MB) and an old generation that V8 lets grow to four times what survived the last full
 * GC. Each thread holds little (a heap snapshot of the writer under load: 6 MB live; the DKIM
 * thread: the messages being signed, whose bytes are outside the heap), yet with those
 * defaults the two threads took about 100 MB of the daemon's RSS (bench/RESULTS.md, Memory).
 *
 * - Young generation 6 MB (2 MB semi-spaces): what V8 itself picks for a heap this size;
 *   a thread's garbage is short-lived (one request), so small semi-spaces only scavenge
 *   more often, each scavenge as cheap as before.
 * - Old generation 512 MB: not a working size but a ceiling far above either thread's
 *   need; below 2 GB V8 grows the heap by less after each full GC (1.4× here against 4×),
 *   which is what keeps a thread's heap near its live size. A thread that still ran out
 *   would fail like a thread that died: the writer stops the daemon, a DKIM thread fails
 *   only its own requests.
 */
export const THREAD_RESOURCE_LIMITS = { maxYoungGenerationSizeMb: 6, maxOldGenerationSizeMb: 512 } as const;
