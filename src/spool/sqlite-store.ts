/**
 * spool/sqlite-store — the SQLite implementation of `Store`. It alone owns the tables.
 * Intake goes through group commit; everything else is a prepared statement.
 * Addresses are stored as given but compared case-insensitively on the domain part
 * (callers pass normalised addresses; see util/address.ts).
 *
 * Why it is long (over the ~400 lines the house allows): it is the one place that composes
 * the per-aggregate SQLite modules (sqlite-*.ts) into `Store`, and most of its lines are
 * one-line delegations, one per port method, grouped by aggregate. The logic of each
 * aggregate lives in its own module; the domains and suppression statements still inline
 * here are the next to move out.
 */
import type { Statement } from 'better-sqlite3';
import type { Db } from './db.js';
import { openDatabase } from './db.js';
import { GroupCommit } from './group-commit.js';
import { FreshHandoff } from './fresh.js';
import type { QueueId } from '../util/ids.js';
import { asRecipientId } from '../util/ids.js';
import { RECIPIENT_STATES, type RecipientState } from './states.js';
import type { Store } from './types.js';
import type { DomainCheckRecord, DomainEvent, DomainRecord, DomainStatus } from './types-domains.js';
import type { SpoolEvent } from './types-events.js';
import type { CommitObserver, FreshTaker, IncomingMessage, LaneCounts, MessageDetail, QueueEntry, QueueFilter, QueueOp, QueueSelector, QueueShapeRow, QueueTarget, RecipientOutcome, RemoteQueueChange } from './types-queue.js';
import type { ReplyToGuard, ReplyToRecord, ReplyToSend, SenderRecord } from './types-senders.js';
import { SqliteSenders } from './sqlite-senders.js';
import type { RecipientRefusal, SuppressionFilter, SuppressionRecord } from './types-suppression.js';
import type { RecipientId } from '../util/ids.js';
import { MtaError } from '../util/errors.js';
import { RECIPIENT_SELECT, SqliteQueue, selectorSql, toEntry, type ClaimRequest, type QueueWrite, type RecipientRow } from './sqlite-queue.js';
import { WriterThread } from './writer.js';
import { ClaimTokens } from './claims.js';
import { nodeIdOf } from './node-id.js';
import { secureDataDir } from '../util/files.js';
import { claimLeaseMs } from './types-leases.js';
import { SqliteDomains } from './sqlite-domains.js';
import { SqliteWebhooks } from './sqlite-webhooks.js';
import { SqliteStats } from './sqlite-stats.js';
import { SqliteNotify } from './sqlite-notify.js';
import type { EffectRules } from './types-effects.js';
import { createRules } from './default-rules.js';
import { SqliteApi } from './sqlite-api.js';
import { SqliteLists } from './sqlite-lists.js';
import type { ListMember, ListRecord, MemberWrite } from './types-lists.js';
import { SqliteTemplates } from './sqlite-templates.js';
import { SqliteTasks } from './sqlite-tasks.js';
import type { TaskChunk, TaskFilter, TaskRecord, TaskStateChange } from './types-tasks.js';
import type { TaskId } from '../util/ids.js';
import { SqliteQuota } from './sqlite-quota.js';
import type { DailyFigures, QuotaReachedMark, ReputationChange, ReputationRecord } from './types-quota.js';
import { SqliteInbound } from './sqlite-inbound.js';
import { SqliteFeedback } from './sqlite-feedback.js';
import type { FeedbackRecord, FeedbackResult } from './types-feedback.js';
import { SqliteEgress } from './sqlite-egress.js';
import type { EgressCount } from './types-egress.js';
import { SqliteMtaSts } from './sqlite-mtasts.js';
import { SqliteTlsRpt } from './sqlite-tlsrpt.js';
import type { TlsRptCount } from './types-tlsrpt.js';
import type { MtaStsPolicyRecord } from './types-mtasts.js';
import { SqliteAudit } from './sqlite-audit.js';
import type { AuditEvent, OutboxFigures } from './types-audit.js';
import { SqliteUsers } from './sqlite-users.js';
import type { ConsoleUserRecord, SessionRecord, UserRole } from './types-users.js';
import { SqliteTracking } from './sqlite-tracking.js';
import type { HitClass, LinkClicks, TrackingCounts, TrackingHit, TrackingHitRecord, TrackingStatsQuery, TrackingStatsRows } from './types-tracking.js';
import type { AsyncBounce, AsyncBounceResult, UnsubscribeRequest, UnsubscribeResult } from './types-inbound.js';
import type { TagRecord } from './types-tags.js';
import type { TemplateRecord } from './types-templates.js';
import type { IdempotencyRecord } from './types-idempotency.js';
import type { PurgeResult, RcptStatsQuery, RcptStatsRow, Rejection, RejectionFilter, SendDetail, SendDetailFilter, StatsQuery, StatsRow } from './types-stats.js';
import type { OutboxItem, OutboxNext, WebhookAttempt, WebhookListRow, WebhookOutboxState, WebhookRecord } from './types-webhooks.js';
import { cursorRow } from './sqlite-cursor.js';
import { rechunk } from './chunks.js';
import { SqliteCluster } from './sqlite-cluster.js';
import type { JobLease, NodeInfo, NodeRecord, SendingByNode } from './types-cluster.js';
import { SqliteThrottles, type ThrottleCall } from './sqlite-throttles.js';
import type { SlotsByNode } from './types-throttles.js';

