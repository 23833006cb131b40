/**
 * scheduler/fresh — the scheduler's side of the fresh-mail handoff (spool/fresh.ts): intake's
 * own commit claims as many of its recipients as the ready set has room for, so fresh mail
 * reaches a delivery worker without a claim round trip of its own (issue 23). Room is the
 * ready set's, as a claim counts it: batch mail up to ready_set_size, trigger mail also into
 * the reserve above it. What a commit on its way may still bring is reserved until that
 * commit settles, so two commits and a claim never overfill the ready set, and a queue
 * operation or a stop waits for such commits (`settled`) as they wait for a claim.
 */
import type { FreshTaker, IncomingMessage, LaneCounts, QueueEntry } from '../spool/types-queue.js';

const NONE: LaneCounts = Object.freeze({ trigger: 0, batch: 0 });

/** The room for claims right now (undefined: no claims may start), before what commits on their way reserved. */
export interface Room { batch: number; trigger: number }

export class FreshIntake implements FreshTaker {
  /** recipients granted to commits still on their way */
  reserved = 0;
  /** commits on their way that were granted some */
  private granted = 0;
  private waiters: (() => void)[] = [];

  constructor(private readonly room: () => Room | undefined, private readonly take: (entries: readonly QueueEntry[], messages?: readonly IncomingMessage[]) => void) {}

  offer(has: LaneCounts): LaneCounts {
    const room = this.room();
    if (!room) return NONE;
    const batch = Math.min(has.batch, Math.max(0, room.batch - this.reserved));
    const trigger = Math.min(has.trigger, Math.max(0, room.trigger - this.reserved - batch));
    if (batch + trigger === 0) return NONE;
    this.reserved += batch + trigger;
    this.granted++;
    return { trigger, batch };
  }

  taken(granted: LaneCounts, entries: readonly QueueEntry[], messages?: readonly IncomingMessage[]): void {
    const n = granted.trigger + granted.batch;
    if (n === 0) return;
    this.reserved -= n;
    this.granted--;
    try {
      if (entries.length > 0) this.take(entries, messages);
    } finally {
      if (this.granted === 0) for (const w of this.waiters.splice(0)) w();
    }
  }

  /** Resolves once no commit granted recipients is on its way: what they claimed is in the ready set. */
  settled(): Promise<void> {
    return this.granted === 0 ? Promise.resolve() : new Promise((resolve) => this.waiters.push(resolve));
  }
}
