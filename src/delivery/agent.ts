/**
 * delivery/agent — carries out the scheduler's decisions for one destination (Postfix's
 * smtp(8)): given a DeliveryRequest (scheduler/contract.ts), finds where its mail goes,
 * connects (reusing pooled sessions), sends job after job and hands back one DeliveryResult
 * per job: each recipient's reply, classification and attempt details, plus what it learnt
 * about the destination. It never computes a retry time and never writes an outcome: the
 * scheduler does both (scheduler/outcomes.ts, scheduler/recorder.ts). Each job leaves from the egress
 * source the selector picks for it (delivery/egress.ts); a session of another source is
 * put back and one of the picked source taken or opened.
 */
import type { Logger } from 'pino';
import type { Store } from '../spool/types.js';
import type { QueueEntry } from '../spool/types-queue.js';
// Delivery sees a destination read-only (its limits change only through feedback to the scheduler).
import type { DeliveryJob, DeliveryDestination as Destination, DestinationFeedback, DeliveryRequest, DeliveryResult, RecipientResult } from '../scheduler/contract.js';
import { SourceShaping, providerOf, whereOf } from './source-shaping.js';
import { recipientResult, type AttemptContext } from './outcome.js';
import { classifyReply } from './classify.js';
import { SessionPool, sessionKey, type CarriedSlot } from './pool.js';
import { SmtpSession, SessionError, type SessionTarget } from './transport.js';
import { asciiDomain, type Plan, type Router } from './router.js';
import { MessageCache, headerBlock, wireBody, type MessageInfo } from './message.js';
import { ReferenceStamp } from '../feedback/reference.js';
import { TrackedSender, type PartialSendError } from './tracked.js';
import { DkimPool } from './dkim-pool.js';
import { countSession, sessionTlsDetail, tlsPolicyDetail, tlsRequiredReply } from './tls-policy.js';
import type { TlsRptTally } from './tls-rpt.js';
import { BUSY_RETRY_MS, EgressSelector } from './egress.js';
import { TriggerPrecedence } from './precedence.js';
import type { Config, EgressSource } from '../config/config.js';
import { isIP } from 'node:net';

export interface AgentHooks {
  /** stop taking new jobs: the daemon is shutting down */
  stopping(): boolean;
  /** what this worker learnt about the destination outside any one job (its route's shaping entry) */
  feedback(domain: string, fb: DestinationFeedback): void;
  /** one job's result: the scheduler applies its feedback, decides every time and records the outcomes */
  result(r: DeliveryResult): Promise<void>;
  /** returns jobs to the queue untouched (shutdown; `delayMs` after egress sources were all busy) */
  handBack(jobs: DeliveryJob[], reason: string, delayMs?: number): Promise<void>;
  /** returns a job whose delivery failed on a bug, for a later try */
  afterError(job: DeliveryJob, reason: string): Promise<void>;
}