export interface SqliteStoreOptions {
  commitWindowMs?: number;
  maxCommitBatch?: number;
  /** intake commits, claims and outcomes on a worker thread (spool/writer.ts); the daemon's choice */
  writerThread?: boolean;
  /** the IANA zone whose days the statistics counters use (default UTC) */
  timeZone?: string | undefined;
  /** what facts mean (events/effects.ts), injected by openStore; a direct open (the backend's own tests) gets the program's */
  rules?: EffectRules;
  /** the name claims are made under (`storage.node_id`); default the data dir's node-id file (spool/node-id.ts) */
  nodeId?: string | undefined;
}

/** What the writer thread runs on its own connection (spool/writer-thread.ts). */
export interface WriterSide {
  intake(batch: readonly IncomingMessage[], granted: LaneCounts): QueueEntry[];
  queue(batch: readonly QueueWrite[]): number[];
  claim(req: ClaimRequest): QueueEntry[];
  taskChunk(c: TaskChunk): boolean;
  throttle(call: ThrottleCall): unknown;
  takeEnqueued(): number;
}

export class SqliteStore implements Store {
  /** intake's commit observers and the scheduler taking fresh mail in its commits */
  private readonly fresh = new FreshHandoff();
  private readonly intake: GroupCommit<IncomingMessage>;
  private readonly st: Record<string, Statement>;
  private readonly queue: SqliteQueue;
  private readonly domainChecks: SqliteDomains;
  private readonly hooks: SqliteWebhooks;
  private readonly stats: SqliteStats;
  private readonly notify: SqliteNotify;
  private readonly api: SqliteApi;
  private readonly lists: SqliteLists;
  private readonly templates: SqliteTemplates;
  private readonly tasks: SqliteTasks;
  private readonly quota: SqliteQuota;
  private readonly egress: SqliteEgress;
  private readonly mtaSts: SqliteMtaSts;
  private readonly audit: SqliteAudit;
  private readonly tlsRpt: SqliteTlsRpt;
  private readonly users: SqliteUsers;
  private readonly tracking: SqliteTracking;
  private readonly inbound: SqliteInbound;
  private readonly feedback: SqliteFeedback;
  private readonly senders: SqliteSenders;
  private writer: WriterThread | undefined;
  private readonly cluster: SqliteCluster;
  private readonly throttles: SqliteThrottles;

  static open(dataDir: string, opts: SqliteStoreOptions = {}): SqliteStore {
    // The node id first (its file is in the data dir): a bad one is refused before the database is touched.
    secureDataDir(dataDir);
    const nodeId = nodeIdOf(dataDir, opts.nodeId);
    const store = new SqliteStore(openDatabase(dataDir), { ...opts, nodeId });
    if (opts.writerThread) store.startWriterThread(dataDir, opts.timeZone);
    return store;
  }

  private startWriterThread(dataDir: string, timeZone: string | undefined): void {
    const writer = new WriterThread({ dataDir, timeZone, nodeId: this.nodeId, onEnqueued: (n) => this.hooks.noteEnqueued(n) });
    this.writer = writer;
    this.queue.offThread = { write: (batch) => writer.queue(batch), claim: (req) => writer.claim(req) };
    this.throttles.offThread = (call) => writer.throttle(call);
  }

  /** Called once if the writer thread dies; the store cannot accept writes after that. */
  onWriterFailure(cb: (e: Error) => void): void {
    if (this.writer) this.writer.onFailure = cb;
  }

  get writesOffThread(): boolean { return this.writer !== undefined; }

  writerSide(): WriterSide {
    return {
      intake: (batch, granted) => this.writeIncoming(batch, granted),
      queue: (batch) => this.queue.writeBatchHere(batch),
      claim: (req) => this.queue.claimDueHere(req),
      taskChunk: (c) => this.tasks.commitChunk(c),
      throttle: (call) => this.throttles.run(call),
      takeEnqueued: () => this.hooks.takeEnqueued(),
    };
  }

  /**
   * The connection, for the backend's own tests and fault injection (test/helpers/spool-backend.ts):
   * the rest of the program never sees it, so nothing can depend on the store being SQLite.
   */
  static connectionOf(store: SqliteStore): Db { return store.db; }

  readonly nodeId: string;

