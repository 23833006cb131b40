/**
 * spool/sqlite-throttles — the SQLite side of `ThrottleStore` (types-throttles.ts): slots as
 * rows of throttle_slots taken by one conditional upsert each (migration 22), pace rows moved
 * by a compare-and-set UPDATE. With SQLite the store has one node, but the rows and the
 * contract are PostgreSQL's, so the conformance scenarios run on both.
 *
 * Must never: decide a limit, a lease length or a pace (scheduler/shared-limits.ts).
 */
import type { Statement } from 'better-sqlite3';
import { BUSY_TIMEOUT_MS, type Db } from './db.js';
import type { SlotsByNode, ThrottleStore } from './types-throttles.js';
import { freeSlots, slotsRow } from './throttle-rows.js';

/**
 * How long a slot for a worker about to start may wait on the event loop for the write lock
 * (SQLite's busy handler sleeps 1 ms, then 2): about one commit of the writer thread, less
 * than the thread's queue and a turn of the loop for its answer.
 */
const TAKE_WAIT_MS = 3;

export class SqliteThrottles implements ThrottleStore {
  private readonly st: Record<'held' | 'take' | 'release' | 'renew' | 'drop' | 'byNode' | 'pace' | 'paceNew' | 'paceSet', Statement>;

  constructor(private readonly db: Db) {
    this.st = {
      held: db.prepare('SELECT slot, holder, lease_until FROM throttle_slots WHERE key = ?'),
      // Taken when free, expired or already the holder's.
      take: db.prepare(`INSERT INTO throttle_slots (key, slot, holder, node_id, lease_until) VALUES (@key, @slot, @holder, @nodeId, @until)
                        ON CONFLICT (key, slot) DO UPDATE SET holder = excluded.holder, node_id = excluded.node_id, lease_until = excluded.lease_until
                        WHERE throttle_slots.holder = excluded.holder OR throttle_slots.lease_until <= @now`),
      release: db.prepare('DELETE FROM throttle_slots WHERE key = ? AND slot = ? AND holder = ?'),
      renew: db.prepare('UPDATE throttle_slots SET lease_until = ? WHERE node_id = ?'),
      drop: db.prepare('DELETE FROM throttle_slots WHERE node_id = ?'),
      byNode: db.prepare(`SELECT node_id, COUNT(*) AS n, SUM(CASE WHEN lease_until <= ? THEN 1 ELSE 0 END) AS expired
                          FROM throttle_slots GROUP BY node_id ORDER BY node_id`),
      pace: db.prepare('SELECT next_at FROM throttle_pace WHERE key = ?'),
      paceNew: db.prepare('INSERT INTO throttle_pace (key, next_at) VALUES (?, ?) ON CONFLICT (key) DO NOTHING'),
      paceSet: db.prepare('UPDATE throttle_pace SET next_at = ? WHERE key = ? AND next_at = ?'),
    };
  }

  /** The spool's writer thread (spool/writer.ts), which runs `writes` there: where a write goes when it would wait here. */
  offThread: ((call: ThrottleCall) => Promise<unknown>) | undefined;

  /**
   * The writes themselves, synchronous. A worker takes a slot as it starts and gives one back
   * as it ends; a login code does both. On the event loop such a write used to wait in SQLite's
   * busy handler (sleeps of 1, 2, 5, 10 ms, nothing else running) whenever the writer thread
   * was committing (bench/RESULTS.md, 2026-12-06). Now it is tried here only while the write
   * lock is free, or comes free within TAKE_WAIT_MS for a worker waiting to start, and is
   * otherwise handed to the writer thread, where it waits for the commit in progress without
   * stopping the event loop. Handing a login code's slot to the thread every time made it wait
   * for the campaign's commits in the thread's queue: its p99 went up by 6–16 ms.
   */
  readonly writes: ThrottleWrites = {
    // One transaction: the read and the upserts see the same rows, and one commit ends them.
    takeSlot: (key, slots, holder, nodeId, now, leaseMs) => this.db.transaction(() => {
      for (const slot of freeSlots(slots, this.st.held.all(key) as Record<string, unknown>[], holder, now)) {
        if (this.st.take.run({ key, slot, holder, nodeId, now, until: now + leaseMs }).changes === 1) return slot;
      }
      return undefined;
    }).immediate(),
    releaseSlot: (key, slot, holder) => this.st.release.run(key, slot, holder).changes === 1,
    renewSlots: (nodeId, now, leaseMs) => this.st.renew.run(now + leaseMs, nodeId).changes,
    releaseNodeSlots: (nodeId) => this.st.drop.run(nodeId).changes,
    casPace: (key, expected, next) => (expected === undefined ? this.st.paceNew.run(key, next) : this.st.paceSet.run(next, key, expected)).changes === 1,
  };

