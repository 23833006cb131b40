/**
 * bench/trigger-latency — issue 23's promise that a login code never waits behind a
 * campaign (SPEC §4, two lanes), measured from outside:
 *
 *   npm run bench -- --scenario trigger-latency [--members N] [--slow-batch] [--shared] [--seconds S] [--backend postgres]
 *
 * A batch task of N members (default 100,000; a list imported through the CLI, an approved
 * template, a batch sender) drains to one sink while a trigger sender submits one message
 * every 100 ms over SMTP (AUTH as a trigger-type sender). For each trigger message the time
 * from its `250` to the sink's receipt of it is measured: the sender notes when the 250
 * arrived, the sink (bench/own-sink.ts --report-ids) when the message's final dot did, both
 * on the machine's monotonic clock with sub-millisecond resolution, matched by Message-ID.
 *
 * The two kinds of mail go to two recipient domains with their own MX hosts: batch.test on
 * 127.0.0.3 and sink.test on 127.0.0.2 (one [delivery] port, two loopback addresses). With
 * --slow-batch the batch sink answers the end of DATA after 2 s, so connections to it pile
 * up to the per-domain limit while the trigger sink answers at once.
 *
 * With --shared the login codes go to the campaign's domain and receiver (as a login code
 * for a gmail.com user during a campaign to gmail.com users): they then compete for that
 * destination's connections, and with --slow-batch only the campaign's messages are
 * answered late (the receiver's delay applies to what it does not report).
 *
 * Triggers start once the campaign reaches its sink (their session is authenticated before)
 * and stop when every member's message has arrived or after --seconds (a slow batch
 * destination would take hours to drain).
 *
 * With --backend postgres the daemon stores in a database of a throwaway cluster (as
 * `--backend postgres` does for scenarios a–d); the server's CPU counts as the daemon's.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { TestDnsServer } from '../test/helpers/dns-server.js';
import { Client, makeMessage, percentile } from './smtp-load.js';
import { startOwnSink, type Sink } from './sinks.js';
import { cli, createSenderThroughCli, startMta, writeConfig, PASSWORD, SENDER, type MtaSetup, type RunningMta } from './mta.js';
import { freePort, preciseNow, waitUntil } from './util.js';
import { watchForeignLoad, cpuSeconds, treeCpuSeconds } from './machine.js';
import { loopNote } from './rows.js';
import { pgStorageToml } from './nodes.js';

const TRIGGER_HOST = '127.0.0.2';
const BATCH_HOST = '127.0.0.3';
const TRIGGER_DOMAIN = 'sink.test';
const BATCH_DOMAIN = 'batch.test';
const BATCH_SENDER = 'news@bench.test';
const TRIGGER_EVERY_MS = 100;
/** the slow batch receiver's answer to the end of DATA */
const SLOW_DATA_MS = 2000;
/** The notes also give the figures of the login codes accepted this long after the first (s). */
const COLD_S = 2;
/** Message-IDs of trigger mail contain this, and only theirs are reported by the sink. */
const TRIGGER_MARK = 'trig-';

export interface TriggerLatencyOptions {
  members: number;
  slowBatch: boolean;
  /** login codes to the campaign's own domain and receiver */
  shared: boolean;
  /** stop the triggers after this long even if the campaign is not done */
  seconds: number;
  cpuProf?: string | undefined;
  extraToml?: string | undefined;
  extraDelivery?: string | undefined;
  /** a fresh database per run on a throwaway PostgreSQL (undefined: SQLite in the data dir) */
  postgres?: { database(): Promise<string>; serverPid: number | undefined } | undefined;
}

export interface TriggerLatencyResult {
  backend: 'sqlite' | 'postgres';
  members: number;
  slowBatch: boolean;
  shared: boolean;
  /** campaign messages at the batch sink while the triggers ran, per second */
  batchRate: number;
  batchDelivered: number;
  seconds: number;
  sent: number;
  accepted: number;
  /** 250 → sink receipt of each trigger message that arrived, ms */
  latencies: Float64Array;
  /** accepted but not at the sink when the run ended */
  missing: number;
  /** accept latency (final dot → 250) of the trigger messages, ms */
  acceptP99: number;
  foreign: number;
  cpuPerMsg: number;
  notes: string[];
  /** the daemon's process (its CPU profiles are named by it) */
  pid: number;
  /** every message the daemon delivered over its life: the whole campaign's so far and the triggers */
  messagesTotal: number;
}

