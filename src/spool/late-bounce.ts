/**
 * spool/late-bounce — what an asynchronous bounce of mail already delivered (a "late
 * bounce", spool/sqlite-inbound.ts) counts for, as a pure rule plus its application inside
 * the transaction that records the bounce. It is never a second outcome: `delivered`
 * stays counted, and the bounce is counted apart (stats_daily.late_bounces, and
 * late_invalid for an invalid address, which the reputation reads as invalid rather than
 * delivered; tasks.bounced_after_delivery).
 */
import type { SqliteStats, StatsCounter } from './sqlite-stats.js';

/** Our own DSNs (null sender) belong to nobody and count nowhere. */
export function lateBounceEffects(status: number, sender: string, taskId: string | null): { counters: StatsCounter[]; task: boolean } {
  if (sender === '') return { counters: [], task: false };
  return { counters: status === 2 ? ['late_bounces', 'late_invalid'] : ['late_bounces'], task: taskId !== null };
}

export interface LateBounceMessage { sender: string; receivedAt: number; tag: string | null; taskId: string | null }

/** Inside the caller's transaction. */
export function countLateBounce(stats: SqliteStats, task: (taskId: string) => void, m: LateBounceMessage, status: number): void {
  const fx = lateBounceEffects(status, m.sender, m.taskId);
  if (fx.counters.length > 0) {
    const key = stats.keyOf(m.sender, m.receivedAt, m.tag);
    for (const c of fx.counters) stats.bump(key, c);
  }
  if (fx.task && m.taskId !== null) task(m.taskId);
}
