/**
 * scheduler — decides what is delivered when (Postfix's qmgr). It keeps a bounded ready set
 * in memory, refilled from the spool by next-attempt time (trigger lane first), so a queue
 * of a million deferred recipients costs no memory until they are due (how it is filled:
 * scheduler/filler.ts). Fresh mail is claimed in intake's own commit while the ready set has
 * room; what it leaves wakes the scheduler through the spool's commit observer, not by polling
 * (the wake/timer loop is util/wake-loop.ts).
 * Work is grouped per destination domain and handed to delivery workers within the
 * connection limits, as one DeliveryRequest per worker; what comes back (DeliveryResult,
 * scheduler/contract.ts) the scheduler turns into outcomes with all timing and records
 * (scheduler/recorder.ts).
 *
 *   idle ─start─▶ running ─stop─▶ stopping ─▶ stopped
 */
import type { Logger } from 'pino';
import type { Config } from '../config/config.js';
import type { Store } from '../spool/types.js';
import type { QueueEntry, QueueOp, QueueSelector, QueueTarget, RemoteQueueChange } from '../spool/types-queue.js';
import { DeliveryAgent } from '../delivery/agent.js';
import type { Router } from '../delivery/router.js';
import { Destination, type DeliveryDestination, type DeliveryJob, type DestinationFeedback, type WorkerKind } from './destination.js';
import { paceKey, sharedPace, type Pace } from './shared-limits.js';
import { SlotGate, Slots } from './slots.js';
import type { DeliveryResult } from './contract.js';
import { OutcomeRecorder } from './recorder.js';
import { CLAIM_RENEW_MS } from '../spool/types-leases.js';
import { WakeLoop } from '../util/wake-loop.js';
import type { FreshIntake } from './fresh.js';
import { ReadySetFiller } from './filler.js';
import { Lifecycle, type ServiceState } from '../util/lifecycle.js';

/** The scheduler's life cycle is every service's (util/lifecycle.ts). */
export type SchedulerState = ServiceState;

/** Tests shorten the lease renewal interval (test/claim-renewal.test.ts): a minute is too long to wait for. */
export const TEST_RENEW_ENV = 'MTA_TEST_CLAIM_RENEW_MS';

/**
 * Whether a job in memory falls under an operator's selector. Its recipients are
 * 'sending' in the spool and go back as 'queued' when withdrawn, so a state filter
 * withdraws them only when it takes queued mail.
 */
function selects(sel: QueueSelector, j: DeliveryJob): boolean {
  return (sel.domain === undefined || j.domain === sel.domain.toLowerCase())
    && (sel.sender === undefined || j.sender.toLowerCase() === sel.sender.toLowerCase())
    && (sel.taskId === undefined || j.taskId === sel.taskId)
    && (sel.states === undefined || sel.states.includes('queued') || sel.states.includes('sending'));
}

export class Scheduler {
  private readonly life: Lifecycle;
  readonly agent: DeliveryAgent;
  private readonly recorder: OutcomeRecorder;
  private readonly dests = new Map<string, Destination>();
  private readonly pacers = new Map<string, Pace>();
  /** live nodes sharing the store, as the last heartbeat saw them: each opens its share of a destination's limit */
  private nodesAlive = 1;
  /** the cluster-wide connection slots (scheduler/shared-limits.ts), and the timer of destinations waiting for one */
  private readonly slots: SlotGate;
  private readonly workers = new Set<Promise<void>>();
  private ready = 0;
  /** the largest the ready set has been, for tests and metrics */
  readyMax = 0;
  private active = 0;
  /** fills the ready set: the scheduler's claims and fresh mail taken in intake's commits (scheduler/filler.ts) */
  private readonly filler: ReadySetFiller = new ReadySetFiller({
    store: { claimDue: (req) => this.store.claimDue(req), nextDueAt: () => this.store.nextDueAt() }, readySetSize: () => this.config.delivery.readySetSize, ready: () => this.ready,
    allowed: () => this.state === 'running' && this.holding === 0, nodesAlive: () => this.nodesAlive,
    take: (rows, messages) => {
      // Fresh mail's bytes, before a worker asks for them: its delivery does not read back what intake just wrote.
      if (messages) this.agent.messages.keep(rows, messages);
      this.enqueue(rows);
      this.dispatch();
    },
  });
  /** Operator queue operations in progress; no claim starts meanwhile. */
  private holding = 0;
  /** Renews the leases of the claims this node holds (spool/types-leases.ts): one timer for all of them. */
  private renewer: NodeJS.Timeout | undefined;
  /** refills the ready set when woken, and by timer when the next due time comes */
  private readonly loop = new WakeLoop({
    pass: () => this.filler.refill(),
    nextDelay: () => this.filler.nextLook(),
    onError: (e) => { this.log.error({ err: (e as Error).message }, 'scheduler could not read the spool; trying again in 1s'); return 1000; },
  });
  private unsubscribe: (() => void) | undefined;

