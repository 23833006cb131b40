/**
 * scheduler/slots — this node's hand on the cluster-wide connection slots (rules:
 * scheduler/shared-limits.ts, rows: spool/types-throttles.ts): takes a slot for a worker
 * before it starts, names each holder uniquely, and gives a slot back exactly once, by the
 * worker at its end or, when the worker's session goes idle into the pool, by the pool when
 * that connection is gone (delivery/pool.ts). A release that cannot be written (the
 * database away for a moment) is tried again a few times: the heartbeat renews every slot of
 * the node, so a slot whose release was lost would stay held until the node starts again.
 */
import type { Logger } from 'pino';
import { randomBytes } from 'node:crypto';
import type { ThrottleStore } from '../spool/types-throttles.js';
import type { WorkerKind } from './destination.js';
import { SLOT_LEASE_MS, slotChoices } from './shared-limits.js';

/** A release that failed is tried again this often, this many times (a minute: longer than a database restart). */
const RELEASE_RETRY_MS = 5000;
const RELEASE_TRIES = 12;

/** A slot held by one worker (then by its idle session). */
export interface SlotLease {
  readonly key: string;
  readonly slot: number;
  /** the kind of worker the slot allows: a slot of the trigger reserve takes trigger mail only */
  readonly kind: WorkerKind;
  /** Gives the slot up (once; later calls do nothing). */
  release(): Promise<void>;
}

export class Slots {
  /** distinguishes this run's holders from a previous run's of the same node */
  private readonly run = randomBytes(4).toString('hex');
  private n = 0;

  constructor(private readonly store: Pick<ThrottleStore, 'takeSlot' | 'releaseSlot'>, private readonly nodeId: string, private readonly log: Logger) {}

  /** A slot of `key` for a worker of `kind` within `limit` (and the trigger reserve when trigger mail waits), or undefined when none is free. */
  async take(key: string, kind: WorkerKind, limit: number, triggerWaiting: boolean, now: number): Promise<SlotLease | undefined> {
    const choice = slotChoices(kind, limit, triggerWaiting);
    const holder = `${this.nodeId}/${this.run}/${++this.n}`;
    const slot = await this.store.takeSlot(key, choice.slots, holder, this.nodeId, now, SLOT_LEASE_MS);
    if (slot === undefined) return undefined;
    let released = false;
    return {
      key, slot, kind: choice.kindOf(slot),
      release: async () => {
        if (released) return;
        released = true;
        await this.release(key, slot, holder, 1);
      },
    };
  }

  private async release(key: string, slot: number, holder: string, attempt: number): Promise<void> {
    try {
      await this.store.releaseSlot(key, slot, holder);
    } catch (e) {
      const again = attempt < RELEASE_TRIES;
      this.log.warn({ key, slot, err: (e as Error).message, again }, again ? 'could not give a connection slot back; trying again'
        : 'could not give a connection slot back; it stays held by this node until it starts again');
      if (again) setTimeout(() => void this.release(key, slot, holder, attempt + 1), RELEASE_RETRY_MS).unref();
    }
  }
}
