/**
 * bench/run — `npm run bench [-- options]`: end-to-end throughput of mta on this machine,
 * and of Postfix configured as a plain relay to the same sink when asked.
 *
 *   npm run bench                          scenario (a), mta only
 *   npm run bench -- --compare postfix     the same load through Postfix too, and the ratio
 *   npm run bench -- --compare postfix,postfix-dkim   and through Postfix + OpenDKIM (the same work as ours)
 *   npm run bench -- --scenario d          another scenario (a–e, see bench/scenarios.ts)
 *   npm run bench -- --profile             CPU per message by stage (SMTP in, intake, commit, claim, DKIM, SMTP out, outcome, webhook)
 *   npm run bench -- --backend postgres [--nodes 3]
 *                                          the daemon on a throwaway PostgreSQL (test/helpers/postgres.ts); --nodes N: N daemons
 *                                          on 127.0.0.2–… sharing it, the load spread evenly over them (scenarios a–d)
 *   npm run bench -- --scenario trigger-latency [--members N] [--slow-batch] [--shared] [--seconds S]
 *                                          a login code every 100 ms while a batch task drains (bench/trigger-latency.ts)
 *   options: --messages N  --sessions N (20)  --rate N (messages a second: an open loop)  --repeat N  --cpu-prof DIR (keep the profiles there)  --keep  --mta-toml TEXT (appended to the config)
 *            --mta-delivery TEXT (added to its [delivery] table)
 *            --quiet-wait S (60: before each run, wait up to S seconds for other processes to go quiet)
 *
 * One run: a DNS server on 127.0.0.1 (test/helpers/dns-server.ts, compiled) that gives the
 * recipient domains an MX on 127.0.0.2, a sink there (Postfix's smtp-sink, or
 * bench/own-sink.ts), our daemon as a child (bin/mta start) with a bench config in a temp
 * dir, and the load generator (bench/smtp-load.ts: 20 sessions, AUTH PLAIN, pipelining) on a thread of its own
 * (bench/load-thread.ts).
 * The clock runs from the first connection until the sink has every message. Nothing
 * leaves loopback. No assertions: it prints a table, and exits non-zero only when a run
 * could not complete.
 */
import { parseArgs } from 'node:util';
import { mkdtempSync, mkdirSync, rmSync, chmodSync } from 'node:fs';
import { cpus } from 'node:os';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startDnsServer } from '../test/helpers/dns-server.js';
import { mergeLoads, percentile } from './smtp-load.js';
import { runLoadInThread } from './load-thread.js';
import { freePort, waitUntil } from './util.js';
import type { Sink } from './sinks.js';
import { ensurePostfixPackage, startPostfix, type PostfixInstance } from './postfix.js';
import { ensureOpendkimPackage, startOpendkim, type Opendkim } from './opendkim.js';
import { createSenderThroughCli, startMta, writeConfig, procStatusBytes, waitPort, PASSWORD, SENDER, type RunningMta } from './mta.js';
import { SCENARIOS, type Scenario, type ScenarioId } from './scenarios.js';
import { RUN_LIMIT_MS, SINK_HOST, log, startSink, zoneFor, type World } from './world.js';
import { batchText, fmt, histogram, loadNotes, loopNote, printTable, type Row } from './rows.js';
import { runDrain } from './drain.js';
import { nodeSetups, spreadLoad, type BenchStorage } from './nodes.js';
import { startPostgres, type PgCluster } from '../test/helpers/postgres.js';
import { summariseProfile, formatProfile, profileFilesOf, readProfile } from './cpuprofile.js';
import { attributeStages, formatStages } from './stages.js';
import { watchForeignLoad, waitQuiet, cpuSeconds, postmasterPid, treeCpuSeconds } from './machine.js';
import { printTriggerLatency, runTriggerLatency, type TriggerLatencyOptions, type TriggerLatencyResult } from './trigger-latency.js';