  constructor(private config: Config, private readonly store: Store, private readonly router: Router, private readonly log: Logger) {
    this.life = new Lifecycle('scheduler', log);
    this.recorder = new OutcomeRecorder(() => this.config, store, log, (job, back) => this.settled(job, back));
    const idle = { adoptSlot: (key: string, fits: (slot: number) => boolean) => this.agent.pool.adoptSlot(key, fits), evict: (key: string) => this.agent.pool.evict(key) };
    this.slots = new SlotGate(new Slots(store, store.nodeId, log), idle, () => this.dispatch());
    this.agent = new DeliveryAgent(config, store, router, log, {
      stopping: () => this.state !== 'running',
      feedback: (domain, fb) => this.feedback(domain, fb),
      result: (r) => this.result(r),
      handBack: (jobs, reason, delayMs) => this.recorder.handBack(jobs, reason, delayMs),
      afterError: (job, reason) => this.recorder.afterError(job, reason),
    });
  }

  get state(): SchedulerState { return this.life.state; }
  get readyCount(): number { return this.ready; }
  /** Whether a claim of the scheduler's is on its way (tests wait for none before counting what a commit takes). */
  get claimInFlight(): boolean { return this.filler.claimInFlight; }
  /** what takes fresh mail in intake's commits (tests hold its hand-over) */
  get fresh(): FreshIntake { return this.filler.fresh; }

  /** What the scheduler holds per destination right now (status, metrics, tests). */
  destinations(): { domain: string; pending: number; active: number; slowUntil: number; unreachableUntil: number; shaping: string | null }[] {
    return [...this.dests.values()].map((d) => ({
      domain: d.domain, pending: d.pending, active: d.active, slowUntil: d.slowUntil, unreachableUntil: d.unreachableUntil, shaping: d.shaping?.name ?? null,
    }));
  }
  get activeConnections(): number { return this.active; }

  async start(): Promise<void> {
    // This node's claims (it is starting, so none is in flight) and claims whose lease ran out; other nodes' live claims stay theirs.
    const recovered = await this.store.recoverSending(Date.now(), 'returned to the queue at start-up after an unclean stop');
    if (recovered > 0) this.log.warn({ recipients: recovered, node: this.store.nodeId }, 'recipients left in delivery by an unclean stop are queued again (they may be delivered twice, never lost)');
    // Slots this node held in a previous run: nothing of that run is on the wire now.
    await this.store.releaseNodeSlots(this.store.nodeId);
    await this.agent.egress.start();
    this.life.to('running');
    this.renewer = setInterval(() => void this.renewClaims(), Number(process.env[TEST_RENEW_ENV]) || CLAIM_RENEW_MS);
    this.renewer.unref();
    // Mail a commit left in the queue is claimed by the refill; none is left when the commit took it all.
    const fresh = this.store.onCommit((_ids, waiting) => { if (waiting !== 0) this.wake(); });
    const remote = this.store.onRemoteQueueChange((c) => void this.heard(c));
    this.store.handFresh(this.filler.fresh);
    this.unsubscribe = () => { fresh(); remote(); this.store.handFresh(undefined); };
    this.loop.start();
  }

