/**
 * delivery/agent — carries out the scheduler's decisions for one destination (Postfix's
 * smtp(8)): finds where its mail goes, connects (reusing pooled sessions), sends job after
 * job, turns every reply into an outcome, records it with its event, logs one line per
 * recipient attempt, and queues a DSN for final failures. Each job leaves from the egress
 * source the selector picks for it (delivery/egress.ts); a session of another source is
 * put back and one of the picked source taken or opened.
 */
import type { Logger } from 'pino';
import type { Store } from '../spool/types.js';
import type { QueueEntry, RecipientOutcome } from '../spool/types-queue.js';
// Delivery sees a destination read-only (its limits change only through feedback to the scheduler).
import type { DeliveryJob, DeliveryDestination as Destination, DestinationFeedback, Pacer } from '../scheduler/destination.js';
import { SourceShaping, providerOf, whereOf } from './source-shaping.js';
import { decide, type AttemptContext, type RetryPolicy } from './outcome.js';
import { SessionPool, sessionKey } from './pool.js';
import { SmtpSession, SessionError, type SessionTarget } from './transport.js';
import { asciiDomain, type Plan, type Router } from './router.js';
import { MessageCache, wireBody } from './message.js';
import { ReferenceStamp } from '../feedback/reference.js';
import { TrackedSender, type PartialSendError } from './tracked.js';
import { DkimPool } from './dkim-pool.js';
import { sendDsnFor } from './notify.js';
import { countDelivery } from '../metrics/metrics.js';
import { countSession, sessionTlsDetail, tlsPolicyDetail, tlsRequiredReply } from './tls-policy.js';
import type { TlsRptTally } from './tls-rpt.js';
import { BUSY_RETRY_MS, EgressSelector } from './egress.js';
import type { Config, EgressSource } from '../config/config.js';
import { isIP } from 'node:net';

export interface AgentHooks {
  /** a job's recipients all have their outcome recorded (or were handed back) */
  settled(job: DeliveryJob): void;
  /** stop taking new jobs: the daemon is shutting down */
  stopping(): boolean;
  pacerFor(dest: Destination): Pacer | undefined;
  /** what this worker learnt about the destination; the scheduler applies it (and decides for how long) */
  feedback(domain: string, fb: DestinationFeedback): void;
}

/** How often a job the spool would not take back (disk full, locked) is offered again. */
const HAND_BACK_RETRY_MS = 2000;

/**
 * Jobs settled with one reply are recorded this many at a time: enough to fill a spool
 * commit, few enough that the messages read for their DSNs stay bounded.
 */
const SETTLE_TOGETHER = 256;

/** How long a host whose TLS handshake failed is spoken to in plaintext. */
const TLS_BROKEN_MS = 60 * 60 * 1000;

const NON_ASCII = /[^\x00-\x7f]/;

function localPart(addr: string): string { return addr.slice(0, Math.max(addr.lastIndexOf('@'), 0)); }
function wireAddress(addr: string): string {
  const at = addr.lastIndexOf('@');
  return at < 0 ? addr : `${addr.slice(0, at)}@${asciiDomain(addr.slice(at + 1))}`;
}

export class DeliveryAgent {
  readonly pool: SessionPool;
  readonly messages: MessageCache;
  /** tracked messages: a rewritten, signed copy per recipient */
  readonly tracked: TrackedSender;
  /** DKIM signing threads (delivery.dkim_threads; read at start-up only), none when 0 */
  private readonly dkim: DkimPool | undefined;
  private readonly tlsBroken = new Map<string, number>();
  /** sessions in use, so a shutdown past its deadline can cut them */
  private readonly live = new Set<SmtpSession>();
  /** jobs on the wire, so a shutdown past its deadline can hand them back */
  private readonly onWire = new Set<DeliveryJob>();
  aborting = false;
  /** jobs already reported to the scheduler as settled (exactly once each) */
  private readonly settledJobs = new WeakSet<DeliveryJob>();
  private closed = false;
  readonly egress: EgressSelector;
  private readonly sourceShaping: SourceShaping;
  private readonly reference: ReferenceStamp;
  /** TLS-RPT session counts (delivery/tls-rpt.ts), set by the daemon when reports are on */
  tlsRpt: TlsRptTally | undefined;

