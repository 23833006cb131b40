/**
 * helpers/fault-scenarios — the process-death scenarios, shared by the quick tests
 * (test/hardening/kill.test.ts, sigterm.test.ts) and the soak run (test/hardening/soak.ts),
 * which differ only in the number of rounds.
 *
 * Each round starts the daemon on the same data dir, puts mixed load on it (several
 * submitting clients; deliveries to the ok.test sink; webhook POSTs to the receiver), and
 * ends it at a random moment once traffic flows. A last clean run drains everything; the
 * audit (fault-world.ts) then says what was acknowledged, delivered, duplicated and lost.
 */
import { audit, finalOutput, settled, sleep, spoolCounts, startLoad, stopChild, until, type Acked, type AuditRow, type FaultWorld } from './fault-world.js';

export interface RoundLog { round: number; acked: number; refused: number; ms: number; exitCode?: number | null; exitMs?: number; cut?: boolean }

export interface ScenarioResult { row: AuditRow & { lostList: string[]; missingList: string[] }; rounds: RoundLog[] }

/** Waits for the spool to settle and every acknowledged recipient to reach a sink. */
async function drain(w: FaultWorld, acked: readonly Acked[], timeoutMs: number): Promise<void> {
  const d = await w.start();
  try {
    await until('the spool and the webhook outbox to settle, and every acknowledged recipient to arrive', async () =>
      settled(await spoolCounts(w)) && (await audit(w, acked, 0)).lost === 0, timeoutMs, 200).catch(() => undefined);
    // A last look for stray duplicate POSTs or deliveries before counting.
    await sleep(300);
  } finally {
    await stopChild(d);
  }
}

/** kill -9 at a random moment (0..maxDelayMs after the first acknowledgements), `rounds` times. */
export async function killRounds(w: FaultWorld, rounds: number, o: { clients?: number; maxDelayMs?: number; drainMs?: number } = {}): Promise<ScenarioResult> {
  const acked: Acked[] = [];
  const log: RoundLog[] = [];
  for (let round = 1; round <= rounds; round++) {
    const started = Date.now();
    const d = await w.start();
    const load = startLoad(d.port, { prefix: `k${round}`, clients: o.clients ?? 4 });
    // A random moment once traffic flows (never a fixed time: a slow machine must not
    // turn this into a test of nothing).
    await until('the first acknowledgements', async () => load.acked.length >= 3, 30_000, 10);
    await sleep(Math.floor(Math.random() * (o.maxDelayMs ?? 800)));
    d.proc.kill('SIGKILL');
    await d.exited;
    await load.stop();
    acked.push(...load.acked);
    log.push({ round, acked: load.acked.reduce((n, a) => n + a.rcpts.length, 0), refused: load.refused, ms: Date.now() - started });
  }
  await drain(w, acked, o.drainMs ?? 120_000);
  return { row: await audit(w, acked, rounds), rounds: log };
}

/**
 * SIGTERM under load; `slowEvery`-th message the sink holds past shutdown_timeout, so the
 * deadline path (cut, hand back) is taken too. Records how long each exit took.
 */
export async function sigtermRounds(w: FaultWorld, rounds: number, o: { clients?: number; maxDelayMs?: number; drainMs?: number; slow: { on: boolean; held: number } }): Promise<ScenarioResult> {
  const acked: Acked[] = [];
  const log: RoundLog[] = [];
  for (let round = 1; round <= rounds; round++) {
    const started = Date.now();
    o.slow.on = true;
    o.slow.held = 0;
    const d = await w.start();
    const load = startLoad(d.port, { prefix: `t${round}`, clients: o.clients ?? 4 });
    await until('the first acknowledgements and a delivery held by the sink', async () => load.acked.length >= 3 && o.slow.held > 0, 30_000, 10);
    await sleep(Math.floor(Math.random() * (o.maxDelayMs ?? 800)));
    const before = d.output().length;
    const t0 = Date.now();
    d.proc.kill('SIGTERM');
    const exitCode = await d.exited;
    const exitMs = Date.now() - t0;
    o.slow.on = false;
    await load.stop();
    acked.push(...load.acked);
    log.push({
      round, acked: load.acked.reduce((n, a) => n + a.rcpts.length, 0), refused: load.refused, ms: Date.now() - started,
      exitCode, exitMs, cut: /shutdown deadline passed/.test((await finalOutput(d)).slice(before)),
    });
  }
  await drain(w, acked, o.drainMs ?? 120_000);
  return { row: await audit(w, acked, rounds), rounds: log };
}
