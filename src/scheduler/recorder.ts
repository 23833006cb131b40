/**
 * scheduler/recorder — records what delivery hands back: a DeliveryResult becomes outcomes
 * (scheduler/outcomes.ts, all timing decided here) written to the spool with their metrics,
 * log lines and DSN; jobs handed back untouched (shutdown, operator ops, a spool that would
 * not take an outcome) return to the queue. Every job is reported settled to the scheduler
 * exactly once, whichever way it leaves.
 *
 * Must never: classify a reply or talk SMTP (delivery does), or hold a job after its write.
 */
import type { Logger } from 'pino';
import type { Config } from '../config/config.js';
import type { Store } from '../spool/types.js';
import type { RecipientOutcome } from '../spool/types-queue.js';
import type { DeliveryJob, DeliveryResult } from './contract.js';
import { outcomeOf } from './outcomes.js';
import { sendDsnFor } from '../delivery/notify.js';
import { countDelivery } from '../metrics/metrics.js';

/** How often a job the spool would not take back (disk full, locked) is offered again. */
const HAND_BACK_RETRY_MS = 2000;
/** How long a job whose delivery failed on a bug waits before it is offered again. */
const INTERNAL_ERROR_RETRY_MS = 60_000;

export class OutcomeRecorder {
  /** jobs already reported to the scheduler as settled (exactly once each) */
  private readonly settledJobs = new WeakSet<DeliveryJob>();
  /** once closed, start-up recovery queues whatever could not be handed back */
  closed = false;

  constructor(
    private readonly config: () => Config,
    private readonly store: Store,
    private readonly log: Logger,
    /** `back`: some of the job's recipients are in the queue again (deferred or handed back), with a time the scheduler must look at */
    private readonly settled: (job: DeliveryJob, back: boolean) => void,
  ) {}

  /** Turns one job's result into outcomes and records them; `notBefore` holds back a deferral of held mail. */
  async record(result: DeliveryResult, notBefore?: number): Promise<void> {
    const { job } = result;
    const delivery = this.config().delivery;
    const outcomes = result.recipients.map((r) => outcomeOf(r, delivery, notBefore !== undefined ? { notBefore } : {}));
    const finals = outcomes.filter((o) => o.kind === 'failed' || o.kind === 'expired');
    // Batch task mail gets no DSN: its outcomes are reported by events, and a VERP return path is ours.
    const dsn = finals.length > 0 && delivery.sendDsn && job.sender !== '' && !job.taskId;
    // The message's headers are read (from the spool) only for a DSN that will be sent.
    const headers = dsn ? await result.headers().catch(() => '') : undefined;
    await this.write(job, outcomes, finals, headers);
  }

  /** `headers`: the message's, when a DSN is due for `finals`; undefined when none is. */
  private async write(job: DeliveryJob, outcomes: RecipientOutcome[], finals: RecipientOutcome[], headers: string | undefined): Promise<void> {
    let handedBack = false;
    const back = outcomes.some((o) => o.kind === 'deferred');
    try {
      try {
        await this.store.recordOutcomes(outcomes);
      } catch (e) {
        // The spool cannot take the outcome now (disk full, locked past busy_timeout): the
        // job must not stay 'sending' until a restart. It goes back to the queue (offered
        // again until the spool takes that write too); delivered mail may go out twice.
        this.log.error({ queue_id: job.queueId, err: (e as Error).message }, 'delivery outcome could not be recorded; the job goes back to the queue');
        handedBack = true;
        await this.handBackLater([job], `outcome not recorded: ${(e as Error).message}`, this.config().delivery.retryScheduleMs[0] ?? 60_000);
        return;
      }
      for (const o of outcomes) {
        const r = job.recipients.find((e) => e.recipientId === o.recipientId)!;
        countDelivery(o.kind, o.detail['category'], r.receivedAt, o.at);
        this.log.info({
          queue_id: job.queueId, rcpt: r.rcpt, state: o.kind, mx: o.detail['mx'], ip: o.detail['ip'], tls: o.detail['tls'],
          reply: o.reply, duration_ms: o.detail['duration_ms'], attempt: o.detail['attempt'],
          ...(o.nextAttemptAt ? { next_attempt: new Date(o.nextAttemptAt).toISOString() } : {}),
        }, `delivery ${o.kind}`);
      }
      if (headers !== undefined) await sendDsnFor(this.store, this.config().hostname, job, finals, headers, this.log);
    } finally {
      if (!handedBack) this.settle(job, back);
    }
  }

  private settle(job: DeliveryJob, back: boolean): void {
    if (this.settledJobs.has(job)) return;
    this.settledJobs.add(job);
    this.settled(job, back);
  }

  /** A job whose delivery failed on a bug goes back, a minute later (never stranded in 'sending'). */
  afterError(job: DeliveryJob, reason: string): Promise<void> {
    return this.handBackLater([job], reason, INTERNAL_ERROR_RETRY_MS);
  }

  /**
   * Like handBack, but when the spool refuses the write too, offers it again every few
   * seconds until it takes it; each job is settled once it is back in the queue (which
   * wakes the scheduler). Once closed, start-up recovery queues the rows.
   */
  private async handBackLater(jobs: DeliveryJob[], reason: string, delayMs: number): Promise<void> {
    const left = [...jobs];
    try {
      while (left.length > 0) {
        const job = left[0]!;
        await this.store.requeue(job.recipients.map((r) => r.recipientId), Date.now() + delayMs, reason);
        left.shift();
        this.settle(job, true);
      }
    } catch (e) {
      if (this.closed) { for (const job of left) this.settle(job, true); return; }
      this.log.error({ queue_ids: left.map((j) => j.queueId), err: (e as Error).message, retry_ms: HAND_BACK_RETRY_MS }, 'jobs could not be returned to the queue; trying again');
      setTimeout(() => { void this.handBackLater(left, reason, delayMs); }, HAND_BACK_RETRY_MS).unref();
    }
  }

  /**
   * Returns jobs to the queue untouched (shutdown, operator ops): no attempt is counted.
   * One spool write for all of them, so a shutdown with a full ready set costs one fsync.
   * Every job is settled even if the write fails; its rows then stay 'sending' until
   * start-up recovery queues them again (as before, when each job had its own write).
   */
  async handBack(jobs: DeliveryJob[], reason?: string, delayMs = 0): Promise<void> {
    if (jobs.length === 0) return;
    try {
      await this.store.requeue(jobs.flatMap((j) => j.recipients.map((r) => r.recipientId)), Date.now() + delayMs, reason);
    } finally {
      for (const job of jobs) this.settle(job, true);
    }
  }
}
