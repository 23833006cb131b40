/**
 * spool/late-bounce — applies the late-bounce rule (stats/late-bounce.ts) inside the
 * transaction that records an asynchronous bounce of delivered mail
 * (spool/sqlite-inbound.ts): the daily counters and the batch task's counter.
 */
import type { SqliteStats } from './sqlite-stats.js';
import { lateBounceEffects } from '../stats/late-bounce.js';

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
