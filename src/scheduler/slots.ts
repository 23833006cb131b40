/**
 * scheduler/slots — this node's hand on the cluster-wide connection slots (rules:
 * scheduler/shared-limits.ts, rows: spool/types-throttles.ts): takes a slot for a worker
 * before it starts, names each holder uniquely, and gives a slot back exactly once, by the
 * worker at its end or, when the worker's session goes idle into the pool, by the pool when
 * that connection is gone (delivery/pool.ts). A release that cannot be written (the
 * database away for a moment) is tried again a few times: the heartbeat renews every slot of
 * the node, so a slot whose release was lost would stay held until the node starts again.
 * `SlotGate` is the scheduler's way to them per destination: a slot, or a wait on one timer.
 *
 * Must never: give one slot back twice, or back while its connection is still open (an idle
 * one gives it back through the pool). Caveat: a session a worker puts back mid-run because
 * the egress selector picked another source idles in the pool without a slot (up to
 * `idle_timeout`), so with egress sources a destination may briefly see one more connection.
 */
import type { Logger } from 'pino';
import { randomBytes } from 'node:crypto';
import type { ThrottleStore } from '../spool/types-throttles.js';
import type { Destination, WorkerKind } from './destination.js';
import { SLOT_LEASE_MS, destinationSlotKey, slotChoices, slotRetryDelay } from './shared-limits.js';
import type { CarriedSlot, SessionPool } from '../delivery/pool.js';

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

/**
 * The scheduler's gate to the destination slots: a slot for a worker, or, when every slot is
 * held, one freed by closing an idle connection of this node that carries one
 * (delivery/pool.ts), or else a wait on one timer (a short one, longer each time none is free:
 * never a busy loop) after which the scheduler dispatches again.
 */
export class SlotGate {
  private timer: NodeJS.Timeout | undefined;
  private timerAt = Infinity;
  /** the lease behind each slot handed to an idle session (carry), so a worker adopting it holds that lease itself */
  private readonly carried = new WeakMap<CarriedSlot, SlotLease>();

  constructor(private readonly slots: Slots, private readonly idle: Pick<SessionPool, 'adoptSlot' | 'evict'>, private readonly dispatch: () => void) {}

  /**
   * A slot for a worker of `dest` within `limit` (null: none free; the destination waits).
   * First the slot of an idle session to the destination, if this worker may hold it: the
   * worker then takes that session, and nothing is written. A login code every few seconds
   * otherwise took a slot row and gave one back for each message (two writes to the spool,
   * each on the event loop or waiting for the writer thread's commits).
   */
  async take(dest: Destination, kind: WorkerKind, limit: number): Promise<SlotLease | null> {
    const key = destinationSlotKey(dest.domain);
    let triggerWaiting = dest.trigger.length > 0;
    const choice = slotChoices(kind, limit, triggerWaiting);
    const adopted = this.idle.adoptSlot(key, (slot) => choice.slots.includes(slot));
    if (adopted) {
      const lease = this.carried.get(adopted);
      dest.slotFreed();
      // The same lease (its holder and its release), with the kind this worker's limit gives it.
      return { key, slot: adopted.slot, kind: choice.kindOf(adopted.slot), release: lease ? lease.release : adopted.release };
    }
    for (;;) {
      triggerWaiting = dest.trigger.length > 0;
      const slot = await this.slots.take(key, kind, limit, triggerWaiting, Date.now());
      if (slot) { dest.slotFreed(); return slot; }
      if (!(await this.idle.evict(key))) break;
    }
    const delay = slotRetryDelay(dest.slotFailures + 1);
    dest.noSlot(Date.now(), delay, triggerWaiting);
    this.after(delay);
    return null;
  }

  /**
   * `lease` as an idle session carries it (delivery/pool.ts): given up when that connection is
   * gone, then `freed`; or adopted by the next worker (take), which holds the lease itself.
   */
  carry(lease: SlotLease, freed: () => void): CarriedSlot {
    const c: CarriedSlot = { key: lease.key, slot: lease.slot, release: () => lease.release().then(freed) };
    this.carried.set(c, lease);
    return c;
  }

  /** Mail waiting for a slot always has a timer to try again (a timer may fire a little before its time). */
  remind(dest: Destination, now: number): void {
    if (dest.slotWaitUntil > now && dest.pending > 0) this.after(dest.slotWaitUntil - now + 1);
  }

  stop(): void { clearTimeout(this.timer); }

  /** Dispatches in `delayMs` (one timer, the earliest asked for). */
  private after(delayMs: number): void {
    const at = Date.now() + delayMs;
    if (this.timer && this.timerAt <= at) return;
    clearTimeout(this.timer);
    this.timerAt = at;
    this.timer = setTimeout(() => { this.timer = undefined; this.timerAt = Infinity; this.dispatch(); }, delayMs);
  }
}