const POSTFIX_DKIM = 'postfix + opendkim';
/** What --compare takes: Postfix as a plain relay, and Postfix with OpenDKIM (the same work as ours). */
const COMPARE = ['postfix', 'postfix-dkim'] as const;
type Compare = typeof COMPARE[number];

async function runMta(s: Scenario, w: World, o: { messages: number; sessions: number; rate?: number; cpuProf?: string; extraToml?: string; extraDelivery?: string; storage: BenchStorage }): Promise<Row> {
  const dir = join(w.dir, `mta-${Date.now()}`);
  const url = o.storage.backend === 'postgres' ? await o.storage.database() : undefined;
  const nodes = o.storage.backend === 'postgres' ? o.storage.nodes : 1;
  const setups = await nodeSetups(nodes, url, (host, n) => ({
    dir: nodes > 1 ? join(dir, `node-${n + 1}`) : dir, host, dnsServer: w.dns.server,
    delivery: [...s.delivery, ...(o.extraDelivery ? [o.extraDelivery] : [])].join('\n'), maxRecipients: Math.max(100, s.recipientsPerMessage), extraToml: o.extraToml,
  }));
  const configs = setups.map((setup) => { mkdirSync(setup.dir, { recursive: true }); return writeConfig(setup); });
  // On PostgreSQL the domain and sender are stored once, for every node.
  const dkim = createSenderThroughCli(configs[0]!);
  zoneFor(s, w.dns, dkim);
  const sink = await startSink(s, setups[0]!.sinkPort);
  const mtas: RunningMta[] = [];
  let accepted = 0;
  try {
    for (let n = 0; n < nodes; n++) mtas.push(await startMta(setups[n]!, configs[n]!, o.cpuProf ? { cpuProfDir: o.cpuProf } : {}));
    const runId = Date.now().toString(36);
    // PostgreSQL is part of the system under test: its CPU counts as ours, not as other load.
    const pgPid = o.storage.backend === 'postgres' ? o.storage.serverPid : undefined;
    const watch = watchForeignLoad(() => (pgPid ? [pgPid] : []));
    const pgCpuBefore = pgPid ? treeCpuSeconds(pgPid) : 0;
    const started = Date.now();
    // The logins' peak (scrypt's 128 MiB block, once) is read and then forgotten, so the run's own peak shows beside it.
    let loginPeak = 0;
    let loginsLeft = setups.length;
    const loginsDone = (): void => {
      if (--loginsLeft > 0) return;
      loginPeak = mtas.reduce((a, x) => a + x.peakRss(), 0);
      for (const x of mtas) x.resetPeak();
    };
    const loads = spreadLoad(setups, o.messages, o.sessions, (host, port, sessions, messages, first) => runLoadInThread({
      host, port, sessions, messages, ehlo: 'load.bench.test', ...(o.rate ? { rate: o.rate / setups.length } : {}),
      auth: { user: SENDER, pass: PASSWORD }, from: SENDER, scenario: s.id, runId, first,
    }, loginsDone));
    let loadDone = false;
    const perNode = await loads.finally(() => { loadDone = true; });
    const result = mergeLoads(perNode);
    accepted = result.accepted;
    const m = mtas[0]!;
    const finished = await waitUntil('delivery of every message', async () => {
      if (!loadDone) return false;
      switch (s.done) {
        case 'sink-messages': return sink.messages() >= result.accepted * s.recipientsPerMessage;
        case 'sink-recipients': return sink.recipients() >= result.accepted * s.recipientsPerMessage;
        case 'spool-final': {
          const q = await m.summary();
          return q.waiting === 0;
        }
      }
    }, RUN_LIMIT_MS, s.done === 'spool-final' ? 250 : 20);
    const seconds = (finished - started) / 1000;
    const machine = watch.stop();
    const notes = loadNotes(result, o.rate);
    notes.push(`load average at the end: ${machine.loadAvg}`);
    if (s.done === 'spool-final') {
      const q = await m.summary();
      notes.push(`final states: ${Object.entries(q.counts).filter(([, n]) => n > 0).map(([k, n]) => `${k} ${n}`).join(', ')} (DSNs included)`);
      notes.push(`sink accepted ${sink.messages()} transactions`);
    }
    // The probe's last report is written at exit; RSS and CPU must be read before it (a cluster: all nodes summed).
    const afterLogins = mtas.reduce((a, x) => a + x.peakRss(), 0);
    const peakRss = Math.max(loginPeak, afterLogins);
    if (loginPeak > 0) notes.push(`peak RSS until every session had logged in ${(loginPeak / 1048576).toFixed(0)} MB, after that ${(afterLogins / 1048576).toFixed(0)} MB (a login not in the login cache holds scrypt's 128 MiB block)`);
    const daemonCpu = mtas.reduce((a, x) => a + cpuSeconds(x.pid), 0);
    const mainCpu = mtas.reduce((a, x) => a + cpuSeconds(x.pid, x.pid), 0);
    const pgCpu = pgPid ? treeCpuSeconds(pgPid) - pgCpuBefore : 0;
    const cpu = daemonCpu + pgCpu;
    for (const x of mtas) await x.stop();
    const probe = m.probe();
    if (nodes > 1) notes.push(`${nodes} nodes on one PostgreSQL, accepted ${perNode.map((r) => r.accepted).join(' / ')}; RSS and CPU are the sum over the nodes, the probe figures below are node 1's`);
    if (pgPid) notes.push(`PostgreSQL server: ${((pgCpu * 1000) / Math.max(result.accepted, 1)).toFixed(2)} ms CPU per message, included in CPU ms/msg (its RSS is not in peak RSS)`);
    else if (url) notes.push('PostgreSQL server: not found by its port, its CPU is counted as other CPU');
    notes.push(...loopNote(probe));
    if (probe?.commits) notes.push(`intake commits: ${probe.commits} for ${probe.messages} messages (${histogram(probe)}); ${(probe.commitMs / Math.max(probe.commits, 1)).toFixed(2)} ms per commit avg, ${probe.maxCommitMs.toFixed(1)} max`);
    const oc = probe?.outcomes;
    if (oc?.commits) notes.push(`outcome commits: ${oc.commits} for ${oc.writes} jobs (${(oc.writes / oc.commits).toFixed(1)} avg, ${oc.maxBatch} max); ${(oc.commitMs / oc.commits).toFixed(2)} ms per commit avg`);
    notes.push(`CPU per message: ${((cpu * 1000) / Math.max(result.accepted, 1)).toFixed(2)} ms, of which the event loop (main thread) ${((mainCpu * 1000) / Math.max(result.accepted, 1)).toFixed(2)} ms, busy ${((100 * mainCpu) / seconds).toFixed(0)}% of the run`);
    const row: Row = {
      scenario: s.id, system: url ? `mta pg${nodes > 1 ? ` ×${nodes}` : ''}` : 'mta', messages: result.accepted, recipients: result.accepted * s.recipientsPerMessage, seconds,
      e2eRate: (s.done === 'spool-final' ? result.accepted : result.accepted * s.recipientsPerMessage) / seconds,
      acceptRate: result.accepted / ((result.lastAccept - started) / 1000),
      p50: percentile(result.latencies, 50), p99: percentile(result.latencies, 99),
      peakRssMb: peakRss / 1048576, batches: batchText(probe), foreign: machine.foreignCores,
      cpuPerMsg: (cpu * 1000) / Math.max(result.accepted, 1), notes,
    };
    return row;
  } finally {
    for (const x of mtas) await x.stop();
    await sink.stop();
    if (o.cpuProf && mtas[0]) printProfile(o.cpuProf, mtas[0].pid, accepted);
  }
}

