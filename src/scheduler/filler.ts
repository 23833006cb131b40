/**
 * scheduler/filler — how the ready set is filled: the scheduler's own claims (trigger lane
 * first, then batch, oldest due first, in batches of CLAIM_BATCH, up to ready_set_size and the
 * trigger reserve above it) and fresh mail taken in intake's own commit (scheduler/fresh.ts).
 * It knows what is on its way to the ready set (a claim, commits granted room), so neither
 * way overfills it, and whether the spool may still hold due mail the ready set lacks, so a
 * finished job sends an empty claim to the spool only when there may be something to find.
 * The scheduler owns the ready set itself; this module only hands it rows.
 */
import type { IncomingMessage, QueueEntry, QueueStore } from '../spool/types-queue.js';
import { FreshIntake, type Room } from './fresh.js';

/** Without any known due time the scheduler still looks at the spool this often. */
const IDLE_LOOK_MS = 60_000;
const CLAIM_BATCH = 1000;

export interface FillerDeps {
  store: Pick<QueueStore, 'claimDue' | 'nextDueAt'>;
  readySetSize: () => number;
  /** recipients in the ready set now */
  ready: () => number;
  /** whether a claim may start (the scheduler running, no operator's queue operation under way) */
  allowed: () => boolean;
  /** live nodes sharing the store */
  nodesAlive: () => number;
  /** claimed rows, into the ready set; fresh mail's come with the messages of their commit */
  take: (rows: readonly QueueEntry[], messages?: readonly IncomingMessage[]) => void;
}

/** The reserve beyond ready_set_size that only trigger mail may use: a tenth of it, at least 100 recipients. */
function triggerCeiling(cap: number): number { return cap + Math.max(100, Math.floor(cap / 10)); }

export class ReadySetFiller {
  /** intake's commits claim fresh mail while the ready set has room; public for tests holding its hand-over */
  readonly fresh = new FreshIntake(() => this.room(), (rows, messages) => this.deps.take(rows, messages));
  /** A claim whose rows are not yet in the ready set (claims are asynchronous with the writer thread). */
  private claiming: Promise<number> | undefined;
  /** how many recipients that claim may bring (fresh mail's room leaves them out) */
  private claimingUpTo = 0;
  /**
   * Per lane, whether the spool may hold due mail of it that the ready set lacks: set by every
   * wake (fresh mail left to a claim, an operator's operation, another node's mail, a job back
   * in the queue) and by a refill that stopped at a full ready set; cleared when a claim found
   * fewer due recipients than it asked for. While it is set, fresh mail of that lane is not
   * taken in its commit: it would overtake the older mail waiting in the spool, which the
   * claims take oldest due first.
   */
  private readonly behind = { trigger: true, batch: true };

  constructor(private readonly deps: FillerDeps) {}

  get claimInFlight(): boolean { return this.claiming !== undefined; }

  get spoolBehind(): boolean { return this.behind.trigger || this.behind.batch; }
  /** The spool may hold due mail the ready set lacks (lane unknown). */
  markBehind(): void { this.behind.trigger = true; this.behind.batch = true; }

  /** Resolves once nothing claimed is on its way to the ready set (a queue operation or a stop must not miss it). */
  async quiet(): Promise<void> {
    await this.claiming?.catch(() => 0);
    await this.fresh.settled();
  }

  /** Recipients in the ready set, and those commits on their way may still bring to it. */
  private get held(): number { return this.deps.ready() + this.fresh.reserved; }

  /**
   * The room for fresh mail, with the trigger reserve; undefined while no claim may start,
   * none for a lane whose older mail may be waiting in the spool. With other nodes alive
   * batch mail is left to the claims of all of them, so bulk sent through one node is
   * delivered by every node's share of the connections; a login code is still taken at once
   * by the node that accepted it.
   */
  private room(): Room | undefined {
    if (!this.deps.allowed()) return undefined;
    const cap = this.deps.readySetSize();
    const held = this.deps.ready() + this.claimingUpTo;
    return {
      batch: this.behind.batch || this.deps.nodesAlive() > 1 ? 0 : cap - held,
      trigger: this.behind.trigger ? 0 : triggerCeiling(cap) - held,
    };
  }

  /** Claims what is due into the ready set's room, then trigger mail into its reserve. */
  async refill(): Promise<void> {
    const cap = this.deps.readySetSize();
    while (this.deps.allowed() && this.held < cap) {
      const limit = Math.min(cap - this.held, CLAIM_BATCH);
      // Fewer than asked: nothing else of either lane is due (trigger mail is claimed first).
      if (await this.claim(limit, false) < limit) { this.behind.trigger = false; this.behind.batch = false; break; }
    }
    if (this.held >= cap) this.markBehind();
    await this.claimTriggerReserve();
  }

  /** A full ready set must not hold back a login code behind a campaign: trigger mail may use the reserve. */
  private async claimTriggerReserve(): Promise<void> {
    const cap = this.deps.readySetSize();
    const ceiling = triggerCeiling(cap);
    while (this.deps.allowed() && this.held >= cap && this.held < ceiling) {
      const limit = Math.min(ceiling - this.held, CLAIM_BATCH);
      if (await this.claim(limit, true) < limit) { this.behind.trigger = false; return; }
    }
  }

  /**
   * Claimed rows are 'sending' in the spool before they reach the ready set; a queue
   * operation waits for this promise (quiet) so that it never misses rows in between.
   */
  private claim(limit: number, triggerOnly: boolean): Promise<number> {
    const p = this.deps.store.claimDue({ now: Date.now(), limit, ...(triggerOnly ? { triggerOnly } : {}) }).then((rows) => {
      if (rows.length > 0) this.deps.take(rows);
      return rows.length;
    });
    this.claiming = p;
    this.claimingUpTo = limit;
    return p.finally(() => { if (this.claiming === p) { this.claiming = undefined; this.claimingUpTo = 0; } });
  }

  /** The next unprompted look: the next due time while the ready set has room, else the idle look. */
  async nextLook(): Promise<number> {
    if (this.deps.ready() >= this.deps.readySetSize()) return IDLE_LOOK_MS;
    const next = await this.deps.store.nextDueAt().catch(() => undefined);
    return next === undefined ? IDLE_LOOK_MS : Math.min(IDLE_LOOK_MS, next - Date.now());
  }
}