/**
 * Jobs settled with one reply are handed back this many at a time: enough to fill a spool
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
  /** trigger jobs first: batch jobs wait briefly while one is being worked on */
  readonly precedence: TriggerPrecedence;
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
    this.precedence = new TriggerPrecedence(config.delivery.triggerPrecedenceMs);
    this.dkim = config.delivery.dkimThreads > 0 ? new DkimPool(config.delivery.dkimThreads) : undefined;
    this.messages = new MessageCache(store, log, undefined, this.dkim);
    this.tracked = new TrackedSender(() => this.config, store, this.messages);
    this.egress = new EgressSelector(config, store, log);
    this.sourceShaping = new SourceShaping(router, store, store.nodeId, log);
    this.egress.inUse = (name) => this.sourceShaping.inUse(name, this.live);
    this.reference = new ReferenceStamp(config.dataDir, (e) => log.error({ err: e.message }, 'no key for the feedback reference header; sending without it'));
  }

  reload(config: Config): void { this.config = config; this.precedence.reload(config.delivery.triggerPrecedenceMs); this.egress.reload(config); this.sourceShaping.clear(); this.tracked.copies.reloadKeys(); }

  /** One worker: runs the request's jobs until none is left or the daemon stops. */
  async run(req: DeliveryRequest): Promise<void> {
    const dest = req.destination;
    if (dest.isUnreachable(Date.now())) { await this.deferUnreachable(req.rest(), dest); return; }
    const plan = await this.router.plan(dest.domain);
    if (!plan.ok) {
      if (plan.report) this.tlsRpt?.failure(plan.report.policy, plan.report.result);
      // One DNS answer decides every waiting job of the domain.
      await this.settleAll(req.rest(), plan.reply, { mx: null, ip: null, tls: null }, { attempted: true });
      return;
    }
    this.hooks.feedback(dest.domain, { kind: 'shaping', shaping: plan.shaping });
    const mxNames = plan.hops.map((h) => h.hostName);
    let session: SmtpSession | undefined;
    // Sessions held per source for this destination (counted from before connecting): a source shaping entry caps them.
    const drop = (s: SmtpSession | undefined): undefined => {
      if (s?.target.source) { this.sourceShaping.countSession(dest, s.target.source.name, -1); this.sourceShaping.letGo(s); }
      return undefined;
    };
    /** the trigger job being worked on: batch jobs wait while it is (delivery/precedence.ts) */
    let trigger: (() => void) | undefined;
    try {
      while (!this.hooks.stopping()) {
        trigger?.();
        trigger = undefined;
        const job = req.next();
        if (!job) break;
        if (job.lane === 'trigger') trigger = this.precedence.enter();
        else {
          const wait = this.precedence.batchMayStart();
          if (wait) await wait;
        }
        let prepared: Promise<MessageInfo> | undefined;
        if (dest.isUnreachable(Date.now())) {
          await this.deferUnreachable([job, ...req.rest()], dest);
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
          await this.settleAll([job], pick.reply, { mx: null, ip: null, tls: null }, { attempted: false, notBefore: pick.until, extra: { egress_pool: pick.pool } });
          continue;
        }
        if (pick.kind === 'busy') { await this.hooks.handBack([job], 'egress sources at their connection limit', BUSY_RETRY_MS); continue; }
        const source = pick.kind === 'source' ? pick.source : undefined;
        if (session && session.target.source?.name !== source?.name) {
          this.release(session, dest);
          session = drop(session);
        }
        if (!session) {
          // A source whose entry caps its connections takes one of the cluster's slots for it first.
          const slot = source ? await this.sourceShaping.takeSlot(dest, mxNames, source.name) : undefined;
          if (slot === null) {
            this.sourceShaping.opening(dest, source!.name, -1);
            this.egress.refund(source!.name, providerOf(dest), job.recipients.length);
            await this.hooks.handBack([job], 'egress source at its connection limit across the cluster', BUSY_RETRY_MS);
            continue;
          }
          // The message is read and signed while the connection opens: a destination's first
          // message (a login code to a domain not seen lately) waits for the slower of the two,
          // not for both one after the other.
          prepared = this.messages.get(job.queueId, job.lane);
          prepared.catch(() => undefined); // a failed read is answered in sendJob
          const c = await this.connect(plan, dest, source);
          if (source) {
            this.sourceShaping.opening(dest, source.name, -1);
            // No connection, nothing sent: the recipients no longer count toward the source's warm-up cap.
            if ('reply' in c) this.egress.refund(source.name, providerOf(dest), job.recipients.length); else this.sourceShaping.countSession(dest, source.name, 1);
            if ('reply' in c) void slot?.release(); else this.sourceShaping.hold(c.session, slot);
          }
          if ('reply' in c) {
            if (c.unreachable) {
              // The scheduler applies the feedback before the outcome, so the deferral below sees the memory.
              await this.settleAll([job], c.reply, whereOf(c.hop), { attempted: true, feedback: { kind: 'unreachable', reply: c.reply } });
              await this.deferUnreachable(req.rest(), dest);
              break;
            }
            await this.settleAll([job], c.reply, whereOf(c.hop), { attempted: true, extra: c.hop ? tlsPolicyDetail(c.hop) : {} });
            continue;
          }
          session = c.session;
          this.live.add(session);
        }
        this.onWire.add(job);
        try {
          const used: SmtpSession = session;
          // A login code holds the campaign back until it is on the wire, not while the receiver answers.
          session = (await this.sendJob(used, job, req, prepared, trigger)) ?? drop(used);
        } catch (e) {
          if (!this.onWire.has(job)) { session = drop(session); continue; }
          // A bug must not strand the job in 'sending': it goes back, a minute later.
          this.log.error({ queue_id: job.queueId, err: (e as Error).stack ?? String(e) }, 'delivery failed unexpectedly; the job is queued again');
          await this.hooks.afterError(job, `internal error: ${(e as Error).message}`);
          session = drop(session);
        } finally {
          this.onWire.delete(job);
        }
      }
    } finally {
      trigger?.();
      // The session left idle keeps the worker's connection slot until it is gone (delivery/pool.ts).
      if (session) { this.release(session, dest, this.aborting ? undefined : req.handOverSlot()); drop(session); }
    }
  }

  private release(session: SmtpSession, dest: Destination, slot?: CarriedSlot): void {
    this.live.delete(session);
    if (this.aborting) session.destroy();
    else this.pool.put(session, dest.messagesPerConnection(this.config.delivery), slot);
  }

  private async pace(req: DeliveryRequest, t: SessionTarget): Promise<void> {
    const dest = req.destination;
    const now = Date.now();
    const waits = [dest.isSlow(now) ? dest.slowPacer.reserve(now) : 0];
    // The shaping entry's paces hold for the whole cluster: each reservation is a row of the store.
    const shared = req.pacer();
    if (shared) waits.push(await shared.reserve(now));
    waits.push(await this.sourceShaping.wait(dest, t, now));
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
  /** `written`: called once the whole message has gone to the socket (what remains is the receiver's reply) */
  private async sendJob(session: SmtpSession, job: DeliveryJob, req: DeliveryRequest, prepared?: Promise<MessageInfo>, written?: () => void): Promise<SmtpSession | undefined> {
    const dest = req.destination;
    const started = Date.now();
    const t = session.target;
    const where = { ...whereOf(t), tls: session.secure };
    let info;
    try {
      info = await (prepared ?? this.messages.get(job.queueId, job.lane));
    } catch (e) {
      await this.settleAll([job], `451 4.3.0 the spooled message cannot be read: ${(e as Error).message}`, where, { attempted: false });
      return session;
    }
    // Paced after connecting and signing, so the pace governs the messages themselves.
    await this.pace(req, t);
    const mailFrom = job.returnPath ?? job.sender; // a batch task's VERP address, else the sender
    const needsUtf8 = NON_ASCII.test(localPart(mailFrom)) || job.recipients.some((r) => NON_ASCII.test(localPart(r.rcpt)));
    if (needsUtf8 && !session.offersSmtpUtf8) {
      await this.settleAll([job], `553 5.6.7 ${t.hostName} does not offer SMTPUTF8, which this message needs for its non-ASCII addresses`, where, { attempted: true });
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
        ? await this.tracked.send(session, from, byWire, { ...info, tracking }, job, trackingDetail, (e) => this.reference.header(job.queueId, e.recipientId))
        : await session.send({ from, to: [...byWire.keys()], size: job.size + ref.length + (info.signature?.length ?? 0) }, wireBody(this.store, job.queueId, info, ref).once('end', () => written?.()));
      replies = res.replies;
      if (res.accepted.length === 0) await session.reset().catch(() => { keep = undefined; });
    } catch (e) {
      const se = e as SessionError;
      keep = undefined;
      this.live.delete(session);
      session.destroy();
      if (this.aborting) { if (this.onWire.delete(job)) await this.hooks.handBack([job], 'shutdown'); return undefined; }
      const reply = se.reply ?? `451 4.4.2 connection to ${t.hostName}[${t.address}] failed during the transaction: ${se.message}`;
      // A tracked message's recipients sent before the failure keep their replies.
      const sent = (e as PartialSendError).partial;
      replies = new Map([...byWire.keys()].map((k) => [k, sent?.get(k) ?? reply]));
    }
    const ctx: AttemptContext = { at: Date.now(), ...where, durationMs: Date.now() - started };
    const mtaSts = sessionTlsDetail(t, session.secure);
    const results: RecipientResult[] = [];
    let slow = false;
    for (const [wire, entry] of byWire) {
      const reply = replies.get(wire) ?? '451 4.3.0 no reply for this recipient';
      if (t.source) this.egress.recordReply(t.source.name, providerOf(dest), reply);
      const r = recipientResult(entry, reply, ctx);
      Object.assign(r.detail, mtaSts, trackingDetail);
      if (info.signature === null && !info.dkimKey && info.fromDomain) r.detail['dkim'] = info.signError ? `error: ${info.signError}` : 'none';
      if (r.cls.slowDown) slow = true;
      results.push(r);
    }
    const headers = info.headers;
    await this.hooks.result({ job, recipients: results, ...(slow ? { feedback: { kind: 'slow-down' } } : {}), headers: () => Promise.resolve(headers) });
    if (!keep) { this.live.delete(session); session.destroy(); }
    return keep;
  }

  /**
   * Mail for a destination remembered as unreachable defers at once, without a connection
   * attempt (not counted as one); the scheduler holds them until the memory runs out.
   */
  private deferUnreachable(jobs: DeliveryJob[], dest: Destination): Promise<void> {
    return this.settleAll(jobs, dest.unreachableReply, { mx: null, ip: null, tls: null }, { attempted: false, held: true, extra: { remembered: true } });
  }

  /**
   * Gives every recipient of these jobs the same reply (DNS failure, unreachable, ...).
   * The jobs are handed back concurrently, SETTLE_TOGETHER at a time, so their outcomes share
   * the spool's commits: deferring 5,000 recipients costs a few fsyncs, not 5,000.
   */
  private async settleAll(jobs: DeliveryJob[], reply: string, where: Omit<AttemptContext, 'at' | 'durationMs'>,
    how: { attempted: boolean; held?: boolean; notBefore?: number; feedback?: DestinationFeedback; extra?: Record<string, unknown> }): Promise<void> {
    // One reply for all: classified once (a DNS failure may decide thousands of recipients).
    const cls = classifyReply(reply);
    const one = (job: DeliveryJob): Promise<void> => {
      const ctx: AttemptContext = { at: Date.now(), ...where, durationMs: 0 };
      const recipients = job.recipients.map((r) => {
        const res = recipientResult(r, reply, ctx, how.attempted, cls);
        Object.assign(res.detail, how.extra);
        return res;
      });
      // Only the header block, read from the spool: going through the message cache would
      // DKIM-sign mail that is not being sent, and put it in the signing queue beside mail that is.
      const headers = async (): Promise<string> => headerBlock(this.store.readBody(job.queueId)).catch(() => '');
      return this.hooks.result({ job, recipients, feedback: how.feedback, held: how.held, notBefore: how.notBefore, headers });
    };
    for (let i = 0; i < jobs.length; i += SETTLE_TOGETHER) await Promise.all(jobs.slice(i, i + SETTLE_TOGETHER).map(one));
  }

  /** Cuts every session in use (shutdown deadline passed) and hands their jobs back. */
  async abort(): Promise<void> {
    this.aborting = true;
    this.precedence.release();
    for (const s of this.live) s.destroy();
    this.live.clear();
    void this.pool.closeAll();
    const jobs = [...this.onWire];
    this.onWire.clear();
    await this.hooks.handBack(jobs, 'shutdown');
  }

  close(): void { void this.pool.closeAll(); void this.dkim?.close(); void this.egress.close(); }
}