  /** While claimed recipients wait in memory or are on the wire, their leases must not run out. */
  private async renewClaims(): Promise<void> {
    if (this.ready === 0) return;
    try {
      await this.store.renewClaims(Date.now());
    } catch (e) {
      // The next tick tries again; the lease is several ticks long.
      this.log.warn({ err: (e as Error).message }, 'could not renew the leases of the recipients in delivery');
    }
  }

  reload(config: Config): void {
    this.config = config;
    this.router.reload(config);
    this.agent.reload(config);
    this.pacers.clear();
    this.wake();
  }

  /** Looks at the spool soon (coalesced): new mail, an operator's flush, a reload. */
  wake(): void {
    this.filler.markBehind();
    this.loop.wake();
  }

  /** Groups claimed recipients into transactions: one message, one domain, up to N RCPTs. */
  private enqueue(rows: readonly QueueEntry[]): void {
    const groups = new Map<string, QueueEntry[]>();
    for (const r of rows) {
      const key = `${r.queueId} ${r.domain}`;
      const g = groups.get(key);
      if (g) g.push(r); else groups.set(key, [r]);
    }
    const per = this.config.delivery.maxRecipientsPerTransaction;
    for (const g of groups.values()) {
      const first = g[0]!;
      let dest = this.dests.get(first.domain);
      if (!dest) { dest = new Destination(first.domain); this.dests.set(first.domain, dest); }
      for (let i = 0; i < g.length; i += per) {
        dest.push({
          queueId: first.queueId, domain: first.domain, lane: first.lane, sender: first.sender, size: first.size,
          receivedAt: first.receivedAt, recipients: g.slice(i, i + per),
          ...(first.taskId ? { taskId: first.taskId } : {}), ...(first.returnPath ? { returnPath: first.returnPath } : {}),
        });
      }
    }
    this.ready += rows.length;
    this.readyMax = Math.max(this.readyMax, this.ready);
  }

  /** The heartbeat saw `n` live nodes (daemon/cluster.ts). */
  setNodesAlive(n: number): void {
    const before = this.nodesAlive;
    this.nodesAlive = Math.max(1, n);
    // A node gone: the others' shares grew, so mail waiting for a connection may start now.
    if (this.nodesAlive < before) this.dispatch();
  }

  private dispatch(): void {
    if (this.state !== 'running') return;
    const now = Date.now();
    const d = this.config.delivery;
    // Two passes: destinations with trigger mail get connections first (and a worker per trigger job, destination.ts).
    for (const triggerPass of [true, false]) {
      for (const dest of this.dests.values()) {
        if (triggerPass && dest.trigger.length === 0) continue;
        for (let kind = dest.workerWanted(d, now, this.active, triggerPass, this.nodesAlive); kind; kind = dest.workerWanted(d, now, this.active, triggerPass, this.nodesAlive)) {
          this.startWorker(dest, kind);
        }
        // Mail waiting for a slot always has a timer to try again (a timer may fire a little before its time).
        this.slots.remind(dest, now);
      }
    }
  }

  /**
   * Starts a worker: counted at once (so this dispatch does not start more than the limits
   * allow), then it takes a cluster-wide slot and runs; without a free slot it ends at once,
   * its jobs staying queued, and the destination waits for the retry timer.
   */
  private startWorker(dest: Destination, kind: WorkerKind): void {
    const worker = dest.startWorker(kind);
    this.active++;
    const p: Promise<void> = this.runWorker(dest, worker, kind)
      .catch((e: unknown) => this.log.error({ domain: dest.domain, err: (e as Error).stack ?? String(e) }, 'delivery worker failed'))
      .finally(() => {
        worker.ended();
        this.active--;
        this.workers.delete(p);
        this.forgetIfIdle(dest);
        this.dispatch();
      });
    this.workers.add(p);
  }

