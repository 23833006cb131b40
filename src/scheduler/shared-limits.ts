/**
 * scheduler/shared-limits — the rules of the limits that hold for the whole cluster (issue
 * 19): a destination's connection cap (`max_connections_per_domain`, a shaping entry's
 * `max_connections`) and a shaping entry's `max_messages_per_second`, kept in the store's
 * throttle rows (spool/types-throttles.ts) so that three nodes with a cap of 2 open 2
 * connections, not 6. The store only applies the rows; what a slot index means, how long a
 * lease lasts, when to try again and the pace arithmetic are decided here.
 *
 * Slots: a limit of L has the slot indices 0..L-1 of its key. Trigger mail has a reserve
 * beyond them (destination.ts triggerReserve: a tenth of L, at least one), indices L..L+R-1
 * of the same key, so the reserve too counts for the whole cluster: with a cap of 10 the
 * cluster opens at most 11 connections, the eleventh for trigger mail only. A worker asks
 * for a slot within the limit first and, when trigger mail waits, for one of the reserve,
 * so a login code waits behind other trigger mail at most, never behind a campaign (SPEC §4).
 *
 * A slot is leased: the daemon's heartbeat renews every slot of its node (daemon/cluster.ts),
 * so a node that dies loses its slots when their lease runs out, and a node that starts
 * drops the ones its previous run left.
 *
 * Must never: hold state or a timer (scheduler/slots.ts does), or let a worker connect
 * without a slot. Caveat: a lost database (a crash, a failover) empties PostgreSQL's
 * unlogged throttle tables, so for one lease the nodes may hold up to twice a cap.
 */
import type { ThrottleStore } from '../spool/types-throttles.js';
import type { WorkerKind } from './destination.js';
import { triggerReserve } from './destination.js';

/**
 * How long a slot lasts without renewal: three heartbeats (daemon/cluster.ts HEARTBEAT_MS
 * is 15 s), as the job leases, so one slow beat loses nothing and a dead node's slots free
 * within a minute.
 */
export const SLOT_LEASE_MS = 45_000;

/** The first wait before trying again for a slot when none was free; it doubles while none is, up to SLOT_RETRY_MAX_MS. */
export const SLOT_RETRY_MS = 100;
export const SLOT_RETRY_MAX_MS = 1600;

/** Tries for a pace that keep losing the compare-and-set to other workers before it gives up (and does not pace). */
const PACE_TRIES = 64;

/** The key of a destination's connection slots. */
export function destinationSlotKey(domain: string): string { return `dest:${domain}`; }

/** The key of an egress source's connection slots to a destination (a source shaping entry's max_connections). */
export function sourceSlotKey(domain: string, source: string): string { return `source:${source}:${domain}`; }

/** The key of a shaping entry's message pace (per source for an entry naming sources). */
export function paceKey(entry: string, source?: string): string { return source === undefined ? `pace:${entry}` : `pace:${entry}:${source}`; }

/**
 * The slot indices a worker of `kind` may take, in the order to try them, with the kind of
 * worker each makes: within the limit first ('any'), then, when trigger mail waits, the
 * trigger reserve ('trigger': it takes trigger mail only). A 'trigger' worker is started when
 * the node's own workers fill the limit, so it asks the reserve only.
 */
export function slotChoices(kind: WorkerKind, limit: number, triggerWaiting: boolean): { slots: number[]; kindOf(slot: number): WorkerKind } {
  const within = kind === 'any' ? Array.from({ length: limit }, (_, i) => i) : [];
  const reserve = kind === 'trigger' || triggerWaiting ? Array.from({ length: triggerReserve(limit) }, (_, i) => limit + i) : [];
  return { slots: [...within, ...reserve], kindOf: (slot) => (slot < limit ? 'any' : 'trigger') };
}

/** How long to wait before the `failures`-th try again for a slot (1: the first). */
export function slotRetryDelay(failures: number): number {
  return Math.min(SLOT_RETRY_MAX_MS, SLOT_RETRY_MS * 2 ** Math.max(0, failures - 1));
}

/**
 * One message's pace: it starts at `at` (now, or the stored next start if that is later) and
 * the next may start one interval after it.
 */
export function paceStep(stored: number | undefined, now: number, perSecond: number): { at: number; next: number } {
  const at = Math.max(now, stored ?? 0);
  return { at, next: at + 1000 / perSecond };
}

/**
 * Reserves the next start of `key`'s pace in the store: milliseconds to wait from `now`.
 * Every worker of every node reads the row, computes its start and moves the row only if it
 * still holds what was read; a loser reads again, so workers reserving at once get distinct
 * starts one interval apart.
 */
export async function reservePace(store: Pick<ThrottleStore, 'readPace' | 'casPace'>, key: string, perSecond: number, now: number): Promise<number> {
  for (let i = 0; i < PACE_TRIES; i++) {
    const stored = await store.readPace(key);
    const { at, next } = paceStep(stored, now, perSecond);
    if (await store.casPace(key, stored, next)) return at - now;
  }
  // Only under a contention far beyond any configured rate: sending unpaced once beats stalling.
  return 0;
}

/** A pace shared through the store, as delivery sees it (scheduler/contract.ts). */
export interface Pace {
  /** Milliseconds the next message must wait; its start is reserved. */
  reserve(now: number): Promise<number>;
}

export function sharedPace(store: Pick<ThrottleStore, 'readPace' | 'casPace'>, key: string, perSecond: number): Pace {
  return { reserve: (now) => reservePace(store, key, perSecond, now) };
}
