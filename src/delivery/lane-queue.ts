/**
 * delivery/lane-queue — work waiting in two lanes, trigger first (SPEC §4: a login code never
 * waits behind a campaign). The DKIM signing thread keeps its requests in one
 * (dkim-thread.ts), so a trigger message's signature is the next one it starts, however
 * many campaign messages are already waiting there.
 *
 * Batch work is never held back forever: after TRIGGER_RUN trigger items taken in a row
 * while batch items wait, one batch item goes. A trigger sender that keeps the queue full
 * therefore slows a campaign down to one item in TRIGGER_RUN + 1, never to nothing.
 */
import type { Lane } from '../spool/types-queue.js';

export const TRIGGER_RUN = 16;

export class LaneQueue<T> {
  private readonly lanes: Record<Lane, T[]> = { trigger: [], batch: [] };
  /** trigger items taken in a row while batch items waited */
  private run = 0;

  push(lane: Lane, item: T): void { this.lanes[lane].push(item); }

  get size(): number { return this.lanes.trigger.length + this.lanes.batch.length; }

  /** The next item: trigger first, but a batch one after TRIGGER_RUN triggers in a row. */
  take(): T | undefined {
    const { trigger, batch } = this.lanes;
    if (trigger.length > 0 && (batch.length === 0 || this.run < TRIGGER_RUN)) {
      this.run = batch.length > 0 ? this.run + 1 : 0;
      return trigger.shift();
    }
    this.run = 0;
    return batch.shift();
  }
}
