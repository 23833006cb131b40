/**
 * scheduler/destination — the in-memory queue and limits of one recipient domain (Postfix's
 * per-destination queue in qmgr): its waiting jobs in two lanes, how many connections it
 * has and when it wants another (trigger mail gets one of its own rather than wait behind
 * batch mail on the wire), whether it is slowed down after a rate-limit reply or
 * remembered as unreachable, and the pacing of its shaping entry.
 *
 * Delivery does not set these limits: it reports what it learnt as DestinationFeedback and
 * the scheduler applies it here (`apply`), deciding every time span from its configuration.
 */
import type { Config, Shaping } from '../config/config.js';
import type { QueueId } from '../util/ids.js';
import type { Lane, QueueEntry } from '../spool/types-queue.js';
import { assertNever } from '../util/errors.js';

/** One SMTP transaction's worth of work: one message, one domain, up to N recipients. */
export interface DeliveryJob {
  queueId: QueueId;
  domain: string;
  lane: Lane;
  sender: string;
  size: number;
  receivedAt: number;
  recipients: QueueEntry[];
  /** the batch task of the message (no DSN: its outcomes are reported by events) */
  taskId?: string | undefined;
  /** the envelope MAIL FROM when it is not `sender` (VERP) */
  returnPath?: string | undefined;
}

/**
 * What delivery tells the scheduler about a destination: the route's shaping entry once
 * planned, a rate-limit reply (slow down), or every MX unreachable. It carries no times:
 * how long each lasts is the scheduler's decision (`delivery.slowdown`,
 * `delivery.unreachable_backoff`).
 */
export type DestinationFeedback =
  | { kind: 'shaping'; shaping: Shaping | undefined }
  | { kind: 'slow-down' }
  | { kind: 'unreachable'; reply: string };

/**
 * A destination as delivery sees it: its limits, read-only. Its jobs reach delivery through
 * the DeliveryRequest (scheduler/contract.ts), and what delivery learns goes back as
 * DestinationFeedback; this type makes a write to a limit or a take from the queue a
 * compile error in delivery/.
 */
export interface DeliveryDestination {
  readonly domain: string;
  readonly shaping: Shaping | undefined;
  readonly unreachableUntil: number;
  readonly unreachableReply: string;
  /** while slowed down: one message per second, shared by this destination's workers */
  readonly slowPacer: Pacer;
  isSlow(now: number): boolean;
  isUnreachable(now: number): boolean;
  messagesPerConnection(cfg: Config['delivery']): number;
}

/**
 * What kind of worker a destination wants next: 'any' takes its jobs trigger first, within
 * the connection limits; 'trigger' is one beyond them that takes only trigger mail (and ends
 * when none is left), because every worker within them is busy.
 */
export type WorkerKind = 'any' | 'trigger';

/**
 * How many of a destination's `limit` connections one of `nodes` live nodes may open: its
 * share, rounded up. The cluster-wide slots alone keep the cluster within the limit
 * (scheduler/slots.ts), but a node that has taken them keeps them as long as it has mail for
 * the destination (idle sessions hold theirs too), and the mail the other nodes claimed for
 * it would wait behind its whole backlog: with three nodes and a 30,000-member task one node
 * delivered 29,000. The queue is shared, so every node holds its part of a large
 * destination's mail, and the shares add up to the limit.
 */
export function nodeShare(limit: number, nodes: number): number {
  return Math.max(1, Math.ceil(limit / Math.max(1, nodes)));
}

/**
 * Connections beyond a limit that trigger mail may open when every one within it is busy
 * (a tenth of the limit, at least one): a login code must not wait for a campaign's
 * transaction to a slow receiver to end (SPEC §4), and the excess stays small and brief.
 */
export function triggerReserve(limit: number): number {
  return Math.max(1, Math.ceil(limit / 10));
}

/**
 * Pacing in this node's memory: a destination slowed down by a rate-limit reply (one message
 * per second, this node's feedback). A shaping entry's max_messages_per_second is paced for
 * the whole cluster instead (scheduler/shared-limits.ts sharedPace).
 */
export class Pacer {
  private nextAt = 0;
  constructor(private readonly perSecond: number) {}
  /** Milliseconds to wait before the next message may start; reserves its slot. */
  reserve(now: number, perSecond = this.perSecond): number {
    const at = Math.max(now, this.nextAt);
    this.nextAt = at + 1000 / perSecond;
    return at - now;
  }
}

export class Destination implements DeliveryDestination {
  readonly trigger: DeliveryJob[] = [];
  readonly batch: DeliveryJob[] = [];
  active = 0;
  /** workers started that have not asked for their first job yet: the jobs they will take are spoken for */
  fresh = 0;
  slowUntil = 0;
  unreachableUntil = 0;
  unreachableReply = '';
  shaping: Shaping | undefined;
  /** Pacer used while slowed down (1 message per second), shared by this destination's workers. */
  readonly slowPacer = new Pacer(1);
  /**
   * No cluster-wide connection slot was free at the last try (scheduler/shared-limits.ts):
   * no worker is started before this time (the scheduler's timer tries again then), and
   * how many tries in a row found none.
   */
  slotWaitUntil = 0;
  slotFailures = 0;
  /**
   * The workers this node may run for it, as the last dispatch computed (its share of the
   * limit, destination.ts nodeShare): when a node joins the cluster, the workers beyond it take
   * no more batch mail and end, so the slots they free go to the other nodes.
   */
  private share = Infinity;
  /** workers that take trigger mail only (the trigger reserve): beyond the limit by design, not counted against the share */
  private triggerOnly = 0;
  /** whether that try asked the trigger reserve too (trigger mail waited): if not, trigger mail arriving since need not wait */
  private reserveTried = false;

