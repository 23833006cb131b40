/**
 * spool/types — the storage interface every other module uses. It is asynchronous on
 * purpose: the SQLite backend answers at once, a PostgreSQL backend will not, and
 * callers must not be able to tell. Nothing outside src/spool/ touches tables.
 */
import type { QueueId, RecipientId } from '../util/ids.js';
import type { RecipientState } from './states.js';
import type { WebhookEventName, WebhookFormat } from '../events/payload.js';
import type { AliasTaskRequest, TaskStore } from './types-tasks.js';
import type { QuotaStore } from './types-quota.js';
import type { EgressStore } from './types-egress.js';
import type { MtaStsStore } from './types-mtasts.js';
import type { InboundStore } from './types-inbound.js';
import type { TrackingStore } from './types-tracking.js';

export type Lane = 'trigger' | 'batch';
export type SenderType = 'trigger' | 'batch';
export type DkimAlgorithm = 'rsa' | 'ed25519';
export type SuppressionSource = 'bounce' | 'complaint' | 'unsubscribe' | 'manual';

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
  /** cursor: recipient id to start after */
  after?: number | undefined;
  /** the newest `limit` rows (still returned newest last) instead of the oldest */
  newest?: boolean | undefined;
}

export interface SpoolEvent {
  id: number;
  at: number;
  recipientId: RecipientId | null;
  type: string;
  detail: Record<string, unknown>;
}

export interface MessageDetail extends MessageEnvelope {
  recipients: QueueEntry[];
  events: SpoolEvent[];
}

export type DomainStatus = 'unverified' | 'verified';

export interface DomainRecord {
  name: string;
  dkimSelector: string;
  dkimAlgorithm: DkimAlgorithm;
  dkimPrivateKey: string;
  dkimPublicKey: string;
  ownershipToken: string;
  status: string;
  createdAt: number;
  checkedAt?: number | null;
  /** a rotated key waiting for its DNS record before it replaces the current one */
  nextDkim?: { selector: string; privateKey: string; publicKey: string } | null;
}

export type DomainCheckName = 'ownership' | 'spf' | 'dkim' | 'dmarc' | 'mx' | 'tracking' | 'ptr' | 'hostname';
export type DomainCheckStatus = 'ok' | 'missing' | 'mismatch' | 'error' | 'skipped';

export interface DomainCheckRecord {
  domain: string;
  name: DomainCheckName;
  status: DomainCheckStatus;
  expected: string | null;
  found: string | null;
  /** one line: the DNS error, or advice */
  detail: string | null;
  checkedAt: number;
}

/** Events that concern a domain rather than a message (domain.dns_error, domain.verified, ...). */
export interface DomainEvent { at: number; type: string; domain: string; detail: Record<string, unknown> }

export interface SenderRecord {
  address: string;
  domain: string;
  type: SenderType;
  replyTo: string | null;
  passwordHash: string | null;
  disabled: boolean;
  createdAt: number;
}

export interface SuppressionRecord {
  address: string;
  scope: string;
  reason: string;
  source: SuppressionSource;
  createdAt: number;
}

/** Event types in a recipient's history. The final ones are delivered, failed, expired and deleted. */
export type EventType =
  | 'reception' | 'deferred' | 'delivered' | 'failed' | 'expired' | 'deleted'
  | 'requeued' | 'held' | 'released' | 'dsn'
  /** after the final state, appended by inbound mail and the public endpoint (spool/sqlite-inbound.ts) */
  | 'bounced' | 'unsubscribe';

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

export interface QueueShapeRow {
  domain: string;
  total: number;
  byState: Record<'queued' | 'sending' | 'deferred' | 'held', number>;
  /** counts per age bucket (message age), buckets as given to queueShape */
  byAge: number[];
}

/** What the scheduler and queue control need from the spool. */
export interface QueueStore {
  /** Marks up to `limit` due recipients 'sending' and returns them: trigger lane first, oldest due first (`triggerOnly`: that lane alone). */
  claimDue(req: { now: number; limit: number; triggerOnly?: boolean }): Promise<QueueEntry[]>;
  /** The earliest next-attempt time among waiting recipients, if any. */
  nextDueAt(): Promise<number | undefined>;
  /** Applies outcomes to recipients still 'sending', with their events; returns how many applied. */
  recordOutcomes(outcomes: readonly RecipientOutcome[]): Promise<number>;
  /** 'sending' → 'queued' without counting an attempt (withdrawn from memory, shutdown). */
  requeue(ids: readonly RecipientId[], nextAttemptAt: number, reason?: string): Promise<number>;
  /** At start-up: every 'sending' row left by a crash goes back to 'queued'. */
  recoverSending(now: number, reason: string): Promise<number>;
  applyQueueOp(op: QueueOp, target: QueueTarget, now: number): Promise<number>;
  queueShape(now: number, ageBucketsMs: readonly number[]): Promise<QueueShapeRow[]>;
}