  private async runWorker(dest: Destination, worker: ReturnType<Destination['startWorker']>, kind: WorkerKind): Promise<void> {
    // An unreachable destination's worker defers its mail without connecting: it needs no slot.
    const slot = dest.isUnreachable(Date.now()) ? undefined : await this.slots.take(dest, kind, dest.connectionLimit(this.config.delivery, Date.now()));
    if (slot === null) return;
    if (slot?.kind === 'trigger') worker.narrow();
    let handedOver = false;
    try {
      await this.agent.run({
        destination: dest, next: () => worker.next(), rest: () => dest.drain(), pacer: () => this.pacerFor(dest),
        handOverSlot: () => {
          if (!slot || handedOver) return undefined;
          handedOver = true;
          return this.slots.carry(slot, () => this.slotGiven(dest.domain));
        },
      });
    } finally {
      if (slot && !handedOver) await slot.release();
    }
  }

  /** A slot of this node went back (its idle session closed): a destination waiting for one may start at once. */
  private slotGiven(domain: string): void {
    const dest = this.dests.get(domain);
    if (!dest || dest.slotWaitUntil === 0 || this.state !== 'running') return;
    dest.slotFreed();
    this.dispatch();
  }

  private forgetIfIdle(dest: Destination): void {
    const now = Date.now();
    if (dest.pending === 0 && dest.active === 0 && !dest.isSlow(now) && !dest.isUnreachable(now)) this.dests.delete(dest.domain);
  }

  /**
   * A job left the ready set. With room again, the spool is looked at if it may hold due mail
   * the ready set lacks, or if the job's recipients went back to it (their time must be
   * looked at); a finished job alone does not send an empty claim to the spool.
   */
  private settled(job: DeliveryJob, back: boolean): void {
    this.ready -= job.recipients.length;
    // Back in the queue: its time must be looked at, even if the look comes at a later job's settling.
    if (back) this.filler.markBehind();
    if (this.filler.spoolBehind && this.ready <= this.config.delivery.readySetSize * 0.75) this.loop.wake();
  }

  /** Delivery's news about a destination, turned into limits with this scheduler's time spans. */
  private feedback(domain: string, fb: DestinationFeedback): void {
    // A destination with a worker running is never forgotten (forgetIfIdle), so it is here.
    const dest = this.dests.get(domain);
    if (!dest) return;
    dest.apply(fb, this.config.delivery, Date.now());
    if (fb.kind === 'unreachable') {
      this.log.warn({ domain: dest.domain, reply: fb.reply, until: new Date(dest.unreachableUntil).toISOString() }, 'destination unreachable; its mail defers without new connections for a while');
    } else if (fb.kind === 'slow-down') {
      this.log.warn({ domain: dest.domain, until: dest.slowUntil }, 'destination asked us to slow down: one connection, one message per second for a while');
    }
  }

  /**
   * One job's result: its destination feedback first (so mail still waiting sees it), then
   * its outcomes; held mail (destination remembered unreachable) defers no earlier than the
   * end of that memory.
   */
  private result(r: DeliveryResult): Promise<void> {
    if (r.feedback) this.feedback(r.job.domain, r.feedback);
    const held = r.held ? this.dests.get(r.job.domain)?.unreachableUntil ?? 0 : 0;
    const notBefore = Math.max(held, r.notBefore ?? 0);
    return this.recorder.record(r, notBefore > 0 ? notBefore : undefined);
  }

  /** The pace of the destination's shaping entry, shared by every node through the store. */
  private pacerFor(dest: DeliveryDestination): Pace | undefined {
    const s = dest.shaping;
    if (!s?.maxMessagesPerSecond) return undefined;
    let p = this.pacers.get(s.name);
    if (!p) { p = sharedPace(this.store, paceKey(s.name), s.maxMessagesPerSecond); this.pacers.set(s.name, p); }
    return p;
  }

