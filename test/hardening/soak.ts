/**
 * soak — the long variants of the process-death tests, run by `npm run soak` (not by
 * `npm test`): kill -9 at random moments under mixed load for MTA_SOAK_ROUNDS rounds
 * (default 20), and SIGTERM under load for half as many, each on its own data dir. Prints
 * the summary table (rounds, acknowledged, delivered, duplicates, lost, final events,
 * webhook events) and exits 1 when anything acknowledged was lost, a recipient does not
 * have exactly one final event, a final event never reached the webhook receiver, or a
 * SIGTERM exit was unclean or late.
 *
 *   npm run soak                      # 20 kill -9 rounds, 10 SIGTERM rounds
 *   MTA_SOAK_ROUNDS=100 npm run soak  # longer
 */
import { startFaultWorld, table, type AuditRow } from '../helpers/fault-world.js';
import { killRounds, sigtermRounds } from '../helpers/fault-scenarios.js';

const ROUNDS = Number(process.env['MTA_SOAK_ROUNDS'] ?? 20);
const SHUTDOWN_MS = 2000;
const MARGIN_MS = 6000;

async function main(): Promise<number> {
  const rows: (AuditRow & { name: string })[] = [];
  const problems: string[] = [];
  const started = Date.now();

  const kw = await startFaultWorld({ sink: { dataDelayMs: 20 } });
  try {
    process.stdout.write(`kill -9: ${ROUNDS} rounds ...\n`);
    const k = await killRounds(kw, ROUNDS, { clients: 6, maxDelayMs: 1500, drainMs: 300_000 });
    for (const r of k.rounds) process.stdout.write(`  round ${r.round}: ${r.acked} acknowledged, ${r.ms} ms\n`);
    rows.push({ name: 'kill -9', ...k.row });
    if (k.row.lost) problems.push(`kill -9: lost ${k.row.lostList.slice(0, 10).join(', ')}`);
  } finally { await kw.close(); }

  const slow = { on: false, held: 0 };
  let n = 0;
  const tw = await startFaultWorld({ delivery: [`shutdown_timeout = "${SHUTDOWN_MS / 1000}s"`, 'socket_timeout = "30s"'], sink: { dataDelayMs: () => (slow.on && n++ % 3 === 0 ? (slow.held++, 10_000) : 20) } });
  try {
    const rounds = Math.max(1, Math.ceil(ROUNDS / 2));
    process.stdout.write(`SIGTERM: ${rounds} rounds ...\n`);
    const s = await sigtermRounds(tw, rounds, { clients: 6, maxDelayMs: 1500, drainMs: 300_000, slow });
    for (const r of s.rounds) {
      process.stdout.write(`  round ${r.round}: ${r.acked} acknowledged, exit ${r.exitCode} after ${r.exitMs} ms${r.cut ? ', deliveries cut at the deadline' : ''}\n`);
      if (r.exitCode !== 0 || r.exitMs! >= SHUTDOWN_MS + MARGIN_MS) problems.push(`SIGTERM round ${r.round}: exit ${r.exitCode} after ${r.exitMs} ms`);
    }
    rows.push({ name: 'SIGTERM', ...s.row });
    if (s.row.lost) problems.push(`SIGTERM: lost ${s.row.lostList.slice(0, 10).join(', ')}`);
  } finally { await tw.close(); }

  for (const r of rows) {
    if (r.badFinal) problems.push(`${r.name}: ${r.badFinal} recipients without exactly one final event`);
    if (r.webhookMissing) problems.push(`${r.name}: ${r.webhookMissing} final events never reached the webhook receiver`);
  }
  process.stdout.write(`\n${table(rows)}\n\n`);
  process.stdout.write(problems.length ? `FAIL\n${problems.join('\n')}\n` : `ok: nothing lost (${Math.round((Date.now() - started) / 1000)} s)\n`);
  return problems.length ? 1 : 0;
}

main().then((code) => { process.exitCode = code; }, (e: unknown) => { process.stderr.write(`soak: ${(e as Error).stack ?? String(e)}\n`); process.exitCode = 1; });