/** One trigger message every `everyMs` over as few sessions as keep up (usually one). */
class TriggerSender {
  readonly acceptedAt = new Map<string, number>();
  readonly acceptMs: number[] = [];
  sent = 0;
  readonly failures: string[] = [];
  private readonly idle: Client[] = [];
  private readonly inFlight = new Set<Promise<void>>();
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly o: { host: string; port: number; runId: string; everyMs: number; domain: string }) {}

  /**
   * One session opened and authenticated before the clock starts, as an application keeps its
   * submission connection. Without it every tick of the first second opened a session of its
   * own, their AUTHs (scrypt) ended together, and 6-7 login codes went in at the same moment.
   */
  async open(): Promise<void> {
    this.idle.push(await this.session());
  }

  start(): void {
    this.timer = setInterval(() => {
      const p = this.sendOne(this.sent++).catch((e: unknown) => { this.failures.push((e as Error).message); });
      this.inFlight.add(p);
      void p.finally(() => this.inFlight.delete(p));
    }, this.o.everyMs);
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await Promise.allSettled([...this.inFlight]);
    for (const c of this.idle.splice(0)) { c.write('QUIT\r\n'); c.end(); }
  }

  private async session(): Promise<Client> {
    const ready = this.idle.pop();
    if (ready) return ready;
    const c = await Client.open(this.o.host, this.o.port, 60_000);
    const expect = async (code: number, what: string): Promise<void> => {
      const r = await c.read();
      if (r.code !== code) { c.destroy(); throw new Error(`${what}: ${r.text}`); }
    };
    await expect(220, 'greeting');
    c.write('EHLO trigger.bench.test\r\n');
    await expect(250, 'EHLO');
    c.write(`AUTH PLAIN ${Buffer.from(`\0${SENDER}\0${PASSWORD}`).toString('base64')}\r\n`);
    await expect(235, 'AUTH');
    return c;
  }

  private async sendOne(i: number): Promise<void> {
    const c = await this.session();
    const id = `<${TRIGGER_MARK}${i}.${this.o.runId}@bench.test>`;
    const to = `t${i}@${this.o.domain}`;
    c.write(`MAIL FROM:<${SENDER}>\r\nRCPT TO:<${to}>\r\nDATA\r\n`);
    const replies = [await c.read(), await c.read(), await c.read()];
    if (replies[2]!.code !== 354) {
      c.destroy();
      throw new Error(`trigger ${i} refused: ${replies.map((r) => r.text).join(' / ')}`);
    }
    c.write(makeMessage({ from: SENDER, to, subject: `login code ${i}`, messageId: id.slice(1, -1), size: 2048 }));
    const t0 = performance.now();
    c.write('.\r\n');
    const done = await c.read();
    if (done.code !== 250) { c.destroy(); throw new Error(`trigger ${i} at end of DATA: ${done.text}`); }
    this.acceptedAt.set(id, preciseNow());
    this.acceptMs.push(performance.now() - t0);
    this.idle.push(c);
  }
}

/** The campaign: a list of `members` addresses at the batch domain, a template, a batch sender and a task. */
function createCampaign(dir: string, config: string, members: number): void {
  cli(config, ['sender', 'add', BATCH_SENDER, '--type', 'batch']);
  cli(config, ['list', 'create', 'members', '--alias', 'members@lists.bench.test']);
  const csv = join(dir, 'members.csv');
  const rows = ['EAddr,UserName'];
  for (let i = 0; i < members; i++) rows.push(`m${i}@${BATCH_DOMAIN},Member ${i}`);
  writeFileSync(csv, `${rows.join('\n')}\n`);
  cli(config, ['list', 'import', 'members', csv, '--strict']);
  // About 1 KB of HTML; with the text part generated from it and the headers, about 2 KB of message.
  const para = '<p>The quick brown fox jumps over the lazy dog; pack my box with five dozen liquor jugs.</p>\n';
  const html = join(dir, 'campaign.html');
  writeFileSync(html, `<html><body><p>Hello {UserName},</p>\n${para.repeat(10)}</body></html>\n`);
  cli(config, ['template', 'create', 'campaign', '--subject', 'News for {UserName}', '--html', html, '--from-name', 'Bench News']);
  cli(config, ['template', 'approve', 'campaign']);
  cli(config, ['task', 'create', '--list', 'members', '--template', 'campaign', '--from', BATCH_SENDER]);
}