  /**
   * Applies an operator's queue operation. Recipients waiting in memory are 'sending' in the
   * spool, so they are handed back first; recipients on the wire finish their attempt.
   */
  async control(op: QueueOp, target: QueueTarget, announce = true): Promise<number> {
    const matches = (j: DeliveryJob): boolean =>
      'queueId' in target ? j.queueId === target.queueId : 'domain' in target ? j.domain === target.domain.toLowerCase()
        : 'taskId' in target ? j.taskId === target.taskId : 'select' in target ? selects(target.select, j) : true;
    this.holding++;
    let n: number;
    try {
      await this.filler.quiet();
      if (op !== 'flush' && this.state === 'running') {
        const jobs: DeliveryJob[] = [];
        for (const dest of this.dests.values()) jobs.push(...dest.withdraw(matches));
        await this.recorder.handBack(jobs);
      }
      n = await this.store.applyQueueOp(op, target, Date.now(), { announce });
    } finally {
      this.holding--;
    }
    if (op === 'flush' || op === 'release') {
      // "Try now" includes destinations remembered as unreachable.
      for (const dest of this.dests.values()) {
        const domain = 'domain' in target ? target.domain : 'select' in target ? target.select.domain : undefined;
        if (domain !== undefined && dest.domain !== domain.toLowerCase()) continue;
        dest.unreachableUntil = 0;
      }
    }
    this.wake();
    return n;
  }

  /**
   * Another node's operator applied a queue operation (issue 19). Recipients this node claimed
   * were 'sending', out of its reach, and would be delivered from memory after a hold or a
   * delete (a task's cancel); so the operation runs here too, on what waits in memory, without
   * being announced again (the other nodes would echo it back forever). A flush or release
   * also ends this node's memory of unreachable destinations, as it does on the node it was
   * given to. After `reset` (announcements may have been lost) nothing is known to re-apply:
   * an operation missed then has reached every recipient not in some node's memory.
   */
  private async heard(c: RemoteQueueChange): Promise<void> {
    if (c.kind === 'reset' || !this.life.running) return;
    try {
      const n = await this.control(c.op, c.target, false);
      this.log.info({ op: c.op, target: c.target, recipients: n }, 'queue operation of another node applied to this node\'s claims');
    } catch (e) {
      // The operation itself committed on the other node; what this node holds is delivered as if it came a moment late.
      this.log.warn({ op: c.op, err: (e as Error).message }, 'could not apply another node\'s queue operation here');
    }
  }

  /**
   * Stops delivery: waiting jobs go back to the queue at once; jobs on the wire get until
   * the deadline, then their connections are cut and they go back too.
   */
  async stop(deadlineMs = this.config.delivery.shutdownTimeoutMs): Promise<void> {
    if (!this.life.running) { if (this.life.state === 'idle') this.life.to('stopped'); return; }
    this.life.to('stopping');
    // Not awaited: a claim on its way is awaited just below; nothing else of a pass may delay the stop.
    void this.loop.stop();
    this.unsubscribe?.();
    // Rows of a claim on its way are handed back with the rest, not left 'sending' until the next start.
    await this.filler.quiet();
    const waiting: DeliveryJob[] = [];
    for (const dest of this.dests.values()) waiting.push(...dest.drain());
    await this.recorder.handBack(waiting, 'shutdown');
    const all = Promise.allSettled([...this.workers]);
    let timer: NodeJS.Timeout | undefined;
    const timedOut = await Promise.race([
      all.then(() => false),
      new Promise<boolean>((r) => { timer = setTimeout(() => r(true), deadlineMs); }),
    ]);
    clearTimeout(timer);
    if (timedOut) {
      this.log.warn({ in_flight: this.workers.size }, 'shutdown deadline passed; cutting deliveries in flight and queueing them again');
      await this.agent.abort();
      await Promise.race([all, new Promise((r) => setTimeout(r, 2000).unref())]);
    }
    // Idle connections close first, so the slots they carry go to other nodes once the receiver saw them end.
    await Promise.race([this.agent.pool.closeAll(), new Promise((r) => setTimeout(r, 2000).unref())]);
    this.agent.close();
    await this.store.releaseNodeSlots(this.store.nodeId).catch((e: unknown) => this.log.warn({ err: (e as Error).message }, 'could not give the connection slots back at stop; they run out with their lease'));
    this.recorder.closed = true;
    clearInterval(this.renewer);
    this.slots.stop();
    this.life.to('stopped');
  }
}
