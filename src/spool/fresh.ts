/**
 * spool/fresh — the frame both backends put around intake's write for the fresh-mail
 * handoff (FreshTaker, spool/types-queue.ts): count the batch's recipients per lane, ask
 * the taker, run the backend's write with what it granted, hand over what that write
 * claimed, and tell the commit observers how many recipients still wait for claimDue. It
 * holds no rule: the taker decides how many, the backend's write claims them.
 */
import type { QueueId } from '../util/ids.js';
import type { CommitObserver, FreshTaker, IncomingMessage, LaneCounts, QueueEntry } from './types-queue.js';

export const NO_CLAIM: LaneCounts = Object.freeze({ trigger: 0, batch: 0 });

export function laneCounts(batch: readonly IncomingMessage[]): LaneCounts {
  const c = { trigger: 0, batch: 0 };
  for (const m of batch) c[m.lane] += m.recipients.length;
  return c;
}

const within = (n: number, max: number): number => Math.max(0, Math.min(Math.floor(n) || 0, max));

export class FreshHandoff {
  private taker: FreshTaker | undefined;
  private readonly observers = new Set<CommitObserver>();

  hand(taker: FreshTaker | undefined): void { this.taker = taker; }

  onCommit(observer: CommitObserver): () => void {
    this.observers.add(observer);
    return () => this.observers.delete(observer);
  }

  /** Tells the observers of committed mail; one that throws must not undo a commit or keep the others from hearing. */
  announce(ids: readonly QueueId[], waiting?: number): void {
    for (const o of this.observers) {
      try { o(ids, waiting); } catch { /* an observer's failure is its own */ }
    }
  }

  /**
   * Runs `write` (the batch's transaction, claiming `granted` recipients) and settles the
   * offer. A synchronous write stays synchronous: the group commit treats the two apart.
   */
  write(batch: readonly IncomingMessage[], write: (granted: LaneCounts) => QueueEntry[] | Promise<QueueEntry[]>): void | Promise<void> {
    // The taker asked is the one answered, even if another is handed in while the write runs.
    const taker = this.taker;
    const has = laneCounts(batch);
    let offered: LaneCounts | undefined;
    // The taker's trouble must not refuse mail: it then takes nothing, and the claims take it all.
    try { offered = taker?.offer(has); } catch { offered = undefined; }
    const granted = offered ? { trigger: within(offered.trigger, has.trigger), batch: within(offered.batch, has.batch) } : NO_CLAIM;
    const settle = (entries: readonly QueueEntry[]): void => {
      try { taker?.taken(granted, entries, batch); } catch { /* committed: the claims stand (this node's start-up recovery ends them) */ }
    };
    const done = (entries: readonly QueueEntry[]): void => {
      settle(entries);
      this.announce(batch.map((m) => m.id), has.trigger + has.batch - entries.length);
    };
    const failed = (e: unknown): never => { settle([]); throw e; };
    let running: QueueEntry[] | Promise<QueueEntry[]>;
    try { running = write(granted); } catch (e) { return failed(e); }
    if (running instanceof Promise) return running.then(done, failed);
    done(running);
  }
}
