/**
 * soak — the long variants of the process-death tests, run by `npm run soak` (not by
 * `npm test`): kill -9 at random moments under mixed load for MTA_SOAK_ROUNDS rounds
 * (default 20), and SIGTERM under load for half as many, each on its own data dir. Prints
 * the summary table (rounds, acknowledged, delivered, duplicates, lost, final events,
 * webhook events) and exits 1 when anything acknowledged was lost, a recipient does not
 * have exactly one final event, a final event never reached the webhook receiver, or a
 * SIGTERM exit was unclean or late.
 *
 * With `--backend postgres` the daemon stores to a throwaway PostgreSQL cluster
 * (test/helpers/postgres.ts: initdb in a temp dir, loopback port), one database per
 * scenario; the checks read it through the same store ports as on SQLite. The cluster is
 * stopped and removed at the end, also on failure and on Ctrl-C.
 *
 *   npm run soak                                   # 20 kill -9 rounds, 10 SIGTERM rounds
 *   npm run soak -- --rounds 100                   # longer (MTA_SOAK_ROUNDS=100 too)
 *   npm run soak -- --backend postgres --rounds 4  # on PostgreSQL
 *
 * `--scenario cluster-task` runs instead one batch task over three nodes on one throwaway
 * PostgreSQL (test/helpers/cluster-task.ts, issue 19; test/pg-cluster-task.test.ts runs the
 * same in npm test): `--members N` (default 30,000), each member exactly once, every node
 * delivering. Prints the time and the figures; exits 1 on a gap, a duplicate or a node that
 * delivered nothing.
 *
 *   npm run soak -- --scenario cluster-task --members 30000
 */
import { parseArgs } from 'node:util';
import type { ChildProcess } from 'node:child_process';
import { rmSync } from 'node:fs';
import { startFaultWorld, table, type AuditRow, type FaultWorld } from '../helpers/fault-world.js';
import { killRounds, sigtermRounds } from '../helpers/fault-scenarios.js';
import { startPostgres, type PgCluster } from '../helpers/postgres.js';
import { clusterTask } from '../helpers/cluster-task.js';

const { values: args } = parseArgs({
  options: { backend: { type: 'string', default: 'sqlite' }, rounds: { type: 'string' }, scenario: { type: 'string', default: 'faults' }, members: { type: 'string' } },
});
if (args.scenario !== 'faults' && args.scenario !== 'cluster-task') throw new Error(`--scenario takes faults or cluster-task (got "${args.scenario}")`);
const MEMBERS = Number(args.members ?? 30_000);
if (!Number.isInteger(MEMBERS) || MEMBERS < 1) throw new Error(`--members takes a whole number of at least 1 (got "${args.members}")`);
const ROUNDS = Number(args.rounds ?? process.env['MTA_SOAK_ROUNDS'] ?? 20);
if (!Number.isInteger(ROUNDS) || ROUNDS < 1) throw new Error(`--rounds takes a whole number of at least 1 (got "${args.rounds ?? process.env['MTA_SOAK_ROUNDS']}")`);
if (args.backend !== 'sqlite' && args.backend !== 'postgres') throw new Error(`--backend takes sqlite or postgres (got "${args.backend}")`);
const SHUTDOWN_MS = 2000;
const MARGIN_MS = 6000;

/** The cluster, when on PostgreSQL: stopped at the end of main, and on Ctrl-C / SIGTERM (exit alone does not run on a signal). */
let pg: PgCluster | undefined;
/** The daemon of the round under way and the worlds' dirs: on Ctrl-C the daemon is killed and the dirs go with the cluster. */
const live = new Set<ChildProcess>();
const dirs = new Set<string>();
for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.once(sig, () => {
    for (const p of live) p.kill('SIGKILL');
    pg?.stop();
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
    process.exit(130);
  });
}

