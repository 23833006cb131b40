/**
 * spool/pg-throttles — the throttle port on PostgreSQL (contract: types-throttles.ts),
 * answered as SQLite's (sqlite-throttles.ts): a slot is taken with one `INSERT ... ON
 * CONFLICT DO UPDATE ... WHERE` that succeeds only when the slot is free, its lease ran out,
 * or the caller holds it; PostgreSQL locks the conflicting row and checks the WHERE on its
 * latest version, so of nodes racing for one slot exactly one gets it. Pace rows move by an
 * UPDATE that names the value read. The tables are unlogged (pg-schema-throttles.ts).
 * Must never: decide a limit, a lease length or a pace (scheduler/shared-limits.ts).
 */
import type { PgPool } from './pg-pool.js';
import type { SlotsByNode, ThrottleStore } from './types-throttles.js';
import { firstTaken, freeSlots, slotsRow } from './throttle-rows.js';

export class PgThrottles implements ThrottleStore {
  constructor(private readonly pool: PgPool) {}

  async takeSlot(key: string, slots: readonly number[], holder: string, nodeId: string, now: number, leaseMs: number): Promise<number | undefined> {
    const held = await this.pool.query('SELECT slot, holder, lease_until FROM throttle_slots WHERE key = $1', [key]);
    return firstTaken(freeSlots(slots, held.rows, holder, now), async (slot) => {
      const r = await this.pool.query(
        `INSERT INTO throttle_slots (key, slot, holder, node_id, lease_until) VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (key, slot) DO UPDATE SET holder = excluded.holder, node_id = excluded.node_id, lease_until = excluded.lease_until
         WHERE throttle_slots.holder = excluded.holder OR throttle_slots.lease_until <= $6`,
        [key, slot, holder, nodeId, now + leaseMs, now],
      );
      return r.rowCount === 1;
    });
  }

  async releaseSlot(key: string, slot: number, holder: string): Promise<boolean> {
    return ((await this.pool.query('DELETE FROM throttle_slots WHERE key = $1 AND slot = $2 AND holder = $3', [key, slot, holder])).rowCount ?? 0) === 1;
  }

  async renewSlots(nodeId: string, now: number, leaseMs: number): Promise<number> {
    return (await this.pool.query('UPDATE throttle_slots SET lease_until = $1 WHERE node_id = $2', [now + leaseMs, nodeId])).rowCount ?? 0;
  }

  async releaseNodeSlots(nodeId: string): Promise<number> {
    return (await this.pool.query('DELETE FROM throttle_slots WHERE node_id = $1', [nodeId])).rowCount ?? 0;
  }

  async slotsByNode(now: number): Promise<SlotsByNode[]> {
    const { rows } = await this.pool.query(
      `SELECT node_id, COUNT(*) AS n, SUM(CASE WHEN lease_until <= $1 THEN 1 ELSE 0 END) AS expired
       FROM throttle_slots GROUP BY node_id ORDER BY node_id`, [now]);
    return rows.map(slotsRow);
  }

  async readPace(key: string): Promise<number | undefined> {
    const { rows } = await this.pool.query('SELECT next_at FROM throttle_pace WHERE key = $1', [key]);
    return rows[0] ? Number(rows[0]['next_at']) : undefined;
  }

  async casPace(key: string, expected: number | undefined, next: number): Promise<boolean> {
    const r = expected === undefined
      ? await this.pool.query('INSERT INTO throttle_pace (key, next_at) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING', [key, next])
      : await this.pool.query('UPDATE throttle_pace SET next_at = $1 WHERE key = $2 AND next_at = $3', [next, key, expected]);
    return r.rowCount === 1;
  }
}