export async function runTriggerLatency(w: { dir: string; dns: TestDnsServer }, o: TriggerLatencyOptions, log: (s: string) => void): Promise<TriggerLatencyResult> {
  const dir = join(w.dir, `mta-trigger-${Date.now()}`);
  mkdirSync(dir, { recursive: true });
  const url = o.postgres ? await o.postgres.database() : undefined;
  const setup: MtaSetup = {
    dir, smtpPort: await freePort(), adminPort: await freePort(), sinkPort: await freePort(TRIGGER_HOST, [BATCH_HOST]), dnsServer: w.dns.server,
    delivery: ['max_connections_per_domain = 20', ...(o.extraDelivery ? [o.extraDelivery] : [])].join('\n'),
    extraToml: `${o.extraToml ?? ''}${url ? pgStorageToml(url, 0) : ''}`,
  };
  const config = writeConfig(setup);
  const dkim = createSenderThroughCli(config);
  const t0 = Date.now();
  createCampaign(dir, config, o.members);
  log(`  campaign of ${o.members} members created through the CLI in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  w.dns.set(`mx.${TRIGGER_DOMAIN}`, { A: [TRIGGER_HOST] });
  w.dns.set(`mx.${BATCH_DOMAIN}`, { A: [BATCH_HOST] });
  w.dns.set(TRIGGER_DOMAIN, { MX: [{ preference: 10, exchange: `mx.${TRIGGER_DOMAIN}` }] });
  w.dns.set(BATCH_DOMAIN, { MX: [{ preference: 10, exchange: `mx.${BATCH_DOMAIN}` }] });
  w.dns.set('bench.test', { MX: [{ preference: 10, exchange: `mx.${TRIGGER_DOMAIN}` }] });
  w.dns.set(`${dkim.selector}._domainkey.bench.test`, { TXT: [`v=DKIM1; k=rsa; p=${dkim.publicKey}`] });

  const receivedAt = new Map<string, number>();
  const sinks: Sink[] = [];
  let mta: RunningMta | undefined;
  try {
    const reports = { reportIds: TRIGGER_MARK, onReceipt: (id: string, at: number): void => { receivedAt.set(id, at); } };
    if (!o.shared) sinks.push(await startOwnSink(TRIGGER_HOST, setup.sinkPort, reports));
    const batchSink = await startOwnSink(BATCH_HOST, setup.sinkPort, { ...(o.slowBatch ? { dataDelayMs: SLOW_DATA_MS } : {}), ...(o.shared ? reports : {}) });
    sinks.push(batchSink);
    // With --shared the login codes arrive at the campaign's receiver too.
    const campaign = (): number => batchSink.messages() - (o.shared ? receivedAt.size : 0);
    mta = await startMta(setup, config, o.cpuProf ? { cpuProfDir: o.cpuProf } : {});
    await waitUntil('the campaign to reach its sink', () => campaign() > 0, 120_000, 50);
    const sender = new TriggerSender({ host: '127.0.0.1', port: setup.smtpPort, runId: Date.now().toString(36), everyMs: TRIGGER_EVERY_MS, domain: o.shared ? BATCH_DOMAIN : TRIGGER_DOMAIN });
    await sender.open();
    // PostgreSQL is part of the system under test: its CPU counts as the daemon's, not as other load.
    const pgPid = o.postgres?.serverPid;
    const watch = watchForeignLoad(() => [...sinks.map((s) => s.pid), ...(pgPid ? [pgPid] : [])]);
    const pgCpu = (): number => (pgPid ? treeCpuSeconds(pgPid) : 0);
    const cpu0 = cpuSeconds(mta.pid) + pgCpu();
    const batch0 = campaign();
    const started = Date.now();
    const startedAt = preciseNow();
    sender.start();
    const ended = await waitUntil('the campaign to drain', () => campaign() >= o.members || Date.now() - started >= o.seconds * 1000, o.seconds * 1000 + 10_000, 50);
    await sender.stop();
    const batchDelivered = campaign() - batch0;
    const seconds = (ended - started) / 1000;
    // Every accepted trigger message should arrive; the wait for stragglers is bounded.
    await waitUntil('the trigger messages', () => [...sender.acceptedAt.keys()].every((id) => receivedAt.has(id)), 30_000, 50).catch(() => 0);
    const machine = watch.stop();
    const cpu = cpuSeconds(mta.pid) + pgCpu() - cpu0;
    const pid = mta.pid;
    // The probe's last report (with the event loop's delay) is written as the daemon exits.
    await mta.stop();
    const loop = loopNote(mta.probe());
    const lat: number[] = [];
    const slowest: { i: number; after: number; ms: number }[] = [];
    let missing = 0;
    for (const [id, at] of sender.acceptedAt) {
      const got = receivedAt.get(id);
      if (got === undefined) { missing++; continue; }
      lat.push(got - at);
      slowest.push({ i: Number(/trig-(\d+)\./.exec(id)?.[1]), after: (at - startedAt) / 1000, ms: got - at });
    }
    const notes = [`load average at the end: ${machine.loadAvg}`, ...loop];
    if (url) notes.push(pgPid ? 'PostgreSQL: the server\'s CPU is included in CPU ms/msg' : 'PostgreSQL server: not found by its port, its CPU is counted as other CPU');
    // When in the run the worst ones were accepted: a stall at one moment, or a queue that grew.
    slowest.sort((a, b) => b.ms - a.ms);
    if (slowest.length) notes.push(`slowest: ${slowest.slice(0, 5).map((x) => `#${x.i} (accepted ${x.after.toFixed(1)} s in) ${x.ms.toFixed(1)} ms`).join(', ')}`);
    // The first login codes meet a destination not yet known (DNS, new connections) on a machine the campaign's start keeps busy.
    const later = Float64Array.from(slowest.filter((x) => x.after >= COLD_S).map((x) => x.ms));
    const cold = slowest.filter((x) => x.after < COLD_S).sort((a, b) => a.i - b.i);
    if (cold.length) notes.push(`accepted in the first ${COLD_S} s (${cold.length}): ${cold.map((x) => x.ms.toFixed(1)).join(', ')} ms`);
    if (later.length) notes.push(`accepted ${COLD_S} s or more in (${later.length}): p50 ${percentile(later, 50).toFixed(1)} ms, p99 ${percentile(later, 99).toFixed(1)} ms, max ${Math.max(...later).toFixed(1)} ms`);
    if (sender.failures.length) notes.push(`${sender.failures.length} trigger submissions failed: ${sender.failures.slice(0, 3).join('; ')}`);
    if (campaign() < o.members) notes.push(`campaign not drained when the triggers stopped: ${campaign()} of ${o.members} at its sink after ${seconds.toFixed(0)} s`);
    return {
      backend: url ? 'postgres' : 'sqlite', members: o.members, slowBatch: o.slowBatch, shared: o.shared, batchRate: batchDelivered / seconds, batchDelivered, seconds,
      sent: sender.sent, accepted: sender.acceptedAt.size, latencies: Float64Array.from(lat), missing,
      acceptP99: percentile(Float64Array.from(sender.acceptMs), 99), foreign: machine.foreignCores,
      cpuPerMsg: (cpu * 1000) / Math.max(batchDelivered + sender.acceptedAt.size, 1), notes,
      pid, messagesTotal: sinks.reduce((n, k) => n + k.messages(), 0),
    };
  } finally {
    await mta?.stop();
    for (const s of sinks) await s.stop();
  }
}

export function printTriggerLatency(rows: TriggerLatencyResult[]): void {
  const f = (n: number, d = 1): string => (Number.isFinite(n) ? n.toFixed(d) : '-');
  const head = ['batch destination', 'storage', 'members', 'seconds', 'batch msgs/s', 'triggers', 'p50 ms', 'p99 ms', 'max ms', 'not arrived', 'trigger accept p99 ms', 'CPU ms/msg', 'other CPU'];
  const body = rows.map((r) => [
    `${r.slowBatch ? `slow (DATA +${SLOW_DATA_MS / 1000} s)` : 'normal'}${r.shared ? ', shared' : ''}`, r.backend, String(r.members), f(r.seconds), f(r.batchRate, 0), String(r.latencies.length),
    f(percentile(r.latencies, 50)), f(percentile(r.latencies, 99)), f(r.latencies.length ? Math.max(...r.latencies) : NaN), String(r.missing),
    f(r.acceptP99), f(r.cpuPerMsg, 2), f(r.foreign, 2),
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i]!.length)));
  const line = (cells: string[]): string => `| ${cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join(' | ')} |`;
  console.log(line(head));
  console.log(`|${widths.map((w, i) => (i === 0 ? ` ${'-'.repeat(w)} ` : ` ${'-'.repeat(w - 1)}: `)).join('|')}|`);
  for (const b of body) console.log(line(b));
  console.log('p50/p99/max: from the trigger message\'s 250 to its arrival at the sink; triggers: how many arrived (one sent every 100 ms)');
  for (const r of rows) for (const n of r.notes) console.log(`  trigger-latency${r.slowBatch ? '/slow' : ''}${r.shared ? '/shared' : ''}: ${n}`);
}
