/**
 * helpers/fault-world — the world the fault-injection tests (test/hardening/) break things
 * in: the real daemon as a child process (`mta start`) on a data dir of the test's
 * choosing, a DNS server and SMTP sinks on loopback, a webhook receiver, a mixed-load
 * generator (several authenticated clients submitting at once), and an audit that reads
 * the spool afterwards and says what was acknowledged, delivered, duplicated, lost, and
 * whether every recipient has exactly one final event that the receiver heard about.
 *
 * Never: it never decides pass/fail by timing. Waits are "until X, or give up after a
 * generous bound" and the assertion is on X.
 */
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { spawnDaemon, type ChildDaemon } from './child.js';
import { tempDir, PASSWORD } from './daemon.js';
import { startDnsServer, type TestDnsServer } from './dns-server.js';
import { freePort, startSink, type Sink, type SinkOptions } from './sink.js';
import { startReceiver, type Receiver } from './receiver.js';
import { RawSmtp, message } from './smtp-client.js';
import { openStoreAsync, type Store } from '../../src/spool/index.js';
import { openTestStore } from './store.js';
import { DB_FILE } from '../../src/spool/db.js';
import { Domains } from '../../src/accounts/domains.js';
import { Senders } from '../../src/accounts/senders.js';

export const SECRET = 'fault-world-webhook-secret';
export const FINAL_EVENTS = ['delivered', 'failed', 'expired', 'deleted'] as const;

export interface FaultWorldOptions {
  /** extra lines for [delivery] (they win over the defaults below, key by key) */
  delivery?: string[];
  /** extra lines for [webhooks] */
  webhooks?: string[];
  /** extra lines for [smtp] */
  smtp?: string[];
  /** use this data dir (a tmpfs mount, say) instead of one under the temp dir */
  dataDir?: string;
  /** the sink for ok.test (the load's destination) */
  sink?: SinkOptions;
  /** register an account-level webhook to the receiver (default true) */
  webhook?: boolean;
  /** run the daemon, and read the spool for the checks, on this PostgreSQL database instead of SQLite in the data dir */
  postgresUrl?: string;
}

export interface FaultWorld {
  dir: string;
  dataDir: string;
  configPath: string;
  dns: TestDnsServer;
  /** the port every sink listens on (delivery.port) */
  port: number;
  /** the MX of ok.test, on 127.0.0.2 */
  sink: Sink;
  sinks: Sink[];
  rx: Receiver;
  /** the webhook path on the receiver */
  hookPath: string;
  /** a sink on 127.0.0.<n> serving `domain` */
  addDomain(domain: string, n: number, opts?: SinkOptions): Promise<Sink>;
  start(): Promise<ChildDaemon>;
  /** runs fn on a store opened on the data dir (WAL: safe beside the running daemon) */
  inspect<T>(fn: (store: Store) => Promise<T> | T): Promise<T>;
  /** a store on what the daemon stores to (SQLite data dir or PostgreSQL), beside the running daemon; the caller closes it */
  open(): Promise<Store>;
  close(): Promise<void>;
}

/** "key = value" lines, the defaults first unless `own` sets the same key. */
function section(name: string, defaults: Record<string, string>, own: string[] = []): string {
  const keys = new Set(own.map((l) => /^\s*([\w.]+)\s*=/.exec(l)?.[1]).filter(Boolean));
  const lines = Object.entries(defaults).filter(([k]) => !keys.has(k)).map(([k, v]) => `${k} = ${v}`);
  return [`[${name}]`, ...lines, ...own].join('\n');
}