  constructor(
    private config: Config,
    private readonly store: Store,
    private readonly router: Router,
    private readonly log: Logger,
    private readonly hooks: AgentHooks,
  ) {
    this.pool = new SessionPool({ idleTimeoutMs: config.delivery.idleTimeoutMs });
    this.dkim = config.delivery.dkimThreads > 0 ? new DkimPool(config.delivery.dkimThreads) : undefined;
    this.messages = new MessageCache(store, log, undefined, this.dkim);
    this.tracked = new TrackedSender(() => this.config, store, this.messages);
    this.egress = new EgressSelector(config, store, log);
    this.sourceShaping = new SourceShaping(router);
    this.egress.inUse = (name) => this.sourceShaping.inUse(name, this.live);
    this.reference = new ReferenceStamp(config.dataDir, (e) => log.error({ err: e.message }, 'no key for the feedback reference header; sending without it'));
  }

  reload(config: Config): void { this.config = config; this.egress.reload(config); this.sourceShaping.clear(); this.tracked.copies.reloadKeys(); }

  private get policy(): RetryPolicy { return this.config.delivery; }

  /** One worker: runs jobs for `dest` until none is left or the daemon stops. */
  async run(dest: Destination): Promise<void> {
    if (dest.isUnreachable(Date.now())) { await this.deferUnreachable(dest.drain(), dest); return; }
    const plan = await this.router.plan(dest.domain);
    if (!plan.ok) {
      if (plan.report) this.tlsRpt?.failure(plan.report.policy, plan.report.result);
      // One DNS answer decides every waiting job of the domain.
      await this.settleAll(dest.drain(), plan.reply, { mx: null, ip: null, tls: null }, true);
      return;
    }
    this.hooks.feedback(dest.domain, { kind: 'shaping', shaping: plan.shaping });
    const mxNames = plan.hops.map((h) => h.hostName);
    let session: SmtpSession | undefined;
    // Sessions held per source for this destination (counted from before connecting): a source shaping entry caps them.
    const drop = (s: SmtpSession | undefined): undefined => { if (s?.target.source) dest.countSourceSession(s.target.source.name, -1); return undefined; };
    try {
      while (!this.hooks.stopping()) {
        const job = dest.next();
        if (!job) break;
        if (dest.isUnreachable(Date.now())) {
          await this.deferUnreachable([job, ...dest.drain()], dest);
          break;
        }
        if (session && (!session.usable || session.messages >= dest.messagesPerConnection(this.config.delivery))) {
          this.release(session, dest);
          session = drop(session);
        }
        const holding = session?.target.source?.name;
        // Another source than the held session's is counted the moment it is picked (before
        // any await), so workers choosing meanwhile see its connection limits taken.
        const pick = await this.egress.choose(job, providerOf(dest), holding, this.sourceShaping.full(dest, mxNames, holding),
          (name) => { if (name !== holding) this.sourceShaping.opening(dest, name, 1); });
        if (pick.kind === 'capped') {
          // Over the warm-up cap everywhere in its pool: the job waits for tomorrow's cap, unattempted.
          await this.settleAll([job], pick.reply, { mx: null, ip: null, tls: null }, false, pick.until, { egress_pool: pick.pool });
          continue;
        }
        if (pick.kind === 'busy') { await this.handBack([job], 'egress sources at their connection limit', BUSY_RETRY_MS); continue; }
        const source = pick.kind === 'source' ? pick.source : undefined;
        if (session && session.target.source?.name !== source?.name) {
          this.release(session, dest);
          session = drop(session);
        }
        if (!session) {
          const c = await this.connect(plan, dest, source);
          if (source) {
            this.sourceShaping.opening(dest, source.name, -1);
            // No connection, nothing sent: the recipients no longer count toward the source's warm-up cap.
            if ('reply' in c) this.egress.refund(source.name, providerOf(dest), job.recipients.length); else dest.countSourceSession(source.name, 1);
          }
          if ('reply' in c) {
            if (c.unreachable) {
              this.hooks.feedback(dest.domain, { kind: 'unreachable', reply: c.reply });
              await this.settleAll([job], c.reply, whereOf(c.hop), true);
              await this.deferUnreachable(dest.drain(), dest);
              break;
            }
            await this.settleAll([job], c.reply, whereOf(c.hop), true, 0, c.hop ? tlsPolicyDetail(c.hop) : {});
            continue;
          }
          session = c.session;
          this.live.add(session);
        }
        this.onWire.add(job);
        try {
          const used: SmtpSession = session;
          session = (await this.sendJob(used, job, dest)) ?? drop(used);
        } catch (e) {
          if (!this.onWire.has(job)) { session = drop(session); continue; }
          // A bug must not strand the job in 'sending': it goes back, a minute later.
          this.log.error({ queue_id: job.queueId, err: (e as Error).stack ?? String(e) }, 'delivery failed unexpectedly; the job is queued again');
          await this.handBackLater([job], `internal error: ${(e as Error).message}`, 60_000);
          session = drop(session);
        } finally {
          this.onWire.delete(job);
        }
      }
    } finally {
      if (session) { this.release(session, dest); drop(session); }
    }
  }

