/**
 * spool/types-throttles — limits that hold for every node sharing the store (issue 19, in
 * the spirit of KumoMTA's shared throttles): connection slots, each a leased row (key, slot)
 * held by one connection of one node, and pace rows, one per paced key, holding the time the
 * next message may start, moved forward by compare-and-set.
 *
 * Holds no rules: which slot indices a limit has, how long a lease lasts, and the pace
 * arithmetic are the scheduler's (scheduler/shared-limits.ts). A backend must never let two
 * holders hold one (key, slot) with an unexpired lease, and never move a pace row that does
 * not hold the value the caller read.
 */

/** Slots held per node, for `mta cluster status`. */
export interface SlotsByNode {
  nodeId: string;
  /** slots held with an unexpired lease */
  slots: number;
  /** slots whose lease ran out (the node died or stalled): any node takes them over */
  expired: number;
}

export interface ThrottleStore {
  /**
   * Takes the first of `slots` (tried in that order) of `key` for `holder` on `nodeId` until
   * `now` + `leaseMs`, atomically per slot: a slot is taken when it has no row, its lease ran
   * out (lease_until <= now), or `holder` holds it already. The slot taken, or undefined when
   * every one is held by another holder with an unexpired lease (nothing changes then).
   */
  takeSlot(key: string, slots: readonly number[], holder: string, nodeId: string, now: number, leaseMs: number): Promise<number | undefined>;
  /** Gives the slot up if `holder` holds it; whether it did. */
  releaseSlot(key: string, slot: number, holder: string): Promise<boolean>;
  /** Extends every slot `nodeId` holds to `now` + `leaseMs` (a live node keeps its slots); how many. */
  renewSlots(nodeId: string, now: number, leaseMs: number): Promise<number>;
  /** Gives up every slot of `nodeId` (it is starting: nothing of its previous run is on the wire); how many. */
  releaseNodeSlots(nodeId: string): Promise<number>;
  /** Slots held per node, by node id; `now` tells which leases ran out. */
  slotsByNode(now: number): Promise<SlotsByNode[]>;
  /** The stored next start time of `key`'s pace, undefined when it has no row yet. */
  readPace(key: string): Promise<number | undefined>;
  /**
   * Sets `key`'s pace to `next` if it still holds `expected` (undefined: if it has no row
   * yet); whether it did. A caller that lost the race reads again.
   */
  casPace(key: string, expected: number | undefined, next: number): Promise<boolean>;
}