export async function startFaultWorld(opts: FaultWorldOptions = {}): Promise<FaultWorld> {
  const dir = tempDir('mta-fault-');
  const dataDir = opts.dataDir ?? join(dir, 'data');
  mkdirSync(dataDir, { recursive: true });
  const configPath = join(dir, 'mta.toml');
  const dns = await startDnsServer({});
  const port = await freePort();
  const rx = await startReceiver();
  const sinks: Sink[] = [];
  const addDomain = async (domain: string, n: number, o: SinkOptions = {}): Promise<Sink> => {
    dns.set(domain, { MX: [{ preference: 10, exchange: `mx.${domain}` }] });
    dns.set(`mx.${domain}`, { A: [`127.0.0.${n}`] });
    const s = await startSink(`127.0.0.${n}`, port, o);
    sinks.push(s);
    return s;
  };
  const sink = await addDomain('ok.test', 2, opts.sink ?? {});
  writeFileSync(configPath, [
    'hostname = "mta.test"', `data_dir = "${dataDir}"`,
    '[log]', 'level = "info"',
    '[[smtp.listen]]', 'address = "127.0.0.1:0"', 'tls = "none"',
    section('smtp', { allow_insecure_auth: 'true', max_connections_per_ip: '200', max_recipients: '100' }, opts.smtp),
    '[domains]', 'require_verified = false',
    section('delivery', {
      port: String(port), retry_schedule: '["300ms", "600ms"]', retry_jitter: '0', send_dsn: 'false',
      connect_timeout: '"3s"', socket_timeout: '"3s"', idle_timeout: '"1s"', shutdown_timeout: '"2s"',
      unreachable_backoff: '"300ms"',
    }, opts.delivery),
    '[dns]', `servers = ["${dns.server}"]`,
    '[admin]', 'listen = "127.0.0.1:0"',
    section('webhooks', { allow_private: 'true', retry_schedule: '["100ms", "200ms"]', retry_jitter: '0', timeout: '"2s"', max_age: '"1h"' }, opts.webhooks),
    ...(opts.postgresUrl ? ['[storage]', `node_id = "${DAEMON_NODE}"`, 'backend = "postgres"', `postgres_url = "${opts.postgresUrl}"`, 'pool_size = 4'] : []),
    '',
  ].join('\n'));
  const hookPath = '/events';
  const open = (): Promise<Store> => openSpool(dataDir, opts.postgresUrl);
  const seed = await open();
  try {
    await new Domains(seed).add('example.com', { algorithm: 'ed25519' });
    await new Senders(seed).add({ address: 'app@example.com', type: 'trigger', password: PASSWORD });
    if (opts.webhook !== false) await seed.addWebhook({ url: rx.url(hookPath), sender: null, events: '*', format: 'json', secret: SECRET, createdAt: Date.now() });
  } finally {
    await seed.close();
  }
  return {
    dir, dataDir, configPath, dns, port, sink, sinks, rx, hookPath, addDomain,
    start: () => spawnDaemon(configPath), open,
    async inspect(fn) {
      return withSpool(open, async (store) => fn(store));
    },
    async close() {
      for (const s of sinks) await s.close();
      await rx.close();
      await dns.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/**
 * Everything the child wrote, once it has exited: 'exit' may come before the last bytes
 * of its stdout were read, 'close' comes after.
 */
export async function finalOutput(d: ChildDaemon): Promise<string> {
  await d.exited;
  if (d.proc.stdout && !d.proc.stdout.readableEnded) {
    await new Promise<void>((r) => { d.proc.once('close', () => r()); setTimeout(r, 5000).unref(); });
  }
  return d.output();
}

/** Stops a child: SIGTERM, then SIGKILL if it is still there after `graceMs`. */
export async function stopChild(d: ChildDaemon, graceMs = 30_000): Promise<number | null> {
  if (d.proc.exitCode !== null || d.proc.signalCode !== null) return d.proc.exitCode;
  d.proc.kill('SIGTERM');
  const t = setTimeout(() => d.proc.kill('SIGKILL'), graceMs);
  try { return await d.exited; } finally { clearTimeout(t); }
}

// ---------------------------------------------------------------------------------------
// Load

export interface Acked { queueId: string; rcpts: string[] }

export interface Load {
  acked: Acked[];
  /** DATA answered with something else than 250, or the connection died mid-transaction */
  refused: number;
  replies: Map<number, number>;
  /** resolves when every client is done (perClient messages sent, or its connection died) */
  done: Promise<void>;
  stop(): Promise<void>;
}

export interface LoadOptions {
  clients?: number;
  /** a unique prefix for this run's recipients (so rounds never collide) */
  prefix: string;
  domain?: string;
  /** recipients per message: 1..max (default 3) */
  maxRcpts?: number;
  /** stop after this many messages per client (default: until stop()) */
  perClient?: number;
  bodyLines?: number;
}

/**
 * Several clients, each one authenticated session sending message after message (1..3
 * recipients each) until stopped or its connection dies. A message counts as acknowledged
 * only when its 250 arrived.
 */
export function startLoad(port: number, o: LoadOptions): Load {
  const acked: Acked[] = [];
  const replies = new Map<number, number>();
  const state = { stop: false, refused: 0 };
  const one = async (n: number): Promise<void> => {
    let c: RawSmtp;
    try {
      c = await RawSmtp.connect(port);
      await c.greet(); await c.ehlo();
      if ((await c.authPlain('app@example.com', PASSWORD)).code !== 235) return;
    } catch { return; }
    try {
      for (let i = 0; !state.stop && (o.perClient === undefined || i < o.perClient); i++) {
        const k = 1 + ((n + i) % (o.maxRcpts ?? 3));
        const rcpts = Array.from({ length: k }, (_, j) => `${o.prefix}-c${n}-m${i}-r${j}@${o.domain ?? 'ok.test'}`);
        try {
          if ((await c.cmd('MAIL FROM:<app@example.com>')).code !== 250) { state.refused++; return; }
          for (const r of rcpts) if ((await c.cmd(`RCPT TO:<${r}>`)).code !== 250) { state.refused++; return; }
          const d = await c.data(message('app@example.com', rcpts[0]!, `${o.prefix} ${n}/${i}`, 'load line\r\n'.repeat(o.bodyLines ?? 20)) + '.\r\n');
          replies.set(d.code, (replies.get(d.code) ?? 0) + 1);
          if (d.code === 250) acked.push({ queueId: d.text.split(' ').pop()!, rcpts });
          else state.refused++;
        } catch { state.refused++; return; }
      }
    } finally {
      await c.quit().catch(() => undefined);
    }
  };
  const all = Promise.all(Array.from({ length: o.clients ?? 4 }, (_, n) => one(n)));
  return {
    acked, replies, done: all.then(() => undefined),
    get refused() { return state.refused; },
    async stop() { state.stop = true; await all; },
  };
}

/** One message in its own session; resolves with the DATA reply (never throws on a refusal). */
export async function submitOne(port: number, rcpts: string[], o: { subject?: string; body?: string } = {}): Promise<{ code: number; text: string; acked?: Acked }> {
  const c = await RawSmtp.connect(port);
  try {
    await c.greet(); await c.ehlo();
    const auth = await c.authPlain('app@example.com', PASSWORD);
    if (auth.code !== 235) return { code: auth.code, text: auth.text };
    const m = await c.cmd('MAIL FROM:<app@example.com>');
    if (m.code !== 250) return { code: m.code, text: m.text };
    for (const r of rcpts) { const x = await c.cmd(`RCPT TO:<${r}>`); if (x.code !== 250) return { code: x.code, text: x.text }; }
    const d = await c.data(message('app@example.com', rcpts[0]!, o.subject ?? 'one', o.body ?? 'hello\r\n') + '.\r\n');
    return { code: d.code, text: d.text, ...(d.code === 250 ? { acked: { queueId: d.text.split(' ').pop()!, rcpts } } : {}) };
  } finally {
    await c.quit();
  }
}

/** Polls `fn` until it returns something other than false/undefined; throws after `ms`. */
export async function until<T>(what: string, fn: () => Promise<T | false | undefined> | T | false | undefined, ms = 60_000, stepMs = 50): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v !== false && v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, stepMs));
  }
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

