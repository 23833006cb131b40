/**
 * scheduler/contract — what the scheduler hands delivery and what delivery hands back
 * (issue 16: a request in, a result out). It lives with the scheduler because the scheduler
 * owns destinations and all timing; delivery imports these types and nothing of the
 * scheduler's state.
 *
 * A DeliveryResult says what happened to each recipient of one job (the reply, its
 * classification, the attempt's details) and what delivery learnt about the destination.
 * It must never carry a time to retry at, an expiry or a store write: the scheduler turns it
 * into outcomes (scheduler/outcomes.ts) and records them (scheduler/recorder.ts).
 */
import type { QueueEntry } from '../spool/types-queue.js';
import type { ReplyClass } from '../delivery/classify.js';
import type { DeliveryDestination, DeliveryJob, DestinationFeedback } from './destination.js';
import type { Pace } from './shared-limits.js';
import type { CarriedSlot } from '../delivery/pool.js';

export type { DeliveryDestination, DeliveryJob, DestinationFeedback };

/**
 * One destination's work for one delivery worker: the destination's limits (read-only), its
 * jobs handed out by the scheduler one at a time for the session the worker keeps open, and
 * the message pacer its shaping entry shares with other destinations, looked up once the
 * route is planned. Delivery never takes a job from the destination's queue itself.
 */
export interface DeliveryRequest {
  readonly destination: DeliveryDestination;
  /** the next job for this worker (trigger mail first); undefined when none is waiting */
  next(): DeliveryJob | undefined;
  /** every job still waiting, for one verdict that decides them all (DNS failure, unreachable) */
  rest(): DeliveryJob[];
  /** the shaping entry's message pace, kept for the whole cluster (scheduler/shared-limits.ts) */
  pacer(): Pace | undefined;
  /**
   * The worker's connection slot, for the session it leaves idle in the pool at its end:
   * taking it (once) makes the pool give the slot up when that connection is gone, not the
   * scheduler when the worker ends. Undefined when the worker holds none (an unreachable destination).
   */
  handOverSlot(): CarriedSlot | undefined;
}

/** What happened to one recipient in one attempt (or without one, `attempted: false`). */
export interface RecipientResult {
  entry: QueueEntry;
  /** the reply that decides it: the server's, or ours for a failure before or around the transaction */
  reply: string;
  cls: ReplyClass;
  /** whether this counts as a delivery attempt (a remembered-unreachable deferral does not) */
  attempted: boolean;
  /** when the attempt ended */
  at: number;
  /** attempt details: attempt number, MX, IP, TLS, duration, source, category, status, ... */
  detail: Record<string, unknown>;
}

/** What delivery hands back for one job: every recipient's result, plus destination feedback. */
export interface DeliveryResult {
  job: DeliveryJob;
  recipients: RecipientResult[];
  /** what this job taught about the destination (a rate-limit reply, every MX unreachable) */
  feedback?: DestinationFeedback | undefined;
  /**
   * Not attempted because the destination is remembered as unreachable: the scheduler
   * defers it no earlier than the end of that memory.
   */
  held?: boolean | undefined;
  /**
   * A time before which the job cannot go anyway, as delivery learnt it (its egress pool's
   * warm-up cap resets then); the scheduler defers no earlier, and no later than the lifetime.
   */
  notBefore?: number | undefined;
  /** the message's headers, read only when a DSN is due */
  headers(): Promise<string>;
}