export interface CommitObserver { (ids: readonly QueueId[]): void }

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
}

export interface DomainStore {
  addDomain(d: DomainRecord): Promise<void>;
  getDomain(name: string): Promise<DomainRecord | undefined>;
  listDomains(): Promise<DomainRecord[]>;
  removeDomain(name: string): Promise<boolean>;
  /** Replaces the domain's check results, sets its status, and appends the events, in one transaction. */
  saveDomainChecks(domain: string, checks: readonly DomainCheckRecord[], status: DomainStatus, events: readonly DomainEvent[]): Promise<void>;
  getDomainChecks(domain: string): Promise<DomainCheckRecord[]>;
  listDomainEvents(filter: { domain?: string; since?: number; limit?: number }): Promise<DomainEvent[]>;
  /** Stores (or clears, with null) the key waiting to replace the current DKIM key. */
  setNextDkimKey(domain: string, next: { selector: string; privateKey: string; publicKey: string } | null): Promise<void>;
  /** The waiting key becomes the signing key; returns the old selector. */
  promoteNextDkimKey(domain: string): Promise<string | undefined>;
}

export interface SenderStore {
  addSender(s: SenderRecord): Promise<void>;
  getSender(address: string): Promise<SenderRecord | undefined>;
  listSenders(domain?: string): Promise<SenderRecord[]>;
  /** `expected`: only if the stored hash is still this one (a rehash must not undo a password change). */
  setSenderPassword(address: string, hash: string | null, expected?: string): Promise<boolean>;
  removeSender(address: string): Promise<boolean>;
  /** Disables (refused with 551) or enables a sender; false when there is no such sender. */
  setSenderDisabled(address: string, disabled: boolean): Promise<boolean>;
}

export interface SuppressionFilter {
  /** part of the address */
  search?: string | undefined;
  limit?: number | undefined;
  /** cursor: the last address seen (with afterScope: the last (address, scope) pair) */
  after?: string | undefined;
  afterScope?: string | undefined;
  /** created_at range, ms, inclusive */
  since?: number | undefined;
  until?: number | undefined;
}

/**
 * A recipient refused at submission because it is suppressed (559): no message exists, so
 * the spool keeps one message-less `rejected` event and queues the webhook event.
 */
export interface RecipientRefusal {
  at: number;
  sender: string;
  authUser: string | null;
  rcpt: string;
  /** the reply given, e.g. "559 5.1.1 Invalid rcptto" */
  reply: string;
  suppression: SuppressionRecord;
  via: 'smtp' | 'api';
}

export interface SuppressionStore {
  addSuppression(s: SuppressionRecord): Promise<boolean>;
  removeSuppression(address: string, scope?: string): Promise<number>;
  listSuppressions(filter: SuppressionFilter): Promise<SuppressionRecord[]>;
  /** Whether mail from `senderDomain` to `address` is suppressed (global or domain scope). */
  isSuppressed(address: string, senderDomain: string): Promise<SuppressionRecord | undefined>;
  recordRefusal(r: RecipientRefusal): Promise<void>;
}

// ---- async notifications (events/) ----

export type WebhookOutboxState = 'pending' | 'delivered' | 'failed' | 'dead';

export interface WebhookRecord {
  id: number;
  url: string;
  /** null: account level; else the sender address whose mail it hears about */
  sender: string | null;
  events: '*' | WebhookEventName[];
  format: WebhookFormat;
  secret: string;
  createdAt: number;
  disabled: boolean;
}

export interface WebhookListRow extends WebhookRecord { backlog: number; dead: number }

/** One event on its way to one webhook, as the dispatcher claims it. */
export interface OutboxItem {
  id: number;
  webhookId: number;
  url: string;
  secret: string;
  format: WebhookFormat;
  event: WebhookEventName;
  payload: Record<string, unknown>;
  attempts: number;
  createdAt: number;
}

export interface WebhookAttempt {
  id: number;
  webhookId: number;
  /** null for `mta webhook test` */
  outboxId: number | null;
  event: string;
  at: number;
  /** HTTP status; null when no answer came */
  status: number | null;
  error: string | null;
  durationMs: number;
}

/** What one POST did to its outbox row: delivered, retried at a time, or given up. */
export type OutboxNext = { state: 'delivered' } | { state: 'failed'; nextAttemptAt: number } | { state: 'dead' };

