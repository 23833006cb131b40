/**
 * spool/types-queue — the queue and message aggregate: what intake commits (a message, its
 * recipients, and what must be saved in the same commit), what the scheduler claims and
 * records, and what queue control and inspection read. Owns the recipient vocabulary
 * (entries, selectors, outcomes); it must not grow methods of other aggregates.
 */
import type { QueueId, RecipientId, TaskId } from '../util/ids.js';
import type { RecipientState } from './states.js';
import type { SpoolEvent } from './types-events.js';
import type { IdempotencyRecord } from './types-idempotency.js';

export type Lane = 'trigger' | 'batch';

/** What the spool knows about a message apart from its body and recipients. */
export interface MessageEnvelope {
  id: QueueId;
  receivedAt: number;
  sender: string;
  authUser: string | null;
  clientIp: string | null;
  helo: string | null;
  messageId: string;
  subject: string | null;
  size: number;
  lane: Lane;
  tag: string | null;
}

export interface IncomingMessage extends MessageEnvelope {
  chunks: Buffer[];
  recipients: string[];
  /** recipients that were list aliases: each becomes a batch task in the same commit (src/tasks) */
  aliasTasks?: AliasTaskRequest[] | undefined;
  /** the send API's Idempotency-Key and its response, saved in the same commit: a crash cannot keep one without the other */
  idempotency?: { record: IdempotencyRecord; expireBefore: number } | undefined;
}

export interface QueueEntry {
  recipientId: RecipientId;
  queueId: QueueId;
  sender: string;
  rcpt: string;
  domain: string;
  state: RecipientState;
  attempts: number;
  nextAttemptAt: number;
  lastReply: string | null;
  receivedAt: number;
  size: number;
  lane: Lane;
  /** the batch task the message belongs to */
  taskId?: string | undefined;
  /** the envelope MAIL FROM when it is not `sender` (a batch task's VERP address) */
  returnPath?: string | undefined;
  /** where this entry is in listQueue's order: pass as `after` to continue past it (opaque, made by the backend) */
  cursor: string;
}

/** Which recipients an operator means (every given field must match); empty means all. */
export interface QueueSelector {
  /** recipient domain */
  domain?: string | undefined;
  /** envelope sender of the message, case-insensitive */
  sender?: string | undefined;
  /** the batch task the message belongs to */
  taskId?: string | undefined;
  /** any of these states */
  states?: readonly RecipientState[] | undefined;
}

export interface QueueFilter extends QueueSelector {
  limit?: number | undefined;
  /** the `cursor` of the last entry of the previous page, passed back unchanged; one the backend did not make is MTA_ERR_INVALID */
  after?: string | undefined;
  /** the newest `limit` rows (still returned newest last) instead of the oldest */
  newest?: boolean | undefined;
}

export interface MessageDetail extends MessageEnvelope {
  recipients: QueueEntry[];
  events: SpoolEvent[];
}

/** What one delivery attempt decided for one recipient. */
export interface RecipientOutcome {
  recipientId: RecipientId;
  queueId: QueueId;
  kind: 'delivered' | 'deferred' | 'failed' | 'expired';
  at: number;
  /** for 'deferred': when to try again */
  nextAttemptAt?: number;
  reply: string;
  /** whether this was a real attempt (counts toward `attempts`) */
  attempted: boolean;
  detail: Record<string, unknown>;
  /** add the address to the suppression list in the same transaction */
  suppress?: { address: string; reason: string };
}

export type QueueTarget = { queueId: QueueId } | { domain: string } | { all: true } | { taskId: string } | { select: QueueSelector };
export type QueueOp = 'flush' | 'hold' | 'release' | 'delete';

/**
 * What a node hears of the queue operations of other nodes (issue 19): an operation another
 * node's store applied, announced after its commit, or `reset` when announcements may have
 * been lost (the listening connection came back). A scheduler needs it because recipients it
 * claimed wait in its memory as 'sending', which no other node's hold or delete touches.
 */
export type RemoteQueueChange = { kind: 'op'; op: QueueOp; target: QueueTarget } | { kind: 'reset' };

export interface QueueShapeRow {
  domain: string;
  total: number;
  byState: Record<'queued' | 'sending' | 'deferred' | 'held', number>;
  /** counts per age bucket (message age), buckets as given to queueShape */
  byAge: number[];
}

