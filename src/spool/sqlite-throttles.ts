/**
 * spool/sqlite-throttles — the SQLite side of `ThrottleStore` (types-throttles.ts): slots as
 * rows of throttle_slots taken by one conditional upsert each (migration 22), pace rows moved
 * by a compare-and-set UPDATE. With SQLite the store has one node, but the rows and the
 * contract are PostgreSQL's, so the conformance scenarios run on both.
 *
 * Must never: decide a limit, a lease length or a pace (scheduler/shared-limits.ts).
 */
import type { Statement } from 'better-sqlite3';
import type { Db } from './db.js';
import type { SlotsByNode, ThrottleStore } from './types-throttles.js';
import { firstTaken, freeSlots, slotsRow } from './throttle-rows.js';

export class SqliteThrottles implements ThrottleStore {
  private readonly st: Record<'held' | 'take' | 'release' | 'renew' | 'drop' | 'byNode' | 'pace' | 'paceNew' | 'paceSet', Statement>;

  constructor(db: Db) {
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

  async takeSlot(key: string, slots: readonly number[], holder: string, nodeId: string, now: number, leaseMs: number): Promise<number | undefined> {
    const candidates = freeSlots(slots, this.st.held.all(key) as Record<string, unknown>[], holder, now);
    return firstTaken(candidates, async (slot) => this.st.take.run({ key, slot, holder, nodeId, now, until: now + leaseMs }).changes === 1);
  }

  async releaseSlot(key: string, slot: number, holder: string): Promise<boolean> {
    return this.st.release.run(key, slot, holder).changes === 1;
  }

  async renewSlots(nodeId: string, now: number, leaseMs: number): Promise<number> {
    return this.st.renew.run(now + leaseMs, nodeId).changes;
  }

  async releaseNodeSlots(nodeId: string): Promise<number> {
    return this.st.drop.run(nodeId).changes;
  }

  async slotsByNode(now: number): Promise<SlotsByNode[]> {
    return (this.st.byNode.all(now) as Record<string, unknown>[]).map(slotsRow);
  }

  async readPace(key: string): Promise<number | undefined> {
    const r = this.st.pace.get(key) as { next_at: number } | undefined;
    return r?.next_at;
  }

  async casPace(key: string, expected: number | undefined, next: number): Promise<boolean> {
    return (expected === undefined ? this.st.paceNew.run(key, next) : this.st.paceSet.run(next, key, expected)).changes === 1;
  }
}