/**
 * The daemon's profiles (written at its exit, one per thread): the event loop's top places
 * and functions, then CPU per message by stage over all its threads (bench/stages.ts).
 */
export function printProfile(dir: string, pid: number, messages: number): void {
  const files = profileFilesOf(dir, pid);
  if (files.length === 0) { log(`no CPU profile of process ${pid} in ${dir}`); return; }
  log(`\ncpu profile of the daemon's event loop: ${files[0]}${files.length > 1 ? ` (and ${files.length - 1} worker threads beside it)` : ''}`);
  log(formatProfile(summariseProfile(files[0]!)));
  console.log('');
  console.log(formatStages(attributeStages(files.map(readProfile)), messages));
}

/** Postfix as a plain relay, or with OpenDKIM signing as a milter (`dkim`: the same work as ours). */
async function runPostfix(s: Scenario, w: World, o: { messages: number; sessions: number; rate?: number; dkim: boolean }): Promise<Row> {
  const dir = join(w.dir, `postfix-${Date.now()}`);
  const sinkPort = await freePort(SINK_HOST);
  const sink = await startSink(s, sinkPort);
  const port = await freePort();
  let dkim: Opendkim | undefined;
  let pf: PostfixInstance | undefined;
  try {
    if (o.dkim) {
      dkim = await startOpendkim(join(dir, 'opendkim'), await freePort(), 'bench.test', 'pf');
      w.dns.set('pf._domainkey.bench.test', { TXT: [dkim.txt] });
    }
    pf = startPostfix(dir, port, SINK_HOST, sinkPort, { fastRetry: s.done === 'spool-final', ...(dkim ? { milter: dkim.milter } : {}) });
    return await loadPostfix(s, o, { sink, port, pf, extraPids: dkim ? [dkim.pid] : [] });
  } finally {
    pf?.stop();
    await dkim?.stop();
    await sink.stop();
  }
}

