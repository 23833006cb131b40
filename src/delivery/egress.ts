/**
 * delivery/egress — which local address a delivery leaves from (Postfix's
 * smtp_bind_address, KumoMTA's egress sources and pools). A job's pool comes from the first
 * `[[egress.rule]]` that matches its sending domain, lane, batch task and destination, else
 * `egress.default_pool`; within the pool a source is drawn by weight among those of this
 * node that are under their warm-up cap for the destination provider and under their
 * connection limit. When every source is over its warm-up cap the job is deferred to the
 * next UTC day, never failed; when they are only busy, it waits a moment.
 *
 * Counters (recipients sent, 4xx and 5xx replies per source, provider and UTC day) live in
 * memory and reach the spool (egress_daily) once a second and at close, so a crash forgets
 * at most a second of counting: a warm-up may overshoot by that much, never fail mail.
 * With no sources configured every pick is `none` and the kernel chooses, as before.
 * Must never: pick a source of another node, or one whose pool the job's rule did not name.
 */
import { createServer } from 'node:net';
import type { Logger } from 'pino';
import type { Config, EgressPool, EgressRule, EgressSource } from '../config/config.js';
import type { Lane } from '../spool/types-queue.js';
import type { EgressCount, EgressStore } from '../spool/types-egress.js';
import { DAY_MS, daysBetween, utcDay } from '../util/time.js';
import { MtaError } from '../util/errors.js';
import { metrics } from '../metrics/metrics.js';

/** What the selector needs to know of a job. */
export interface EgressJob { sender: string; lane: Lane; taskId?: string | undefined; domain: string; recipients: readonly unknown[] }

export type EgressPick =
  | { kind: 'none' }
  | { kind: 'source'; source: EgressSource; pool: string }
  /** every source of the pool is over its warm-up cap for this provider today */
  | { kind: 'capped'; pool: string; until: number; reply: string }
  /** every source of the pool that may send is at its connection limit */
  | { kind: 'busy'; pool: string };

/** How long a job waits when every source of its pool is at its connection limit. */
export const BUSY_RETRY_MS = 1000;
const FLUSH_MS = 1000;

/** Draws one entry with probability weight / total; undefined for an empty list. */
export function pickWeighted<T extends { weight: number }>(entries: readonly T[], random: () => number = Math.random): T | undefined {
  const total = entries.reduce((n, e) => n + e.weight, 0);
  let r = random() * total;
  for (const e of entries) {
    r -= e.weight;
    if (r < 0) return e;
  }
  return entries[entries.length - 1];
}

/** The source's warm-up day (1 on `warmup.from` and before it) and its cap per provider that day; null cap: no warm-up. */
export function warmupOf(s: EgressSource, day: string): { day: number; cap: number | null } {
  if (!s.warmup) return { day: 0, cap: null };
  const n = Math.max(1, daysBetween(s.warmup.from, day));
  return { day: n, cap: Math.min(Math.floor(s.warmup.start * s.warmup.factor ** (n - 1)), Number.MAX_SAFE_INTEGER) };
}

function matches(list: readonly string[], value: string): boolean {
  return list.length === 0 || list.includes(value) || list.includes('*');
}

export function ruleMatches(r: EgressRule, job: EgressJob): boolean {
  const sendingDomain = job.sender.slice(job.sender.lastIndexOf('@') + 1).toLowerCase();
  return matches(r.sendingDomains, sendingDomain) && (r.lanes.length === 0 || r.lanes.includes(job.lane))
    && (r.tasks.length === 0 || (!!job.taskId && r.tasks.includes(job.taskId))) && matches(r.destinations, job.domain.toLowerCase());
}

/**
 * The sources mail of a sending domain may leave from, on any node: those of the pools its
 * rules can name and of the default pool (every source when no domain is given). SPF must
 * pass for each, and each PTR must name its HELO.
 */