/** `w` with every daemon it starts tracked in `live` while it runs, and its dir in `dirs`. */
function tracked(w: FaultWorld): FaultWorld {
  dirs.add(w.dir);
  return {
    ...w,
    async start() {
      const d = await w.start();
      live.add(d.proc);
      void d.exited.then(() => live.delete(d.proc));
      return d;
    },
  };
}

async function main(): Promise<number> {
  const rows: (AuditRow & { name: string })[] = [];
  const problems: string[] = [];
  const started = Date.now();
  if (args.backend === 'postgres') {
    pg = await startPostgres();
    process.stdout.write(`backend: PostgreSQL on ${pg.host}:${pg.port} (throwaway)\n`);
  }
  const storage = async (): Promise<{ postgresUrl?: string }> => (pg ? { postgresUrl: await pg.createDatabase() } : {});

  const kw = tracked(await startFaultWorld({ sink: { dataDelayMs: 20 }, ...(await storage()) }));
  try {
    process.stdout.write(`kill -9: ${ROUNDS} rounds ...\n`);
    const k = await killRounds(kw, ROUNDS, { clients: 6, maxDelayMs: 1500, drainMs: 300_000 });
    for (const r of k.rounds) process.stdout.write(`  round ${r.round}: ${r.acked} acknowledged, ${r.ms} ms\n`);
    rows.push({ name: 'kill -9', ...k.row });
    if (k.row.lost) problems.push(`kill -9: lost ${k.row.lostList.slice(0, 10).join(', ')}`);
  } finally { await kw.close(); }

  const slow = { on: false, held: 0 };
  let n = 0;
  const tw = tracked(await startFaultWorld({ ...(await storage()), delivery: [`shutdown_timeout = "${SHUTDOWN_MS / 1000}s"`, 'socket_timeout = "30s"'], sink: { dataDelayMs: () => (slow.on && n++ % 3 === 0 ? (slow.held++, 10_000) : 20) } }));
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

/** The cluster task: one batch task over three nodes on a throwaway PostgreSQL, its figures printed. */
async function clusterTaskMain(): Promise<number> {
  pg = await startPostgres();
  process.stdout.write(`cluster task: ${MEMBERS} members, three nodes on PostgreSQL ${pg.host}:${pg.port} (throwaway) ...\n`);
  const f = await clusterTask(await pg.createDatabase(), MEMBERS, (line) => process.stdout.write(`  ${line}\n`));
  const problems = [
    ...(f.task.state !== 'done' || f.task.requested !== MEMBERS || f.task.delivered !== MEMBERS || f.task.failed !== 0 ? [`task ${f.task.state}: requested ${f.task.requested}, delivered ${f.task.delivered}, failed ${f.task.failed}`] : []),
    ...(f.missing ? [`${f.missing} members received nothing`] : []),
    ...(f.duplicated ? [`${f.duplicated} members received more than one message`] : []),
    ...(f.wrong ? [`${f.wrong} messages not their member's`] : []),
    ...Object.entries(f.byNode).filter(([, n]) => n === 0).map(([h]) => `the node on ${h} delivered nothing`),
  ];
  process.stdout.write(`delivered ${f.task.delivered} of ${MEMBERS} in ${(f.ms / 1000).toFixed(1)} s (${Math.round(f.task.delivered / (f.ms / 1000))} msg/s)\n`
    + `by node: ${Object.entries(f.byNode).map(([h, n]) => `${h} ${n}`).join(', ')}\nmissing ${f.missing}, duplicated ${f.duplicated}, wrong ${f.wrong}\n`);
  process.stdout.write(problems.length ? `FAIL\n${problems.join('\n')}\n` : 'ok: every member exactly once, every node delivering\n');
  return problems.length ? 1 : 0;
}

(args.scenario === 'cluster-task' ? clusterTaskMain() : main()).then((code) => { process.exitCode = code; }, (e: unknown) => { process.stderr.write(`soak: ${(e as Error).stack ?? String(e)}\n`); process.exitCode = 1; })
  .finally(() => pg?.stop());