  constructor(private readonly db: Db, opts: SqliteStoreOptions & { nodeId: string }) {
    this.nodeId = opts.nodeId;
    const p = (sql: string): Statement => db.prepare(sql);
    this.st = {
      insMessage: p(`INSERT INTO messages (id, received_at, sender, auth_user, client_ip, helo, message_id, size, lane, tag, subject)
                     VALUES (@id, @receivedAt, @sender, @authUser, @clientIp, @helo, @messageId, @size, @lane, @tag, @subject)`),
      insChunk: p('INSERT INTO message_chunks (message_id, seq, data) VALUES (?, ?, ?)'),
      insRcpt: p(`INSERT INTO recipients (message_id, rcpt, domain, lane, state, next_attempt_at, updated_at)
                  VALUES (?, ?, ?, ?, 'queued', ?, ?)`),
      insEvent: p('INSERT INTO events (at, message_id, recipient_id, type, detail) VALUES (?, ?, ?, ?, ?)'),
      getMessage: p('SELECT * FROM messages WHERE id = ?'),
      rcptsOf: p(`${RECIPIENT_SELECT} WHERE r.message_id = ? ORDER BY r.id`),
      eventsOf: p('SELECT * FROM events WHERE message_id = ? ORDER BY id'),
      chunks: p('SELECT data FROM message_chunks WHERE message_id = ? AND seq >= ? ORDER BY seq LIMIT 16'),
      countByState: p('SELECT state, COUNT(*) AS n FROM recipients GROUP BY state'),
      insDomain: p(`INSERT INTO domains (name, dkim_selector, dkim_algorithm, dkim_private_key, dkim_public_key, ownership_token, status, created_at)
                    VALUES (@name, @dkimSelector, @dkimAlgorithm, @dkimPrivateKey, @dkimPublicKey, @ownershipToken, @status, @createdAt)`),
      getDomain: p('SELECT * FROM domains WHERE name = ?'),
      listDomains: p('SELECT * FROM domains ORDER BY name'),
      delDomain: p('DELETE FROM domains WHERE name = ?'),
      sendersOfDomain: p('SELECT COUNT(*) AS n FROM senders WHERE domain = ?'),
      insSuppression: p(`INSERT OR IGNORE INTO suppressions (address, scope, reason, source, created_at)
                         VALUES (@address, @scope, @reason, @source, @createdAt)`),
      delSuppression: p('DELETE FROM suppressions WHERE address = ? AND scope = ?'),
      delSuppressionAll: p('DELETE FROM suppressions WHERE address = ?'),
      isSuppressed: p(`SELECT * FROM suppressions WHERE address = ? AND (scope = '' OR scope = ?) LIMIT 1`),
    };
    const rules = opts.rules ?? createRules({ timeZone: opts.timeZone });
    this.hooks = new SqliteWebhooks(db, rules, new ClaimTokens(opts.nodeId));
    this.stats = new SqliteStats(db);
    this.notify = new SqliteNotify(db, this.hooks, this.stats, rules);
    const commit = { windowMs: opts.commitWindowMs ?? 0, maxBatch: opts.maxCommitBatch ?? 256 };
    this.queue = new SqliteQueue(db, this.notify, commit, new ClaimTokens(opts.nodeId), claimLeaseMs());
    this.domainChecks = new SqliteDomains(db, this.notify);
    this.api = new SqliteApi(db);
    this.lists = new SqliteLists(db);
    this.templates = new SqliteTemplates(db);
    this.tasks = new SqliteTasks(db, this.notify);
    this.notify.effects.taskOutcome = (id, counter) => this.tasks.countOutcome(id, counter);
    this.quota = new SqliteQuota(db, this.notify);
    this.notify.effects.spamBounce = (k) => this.quota.spamBounce(k);
    this.inbound = new SqliteInbound(db, this.notify);
    this.feedback = new SqliteFeedback(db, this.notify);
    this.senders = new SqliteSenders(db);
    this.egress = new SqliteEgress(db);
    this.mtaSts = new SqliteMtaSts(db);
    this.audit = new SqliteAudit(db);
    this.tlsRpt = new SqliteTlsRpt(db);
    this.users = new SqliteUsers(db);
    this.tracking = new SqliteTracking(db, this.notify, opts.timeZone);
    this.quota.humanOpens = (domain, day) => this.tracking.humanOpens(domain, day);
    this.cluster = new SqliteCluster(db);
    this.throttles = new SqliteThrottles(db);
    this.intake = new GroupCommit<IncomingMessage>(
      (batch) => this.fresh.write(batch, (granted) => (this.writer ? this.writer.intake(batch, granted) : this.writeIncoming(batch, granted))),
      { ...commit, name: 'intake' },
    );
  }

  get commitBatchSizes(): readonly number[] { return this.intake.batchSizes; }

  /** Intake's transaction; it claims the first `granted` recipients of each lane for the scheduler (spool/fresh.ts). */
  private writeIncoming(batch: readonly IncomingMessage[], granted: LaneCounts): QueueEntry[] {
    const left = { ...granted };
    const fresh = left.trigger + left.batch > 0 ? this.queue.freshClaims() : undefined;
    const claimed: QueueEntry[] = [];
    this.db.transaction(() => {
      const now = Date.now();
      for (const m of batch) {
        this.st['insMessage']!.run({
          id: m.id, receivedAt: m.receivedAt, sender: m.sender, authUser: m.authUser, clientIp: m.clientIp,
          helo: m.helo, messageId: m.messageId, size: m.size, lane: m.lane, tag: m.tag, subject: m.subject,
        });
        rechunk(m.chunks).forEach((c, i) => this.st['insChunk']!.run(m.id, i, c));
        for (const rcpt of m.recipients) {
          const domain = rcpt.slice(rcpt.lastIndexOf('@') + 1).toLowerCase();
          const id = Number(this.st['insRcpt']!.run(m.id, rcpt, domain, m.lane, m.receivedAt, m.receivedAt).lastInsertRowid);
          this.st['insEvent']!.run(m.receivedAt, m.id, id, 'reception',
            JSON.stringify({ sender: m.sender, rcpt, size: m.size, client_ip: m.clientIp, auth_user: m.authUser }));
          if (fresh && left[m.lane] > 0 && fresh.claim(id, now)) {
            left[m.lane]--;
            claimed.push(toEntry({
              id, message_id: m.id, sender: m.sender, rcpt, domain, state: 'sending', lane: m.lane, attempts: 0, next_attempt_at: m.receivedAt,
              last_reply: null, received_at: m.receivedAt, size: m.size, task_id: null, return_path: null,
            }));
          }
        }
        this.notify.accepted(m.sender, m.receivedAt, m.tag, m.recipients);
        for (const a of m.aliasTasks ?? []) this.tasks.addAliasTask(m, a); // the 250 promises the expansion
        if (m.idempotency) this.api.save(m.idempotency.record, m.idempotency.expireBefore); // a savepoint inside this transaction
      }
    }).immediate();
    // Held from the commit on, as claimDue's are.
    fresh?.hold(claimed);
    return claimed;
  }