  constructor(readonly domain: string) {}

  push(job: DeliveryJob): void { (job.lane === 'trigger' ? this.trigger : this.batch).push(job); }

  /** Trigger mail first: a campaign never delays a login code. */
  next(): DeliveryJob | undefined { return this.trigger.shift() ?? this.batch.shift(); }

  get pending(): number { return this.trigger.length + this.batch.length; }

  /** Every waiting job, removed from the queue. */
  drain(): DeliveryJob[] { return [...this.trigger.splice(0), ...this.batch.splice(0)]; }

  /** Removes and returns the waiting jobs of one message. */
  withdraw(pred: (j: DeliveryJob) => boolean): DeliveryJob[] {
    const out: DeliveryJob[] = [];
    for (const list of [this.trigger, this.batch]) {
      for (let i = list.length - 1; i >= 0; i--) if (pred(list[i]!)) out.push(...list.splice(i, 1));
    }
    return out;
  }

  /** Applies delivery's feedback at `now` with the scheduler's time spans. */
  apply(fb: DestinationFeedback, cfg: Pick<Config['delivery'], 'slowdownMs' | 'unreachableBackoffMs'>, now: number): void {
    switch (fb.kind) {
      case 'shaping': this.shaping = fb.shaping; return;
      case 'slow-down': this.slowUntil = now + cfg.slowdownMs; return;
      case 'unreachable': this.unreachableUntil = now + cfg.unreachableBackoffMs; this.unreachableReply = fb.reply; return;
      default: assertNever(fb, 'destination feedback');
    }
  }

  /**
   * Whether to start another worker now, and which kind, with `totalActive` workers running
   * over all destinations. Within the limits, one worker per waiting job (the old rule).
   * Beyond that, trigger mail (asked for in the scheduler's trigger pass) never waits for a
   * busy worker: each trigger job that no fresh worker will take gets a worker of its own,
   * within the limits if there is room, else within the trigger reserve. Not for a
   * destination that asked us to slow down or that is unreachable: their limits stand.
   */
  workerWanted(cfg: Config['delivery'], now: number, totalActive: number, triggerPass: boolean, nodes = 1): WorkerKind | undefined {
    const unreachable = this.isUnreachable(now);
    // Waiting for a slot another node holds: the retry timer asks again (an unreachable destination connects nowhere, needs none).
    if (!unreachable && this.slotWaitUntil > now && !(triggerPass && !this.reserveTried && this.trigger.length > 0)) return undefined;
    // An unreachable destination needs one worker only: to defer its mail without connecting.
    // Of a cluster's limit, this node opens its share (the slots hold the limit itself: scheduler/slots.ts).
    const limit = unreachable ? 1 : nodeShare(this.connectionLimit(cfg, now), nodes);
    this.share = limit;
    const room = totalActive < cfg.maxConnections && this.active < limit;
    if (room && this.pending > this.active) return 'any';
    if (!triggerPass || unreachable || this.isSlow(now) || this.trigger.length <= this.fresh) return undefined;
    if (room) return 'any';
    const reserve = this.active < limit + triggerReserve(limit) && totalActive < cfg.maxConnections + triggerReserve(cfg.maxConnections);
    return reserve ? 'trigger' : undefined;
  }

  /**
   * A worker's view of the queue: `next` hands out its jobs (a 'trigger' worker gets trigger
   * mail only); `narrow` makes it a 'trigger' worker (its slot is one of the trigger reserve);
   * `ended` when the worker is gone. Keeps `active` and `fresh` true.
   */
  startWorker(kind: WorkerKind): { next(): DeliveryJob | undefined; narrow(): void; ended(): void } {
    this.active++;
    this.fresh++;
    if (kind === 'trigger') this.triggerOnly++;
    let first = true;
    const asked = (): void => { if (first) { first = false; this.fresh--; } };
    return {
      next: () => { asked(); return kind === 'trigger' || this.active - this.triggerOnly > this.share ? this.trigger.shift() : this.next(); },
      narrow: () => { if (kind !== 'trigger') { kind = 'trigger'; this.triggerOnly++; } },
      ended: () => { asked(); this.active--; if (kind === 'trigger') this.triggerOnly--; },
    };
  }

  /** A try for a slot found none: no new worker for `delayMs`. */
  noSlot(now: number, delayMs: number, reserveTried: boolean): void {
    this.slotFailures++;
    this.slotWaitUntil = now + delayMs;
    this.reserveTried = reserveTried;
  }

  /** A slot was taken, or one of this node's was given back: workers may start at once. */
  slotFreed(): void {
    this.slotFailures = 0;
    this.slotWaitUntil = 0;
  }

  isSlow(now: number): boolean { return this.slowUntil > now; }
  isUnreachable(now: number): boolean { return this.unreachableUntil > now; }

  connectionLimit(cfg: Config['delivery'], now: number): number {
    if (this.isSlow(now)) return 1;
    return this.shaping?.maxConnections ?? cfg.maxConnectionsPerDomain;
  }

  messagesPerConnection(cfg: Config['delivery']): number {
    return this.shaping?.maxMessagesPerConnection ?? cfg.maxMessagesPerConnection;
  }
}