/** What the scheduler and queue control need from the spool. */
export interface QueueStore {
  /**
   * Marks up to `limit` due recipients 'sending', leased to this node (types-leases.ts), and returns them: trigger lane
   * first, oldest due first (`triggerOnly`: that lane alone). Other nodes' claims whose lease ran out are taken back first.
   */
  claimDue(req: { now: number; limit: number; triggerOnly?: boolean }): Promise<QueueEntry[]>;
  /**
   * The earliest next-attempt time among waiting recipients, or the earliest lease end among other nodes'
   * claims (claimDue takes those back once it passes), if any.
   */
  nextDueAt(): Promise<number | undefined>;
  /** Applies outcomes to recipients this node still holds ('sending' under its claim), with their events; returns how many applied. */
  recordOutcomes(outcomes: readonly RecipientOutcome[]): Promise<number>;
  /** 'sending' → 'queued' without counting an attempt (withdrawn from memory, shutdown); only recipients this node still holds. */
  requeue(ids: readonly RecipientId[], nextAttemptAt: number, reason?: string): Promise<number>;
  /** At start-up: this node's claims left by a crash, and claims whose lease ran out, go back to 'queued'; other nodes' live claims stay. */
  recoverSending(now: number, reason: string): Promise<number>;
  /**
   * Applies an operator's operation to the recipients in its states and announces it to the other nodes
   * (onRemoteQueueChange), unless `announce` is false: a node re-applying what it heard must not echo it back.
   */
  applyQueueOp(op: QueueOp, target: QueueTarget, now: number, opts?: { announce?: boolean }): Promise<number>;
  /** Queue operations other nodes' stores applied, after their commit (never this store's own); with one node (SQLite), none. */
  onRemoteQueueChange(observer: (c: RemoteQueueChange) => void): () => void;
  queueShape(now: number, ageBucketsMs: readonly number[]): Promise<QueueShapeRow[]>;
}

/**
 * Called after a commit of fresh mail with the ids it made durable, and how many of their
 * recipients wait for claimDue: 0 when the scheduler took them all in the commit
 * (FreshTaker); undefined when the store cannot tell (another node's mail, a task's chunk).
 */
export interface CommitObserver { (ids: readonly QueueId[], waiting?: number): void }

/** Recipients per lane: what a batch has, what the scheduler takes of it. */
export interface LaneCounts { trigger: number; batch: number }

/**
 * Fresh mail handed to the scheduler in intake's own commit, without a claim round trip
 * (issue 23). Just before a batch is written the store asks how many of its recipients per
 * lane the taker has room for; the backend claims that many of them (the batch's first of
 * each lane) in the same transaction exactly as claimDue would (state 'sending', this node's
 * lease and token), and after the commit hands them over. The rest stay 'queued' for
 * claimDue. Every offer gets exactly one `taken`, with no entries when the write failed, so
 * what the taker reserved is always given back. How many is the taker's decision alone.
 * `taken` also gets the batch's messages, as committed: the taker may keep the bytes of those
 * it took, so that delivering them does not read back from the spool what intake just wrote.
 */
export interface FreshTaker {
  offer(has: LaneCounts): LaneCounts;
  taken(granted: LaneCounts, entries: readonly QueueEntry[], messages: readonly IncomingMessage[]): void;
}

export interface MessageStore {
  /** Durably stores a message and its recipients; resolves only after the fsynced commit. */
  commitIncoming(msg: IncomingMessage): Promise<void>;
  listQueue(filter: QueueFilter): Promise<QueueEntry[]>;
  /** How many recipients match (a list's total, the count a confirmation names). */
  countQueue(filter: QueueSelector): Promise<number>;
  getMessage(id: QueueId): Promise<MessageDetail | undefined>;
  readBody(id: QueueId): AsyncIterable<Buffer>;
  countByState(): Promise<Record<RecipientState, number>>;
  /** Called after every intake commit with the ids it made durable. */
  onCommit(observer: CommitObserver): () => void;
  /** The scheduler that takes fresh mail in intake's commits from now on (undefined: none, all of it waits for claimDue). */
  handFresh(taker: FreshTaker | undefined): void;
}

/** An alias task intake creates with the message (the same commit). */
export interface AliasTaskRequest { id: TaskId; list: string }