  commitIncoming(msg: IncomingMessage): Promise<void> {
    return this.intake.submit(msg);
  }

  onCommit(observer: CommitObserver): () => void { return this.fresh.onCommit(observer); }
  handFresh(taker: FreshTaker | undefined): void { this.fresh.hand(taker); }

  async listQueue(f: QueueFilter): Promise<QueueEntry[]> {
    const sel = selectorSql(f, 'r');
    const where = [sel.sql];
    const args = [...sel.args];
    if (f.after !== undefined) { where.push('r.id > ?'); args.push(cursorRow(f.after)); }
    const sql = `${RECIPIENT_SELECT} WHERE ${where.join(' AND ')} ORDER BY r.id ${f.newest ? 'DESC' : ''} LIMIT ?`;
    args.push(Math.min(Math.max(f.limit ?? 1000, 1), 100_000));
    const rows = (this.db.prepare(sql).all(...args) as RecipientRow[]).map(toEntry);
    return f.newest ? rows.reverse() : rows;
  }

  async countQueue(f: QueueSelector): Promise<number> {
    const sel = selectorSql(f, 'r');
    return (this.db.prepare(`SELECT COUNT(*) AS n FROM recipients r WHERE ${sel.sql}`).get(...sel.args) as { n: number }).n;
  }

  async getMessage(id: QueueId): Promise<MessageDetail | undefined> {
    const m = this.st['getMessage']!.get(id) as Record<string, unknown> | undefined;
    if (!m) return undefined;
    const recipients = (this.st['rcptsOf']!.all(id) as RecipientRow[]).map(toEntry);
    const events = (this.st['eventsOf']!.all(id) as { id: number; at: number; recipient_id: number | null; type: string; detail: string }[])
      .map((e): SpoolEvent => ({
        id: e.id, at: e.at, recipientId: e.recipient_id === null ? null : asRecipientId(e.recipient_id), type: e.type,
        detail: JSON.parse(e.detail) as Record<string, unknown>,
      }));
    return {
      id, receivedAt: m['received_at'] as number, sender: m['sender'] as string, authUser: m['auth_user'] as string | null,
      clientIp: m['client_ip'] as string | null, helo: m['helo'] as string | null, messageId: m['message_id'] as string,
      subject: m['subject'] as string | null, size: m['size'] as number, lane: m['lane'] as 'trigger' | 'batch',
      tag: m['tag'] as string | null, recipients, events,
    };
  }

  async *readBody(id: QueueId): AsyncIterable<Buffer> {
    // A few chunks per query keeps memory flat for large messages.
    for (let seq = 0; ;) {
      const rows = this.st['chunks']!.all(id, seq) as { data: Buffer }[];
      if (rows.length === 0) return;
      for (const r of rows) { yield r.data; seq++; }
    }
  }

  async countByState(): Promise<Record<RecipientState, number>> {
    const out = Object.fromEntries(RECIPIENT_STATES.map((s) => [s, 0])) as Record<RecipientState, number>;
    for (const r of this.st['countByState']!.all() as { state: RecipientState; n: number }[]) out[r.state] = r.n;
    return out;
  }

  // ---- delivery queue (spool/sqlite-queue.ts) ----
  claimDue(req: { now: number; limit: number; triggerOnly?: boolean }): Promise<QueueEntry[]> { return this.queue.claimDue(req); }
  nextDueAt(): Promise<number | undefined> { return this.queue.nextDueAt(); }
  recordOutcomes(o: readonly RecipientOutcome[]): Promise<number> { return this.queue.recordOutcomes(o); }
  requeue(ids: readonly RecipientId[], at: number, reason?: string): Promise<number> { return this.queue.requeue(ids, at, reason); }
  recoverSending(now: number, reason: string): Promise<number> { return this.queue.recoverSending(now, reason); }
  renewClaims(now: number): Promise<number> { return this.queue.renewClaims(now); }
  applyQueueOp(op: QueueOp, target: QueueTarget, now: number, opts?: { announce?: boolean }): Promise<number> { return this.queue.applyQueueOp(op, target, now, opts); }
  onRemoteQueueChange(observer: (c: RemoteQueueChange) => void): () => void { return this.queue.onRemoteQueueChange(observer); }
  queueShape(now: number, buckets: readonly number[]): Promise<QueueShapeRow[]> { return this.queue.queueShape(now, buckets); }