async function loadPostfix(s: Scenario, o: { messages: number; sessions: number; rate?: number; dkim: boolean }, r: { sink: Sink; port: number; pf: PostfixInstance; extraPids: number[] }): Promise<Row> {
  const { sink, port } = r;
  const pids = (): number[] => [...r.pf.pids(), ...r.extraPids];
  let peak = 0;
  const sample = (): void => {
    let sum = 0;
    for (const pid of pids()) sum += procStatusBytes(pid, 'VmRSS');
    peak = Math.max(peak, sum);
  };
  const sampler = setInterval(sample, 200);
  try {
    await waitPort(port, 10_000);
    const runId = Date.now().toString(36);
    const watch = watchForeignLoad(() => [...r.pf.pids().slice(0, 1), ...r.extraPids]);
    const started = Date.now();
    let loadDone = false;
    const result = await runLoadInThread({
      host: '127.0.0.1', port, sessions: o.sessions, messages: o.messages, ehlo: 'load.bench.test', ...(o.rate ? { rate: o.rate } : {}),
      from: SENDER, scenario: s.id, runId, first: 0,
    }).finally(() => { loadDone = true; });
    const finished = await waitUntil('delivery of every message', () => {
      if (!loadDone) return false;
      switch (s.done) {
        case 'sink-messages': return sink.messages() >= result.accepted;
        case 'sink-recipients': return sink.recipients() >= result.accepted * s.recipientsPerMessage;
        case 'spool-final': return r.pf.queued() === 0;
      }
    }, RUN_LIMIT_MS, s.done === 'spool-final' ? 250 : 20);
    sample();
    const cpu = pids().reduce((a, pid) => a + cpuSeconds(pid), 0);
    const seconds = (finished - started) / 1000;
    const machine = watch.stop();
    const notes = loadNotes(result, o.rate);
    notes.push(`load average at the end: ${machine.loadAvg}`);
    notes.push(`peak RSS: sum of the VmRSS of all Postfix processes${o.dkim ? ' and OpenDKIM' : ''}, sampled every 200 ms; CPU: all its processes still running at the end`);
    if (s.done === 'spool-final') notes.push(`sink accepted ${sink.messages()} transactions`);
    return {
      scenario: s.id, system: o.dkim ? POSTFIX_DKIM : 'postfix', messages: result.accepted, recipients: result.accepted * s.recipientsPerMessage, seconds,
      e2eRate: (s.done === 'spool-final' ? result.accepted : result.accepted * s.recipientsPerMessage) / seconds,
      acceptRate: result.accepted / ((result.lastAccept - started) / 1000),
      p50: percentile(result.latencies, 50), p99: percentile(result.latencies, 99),
      peakRssMb: peak / 1048576, batches: '-', foreign: machine.foreignCores,
      cpuPerMsg: (cpu * 1000) / Math.max(result.accepted, 1), notes,
    };
  } finally {
    clearInterval(sampler);
  }
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      scenario: { type: 'string', default: 'a' },
      compare: { type: 'string' },
      messages: { type: 'string' },
      sessions: { type: 'string', default: '20' },
      rate: { type: 'string' },
      repeat: { type: 'string', default: '1' },
      'cpu-prof': { type: 'string' },
      profile: { type: 'boolean', default: false },
      keep: { type: 'boolean', default: false },
      'mta-toml': { type: 'string' },
      'mta-delivery': { type: 'string' },
      'quiet-wait': { type: 'string', default: '60' },
      members: { type: 'string', default: '100000' },
      'slow-batch': { type: 'boolean', default: false },
      shared: { type: 'boolean', default: false },
      seconds: { type: 'string', default: '600' },
      backend: { type: 'string', default: 'sqlite' },
      nodes: { type: 'string', default: '1' },
      help: { type: 'boolean', default: false },
    },
    allowPositionals: false,
  });
  if (values.help) {
    console.log('npm run bench -- [--scenario a|b|c|d|e] [--compare postfix,postfix-dkim] [--messages N] [--sessions N] [--rate N] [--repeat N] [--cpu-prof DIR] [--profile] [--keep] [--mta-toml TEXT] [--mta-delivery TEXT] [--quiet-wait SECONDS] [--backend sqlite|postgres] [--nodes N]');
    for (const s of Object.values(SCENARIOS)) console.log(`  ${s.id}: ${s.title}`);
    console.log('  trigger-latency [--members N (100000)] [--slow-batch] [--shared] [--seconds S (600)] [--backend sqlite|postgres]: a trigger message every 100 ms while a batch task drains; 250 → sink receipt');
    return 0;
  }
  if (values.scenario === 'trigger-latency') {
    const extraLatency = {
      extraToml: values['mta-toml']?.replace(/\\n/g, '\n'), extraDelivery: values['mta-delivery']?.replace(/\\n/g, '\n'), cpuProf: values['cpu-prof'], profile: values.profile ?? false,
    };
    if (values.backend !== 'sqlite' && values.backend !== 'postgres') throw new Error(`--backend takes sqlite or postgres (got "${values.backend}")`);
    if (values.nodes !== '1') throw new Error('--nodes is for scenarios a–d; trigger-latency runs one node');
    return triggerLatencyMain({ members: Number(values.members), slowBatch: values['slow-batch'] ?? false, shared: values.shared ?? false, seconds: Number(values.seconds), ...extraLatency },
      Math.max(1, Number(values.repeat)), Number(values['quiet-wait']), values.keep ?? false, values.backend === 'postgres');
  }
  const ids = (values.scenario ?? 'a').split(',') as ScenarioId[];
  for (const id of ids) if (!SCENARIOS[id]) throw new Error(`unknown scenario "${id}" (a–e)`);
  const compare = (values.compare ?? '').split(',').filter((c) => c !== '') as Compare[];
  for (const c of compare) if (!COMPARE.includes(c)) throw new Error(`--compare takes a comma-separated list of ${COMPARE.join(', ')} (got "${c}")`);
  const nodes = Number(values.nodes);
  if (values.backend !== 'sqlite' && values.backend !== 'postgres') throw new Error(`--backend takes sqlite or postgres (got "${values.backend}")`);
  if (!Number.isInteger(nodes) || nodes < 1 || nodes > 9) throw new Error(`--nodes takes a whole number from 1 to 9 (got "${values.nodes}")`);
  if (nodes > 1 && values.backend !== 'postgres') throw new Error('--nodes above 1 needs --backend postgres: only PostgreSQL is shared by several nodes');
  if (values.backend === 'postgres' && ids.some((id) => SCENARIOS[id].queued)) throw new Error('--backend postgres runs scenarios a–d; scenario e builds its queue in SQLite directly');
  const sessions = Number(values.sessions);
  const rate = values.rate === undefined ? undefined : Number(values.rate);
  if (rate !== undefined && !(rate > 0)) throw new Error(`--rate takes messages a second, above 0 (got "${values.rate}")`);
  const repeat = Math.max(1, Number(values.repeat));
  const quiet = async (): Promise<void> => { await waitQuiet(Number(values['quiet-wait']) * 1000, 0.15, log); };
  const extra = {
    ...(values['mta-toml'] ? { extraToml: values['mta-toml'].replace(/\\n/g, '\n') } : {}),
    ...(values['mta-delivery'] ? { extraDelivery: values['mta-delivery'].replace(/\\n/g, '\n') } : {}),
  };

  ensurePostfixPackage(log);
  // Without OpenDKIM the plain rows still run; the missing row is named in the output.
  const skipped = compare.includes('postfix-dkim') ? ensureOpendkimPackage(log) : undefined;
  if (skipped) log(`postfix-dkim: skipped: ${skipped}`);
  const dir = mkdtempSync(join(tmpdir(), 'mta-bench-'));
  chmodSync(dir, 0o755); // Postfix's unprivileged daemons must reach their queue below it
  const dns = await startDnsServer({});
  const w: World = { dir, dns };
  // --profile alone: the profiles go to the run's temp dir (kept with --keep).
  const cpuProf = values['cpu-prof'] ?? (values.profile ? join(dir, 'cpu-prof') : undefined);
  const rows: Row[] = [];
  const failed: string[] = [];
  let pg: PgCluster | undefined;
  try {
    if (values.backend === 'postgres') pg = await benchPostgres();
    const cluster = pg;
    const storage: BenchStorage = cluster ? { backend: 'postgres', nodes, ...databasesOf(cluster) } : { backend: 'sqlite' };
    for (const id of ids) {
      const s = SCENARIOS[id];
      log(`scenario ${s.id}: ${s.title}`);
      for (let k = 0; k < repeat; k++) {
        if (s.queued) {
          const sizes = values.messages ? [Number(values.messages)] : s.queued;
          for (const q of sizes) {
            await quiet();
            log(`  mta: draining ${q} queued messages ...`);
            rows.push(await runDrain(s, w, q, { ...extra, ...(cpuProf ? { cpuProf } : {}) }));
          }
          continue;
        }
        const messages = values.messages ? Number(values.messages) : s.messages;
        await quiet();
        log(`  mta${pg ? ` on PostgreSQL, ${nodes} node${nodes > 1 ? 's' : ''}` : ''}: ${messages} messages over ${sessions} sessions ...`);
        rows.push(await runMta(s, w, { messages, sessions, ...(rate ? { rate } : {}), storage, ...extra, ...(cpuProf ? { cpuProf } : {}) }));
        for (const c of s.postfix ? compare : []) {
          if (c === 'postfix-dkim' && skipped) continue;
          await quiet();
          log(`  ${c}: ${messages} messages over ${sessions} sessions ...`);
          try {
            rows.push(await runPostfix(s, w, { messages, sessions, ...(rate ? { rate } : {}), dkim: c === 'postfix-dkim' }));
          } catch (e) {
            // The rows measured so far are worth printing; the failed one is named below the table.
            failed.push(`${c}: ${(e as Error).message}`);
            log(`  ${c} failed: ${(e as Error).message}`);
          }
        }
      }
    }
  } finally {
    pg?.stop();
    await dns.close();
    if (!values.keep) rmSync(dir, { recursive: true, force: true });
    else log(`kept ${dir}`);
  }
  console.log('');
  printTable(rows);
  console.log('CPU ms/msg: CPU time of the system under test (mta: the daemon with its threads; postfix: all its processes) per message');
  console.log('other CPU: cores used meanwhile by processes outside the run (0 = a quiet machine; above ~0.2 the row is disturbed)');
  for (const r of rows) for (const n of r.notes) console.log(`  ${r.scenario}/${r.system}: ${n}`);
  if (skipped) console.log(`\n${POSTFIX_DKIM}: not measured: ${skipped}`);
  for (const f of failed) console.log(`\nnot measured: ${f}`);
  for (const id of ids) {
    const ours = rows.filter((r) => r.scenario === id && r.system === 'mta');
    const mean = (xs: Row[]): number => xs.reduce((a, r) => a + r.e2eRate, 0) / xs.length;
    for (const [system, what] of [['postfix', 'goal 2×'], [POSTFIX_DKIM, 'the same work: DKIM RSA-2048']] as const) {
      const theirs = rows.filter((r) => r.scenario === id && r.system === system);
      if (!ours.length || !theirs.length) continue;
      console.log(`\nscenario ${id}: mta / ${system} end to end = ${(mean(ours) / mean(theirs)).toFixed(2)}× ` +
        `(${fmt(mean(ours))} vs ${fmt(mean(theirs))} ${SCENARIOS[id].recipientsPerMessage > 1 ? 'recipients' : 'msgs'}/s${ours.length > 1 ? `, means of ${ours.length} runs` : ''}; ${what})`);
    }
  }
  console.log(`\n${new Date().toISOString()}, node ${process.version}, ${cpus().length} cores`);
  return 0;
}