export function sourcesForDomain(e: Config['egress'], domain?: string): EgressSource[] {
  if (domain === undefined) return e.sources;
  const d = domain.toLowerCase();
  const pools = new Set(e.rules.filter((r) => matches(r.sendingDomains, d)).map((r) => r.pool));
  if (e.defaultPool !== null) pools.add(e.defaultPool);
  const names = new Set(e.pools.filter((p) => pools.has(p.name)).flatMap((p) => p.sources.map((m) => m.source)));
  return e.sources.filter((s) => names.has(s.name));
}

export interface EgressSourceStatus {
  name: string; address: string; helo: string; node: string | null; pools: string[];
  warmup_day: number | null; cap: number | null; in_use: number; max_connections: number | null;
  sent: number; deferred: number; blocked: number;
  providers: { provider: string; sent: number; cap: number | null; deferred: number; blocked: number }[];
}

export class EgressSelector {
  private day = '';
  /** `${source}\n${provider}` → today's counts */
  private counts = new Map<string, EgressCount>();
  private pending = new Map<string, EgressCount>();
  /** sessions of a source in use now (the delivery agent counts its live sessions) */
  inUse: (source: string) => number = () => 0;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private config: Pick<Config, 'egress' | 'node'>,
    private readonly store: EgressStore,
    private readonly log: Logger,
    private readonly now: () => number = Date.now,
    private readonly random: () => number = Math.random,
  ) {}

  get enabled(): boolean { return this.config.egress.sources.length > 0; }

  /** This node's sources (a source without `node` belongs to every node). */
  ownSources(): EgressSource[] {
    return this.config.egress.sources.filter((s) => s.node === undefined || s.node === this.config.node.id);
  }

  reload(config: Pick<Config, 'egress' | 'node'>): void { this.config = config; }

  /** Loads today's counters (a restart keeps the day's warm-up count) and starts the flush timer. */
  async start(): Promise<void> {
    await this.rollover();
    this.timer = setInterval(() => { void this.flush(); }, FLUSH_MS);
    this.timer.unref();
  }

  private async rollover(): Promise<void> {
    const day = utcDay(this.now());
    if (day === this.day) return;
    await this.flush();
    this.day = day;
    this.counts = new Map((await this.store.egressCounts(day)).map((c) => [`${c.source}\n${c.provider}`, c]));
  }

  poolFor(job: EgressJob): EgressPool | undefined {
    const e = this.config.egress;
    const name = e.rules.find((r) => ruleMatches(r, job))?.pool ?? e.defaultPool;
    return e.pools.find((p) => p.name === name);
  }

  /**
   * The source for this job's next attempt, its recipients counted against the source's
   * warm-up cap for `provider`. `holding`: the source of the session the caller holds
   * (released if another is picked), not counted against its connection limit. `full`: the
   * source is at another limit (its shaping entry's connections to this destination).
   * `claim` is called with the picked source before anything else runs.
   */
  async choose(job: EgressJob, provider: string, holding?: string, full: (source: string) => boolean = () => false, claim: (source: string) => void = () => {}): Promise<EgressPick> {
    if (!this.enabled) return { kind: 'none' };
    await this.rollover();
    const pool = this.poolFor(job);
    if (!pool) return { kind: 'none' };
    const own = new Map(this.ownSources().map((s) => [s.name, s]));
    const members = pool.sources.filter((m) => own.has(m.source));
    const warm = members.filter((m) => {
      const cap = warmupOf(own.get(m.source)!, this.day).cap;
      return cap === null || this.entry(m.source, provider).sent < cap;
    });
    if (warm.length === 0) {
      const until = Date.parse(`${this.day}T00:00:00Z`) + DAY_MS;
      const why = members.length === 0 ? 'has no source on this node' : `: every source reached its warm-up cap for ${provider} today`;
      return { kind: 'capped', pool: pool.name, until, reply: `451 4.7.0 egress pool ${pool.name} ${why}; waiting for the next day` };
    }
    const free = warm.filter((m) => {
      const max = own.get(m.source)!.maxConnections;
      return (max === undefined || this.inUse(m.source) - (m.source === holding ? 1 : 0) < max) && !full(m.source);
    });
    const picked = pickWeighted(free, this.random);
    if (!picked) return { kind: 'busy', pool: pool.name };
    this.bump(picked.source, provider, 'sent', job.recipients.length);
    claim(picked.source);
    return { kind: 'source', source: own.get(picked.source)!, pool: pool.name };
  }

  /** Takes back recipients counted by `choose` that were never handed to a connection (it could not be opened). */
  refund(source: string, provider: string, n: number): void { this.bump(source, provider, 'sent', -n); }

  /** Counts one reply (per recipient) for the reputation signals and metrics. */
  recordReply(source: string, provider: string, reply: string): void {
    const c = reply.charAt(0);
    const result = c === '2' ? 'delivered' : c === '4' ? 'deferred' : 'blocked';
    metrics.egressReplies.inc({ source, result });
    if (result !== 'delivered') this.bump(source, provider, result, 1);
  }

  private entry(source: string, provider: string, map = this.counts): EgressCount {
    const key = `${source}\n${provider}`;
    let e = map.get(key);
    if (!e) { e = { day: this.day, source, provider, sent: 0, deferred: 0, blocked: 0 }; map.set(key, e); }
    return e;
  }

  private bump(source: string, provider: string, field: 'sent' | 'deferred' | 'blocked', n: number): void {
    this.entry(source, provider)[field] += n;
    this.entry(source, provider, this.pending)[field] += n;
  }

  /** Writes the counts gathered since the last flush; kept for the next one when the spool refuses. */
  async flush(): Promise<void> {
    if (this.pending.size === 0) return;
    const deltas = [...this.pending.values()];
    this.pending = new Map();
    try {
      await this.store.addEgressCounts(deltas);
    } catch (e) {
      this.log.warn({ err: (e as Error).message }, 'egress counters could not be saved; trying again');
      for (const d of deltas) {
        const p = this.entry(d.source, d.provider, this.pending);
        if (p.day !== d.day) continue; // a past day's counts no longer cap anything
        p.sent += d.sent; p.deferred += d.deferred; p.blocked += d.blocked;
      }
    }
  }

  async close(): Promise<void> {
    clearInterval(this.timer);
    await this.flush();
  }

  /** Each source of this node: pools, warm-up day and cap, today's counts per provider. */
  async status(): Promise<{ day: string; node: string; sources: EgressSourceStatus[] }> {
    await this.rollover();
    const rows = [...this.counts.values()];
    return {
      day: this.day, node: this.config.node.id,
      sources: this.ownSources().map((s) => {
        const w = warmupOf(s, this.day);
        const mine = rows.filter((r) => r.source === s.name);
        const sum = (f: 'sent' | 'deferred' | 'blocked'): number => mine.reduce((n, r) => n + r[f], 0);
        return {
          name: s.name, address: s.address, helo: s.helo, node: s.node ?? null,
          pools: this.config.egress.pools.filter((p) => p.sources.some((m) => m.source === s.name)).map((p) => p.name),
          warmup_day: s.warmup ? w.day : null, cap: w.cap, in_use: this.inUse(s.name), max_connections: s.maxConnections ?? null,
          sent: sum('sent'), deferred: sum('deferred'), blocked: sum('blocked'),
          providers: mine.map((r) => ({ provider: r.provider, sent: r.sent, cap: w.cap, deferred: r.deferred, blocked: r.blocked })),
        };
      }),
    };
  }
}

/**
 * Start-up check: each of this node's sources must be an address of this machine. Binding
 * a listening socket to it (port 0, closed at once) proves that without sending anything.
 */
export async function checkSourceAddresses(sources: readonly EgressSource[]): Promise<void> {
  for (const s of sources) {
    await new Promise<void>((resolve, reject) => {
      const srv = createServer();
      srv.once('error', (e: NodeJS.ErrnoException) => reject(new MtaError('MTA_ERR_EGRESS_ADDRESS',
        `egress source "${s.name}": address ${s.address} cannot be used on this machine (${e.code ?? e.message}); add it to an interface or remove the source`)));
      srv.listen(0, s.address, () => srv.close(() => resolve()));
    });
  }
}