  // ---- cluster: heartbeats, job leases (spool/sqlite-cluster.ts) ----
  heartbeat(nodeId: string, info: NodeInfo, now: number): Promise<void> { return this.cluster.heartbeat(nodeId, info, now); }
  listNodes(): Promise<NodeRecord[]> { return this.cluster.listNodes(); }
  tryLeadJob(job: string, nodeId: string, now: number, leaseMs: number): Promise<boolean> { return this.cluster.tryLeadJob(job, nodeId, now, leaseMs); }
  releaseJob(job: string, nodeId: string): Promise<boolean> { return this.cluster.releaseJob(job, nodeId); }
  listJobLeases(): Promise<JobLease[]> { return this.cluster.listJobLeases(); }
  sendingByNode(now: number): Promise<SendingByNode[]> { return this.cluster.sendingByNode(now); }

  // ---- throttles: cluster-wide connection slots and paces (spool/sqlite-throttles.ts) ----
  takeSlot(key: string, slots: readonly number[], holder: string, nodeId: string, now: number, leaseMs: number): Promise<number | undefined> {
    return this.throttles.takeSlot(key, slots, holder, nodeId, now, leaseMs);
  }
  releaseSlot(key: string, slot: number, holder: string): Promise<boolean> { return this.throttles.releaseSlot(key, slot, holder); }
  renewSlots(nodeId: string, now: number, leaseMs: number): Promise<number> { return this.throttles.renewSlots(nodeId, now, leaseMs); }
  releaseNodeSlots(nodeId: string): Promise<number> { return this.throttles.releaseNodeSlots(nodeId); }
  slotsByNode(now: number): Promise<SlotsByNode[]> { return this.throttles.slotsByNode(now); }
  readPace(key: string): Promise<number | undefined> { return this.throttles.readPace(key); }
  casPace(key: string, expected: number | undefined, next: number): Promise<boolean> { return this.throttles.casPace(key, expected, next); }

  // ---- domains ----
  async addDomain(d: DomainRecord): Promise<void> {
    try {
      this.st['insDomain']!.run(d);
    } catch (e) {
      if ((e as { code?: string }).code === 'SQLITE_CONSTRAINT_PRIMARYKEY') throw new MtaError('MTA_ERR_EXISTS', `domain ${d.name} exists already`);
      throw e;
    }
  }
  async getDomain(name: string): Promise<DomainRecord | undefined> {
    const r = this.st['getDomain']!.get(name.toLowerCase()) as Record<string, unknown> | undefined;
    return r ? rowToDomain(r) : undefined;
  }
  async listDomains(): Promise<DomainRecord[]> {
    return (this.st['listDomains']!.all() as Record<string, unknown>[]).map(rowToDomain);
  }
  async removeDomain(name: string): Promise<boolean> {
    const n = (this.st['sendersOfDomain']!.get(name) as { n: number }).n;
    if (n > 0) throw new MtaError('MTA_ERR_IN_USE', `domain ${name} still has ${n} sender address${n > 1 ? 'es' : ''}; remove them first`);
    return this.st['delDomain']!.run(name).changes > 0;
  }

  async saveDomainChecks(domain: string, checks: readonly DomainCheckRecord[], status: DomainStatus, events: readonly DomainEvent[]): Promise<void> {
    this.domainChecks.save(domain, checks, status, events);
  }
  async getDomainChecks(domain: string): Promise<DomainCheckRecord[]> { return this.domainChecks.checks(domain); }
  async listDomainEvents(f: { domain?: string; since?: number; limit?: number }): Promise<DomainEvent[]> { return this.domainChecks.events(f); }
  async setNextDkimKey(domain: string, next: { selector: string; privateKey: string; publicKey: string } | null): Promise<void> { this.domainChecks.setNext(domain, next); }
  async promoteNextDkimKey(domain: string): Promise<string | undefined> { return this.domainChecks.promote(domain); }

  // ---- webhooks (spool/sqlite-webhooks.ts) ----
  async addWebhook(w: Omit<WebhookRecord, 'id' | 'disabled'>): Promise<WebhookRecord> { return this.hooks.add(w); }
  async getWebhook(id: number): Promise<WebhookRecord | undefined> { return this.hooks.get(id); }
  async listWebhooks(): Promise<WebhookListRow[]> { return this.hooks.list(); }
  async removeWebhook(id: number): Promise<{ removed: boolean; dropped: number }> { return this.hooks.remove(id); }
  async claimWebhookDue(r: { now: number; limit: number; leaseMs: number }): Promise<OutboxItem[]> { return this.hooks.claim(r.now, r.limit, r.leaseMs); }
  async nextWebhookDueAt(): Promise<number | undefined> { return this.hooks.nextDueAt(); }
  async recordWebhookAttempt(a: Omit<WebhookAttempt, 'id'>, next?: OutboxNext): Promise<void> { this.hooks.record(a, next); }
  async releaseWebhookClaims(ids: readonly number[]): Promise<void> { this.hooks.release(ids); }
  async recoverWebhookClaims(): Promise<number> { return this.hooks.recover(); }
  async listWebhookAttempts(f: { webhookId?: number; limit?: number }): Promise<WebhookAttempt[]> { return this.hooks.attempts(f); }
  async webhookBacklog(): Promise<Record<WebhookOutboxState, number>> { return this.hooks.backlog(); }
  onWebhookEnqueued(observer: () => void): () => void { return this.hooks.onEnqueued(observer); }