/** The throwaway PostgreSQL cluster of a `--backend postgres` run, stopped on Ctrl-C too ('exit' does not run on a signal). */
async function benchPostgres(): Promise<PgCluster> {
  const pg = await startPostgres();
  for (const sig of ['SIGINT', 'SIGTERM'] as const) process.once(sig, () => { pg.stop(); process.exit(130); });
  log(`PostgreSQL: a throwaway cluster on ${pg.host}:${pg.port}`);
  return pg;
}

/** A fresh database per run on `pg`, and its server's process (its CPU counts as the daemon's). */
function databasesOf(pg: PgCluster): { database(): Promise<string>; serverPid: number | undefined } {
  return { database: () => pg.createDatabase(), serverPid: postmasterPid(pg.port) };
}

async function triggerLatencyMain(opts: TriggerLatencyOptions & { profile: boolean }, repeat: number, quietWait: number, keep: boolean, postgres: boolean): Promise<number> {
  if (!Number.isInteger(opts.members) || opts.members < 1) throw new Error('--members takes a whole number of at least 1');
  if (!(opts.seconds > 0)) throw new Error('--seconds takes a number of seconds above 0');
  const dir = mkdtempSync(join(tmpdir(), 'mta-bench-'));
  const o: TriggerLatencyOptions = { ...opts, cpuProf: opts.cpuProf ?? (opts.profile ? join(dir, 'cpu-prof') : undefined) };
  const dns = await startDnsServer({});
  const rows: TriggerLatencyResult[] = [];
  let pg: PgCluster | undefined;
  try {
    if (postgres) {
      pg = await benchPostgres();
      o.postgres = databasesOf(pg);
    }
    for (let k = 0; k < repeat; k++) {
      await waitQuiet(quietWait * 1000, 0.15, log);
      log(`trigger-latency: ${o.members} members${o.slowBatch ? ', slow batch destination' : ''}${o.shared ? ', login codes to the same destination' : ''} ...`);
      const r = await runTriggerLatency({ dir, dns }, o, log);
      rows.push(r);
      if (o.cpuProf) printProfile(o.cpuProf, r.pid, r.messagesTotal);
    }
  } finally {
    await dns.close();
    pg?.stop();
    if (!keep) rmSync(dir, { recursive: true, force: true }); else log(`kept ${dir}`);
  }
  console.log('');
  printTriggerLatency(rows);
  console.log(`\n${new Date().toISOString()}, node ${process.version}, ${cpus().length} cores`);
  return 0;
}

main().then((code) => { process.exitCode = code; }, (e: unknown) => {
  process.stderr.write(`bench: ${(e as Error).stack ?? String(e)}\n`);
  process.exitCode = 1;
});