// ---------------------------------------------------------------------------------------
// Audit

export interface SpoolCounts {
  recipients: number;
  /** recipients not yet in a final state, by state */
  waiting: Record<string, number>;
  sending: number;
  /** recipients whose history has a number of final events other than one (once final) */
  badFinal: { id: number; rcpt: string; state: string; finals: number }[];
  finalEvents: number;
  /** webhook outbox rows not yet delivered (pending, failed) and given up (dead) */
  outboxOpen: number;
  outboxDead: number;
}

const FINAL_STATES = ['delivered', 'failed', 'expired', 'suppressed'];

/** The daemon's node id on PostgreSQL; the checks' stores are nodes of their own beside it. */
const DAEMON_NODE = 'fault-daemon';

/** A store on the child's data dir (WAL lets both in), or on its PostgreSQL database as a node of its own. */
function openSpool(dataDir: string, postgresUrl: string | undefined): Promise<Store> {
  if (!postgresUrl) return Promise.resolve(openTestStore(dataDir));
  return openStoreAsync({
    dataDir, timeZone: 'UTC', spool: { commitWindowMs: 0, maxCommitBatch: 64, writerThread: false },
    storage: { nodeId: 'fault-audit', backend: 'postgres', postgres: { url: postgresUrl, poolSize: 2 } },
  });
}

async function withSpool<T>(open: () => Promise<Store>, fn: (store: Store) => Promise<T>): Promise<T> {
  const store = await open();
  try { return await fn(store); } finally { await store.close(); }
}

interface SpoolRead { rows: { id: number; rcpt: string; state: string; finals: number }[]; finals: { type: string; queueId: string; rcpt: string }[]; outbox: Record<string, number> }

/** Every recipient with its final events, and the webhook outbox, through the store's ports (audit, messages, webhooks). */
async function readSpool(open: () => Promise<Store>): Promise<SpoolRead> {
  return withSpool(open, async (store) => {
    const rows: SpoolRead['rows'] = [];
    const finals: SpoolRead['finals'] = [];
    for (const queueId of await store.auditMessageIds()) {
      const m = await store.getMessage(queueId);
      for (const r of m?.recipients ?? []) {
        const mine = (m?.events ?? []).filter((e) => e.recipientId === r.recipientId && (FINAL_EVENTS as readonly string[]).includes(e.type));
        rows.push({ id: r.recipientId, rcpt: r.rcpt, state: r.state, finals: mine.length });
        for (const e of mine) finals.push({ type: e.type, queueId, rcpt: r.rcpt });
      }
    }
    return { rows, finals, outbox: await store.webhookBacklog() };
  });
}