  // ---- statistics and send details (spool/sqlite-stats.ts) ----
  async queryStats(q: StatsQuery): Promise<StatsRow[]> { return this.stats.query(q); }
  async queryRcptStats(q: RcptStatsQuery): Promise<RcptStatsRow[]> { return this.stats.rcpt.query(q); }
  async listSendDetails(f: SendDetailFilter): Promise<SendDetail[]> { return this.stats.sendDetails(f); }
  async listRejections(f: RejectionFilter): Promise<Rejection[]> { return this.stats.rejections(f); }
  async eventsOfRecipients(ids: readonly RecipientId[]): Promise<SpoolEvent[]> { return this.stats.eventsOf(ids); }
  async purge(req: { detailsBefore: number; statsBeforeDay: string }): Promise<PurgeResult> {
    const r = await this.stats.purge(req);
    // Opens and clicks are send details: they follow the details retention.
    await this.tracking.purge(req.detailsBefore);
    return r;
  }

  // ---- senders (spool/sqlite-senders.ts) ----
  async addSender(s: SenderRecord): Promise<void> { this.senders.add(s); }
  async getSender(address: string): Promise<SenderRecord | undefined> { return this.senders.one(address); }
  async listSenders(domain?: string): Promise<SenderRecord[]> { return this.senders.all(domain); }
  async setSenderPassword(address: string, hash: string | null, expected?: string): Promise<boolean> { return this.senders.password(address, hash, expected); }
  async removeSender(address: string): Promise<boolean> { return this.senders.remove(address); }
  async setSenderDisabled(address: string, disabled: boolean): Promise<boolean> { return this.senders.disabled(address, disabled); }
  async setSenderReplyTo(address: string, replyTo: ReplyToRecord | null): Promise<boolean> { return this.senders.replyTo(address, replyTo); }
  async startReplyToVerification(send: Omit<ReplyToSend, 'usedAt'>, guard: ReplyToGuard): Promise<boolean> { return this.senders.startVerification(send, guard); }
  async replyToSendTimes(sender: string, address: string, since: number): Promise<{ sender: number[]; address: number[] }> { return this.senders.times(sender, address, since); }
  async getReplyToSend(nonce: string): Promise<ReplyToSend | undefined> { return this.senders.send(nonce); }
  async confirmReplyTo(sender: string, nonce: string, now: number): Promise<boolean> { return this.senders.confirm(sender, nonce, now); }
  async pruneReplyToSends(before: number): Promise<number> { return this.senders.pruneSends(before); }

  // ---- suppression ----
  async addSuppression(s: SuppressionRecord): Promise<boolean> {
    return this.st['insSuppression']!.run(s).changes > 0;
  }
  async removeSuppression(address: string, scope?: string): Promise<number> {
    return scope === undefined
      ? this.st['delSuppressionAll']!.run(address).changes
      : this.st['delSuppression']!.run(address, scope).changes;
  }
  async listSuppressions(f: SuppressionFilter): Promise<SuppressionRecord[]> {
    const where: string[] = [];
    const args: (string | number)[] = [];
    // LIKE reads its pattern as a C string, so a NUL would end it early ("%\0%" matches every
    // address); no address contains a NUL, so such a search matches nothing.
    if (f.search?.includes('\0')) where.push('0');
    else if (f.search) { where.push(`address LIKE ? ESCAPE '\\'`); args.push(`%${f.search.replace(/[\\%_]/g, (c) => `\\${c}`)}%`); }
    if (f.after && f.afterScope !== undefined) { where.push('(address, scope) > (?, ?)'); args.push(f.after, f.afterScope); }
    else if (f.after) { where.push('address > ?'); args.push(f.after); }
    if (f.since !== undefined) { where.push('created_at >= ?'); args.push(f.since); }
    if (f.until !== undefined) { where.push('created_at <= ?'); args.push(f.until); }
    args.push(Math.min(Math.max(f.limit ?? 1000, 1), 100_000));
    const rows = this.db.prepare(`SELECT * FROM suppressions ${where.length ? `WHERE ${where.join(' AND ')}` : ''}
                                  ORDER BY address, scope LIMIT ?`).all(...args) as Record<string, unknown>[];
    return rows.map((r) => ({
      address: r['address'] as string, scope: r['scope'] as string, reason: r['reason'] as string,
      source: r['source'] as SuppressionRecord['source'], createdAt: r['created_at'] as number,
    }));
  }
  async recordRefusal(r: RecipientRefusal): Promise<void> {
    this.db.transaction(() => this.notify.refused(r)).immediate();
    this.notify.signal();
  }
  async isSuppressed(address: string, senderDomain: string): Promise<SuppressionRecord | undefined> {
    const r = this.st['isSuppressed']!.get(address, senderDomain) as Record<string, unknown> | undefined;
    return r ? {
      address: r['address'] as string, scope: r['scope'] as string, reason: r['reason'] as string,
      source: r['source'] as SuppressionRecord['source'], createdAt: r['created_at'] as number,
    } : undefined;
  }

  // ---- admin API (spool/sqlite-api.ts) ----
  async getIdempotency(account: string, key: string, notBefore: number): Promise<IdempotencyRecord | undefined> { return this.api.get(account, key, notBefore); }
  async saveIdempotency(rec: IdempotencyRecord, expireBefore: number): Promise<boolean> { return this.api.save(rec, expireBefore); }
  async probeWritable(): Promise<void> { this.api.probeWritable(); }