  private release(session: SmtpSession, dest: Destination): void {
    this.live.delete(session);
    if (this.aborting) session.destroy();
    else this.pool.put(session, dest.messagesPerConnection(this.config.delivery));
  }

  private async pace(dest: Destination, t: SessionTarget): Promise<void> {
    const now = Date.now();
    const waits = [dest.isSlow(now) ? dest.slowPacer.reserve(now) : 0];
    const shared = this.hooks.pacerFor(dest);
    if (shared) waits.push(shared.reserve(now));
    waits.push(this.sourceShaping.wait(dest, t, now));
    const wait = Math.max(...waits);
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
  }

  private async connect(plan: Extract<Plan, { ok: true }>, dest: Destination, source: EgressSource | undefined): Promise<{ session: SmtpSession } | { reply: string; unreachable: boolean; hop?: SessionTarget }> {
    const failures: string[] = [];
    let allUnreachable = true;
    let lastReply: string | undefined;
    let lastHop: SessionTarget | undefined;
    // A source speaks its own address family only (an IPv4-only pool for a provider reaches its IPv4 MX addresses).
    const family = source ? isIP(source.address) : 0;
    const hops = plan.hops.filter((h) => family === 0 || isIP(h.address) === 0 || isIP(h.address) === family)
      .map((h) => (source ? { ...h, source: { name: source.name, address: source.address, helo: source.helo } } : h));
    for (const base of hops) {
      const broken = (this.tlsBroken.get(base.address) ?? 0) > Date.now();
      let hop: SessionTarget = broken && !base.requireTls ? { ...base, skipTls: true } : base;
      const idle = this.pool.take(sessionKey(hop));
      if (idle) return { session: idle };
      for (let tries = 0; tries < 2; tries++) {
        try {
          const session = await SmtpSession.open(hop, {
            ehloName: this.config.hostname, connectTimeoutMs: this.config.delivery.connectTimeoutMs, socketTimeoutMs: this.config.delivery.socketTimeoutMs,
          });
          this.pool.opened++;
          countSession(this.tlsRpt, hop, session.secure);
          return { session };
        } catch (e) {
          const se = e instanceof SessionError ? e : new SessionError('ECONNECTION', (e as Error).message, undefined, false, true, true);
          lastHop = hop;
          if (se.tlsFailed && hop.requireTls) {
            allUnreachable = false;
            lastReply = tlsRequiredReply(hop, dest.domain, se.reply ?? se.message, this.tlsRpt);
            break;
          }
          if (se.tlsFailed && !hop.skipTls) {
            // Opportunistic TLS: a broken handshake must not block delivery; plaintext for a while.
            this.tlsBroken.set(hop.address, Date.now() + TLS_BROKEN_MS);
            this.log.warn({ mx: hop.hostName, ip: hop.address, err: se.message }, 'TLS handshake failed; retrying this host without TLS');
            hop = { ...hop, skipTls: true };
            continue;
          }
          // A refusal at the greeting (554 "listed") is the plainest reputation signal of a source.
          if (source && se.reply) this.egress.recordReply(source.name, providerOf(dest), se.reply);
          if (!se.unreachable) allUnreachable = false;
          if (se.reply) lastReply = se.reply;
          failures.push(`${hop.hostName}[${hop.address}]:${hop.port}${source ? ` from ${source.name}` : ''}: ${se.reply ?? se.message}`);
          break;
        }
      }
    }
    if (hops.length === 0) failures.push(source && plan.hops.length > 0 ? `no address of the IPv${family} family of egress source ${source.name}` : 'no address to connect to');
    const summary = failures.join('; ');
    if (allUnreachable) return { reply: `427 4.4.1 Connect to UNREACHABLE host: ${summary}`, unreachable: true, ...(lastHop ? { hop: lastHop } : {}) };
    return { reply: lastReply ?? `451 4.4.0 ${summary}`, unreachable: false, ...(lastHop ? { hop: lastHop } : {}) };
  }

