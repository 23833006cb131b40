/**
 * daemon/cluster — this node's place among the nodes sharing the store (issue 19): it
 * registers at start and beats every HEARTBEAT_MS (spool/types-cluster.ts), campaigning at
 * each beat for the one-at-a-time jobs it runs (util/cluster-jobs.ts), and releases them at
 * stop. Each beat also renews the node's cluster-wide connection slots (scheduler/shared-limits.ts),
 * so a live node keeps them and a dead node's run out. `clusterStatus` is what `mta cluster
 * status` and GET /api/v1/cluster show: the nodes with their last heartbeat (alive or
 * stale), the job leaders, the recipients each node holds in delivery and its connection slots.
 *
 * Must never: treat a stale node as dead for anything but display. Its work moves by its
 * leases running out (claims: types-leases.ts, jobs: util/cluster-jobs.ts), not by the
 * heartbeat, so a node that is slow to beat loses nothing it still holds.
 */
import type { Logger } from 'pino';
import type { ClusterStore, NodeInfo } from '../spool/types-cluster.js';
import type { ThrottleStore } from '../spool/types-throttles.js';
import { SLOT_LEASE_MS } from '../scheduler/shared-limits.js';
import type { JobLeader } from '../util/cluster-jobs.js';
import { WakeLoop } from '../util/wake-loop.js';

/**
 * How often a node beats: often enough that a dead node shows as stale, and its jobs move
 * (their leases, util/cluster-jobs.ts JOB_LEASE_MS, are three beats), within a minute; rare enough that the
 * beats of many nodes are no load (one upsert and a lease renewal per job, per node).
 */
export const HEARTBEAT_MS = 15_000;
/** A node not heard from for this long is shown as stale: three missed beats, not one slow one. */
export const STALE_AFTER_MS = 3 * HEARTBEAT_MS;

export interface HeartbeatDeps {
  store: ClusterStore & Pick<ThrottleStore, 'renewSlots'>;
  jobs: JobLeader;
  /** what the node says about itself, read at each beat (listeners bind after start-up) */
  info: () => NodeInfo;
  log: Logger;
  now?: () => number;
}

export class Heartbeat {
  private readonly now: () => number;
  private lastBeat = -Infinity;
  private readonly loop = new WakeLoop({
    // The loop's first pass comes right after start()'s registration: a beat that recent is enough.
    pass: async () => { if (this.now() - this.lastBeat >= HEARTBEAT_MS / 2) await this.beat(); },
    nextDelay: () => HEARTBEAT_MS,
    onError: (e) => { this.deps.log.warn({ err: (e as Error).message }, 'heartbeat not recorded; trying again at the next one'); return HEARTBEAT_MS; },
  });

  constructor(private readonly deps: HeartbeatDeps) {
    this.now = deps.now ?? Date.now;
  }

  /** Records this node as alive now and takes or renews the jobs it can lead. */
  async beat(): Promise<void> {
    const now = this.now();
    await this.deps.store.heartbeat(this.deps.jobs.nodeId, this.deps.info(), now);
    this.lastBeat = now;
    // The slot leases are three beats long: a beat renews them well before they run out.
    await this.deps.store.renewSlots(this.deps.jobs.nodeId, now, SLOT_LEASE_MS);
    await this.deps.jobs.campaign();
  }

  /** Registers this node (the first beat, awaited: a store that cannot record it fails the start) and beats from then on. */
  async start(): Promise<void> {
    await this.beat();
    this.loop.start();
  }

  /** Stops beating and hands the jobs over at once. */
  async stop(): Promise<void> {
    await this.loop.stop();
    await this.deps.jobs.releaseAll();
  }
}

/** The cluster as `mta cluster status` shows it (times ISO 8601). */
export interface ClusterStatus {
  /** the node that answered */
  node: string;
  at: string;
  heartbeat_s: number;
  stale_after_s: number;
  nodes: {
    node: string; hostname: string; version: string; listeners: string[]; started_at: string; last_heartbeat: string;
    /** seconds since the last heartbeat */
    age_s: number; status: 'alive' | 'stale'; jobs: string[]; sending: number;
    /** cluster-wide connection slots it holds (connections open or opening, idle ones in its pool included) */
    slots: number;
  }[];
  jobs: { job: string; leader: string; since: string; lease_until: string; state: 'held' | 'expired' }[];
  /** recipients in delivery per claiming node (node null: claims made before leases named one) */
  sending: { node: string | null; recipients: number; expired: number }[];
}

const iso = (ms: number): string => new Date(ms).toISOString();

/** Reads the cluster's tables and says what they mean at `now`. */
export async function clusterStatus(store: ClusterStore & Pick<ThrottleStore, 'slotsByNode'>, thisNode: string, now: number): Promise<ClusterStatus> {
  const [nodes, leases, sending, slots] = await Promise.all([store.listNodes(), store.listJobLeases(), store.sendingByNode(now), store.slotsByNode(now)]);
  const held = leases.filter((l) => l.leaseUntil > now);
  return {
    node: thisNode, at: iso(now), heartbeat_s: HEARTBEAT_MS / 1000, stale_after_s: STALE_AFTER_MS / 1000,
    nodes: nodes.map((n) => ({
      node: n.nodeId, hostname: n.hostname, version: n.version, listeners: [...n.listeners], started_at: iso(n.startedAt), last_heartbeat: iso(n.heartbeatAt),
      age_s: Math.max(0, Math.floor((now - n.heartbeatAt) / 1000)), status: now - n.heartbeatAt <= STALE_AFTER_MS ? 'alive' : 'stale',
      jobs: held.filter((l) => l.nodeId === n.nodeId).map((l) => l.job),
      sending: sending.find((s) => s.nodeId === n.nodeId)?.recipients ?? 0,
      slots: slots.find((s) => s.nodeId === n.nodeId)?.slots ?? 0,
    })),
    jobs: leases.map((l) => ({ job: l.job, leader: l.nodeId, since: iso(l.since), lease_until: iso(l.leaseUntil), state: l.leaseUntil > now ? 'held' : 'expired' })),
    sending: sending.map((s) => ({ node: s.nodeId, recipients: s.recipients, expired: s.expired })),
  };
}