  // ---- recipient lists (spool/sqlite-lists.ts) ----
  async addList(l: { name: string; alias: string; description: string | null; createdAt: number }): Promise<void> { this.lists.add(l); }
  async getList(name: string): Promise<ListRecord | undefined> { return this.lists.get(name); }
  async listLists(): Promise<ListRecord[]> { return this.lists.list(); }
  async removeList(name: string): Promise<boolean> { return this.lists.remove(name); }
  async upsertListMembers(list: string, importId: string, columns: readonly string[], rows: readonly { address: string; variables: Record<string, string> }[], now: number): Promise<MemberWrite[]> {
    return this.lists.upsert(list, importId, columns, rows, now);
  }
  async listMembers(list: string, opts: { after?: string | undefined; limit: number; contains?: string | undefined }): Promise<ListMember[]> { return this.lists.members(list, opts); }
  async putListMember(list: string, address: string, variables: Record<string, string>, mode: 'add' | 'update', now: number): Promise<{ write: 'inserted' | 'updated' | 'exists' | 'missing'; member?: ListMember }> {
    return this.lists.putMember(list, address, variables, mode, now);
  }
  async removeListMember(list: string, address: string): Promise<boolean> { return this.lists.removeMember(list, address); }

  // ---- tags and templates (spool/sqlite-templates.ts) ----
  async addTag(t: TagRecord): Promise<boolean> { return this.templates.addTag(t); }
  async getTag(name: string): Promise<TagRecord | undefined> { return this.templates.getTag(name); }
  async listTags(): Promise<TagRecord[]> { return this.templates.listTags(); }
  async removeTag(name: string): Promise<boolean> { return this.templates.removeTag(name); }
  async addTemplate(t: TemplateRecord): Promise<boolean> { return this.templates.addTemplate(t); }
  async getTemplate(name: string): Promise<TemplateRecord | undefined> { return this.templates.getTemplate(name); }
  async listTemplates(): Promise<TemplateRecord[]> { return this.templates.listTemplates(); }
  async updateTemplate(t: TemplateRecord): Promise<boolean> { return this.templates.updateTemplate(t); }
  async removeTemplate(name: string): Promise<boolean> { return this.templates.removeTemplate(name); }

  // ---- batch tasks (spool/sqlite-tasks.ts) ----
  async addTask(t: TaskRecord): Promise<void> { this.tasks.add(t); }
  async getTask(id: TaskId): Promise<TaskRecord | undefined> { return this.tasks.get(id); }
  async listTasks(f: TaskFilter): Promise<TaskRecord[]> { return this.tasks.list(f); }
  async setTaskState(id: TaskId, c: TaskStateChange): Promise<boolean> { return this.tasks.setState(id, c); }
  async commitTaskChunk(c: TaskChunk): Promise<boolean> {
    // On the writer thread when there is one: a chunk of 500 messages held the event loop for its fsync and more.
    const ok = this.writer ? await this.writer.taskChunk(c) : this.tasks.commitChunk(c);
    // The scheduler hears of the new mail as it hears of intake's.
    if (ok && c.messages.length) this.fresh.announce(c.messages.map((m) => m.id));
    return ok;
  }
  async listByAlias(address: string): Promise<string | undefined> { return this.tasks.listByAlias(address); }
  async waitingOfTask(id: TaskId): Promise<{ queued: number; sending: number; deferred: number; held: number }> { return this.tasks.waiting(id); }

  // ---- quotas and reputation (spool/sqlite-quota.ts) ----
  async quotaUsage(domain: string, day: string, monthFrom: string, monthTo: string): Promise<{ day: number; month: number }> { return this.quota.usage(domain, day, monthFrom, monthTo); }
  async dailyFigures(domain: string, day: string): Promise<DailyFigures> { return this.quota.figures(domain, day); }
  async domainsActiveOn(day: string): Promise<string[]> { return this.quota.activeOn(day); }
  async getReputation(domain: string): Promise<ReputationRecord | undefined> { return this.quota.get(domain); }
  async saveReputation(next: ReputationRecord, prev: ReputationRecord | undefined, changes: readonly ReputationChange[]): Promise<boolean> { return this.quota.save(next, prev, changes); }
  async listReputationHistory(domain: string, limit: number): Promise<ReputationChange[]> { return this.quota.history(domain, limit); }
  async markQuotaReached(m: QuotaReachedMark): Promise<boolean> { return this.quota.markReached(m); }

  // ---- egress counters (spool/sqlite-egress.ts) ----
  async egressCounts(day: string): Promise<EgressCount[]> { return this.egress.counts(day); }
  async addEgressCounts(deltas: readonly EgressCount[]): Promise<void> { this.egress.add(deltas); }
  // ---- MTA-STS policies (spool/sqlite-mtasts.ts) ----
  async mtaStsPolicy(domain: string): Promise<MtaStsPolicyRecord | undefined> { return this.mtaSts.get(domain); }
  async saveMtaStsPolicy(p: MtaStsPolicyRecord): Promise<void> { this.mtaSts.put(p); }
  async liveMtaStsPolicies(now: number, limit: number): Promise<MtaStsPolicyRecord[]> { return this.mtaSts.live(now, limit); }
  async addTlsRptCounts(rows: readonly TlsRptCount[]): Promise<void> { this.tlsRpt.add(rows); }
  async tlsRptPending(beforeDay: string, limit: number): Promise<{ domain: string; day: string }[]> { return this.tlsRpt.pending(beforeDay, limit); }
  async tlsRptCounts(domain: string, day: string): Promise<TlsRptCount[]> { return this.tlsRpt.counts(domain, day); }
  async claimTlsRptReport(domain: string, day: string, node: string, now: number, staleBefore: number): Promise<boolean> { return this.tlsRpt.claim(domain, day, node, now, staleBefore); }
  async finishTlsRptReport(domain: string, day: string, outcome: { sentAt: number } | { error: string }): Promise<void> { this.tlsRpt.finish(domain, day, outcome); }
  async pruneTlsRpt(beforeDay: string): Promise<number> { return this.tlsRpt.prune(beforeDay); }