  /** Sends one job; returns the session if it can carry the next one. */
  private async sendJob(session: SmtpSession, job: DeliveryJob, dest: Destination): Promise<SmtpSession | undefined> {
    const started = Date.now();
    const t = session.target;
    const where = { ...whereOf(t), tls: session.secure };
    let info;
    try {
      info = await this.messages.get(job.queueId);
    } catch (e) {
      await this.settleAll([job], `451 4.3.0 the spooled message cannot be read: ${(e as Error).message}`, where, false);
      return session;
    }
    // Paced after connecting and signing, so the pace governs the messages themselves.
    await this.pace(dest, t);
    const mailFrom = job.returnPath ?? job.sender; // a batch task's VERP address, else the sender
    const needsUtf8 = NON_ASCII.test(localPart(mailFrom)) || job.recipients.some((r) => NON_ASCII.test(localPart(r.rcpt)));
    if (needsUtf8 && !session.offersSmtpUtf8) {
      await this.settleAll([job], `553 5.6.7 ${t.hostName} does not offer SMTPUTF8, which this message needs for its non-ASCII addresses`, where, true);
      return session;
    }
    const byWire = new Map<string, QueueEntry>();
    for (const r of job.recipients) byWire.set(wireAddress(r.rcpt), r);
    // The signed reference a complaint maps back by (feedback/reference.ts): it names the
    // recipient only when this transaction carries just one.
    const ref = this.reference.header(job.queueId, byWire.size === 1 ? job.recipients[0]!.recipientId : undefined);
    let replies: Map<string, string>;
    let keep: SmtpSession | undefined = session;
    const trackingDetail: Record<string, unknown> = {};
    try {
      const from = mailFrom ? wireAddress(mailFrom) : '';
      const tracking = info.tracking;
      // A tracked message goes as one copy per recipient, each with its own reference.
      const res = tracking
        ? await this.tracked.send(session, from, byWire, { ...info, tracking }, job.queueId, trackingDetail, (e) => this.reference.header(job.queueId, e.recipientId))
        : await session.send({ from, to: [...byWire.keys()], size: job.size + ref.length + (info.signature?.length ?? 0) }, wireBody(this.store, job.queueId, info, ref));
      replies = res.replies;
      if (res.accepted.length === 0) await session.reset().catch(() => { keep = undefined; });
    } catch (e) {
      const se = e as SessionError;
      keep = undefined;
      this.live.delete(session);
      session.destroy();
      if (this.aborting) { if (this.onWire.delete(job)) await this.handBack([job], 'shutdown'); return undefined; }
      const reply = se.reply ?? `451 4.4.2 connection to ${t.hostName}[${t.address}] failed during the transaction: ${se.message}`;
      // A tracked message's recipients sent before the failure keep their replies.
      const sent = (e as PartialSendError).partial;
      replies = new Map([...byWire.keys()].map((k) => [k, sent?.get(k) ?? reply]));
    }
    const ctx: AttemptContext = { at: Date.now(), ...where, durationMs: Date.now() - started };
    const mtaSts = sessionTlsDetail(t, session.secure);
    const outcomes: RecipientOutcome[] = [];
    let slow = false;
    for (const [wire, entry] of byWire) {
      const reply = replies.get(wire) ?? '451 4.3.0 no reply for this recipient';
      if (t.source) this.egress.recordReply(t.source.name, providerOf(dest), reply);
      const { outcome, cls } = decide(entry, reply, ctx, this.policy);
      Object.assign(outcome.detail, mtaSts, trackingDetail);
      if (info.signature === null && !info.dkimKey && info.fromDomain) outcome.detail['dkim'] = info.signError ? `error: ${info.signError}` : 'none';
      if (cls.slowDown) slow = true;
      outcomes.push(outcome);
    }
    if (slow) this.hooks.feedback(dest.domain, { kind: 'slow-down' });
    await this.record(job, outcomes, info.headers);
    if (!keep) { this.live.delete(session); session.destroy(); }
    return keep;
  }

  /**
   * Mail for a destination remembered as unreachable defers at once, without a connection
   * attempt (not counted as one), and not before the memory of the failure runs out.
   */
  private deferUnreachable(jobs: DeliveryJob[], dest: Destination): Promise<void> {
    return this.settleAll(jobs, dest.unreachableReply, { mx: null, ip: null, tls: null }, false, dest.unreachableUntil, { remembered: true });
  }