/** One read of the spool through the store (the daemon keeps running): a world's, or a SQLite data dir's. */
export async function spoolCounts(at: Pick<FaultWorld, 'open'> | string): Promise<SpoolCounts> {
  return countsOf(await readSpool(typeof at === 'string' ? () => openSpool(at, undefined) : at.open));
}

function countsOf({ rows, outbox }: SpoolRead): SpoolCounts {
  const waiting: Record<string, number> = {};
  for (const r of rows) if (!FINAL_STATES.includes(r.state)) waiting[r.state] = (waiting[r.state] ?? 0) + 1;
  const ob = (s: string): number => outbox[s] ?? 0;
  return {
    recipients: rows.length, waiting, sending: waiting['sending'] ?? 0,
    badFinal: rows.filter((r) => (FINAL_STATES.includes(r.state) && r.state !== 'suppressed' ? r.finals !== 1 : r.finals !== 0)),
    finalEvents: rows.reduce((n, r) => n + r.finals, 0),
    outboxOpen: ob('pending') + ob('failed'), outboxDead: ob('dead'),
  };
}

/** Everything in the spool is final and every webhook event is out (or dead). */
export function settled(c: SpoolCounts): boolean {
  return Object.keys(c.waiting).length === 0 && c.outboxOpen === 0;
}

export interface AuditRow {
  rounds: number;
  acknowledged: number;
  delivered: number;
  duplicates: number;
  lost: number;
  finalEvents: number;
  badFinal: number;
  webhookEvents: number;
  webhookMissing: number;
}

/**
 * What happened to the acknowledged recipients: delivered (at the sinks, by address),
 * duplicates (copies beyond the first), lost (never arrived); every recipient in the spool
 * with exactly one final event; every final event heard by the webhook receiver (2xx).
 */
export async function audit(w: FaultWorld, acked: readonly Acked[], rounds: number): Promise<AuditRow & { lostList: string[]; missingList: string[] }> {
  const copies = new Map<string, number>();
  for (const s of w.sinks) for (const m of s.messages) for (const t of m.to) copies.set(t.toLowerCase(), (copies.get(t.toLowerCase()) ?? 0) + 1);
  const want = acked.flatMap((a) => a.rcpts);
  const lostList = want.filter((r) => !copies.has(r.toLowerCase()));
  const duplicates = want.reduce((n, r) => n + Math.max(0, (copies.get(r.toLowerCase()) ?? 0) - 1), 0);
  const read = await readSpool(w.open);
  const c = countsOf(read);
  const heard = new Set<string>();
  for (const r of w.rx.acked(w.hookPath)) {
    const e = JSON.parse(r.body) as { event: string; env_id: string; rcpt: string };
    heard.add(`${e.event} ${e.env_id} ${e.rcpt}`);
  }
  const missingList = read.finals.map((f) => `${f.type} ${f.queueId} ${f.rcpt}`).filter((k) => !heard.has(k));
  return {
    rounds, acknowledged: want.length, delivered: want.length - lostList.length, duplicates, lost: lostList.length,
    finalEvents: c.finalEvents, badFinal: c.badFinal.length, webhookEvents: heard.size, webhookMissing: missingList.length,
    lostList, missingList,
  };
}

/** Integrity of the database file (PRAGMA integrity_check), read beside the running daemon. */
export function integrity(dataDir: string): string {
  const db = new Database(join(dataDir, DB_FILE), { readonly: true, fileMustExist: true });
  try {
    db.pragma('busy_timeout = 5000');
    return (db.pragma('integrity_check') as { integrity_check: string }[]).map((r) => r.integrity_check).join('; ');
  } finally { db.close(); }
}

/** The summary table soak prints (and the quick tests put in their comments). */
export function table(rows: (AuditRow & { name: string })[]): string {
  const cols: (keyof AuditRow | 'name')[] = ['name', 'rounds', 'acknowledged', 'delivered', 'duplicates', 'lost', 'finalEvents', 'badFinal', 'webhookEvents', 'webhookMissing'];
  const head = ['scenario', 'rounds', 'acknowledged', 'delivered', 'duplicates', 'lost', 'final events', 'not one final', 'webhook events', 'webhook missing'];
  const cells = rows.map((r) => cols.map((k) => String(r[k])));
  const width = head.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i]!.length)));
  const line = (c: string[]): string => c.map((x, i) => (i === 0 ? x.padEnd(width[i]!) : x.padStart(width[i]!))).join('  ');
  return [line(head), line(width.map((n) => '-'.repeat(n))), ...cells.map(line)].join('\n');
}
