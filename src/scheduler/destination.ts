/**
 * scheduler/destination — the in-memory queue and limits of one recipient domain (Postfix's
 * per-destination queue in qmgr): its waiting jobs in two lanes, how many connections it
 * has, whether it is slowed down after a rate-limit reply or remembered as unreachable, and
 * the pacing of its shaping entry.
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

/** Pacing shared by every destination matched to the same shaping entry. */
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
  slowUntil = 0;
  unreachableUntil = 0;
  unreachableReply = '';
  shaping: Shaping | undefined;
  /** Pacer used while slowed down (1 message per second), shared by this destination's workers. */
  readonly slowPacer = new Pacer(1);

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