  /**
   * Gives every recipient of these jobs the same reply (DNS failure, unreachable, ...).
   * The jobs are recorded concurrently, SETTLE_TOGETHER at a time, so their outcomes share
   * the spool's commits: deferring 5,000 recipients costs a few fsyncs, not 5,000.
   */
  private async settleAll(jobs: DeliveryJob[], reply: string, where: Omit<AttemptContext, 'at' | 'durationMs'>, attempted: boolean, notBefore = 0, extra: Record<string, unknown> = {}): Promise<void> {
    const one = async (job: DeliveryJob): Promise<void> => {
      const ctx: AttemptContext = { at: Date.now(), ...where, durationMs: 0 };
      const outcomes = job.recipients.map((r) => {
        const o = decide(r, reply, ctx, this.policy, { attempted }).outcome;
        Object.assign(o.detail, extra);
        if (o.kind === 'deferred' && o.nextAttemptAt !== undefined && o.nextAttemptAt < notBefore) {
          o.nextAttemptAt = Math.min(notBefore, r.receivedAt + this.policy.maxQueueLifetimeMs);
          o.detail['next_attempt_at'] = o.nextAttemptAt;
        }
        return o;
      });
      const headers = outcomes.some((o) => o.kind === 'failed' || o.kind === 'expired')
        ? (await this.messages.get(job.queueId).catch(() => undefined))?.headers ?? '' : '';
      await this.record(job, outcomes, headers);
    };
    for (let i = 0; i < jobs.length; i += SETTLE_TOGETHER) await Promise.all(jobs.slice(i, i + SETTLE_TOGETHER).map(one));
  }

  private async record(job: DeliveryJob, outcomes: RecipientOutcome[], headers: string): Promise<void> {
    let handedBack = false;
    try {
      try {
        await this.store.recordOutcomes(outcomes);
      } catch (e) {
        // The spool cannot take the outcome now (disk full, locked past busy_timeout): the
        // job must not stay 'sending' until a restart. It goes back to the queue (offered
        // again until the spool takes that write too); delivered mail may go out twice.
        this.log.error({ queue_id: job.queueId, err: (e as Error).message }, 'delivery outcome could not be recorded; the job goes back to the queue');
        handedBack = true;
        await this.handBackLater([job], `outcome not recorded: ${(e as Error).message}`, this.policy.retryScheduleMs[0] ?? 60_000);
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
      const finals = outcomes.filter((o) => o.kind === 'failed' || o.kind === 'expired');
      // Batch task mail gets no DSN: its outcomes are reported by events, and a VERP return path is ours.
      if (finals.length && this.config.delivery.sendDsn && job.sender !== '' && !job.taskId) {
        await sendDsnFor(this.store, this.config.hostname, job, finals, headers, this.log);
      }
    } finally {
      if (!handedBack) this.settle(job);
    }
  }

  private settle(job: DeliveryJob): void {
    if (this.settledJobs.has(job)) return;
    this.settledJobs.add(job);
    this.hooks.settled(job);
  }

  /**
   * Like handBack, but when the spool refuses the write too, offers it again every few
   * seconds until it takes it; each job is settled once it is back in the queue (which
   * wakes the scheduler). Once the agent is closed, start-up recovery queues the rows.
   */
  private async handBackLater(jobs: DeliveryJob[], reason: string, delayMs: number): Promise<void> {
    const left = [...jobs];
    try {
      while (left.length > 0) {
        const job = left[0]!;
        await this.store.requeue(job.recipients.map((r) => r.recipientId), Date.now() + delayMs, reason);
        left.shift();
        this.settle(job);
      }
    } catch (e) {
      if (this.closed) { for (const job of left) this.settle(job); return; }
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
      for (const job of jobs) this.settle(job);
    }
  }

  /** Cuts every session in use (shutdown deadline passed) and hands their jobs back. */
  async abort(): Promise<void> {
    this.aborting = true;
    for (const s of this.live) s.destroy();
    this.live.clear();
    this.pool.closeAll();
    const jobs = [...this.onWire];
    this.onWire.clear();
    await this.handBack(jobs, 'shutdown');
  }

  close(): void { this.closed = true; this.pool.closeAll(); void this.dkim?.close(); void this.egress.close(); }
}
