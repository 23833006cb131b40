/**
 * util/threads — options for the daemon's worker threads (spool writer, DKIM signing).
 *
 * A worker inherits the process's command-line flags. Module hooks among them (`--import`,
 * `--loader`, `--require`: a test runner's TypeScript and coverage hooks, an APM agent)
 * are re-run in every thread; under the test runner that took 1.3 s per thread start
 * instead of 0.3 s. Our threads run compiled JavaScript that needs none of them, so they
 * are dropped; every other flag (source maps, --cpu-prof for the benchmark) is kept.
 */
const HOOK_FLAGS = ['--import', '--loader', '--experimental-loader', '--require', '-r'];

export function threadExecArgv(argv: readonly string[] = process.execArgv): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (HOOK_FLAGS.includes(a)) { i++; continue; } // "--import X": skip the value too
    if (HOOK_FLAGS.some((f) => a.startsWith(`${f}=`))) continue;
    out.push(a);
  }
  return out;
}