export interface WebhookStore {
  addWebhook(w: Omit<WebhookRecord, 'id' | 'disabled'>): Promise<WebhookRecord>;
  getWebhook(id: number): Promise<WebhookRecord | undefined>;
  listWebhooks(): Promise<WebhookListRow[]>;
  /** Removes the webhook with its outbox and log; returns how many undelivered events went with it. */
  removeWebhook(id: number): Promise<{ removed: boolean; dropped: number }>;
  /** Leases up to `limit` due outbox rows for `leaseMs` and returns them, oldest due first. */
  claimWebhookDue(req: { now: number; limit: number; leaseMs: number }): Promise<OutboxItem[]>;
  /** The earliest time an outbox row becomes due (or its lease runs out), if any. */
  nextWebhookDueAt(): Promise<number | undefined>;
  /** Logs one POST and, for an outbox row, moves it on; one transaction. */
  recordWebhookAttempt(a: Omit<WebhookAttempt, 'id'>, next?: OutboxNext): Promise<void>;
  /** Gives leased rows back without counting an attempt (shutdown). */
  releaseWebhookClaims(ids: readonly number[]): Promise<void>;
  /** At start-up: every lease left by an unclean stop is void. */
  recoverWebhookClaims(): Promise<number>;
  listWebhookAttempts(filter: { webhookId?: number; limit?: number }): Promise<WebhookAttempt[]>;
  webhookBacklog(): Promise<Record<WebhookOutboxState, number>>;
  /** Called after a commit that enqueued outbox rows (cheap, in-process). */
  onWebhookEnqueued(observer: () => void): () => void;
}

// ---- statistics and send details (stats/) ----

export interface StatsCounters { requests: number; delivered: number; failed: number; invalid: number; deferred: number; expired: number; cancelled: number }
export type StatsGroup = 'day' | 'domain' | 'sender' | 'tag';

export interface StatsQuery {
  /** 'YYYY-MM-DD' (UTC), both inclusive */
  fromDay: string;
  toDay: string;
  domain?: string | undefined;
  sender?: string | undefined;
  /** '' selects mail without a tag */
  tag?: string | undefined;
  by: StatsGroup;
}

export interface StatsRow extends StatsCounters { key: string }

/** Statistics per recipient domain (days inclusive; `domain`: only mail from this sender domain). */
export interface RcptStatsQuery { fromDay: string; toDay: string; domain?: string | undefined }

/** One day and recipient domain: counters, final failures per category, latency histogram (bucket → deliveries). */
export interface RcptStatsRow extends StatsCounters { day: string; rcpt_domain: string; categories: Record<string, number>; latency: Map<number, number> }

/** An address search: one address (any case), or a LIKE pattern (`%@example.org`, `%bob%`). */
export type AddressMatch = { exact: string } | { like: string };

export interface SendDetailFilter {
  /** received_at range, ms, inclusive */
  from: number;
  to: number;
  sender?: AddressMatch | undefined;
  rcpt?: AddressMatch | undefined;
  tag?: string | undefined;
  /** the Message-ID header, without angle brackets */
  messageId?: string | undefined;
  states?: readonly RecipientState[] | undefined;
  limit: number;
  /** cursor: recipient id to continue below (newest first) */
  before?: number | undefined;
}

export interface SendDetail {
  recipientId: RecipientId;
  queueId: QueueId;
  receivedAt: number;
  sender: string;
  rcpt: string;
  tag: string | null;
  messageId: string;
  subject: string | null;
  state: RecipientState;
  attempts: number;
  lastReply: string | null;
  updatedAt: number;
}

/** A recipient refused at submission (559, suppressed): no message exists, only its event. */
export interface Rejection {
  /** the event row id (the paging key) */
  id: number;
  at: number;
  sender: string;
  rcpt: string;
  reply: string;
}

export interface RejectionFilter {
  from: number;
  to: number;
  sender?: AddressMatch | undefined;
  rcpt?: AddressMatch | undefined;
  limit: number;
  /** cursor: event id to continue below (newest first) */
  before?: number | undefined;
}

/** `statsRows`: rows of the daily counters; `rcptStatsRows`: of the per-recipient-domain counters, categories and histograms. */
export interface PurgeResult { messages: number; domainEvents: number; outbox: number; attempts: number; statsRows: number; rcptStatsRows: number }