  takeSlot(...args: Parameters<ThrottleWrites['takeSlot']>): Promise<number | undefined> { return this.write({ method: 'takeSlot', args }) as Promise<number | undefined>; }
  releaseSlot(...args: Parameters<ThrottleWrites['releaseSlot']>): Promise<boolean> { return this.write({ method: 'releaseSlot', args }) as Promise<boolean>; }
  renewSlots(...args: Parameters<ThrottleWrites['renewSlots']>): Promise<number> { return this.write({ method: 'renewSlots', args }) as Promise<number>; }
  releaseNodeSlots(...args: Parameters<ThrottleWrites['releaseNodeSlots']>): Promise<number> { return this.write({ method: 'releaseNodeSlots', args }) as Promise<number>; }
  casPace(...args: Parameters<ThrottleWrites['casPace']>): Promise<boolean> { return this.write({ method: 'casPace', args }) as Promise<boolean>; }

  async slotsByNode(now: number): Promise<SlotsByNode[]> {
    return (this.st.byNode.all(now) as Record<string, unknown>[]).map(slotsRow);
  }

  async readPace(key: string): Promise<number | undefined> {
    const r = this.st.pace.get(key) as { next_at: number } | undefined;
    return r?.next_at;
  }

  /**
   * One throttle write, committed without waiting for the disk (synchronous = NORMAL for its
   * length; this connection is FULL again before it returns, thrown or not). Its rows are
   * leases and a pace, not mail (PostgreSQL keeps them in unlogged tables): a row a power
   * failure takes back is a slot nobody holds, and a starting node drops its own slots anyway
   * (scheduler.start). On the event loop the
   * fsync of each take and give-back was 1–3 ms with nothing else running: 20 connections
   * opening at a start stopped the loop for about 60 ms (bench/RESULTS.md, 2026-12-06).
   * NORMAL, not OFF: a checkpoint this commit sets off still syncs, so the database stays
   * whole; the next FULL commit's fsync covers these frames as well.
   */
  run(call: ThrottleCall): number | boolean | undefined {
    this.db.pragma('synchronous = NORMAL');
    try {
      return runThrottleWrite(this.writes, call);
    } finally {
      this.db.pragma('synchronous = FULL');
    }
  }

  private async write(call: ThrottleCall): Promise<unknown> {
    if (!this.offThread) return this.run(call);
    this.db.pragma(`busy_timeout = ${call.method === 'takeSlot' ? TAKE_WAIT_MS : 0}`);
    try {
      return this.run(call);
    } catch (e) {
      // Nothing was written: the lock was taken (the writer thread commits), so the write waits there instead.
      if (String((e as { code?: unknown }).code).startsWith('SQLITE_BUSY')) return this.offThread(call);
      throw e;
    } finally {
      this.db.pragma(`busy_timeout = ${BUSY_TIMEOUT_MS}`);
    }
  }
}

/** The synchronous throttle writes, as the writer thread is asked for them (spool/writer.ts). */
export interface ThrottleWrites {
  takeSlot(key: string, slots: readonly number[], holder: string, nodeId: string, now: number, leaseMs: number): number | undefined;
  releaseSlot(key: string, slot: number, holder: string): boolean;
  renewSlots(nodeId: string, now: number, leaseMs: number): number;
  releaseNodeSlots(nodeId: string): number;
  casPace(key: string, expected: number | undefined, next: number): boolean;
}

/** One throttle write, by name and arguments: what crosses to the writer thread. */
export type ThrottleCall = { [K in keyof ThrottleWrites]: { method: K; args: Parameters<ThrottleWrites[K]> } }[keyof ThrottleWrites];

export function runThrottleWrite(w: ThrottleWrites, c: ThrottleCall): number | boolean | undefined {
  switch (c.method) {
    case 'takeSlot': return w.takeSlot(...c.args);
    case 'releaseSlot': return w.releaseSlot(...c.args);
    case 'renewSlots': return w.renewSlots(...c.args);
    case 'releaseNodeSlots': return w.releaseNodeSlots(...c.args);
    case 'casPace': return w.casPace(...c.args);
  }
}