  // ---- audit reads (spool/sqlite-audit.ts) ----
  async auditMessageIds(): Promise<QueueId[]> { return this.audit.messageIds(); }
  async auditEvents(type: string, limit?: number): Promise<AuditEvent[]> { return this.audit.events(type, limit); }
  async auditOutbox(): Promise<OutboxFigures> { return this.audit.outbox(); }
  async auditDigest(): Promise<string> { return this.audit.digest(); }

  // ---- console users and sessions (spool/sqlite-users.ts) ----
  async addUser(u: ConsoleUserRecord): Promise<void> { this.users.add(u); }
  async getUser(name: string): Promise<ConsoleUserRecord | undefined> { return this.users.get(name); }
  async listUsers(): Promise<ConsoleUserRecord[]> { return this.users.list(); }
  async removeUser(name: string): Promise<boolean> { return this.users.remove(name); }
  async setUserPassword(name: string, hash: string, now: number): Promise<boolean> { return this.users.setPassword(name, hash, now); }
  async setUserRole(name: string, role: UserRole): Promise<boolean> { return this.users.setRole(name, role); }
  async addSession(s: SessionRecord): Promise<void> { this.users.addSession(s); }
  async getSession(idHash: string): Promise<SessionRecord | undefined> { return this.users.getSession(idHash); }
  async touchSession(idHash: string, now: number): Promise<void> { this.users.touch(idHash, now); }
  async removeSession(idHash: string): Promise<void> { this.users.removeSession(idHash); }
  async purgeSessions(idleBefore: number, createdBefore: number): Promise<number> { return this.users.purge(idleBefore, createdBefore); }
  // ---- open and click hits (spool/sqlite-tracking.ts) ----
  async recordTrackingHit(h: TrackingHit): Promise<TrackingHitRecord> { return this.tracking.add(h); }
  async reclassifyTrackingHits(ids: readonly number[], cls: HitClass, reason: string): Promise<void> { this.tracking.reclassify(ids, cls, reason); }
  async trackingHitsOf(recipientId: RecipientId): Promise<TrackingHitRecord[]> { return this.tracking.of(recipientId); }
  async trackingHitsOfRecipients(ids: readonly RecipientId[]): Promise<TrackingHitRecord[]> { return this.tracking.ofMany(ids); }
  async trackingCountsOfTask(taskId: string): Promise<{ counts: Record<HitClass, TrackingCounts>; links: LinkClicks[] }> { return this.tracking.ofTask(taskId); }
  async trackingStats(q: TrackingStatsQuery): Promise<TrackingStatsRows> { return this.tracking.stats(q); }
  async trackingCountsOf(queueId: QueueId): Promise<Record<HitClass, TrackingCounts>> { return this.tracking.countsOf(queueId); }
  async trackingCountsBetween(from: number, to: number): Promise<Record<HitClass, TrackingCounts>> { return this.tracking.countsBetween(from, to); }

  // ---- inbound mail and unsubscribe (spool/sqlite-inbound.ts) ----
  async recordUnsubscribe(u: UnsubscribeRequest): Promise<UnsubscribeResult> { return this.inbound.unsubscribe(u); }
  async recordAsyncBounce(b: AsyncBounce): Promise<AsyncBounceResult> { return this.inbound.asyncBounce(b); }
  // ---- feedback reports (spool/sqlite-feedback.ts) ----
  async recordFeedback(f: FeedbackRecord): Promise<FeedbackResult> { return this.feedback.record(f); }
  async messagesByMessageId(messageId: string): Promise<QueueId[]> { return this.feedback.messagesByMessageId(messageId); }

  async close(): Promise<void> {
    await Promise.allSettled([this.intake.drain(), this.queue.drain()]);
    await this.writer?.close();
    this.closeConnection();
  }

  /** The writer thread's end: its store has no group commits to drain, only the connection to close. */
  closeConnection(): void {
    this.queue.changes.close();
    if (this.db.open) this.db.close();
  }
}

function rowToDomain(r: Record<string, unknown>): DomainRecord {
  return {
    name: r['name'] as string, dkimSelector: r['dkim_selector'] as string,
    dkimAlgorithm: r['dkim_algorithm'] as DomainRecord['dkimAlgorithm'], dkimPrivateKey: r['dkim_private_key'] as string,
    dkimPublicKey: r['dkim_public_key'] as string, ownershipToken: r['ownership_token'] as string,
    status: r['status'] as string, createdAt: r['created_at'] as number, checkedAt: (r['checked_at'] as number | null) ?? null,
    nextDkim: r['next_dkim_selector'] ? {
      selector: r['next_dkim_selector'] as string, privateKey: r['next_dkim_private_key'] as string, publicKey: r['next_dkim_public_key'] as string,
    } : null,
  };
}
