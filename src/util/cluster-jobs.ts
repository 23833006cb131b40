/**
 * util/cluster-jobs — the one-at-a-time jobs of a cluster: periodic work that every node is
 * configured to do but that must run on one node only (a DNS re-check per node would query
 * every domain N times; N retention purges would fight over the same rows). Each job has a
 * lease in the store (spool/types-cluster.ts): the node holding it leads; the others skip
 * the job's runs (logged at debug). The leader renews its leases at each heartbeat
 * (daemon/cluster.ts) and at each run; when it dies they run out after JOB_LEASE_MS and the
 * next node to ask takes over; when it stops cleanly it releases them, so another node takes
 * over at its next heartbeat. With SQLite the store has one node, which always leads: the
 * jobs run as they did before clusters.
 *
 * Must never: run a job's scheduled pass on a node that does not hold its lease, or keep
 * leading a job this node does not run (only registered jobs are renewed; a task's lease
 * only while the expander still sees the task live).
 * Caveat: a lease is advisory. A leader stalled longer than the lease (a frozen VM) may
 * finish a run after another node started one; the jobs' writes are compare-and-set or
 * idempotent (reputation rows, purges by age, DNS check results), so that costs work, not
 * correctness. Nodes are expected to share one configuration of jobs: a node whose
 * configuration turns a job off does not register it (a reload gives it up) and so never
 * leads it; a job on nowhere has no leader.
 */
import type { Logger } from 'pino';
import type { ClusterStore } from '../spool/types-cluster.js';

/** The periodic jobs that run on one node of a cluster; their names are the lease rows' keys. */
export const JOBS = ['dns-check', 'retention-purge', 'reputation', 'mta-sts-sweep', 'tls-rpt-send'] as const;
export type JobName = typeof JOBS[number];

/**
 * How long a job's lease holds without renewal: the time a dead leader's jobs wait before
 * another node takes them. Three heartbeats (daemon/cluster.ts HEARTBEAT_MS), so a slow
 * database answering one heartbeat late does not hand a job over.
 */
export const JOB_LEASE_MS = 45_000;

/**
 * Expanding one batch task is a job too, one lease per task: nodes expanding one task would
 * each read and render the same chunk, and all but one be refused at commit (the store
 * commits a chunk only at the cursor it was read after, so this saves work, not members).
 */
export type TaskJob = `task-expand:${string}`;
export type LeasedJob = JobName | TaskJob;
export const taskJob = (taskId: string): TaskJob => `task-expand:${taskId}`;
/**
 * How long an answer about a task's lease is trusted without asking the store: the expander
 * asks every pass (a few times a second); a third of the lease, so a lease trusted as held
 * still has two thirds to run, and a lost one is noticed well before another node's expiry.
 */
export const TASK_ANSWER_MS = JOB_LEASE_MS / 3;

/** What a job's service asks before a scheduled run. */
export interface JobGate {
  /** True when this node leads `job` now (taking it when free or expired, renewing it when held). */
  lead(job: JobName): Promise<boolean>;
}

/** What the task expander asks (tasks/expander.ts). */
export interface TaskGate {
  /** True when this node leads the expansion of task `taskId` now (answers are kept TASK_ANSWER_MS). */
  leadTask(taskId: string): Promise<boolean>;
  /** Releases the leases of tasks this node led that are not in `live` (done, paused, cancelled, gone). */
  releaseTasksBut(live: ReadonlySet<string>): Promise<void>;
}

/** Every node runs every job: for a service used outside the daemon (tests, one-off CLI runs). */
export const ALWAYS_LEAD: JobGate = { lead: async () => true };

/** Runs `run` when this node leads `job`; undefined when it does not. */
export async function ifLeading<T>(gate: JobGate, job: JobName, run: () => Promise<T>): Promise<T | undefined> {
  return (await gate.lead(job)) ? run() : undefined;
}

export class JobLeader implements JobGate, TaskGate {
  /** jobs this node runs, for which it campaigns and renews at each heartbeat */
  private readonly registered = new Set<JobName>();
  /** jobs the last answer said this node leads: a change is logged once at info */
  private readonly leading = new Set<LeasedJob>();
  /** the last answer about each task's lease, and when it was had */
  private readonly taskAnswers = new Map<string, { at: number; leads: boolean }>();

  constructor(private readonly store: ClusterStore, readonly nodeId: string, private readonly log: Logger,
    private readonly now: () => number = Date.now, private readonly leaseMs = JOB_LEASE_MS) {}

  /** This node runs `job`: it campaigns for it at each heartbeat. */
  register(job: JobName): void { this.registered.add(job); }

  /** Registers `job` (on), or stops campaigning for it and gives it up if led (off: its configuration turned it off). */
  async runs(job: JobName, on: boolean): Promise<void> {
    if (on) { this.register(job); return; }
    this.registered.delete(job);
    if (this.leading.has(job)) await this.release(job);
  }

  async lead(job: LeasedJob): Promise<boolean> {
    let ok: boolean;
    try {
      ok = await this.store.tryLeadJob(job, this.nodeId, this.now(), this.leaseMs);
    } catch (e) {
      // Not knowing is not leading: the job waits for a node that can reach the store.
      this.log.warn({ job, err: (e as Error).message }, 'job lease not readable; this run is skipped');
      ok = false;
    }
    if (ok && !this.leading.has(job)) { this.leading.add(job); this.log.info({ job, node: this.nodeId }, 'this node leads the job now'); }
    if (!ok) {
      if (this.leading.delete(job)) this.log.info({ job, node: this.nodeId }, 'another node leads the job now');
      this.log.debug({ job }, 'another node leads this job; this node skips its runs');
    }
    return ok;
  }

  async leadTask(taskId: string): Promise<boolean> {
    const now = this.now();
    const known = this.taskAnswers.get(taskId);
    if (known && now >= known.at && now - known.at < TASK_ANSWER_MS) return known.leads;
    const leads = await this.lead(taskJob(taskId));
    this.taskAnswers.set(taskId, { at: now, leads });
    return leads;
  }

  async releaseTasksBut(live: ReadonlySet<string>): Promise<void> {
    for (const [taskId, known] of this.taskAnswers) {
      if (live.has(taskId)) continue;
      this.taskAnswers.delete(taskId);
      if (known.leads) await this.release(taskJob(taskId));
    }
  }

  /** Takes or renews every registered job it can (the heartbeat's campaign); the jobs led. */
  async campaign(): Promise<JobName[]> {
    const led: JobName[] = [];
    for (const job of this.registered) if (await this.lead(job)) led.push(job);
    return led;
  }

  /** Gives up every job this node leads (at stop), so another node need not wait for the leases to run out. */
  async releaseAll(): Promise<void> {
    for (const job of [...this.leading]) await this.release(job);
    this.taskAnswers.clear();
  }

  private async release(job: LeasedJob): Promise<void> {
    this.leading.delete(job);
    await this.store.releaseJob(job, this.nodeId).catch((e: Error) => this.log.warn({ job, err: e.message }, 'job lease not released; it runs out by itself'));
  }
}
