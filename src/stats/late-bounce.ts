/**
 * stats/late-bounce — the rule for what an asynchronous bounce of mail already delivered
 * (a "late bounce") counts for: pure, no storage (events/effects.ts turns it into effects
 * that the backend writes in the transaction that records the bounce). It is never a second outcome: `delivered`
 * stays counted, and the bounce is counted apart (late_bounces, plus late_invalid for an
 * invalid address, which the reputation reads as invalid rather than delivered), and on
 * its batch task.
 */

export type LateBounceCounter = 'late_bounces' | 'late_invalid';

/** Our own DSNs (null sender) belong to nobody and count nowhere. */
export function lateBounceEffects(status: number, sender: string, taskId: string | null): { counters: LateBounceCounter[]; task: boolean } {
  if (sender === '') return { counters: [], task: false };
  return { counters: status === 2 ? ['late_bounces', 'late_invalid'] : ['late_bounces'], task: taskId !== null };
}