export interface StatsStore {
  queryStats(q: StatsQuery): Promise<StatsRow[]>;
  queryRcptStats(q: RcptStatsQuery): Promise<RcptStatsRow[]>;
  listSendDetails(f: SendDetailFilter): Promise<SendDetail[]>;
  listRejections(f: RejectionFilter): Promise<Rejection[]>;
  eventsOfRecipients(ids: readonly RecipientId[]): Promise<SpoolEvent[]>;
  /** Deletes finished messages received before `detailsBefore` (with their events), old logs and old counters. */
  purge(req: { detailsBefore: number; statsBeforeDay: string }): Promise<PurgeResult>;
}

// ---- the admin API (admin/) ----

/** The first response the send API gave to an Idempotency-Key. */
export interface IdempotencyRecord {
  account: string;
  key: string;
  /** sha256 of the request, so the key cannot be reused for another request */
  fingerprint: string;
  status: number;
  /** the JSON body */
  response: string;
  createdAt: number;
}

export interface ApiStore {
  /** The record of a key if it was saved at or after `notBefore`. */
  getIdempotency(account: string, key: string, notBefore: number): Promise<IdempotencyRecord | undefined>;
  /** Saves the first response to a key (drops records older than `expireBefore` first); false when the key was taken. */
  saveIdempotency(rec: IdempotencyRecord, expireBefore: number): Promise<boolean>;
  /** A small write in a transaction that is rolled back: throws when the database does not take writes now. */
  probeWritable(): Promise<void>;
}

// ---- tags and templates (templates/) ----

export interface TagRecord { name: string; description: string; createdAt: number }

export type TemplateState = 'draft' | 'approved' | 'rejected';

export interface TemplateRecord {
  name: string;
  subject: string;
  fromName: string | null;
  html: string;
  /** null: generated from the HTML when rendered */
  text: string | null;
  state: TemplateState;
  rejectReason: string | null;
  createdAt: number;
  updatedAt: number;
}

export interface TemplateStore {
  /** false when the tag exists already */
  addTag(t: TagRecord): Promise<boolean>;
  getTag(name: string): Promise<TagRecord | undefined>;
  listTags(): Promise<TagRecord[]>;
  removeTag(name: string): Promise<boolean>;
  /** false when the name is taken */
  addTemplate(t: TemplateRecord): Promise<boolean>;
  getTemplate(name: string): Promise<TemplateRecord | undefined>;
  listTemplates(): Promise<TemplateRecord[]>;
  /** Replaces every field but name and createdAt; false when there is no such template. */
  updateTemplate(t: TemplateRecord): Promise<boolean>;
  removeTemplate(name: string): Promise<boolean>;
}

// ---- recipient lists (lists/) ----

export interface ListRecord {
  name: string;
  /** canonical (lower-case) alias address */
  alias: string;
  description: string | null;
  /** variable names seen in imports, first-seen order (EAddr not included) */
  columns: string[];
  createdAt: number;
  /** member count (getList, listLists) */
  members: number;
}

export interface ListMember { address: string; variables: Record<string, string>; updatedAt: number }

/** What one row of an upsert did: new member, updated member, or a second row for an address already written by this import. */
export type MemberWrite = 'inserted' | 'updated' | 'duplicate';

export interface ListStore {
  addList(l: { name: string; alias: string; description: string | null; createdAt: number }): Promise<void>;
  getList(name: string): Promise<ListRecord | undefined>;
  listLists(): Promise<ListRecord[]>;
  /** Removes the list with its members. */
  removeList(name: string): Promise<boolean>;
  /**
   * Writes members in one transaction: a new address is inserted, one written before by
   * another import is updated (variables replaced), one already written by `importId` is a
   * duplicate and left alone. `columns` are merged into the list's. One status per row.
   */
  upsertListMembers(list: string, importId: string, columns: readonly string[], rows: readonly { address: string; variables: Record<string, string> }[], now: number): Promise<MemberWrite[]>;
  /** Members by address, after the cursor. */
  listMembers(list: string, opts: { after?: string | undefined; limit: number }): Promise<ListMember[]>;
  /** One member added (`exists` when the address is there) or its variables updated, merged (`missing` when it is not). */
  putListMember(list: string, address: string, variables: Record<string, string>, mode: 'add' | 'update', now: number): Promise<{ write: 'inserted' | 'updated' | 'exists' | 'missing'; member?: ListMember }>;
  removeListMember(list: string, address: string): Promise<boolean>;
}

export interface Store extends MessageStore, QueueStore, DomainStore, SenderStore, SuppressionStore, WebhookStore, StatsStore, ApiStore, TemplateStore, ListStore,
  TaskStore, QuotaStore, InboundStore, EgressStore, MtaStsStore, TrackingStore {
  close(): Promise<void>;
}
