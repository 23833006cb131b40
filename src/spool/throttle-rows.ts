/**
 * spool/throttle-rows — what both backends of the throttle port (types-throttles.ts) share:
 * which of the asked slots are worth an atomic take, read from the key's rows first, so a
 * full limit costs one read and no write (a slot is free when it has no row, its lease ran
 * out, or the caller holds it), and the rows as the contract's records. The take itself
 * stays one conditional upsert per slot in each backend: the read only saves attempts,
 * it decides nothing.
 */
import type { SlotsByNode } from './types-throttles.js';

/** Of `slots`, in their order, those the held rows (slot, holder, lease_until) leave free for `holder` at `now`. */
export function freeSlots(slots: readonly number[], held: readonly Record<string, unknown>[], holder: string, now: number): number[] {
  const taken = new Set(held.filter((r) => String(r['holder']) !== holder && Number(r['lease_until']) > now).map((r) => Number(r['slot'])));
  return slots.filter((s) => !taken.has(s));
}

/** Tries `candidates` in order with `take` (one atomic upsert each); the first taken. */
export async function firstTaken(candidates: readonly number[], take: (slot: number) => Promise<boolean>): Promise<number | undefined> {
  for (const s of candidates) if (await take(s)) return s;
  return undefined;
}

export function slotsRow(r: Record<string, unknown>): SlotsByNode {
  return { nodeId: String(r['node_id']), slots: Number(r['n']) - Number(r['expired'] ?? 0), expired: Number(r['expired'] ?? 0) };
}
