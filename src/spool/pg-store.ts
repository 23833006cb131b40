/**
 * spool/pg-store — the PostgreSQL backend as a `Store` (issue 19), opened asynchronously:
 * the pool (spool/pg-pool.ts) with its durability checked, the schema migrated
 * (spool/pg-migrations.ts), then one class per aggregate (spool/pg-<aggregate>.ts), each
 * built on the pool, composed by naming the Store methods it answers — one line per port.
 * The rules (events/effects.ts) are injected; spool/pg-effects.ts applies them in the
 * transactions that record facts. Errors cross as catalogue errors (openStore wraps it).
 *
 * The accounts ports (PostgreSQL migration 4) join with one line each in `ACCOUNT_PORTS`,
 * given the core ports whose hooks they plug into; its type names every aggregate, so a
 * missing port is a compile error, never a store that fails mid-delivery. It must never
 * pretend a port exists by answering from somewhere else.
 */
import { MtaError } from '../util/errors.js';
import { mappingErrors } from './errors.js';
import { createRules } from './default-rules.js';
import { PgAudit } from './pg-audit.js';
import { PgClaims } from './pg-claims.js';
import { PgCluster } from './pg-cluster.js';
import { PgDomains } from './pg-domains.js';
import { PgEffects } from './pg-effects.js';
import { PgEgress } from './pg-egress.js';
import { PgFeedback } from './pg-feedback.js';
import { PgIdempotency } from './pg-idempotency.js';
import { PgInbound } from './pg-inbound.js';
import { PgIntake } from './pg-intake.js';
import { PgLists } from './pg-lists.js';
import { PgMessages } from './pg-messages.js';
import { migratePg } from './pg-migrations.js';
import { PgMtaSts } from './pg-mtasts.js';
import { PgOutcomes } from './pg-outcomes.js';
import { checkDurability, createPgPool, type PgPoolOptions, type PgPool } from './pg-pool.js';
import { PgQuota } from './pg-quota.js';
import { PgSenders } from './pg-senders.js';
import { PgStats } from './pg-stats.js';
import { PgSuppression } from './pg-suppression.js';
import { PgTags } from './pg-tags.js';
import { addAliasTask, countTaskOutcome, KEEP_TASK_SOURCES, PgTasks, taskStateIn } from './pg-tasks.js';
import { PgTemplates } from './pg-templates.js';
import { PgThrottles } from './pg-throttles.js';
import { PgTlsRpt } from './pg-tlsrpt.js';
import { PgTracking } from './pg-tracking.js';
import { PgUsers } from './pg-users.js';
import { PgWebhooks } from './pg-webhooks.js';
import { PgWakeups } from './pg-wakeups.js';
import type { EffectRules } from './types-effects.js';
import { claimLeaseMs } from './types-leases.js';
import type { Store } from './types.js';

/** The Store methods of each accounts aggregate (PostgreSQL migration 4). */
const ACCOUNTS = {
  domains: ['addDomain', 'getDomain', 'listDomains', 'removeDomain', 'saveDomainChecks', 'getDomainChecks', 'listDomainEvents', 'setNextDkimKey', 'promoteNextDkimKey'],
  senders: ['addSender', 'getSender', 'listSenders', 'setSenderPassword', 'removeSender', 'setSenderDisabled', 'setSenderReplyTo', 'startReplyToVerification',
    'replyToSendTimes', 'getReplyToSend', 'confirmReplyTo', 'pruneReplyToSends'],
  tags: ['addTag', 'getTag', 'listTags', 'removeTag'],
  templates: ['addTemplate', 'getTemplate', 'listTemplates', 'updateTemplate', 'removeTemplate'],
  lists: ['addList', 'getList', 'listLists', 'removeList', 'upsertListMembers', 'listMembers', 'putListMember', 'removeListMember'],
  tasks: ['addTask', 'getTask', 'listTasks', 'setTaskState', 'commitTaskChunk', 'listByAlias', 'waitingOfTask'],
  inbound: ['recordUnsubscribe', 'recordAsyncBounce'],
  egress: ['egressCounts', 'addEgressCounts'],
  'mta-sts': ['mtaStsPolicy', 'saveMtaStsPolicy', 'liveMtaStsPolicies'],
  feedback: ['recordFeedback', 'messagesByMessageId'],
  'tls-rpt': ['addTlsRptCounts', 'tlsRptPending', 'tlsRptCounts', 'claimTlsRptReport', 'finishTlsRptReport', 'pruneTlsRpt'],
  users: ['addUser', 'getUser', 'listUsers', 'removeUser', 'setUserPassword', 'setUserRole', 'addSession', 'getSession', 'touchSession', 'removeSession', 'purgeSessions'],
  tracking: ['trackingStats', 'trackingCountsBetween', 'trackingCountsOfTask', 'recordTrackingHit', 'reclassifyTrackingHits', 'trackingHitsOf', 'trackingHitsOfRecipients', 'trackingCountsOf'],
} as const satisfies Record<string, readonly (keyof Store)[]>;

type Account = keyof typeof ACCOUNTS;
type AccountMethod = (typeof ACCOUNTS)[Account][number];

/** The core ports an accounts port may plug a hook into, and the effects its facts are written with. */
interface PgCore { effects: PgEffects; intake: PgIntake; stats: PgStats; quota: PgQuota; wakeups: PgWakeups; timeZone: string }

/** What builds an accounts port: its class on the pool, answering the aggregate's Store methods. */
type AccountPort<A extends Account> = (pool: PgPool, core: PgCore) => Pick<Store, (typeof ACCOUNTS)[A][number]>;

/** The accounts ports on PostgreSQL, one line each (those whose facts have effects are given PgEffects). */
const ACCOUNT_PORTS: { [A in Account]: AccountPort<A> } = {
  domains: (pool, { effects }) => new PgDomains(pool, effects),
  senders: (pool) => new PgSenders(pool),
  tags: (pool) => new PgTags(pool),
  templates: (pool) => new PgTemplates(pool),
  lists: (pool) => new PgLists(pool),
  tasks: (pool, core) => plugTasks(new PgTasks(pool, core.effects), core),
  inbound: (pool, { effects }) => new PgInbound(pool, effects),
  egress: (pool) => new PgEgress(pool),
  'mta-sts': (pool) => new PgMtaSts(pool),
  feedback: (pool, { effects }) => new PgFeedback(pool, effects),
  'tls-rpt': (pool) => new PgTlsRpt(pool),
  users: (pool) => new PgUsers(pool),
  tracking: (pool, core) => plugTracking(new PgTracking(pool, core.effects), core),
};

/**
 * The tasks port's hooks in the core: a task recipient's final outcome counts on its task and
 * an operator's delete reads its state (PgEffects), a message to a list alias stores its task
 * in intake's transaction (PgIntake), the purge keeps an unfinished alias task's source, and a
 * chunk's fresh mail wakes the schedulers of every node as intake's does.
 */
function plugTasks(tasks: PgTasks, { effects, intake, stats, wakeups }: PgCore): PgTasks {
  tasks.freshMail = { inTx: (tx, ids) => wakeups.notifyIn(tx, 'mta_mail', ids), committed: (ids) => intake.announce(ids) };
  effects.taskOutcome = countTaskOutcome;
  effects.taskState = taskStateIn;
  intake.aliasTask = addAliasTask;
  stats.purgeKeeps.push(KEEP_TASK_SOURCES);
  return tasks;
}

/** The tracking port's hooks: the reputation's open rate (PgQuota) and the hits' share of the retention purge (PgStats). */
function plugTracking(tracking: PgTracking, { quota, stats, timeZone }: PgCore): PgTracking {
  quota.humanOpens = (domain, day) => tracking.humanOpens(domain, day, timeZone);
  stats.alsoPurge.push((before) => tracking.purgeTrackingHits(before));
  return tracking;
}

/** `names` of `port`, bound to it: the Store methods this port answers. */
function expose<T extends object, K extends keyof T & keyof Store>(port: T, ...names: K[]): Pick<T, K> {
  const out = {} as Pick<T, K>;
  for (const k of names) {
    const fn = port[k];
    if (typeof fn !== 'function') throw new Error(`${String(k)} is not a method of ${port.constructor.name}`);
    out[k] = fn.bind(port) as T[K];
  }
  return out;
}

/** The accounts aggregates' methods, each from its port. */
function accounts(pool: PgPool, core: PgCore): Pick<Store, AccountMethod> {
  const out: Record<string, unknown> = {};
  for (const a of Object.keys(ACCOUNTS) as Account[]) {
    const make = ACCOUNT_PORTS[a] as AccountPort<Account>;
    Object.assign(out, expose(make(pool, core), ...ACCOUNTS[a]));
  }
  return out as Pick<Store, AccountMethod>;
}

export interface PgStoreOptions extends PgPoolOptions {
  /** the name claims are made under (`storage.node_id`); required: a cluster's nodes have no shared data dir to keep one in */
  nodeId: string;
  commitWindowMs?: number;
  maxCommitBatch?: number;
  /** what facts mean (events/effects.ts), injected by openStore; a direct open gets the program's */
  rules?: EffectRules;
  timeZone?: string | undefined;
}

/** A store on PostgreSQL whose methods answer from the ports on it (see the header for the missing ones). */
export type PgStore = Store & { readonly nodeId: string; onWriterFailure(cb: (e: Error) => void): void };

/** Connects, checks durability, migrates and composes the ports; a failure closes the pool and rejects with a catalogue error. */
export async function openPgStore(opts: PgStoreOptions): Promise<PgStore> {
  const pool: PgPool = createPgPool(opts);
  const wakeups = new PgWakeups(opts);
  try {
    await mappingErrors({ open: async () => { await checkDurability(pool); await migratePg(pool); await wakeups.start(); } }).open();
  } catch (e) {
    await Promise.allSettled([pool.end(), wakeups.close()]);
    throw atServer(e, opts.url);
  }
  return mappingErrors(composePgStore(pool, wakeups, opts));
}

/**
 * A failed open's catalogue error, naming the server it could not use (the URL without its
 * password): "connect ECONNREFUSED" alone does not say which setting to look at.
 */
function atServer(e: unknown, url: string): unknown {
  if (!(e instanceof MtaError)) return e;
  let where = 'the server of storage.postgres_url';
  try {
    const u = new URL(url);
    where = `PostgreSQL at ${u.hostname}:${u.port || '5432'}${u.pathname} (storage.postgres_url)`;
  } catch { /* the config checked the URL; a socket path has no host to name */ }
  return new MtaError(e.code, `cannot open the store on ${where}: ${e.message}`, e.field);
}

/** Both observers, one unsubscribe. */
function both(a: () => void, b: () => void): () => void {
  return () => { a(); b(); };
}

function composePgStore(pool: PgPool, wakeups: PgWakeups, opts: PgStoreOptions): PgStore {
  const rules = opts.rules ?? createRules({ timeZone: opts.timeZone });
  const commit = { windowMs: opts.commitWindowMs ?? 0, maxBatch: opts.maxCommitBatch ?? 256 };
  const webhooks = new PgWebhooks(pool, rules, opts.nodeId);
  webhooks.wakeups = wakeups;
  const effects = new PgEffects(rules, webhooks);
  const idempotency = new PgIdempotency(pool);
  const claims = new PgClaims(pool, opts.nodeId, claimLeaseMs());
  const intake = new PgIntake(pool, commit, { effects, idempotency, wakeups, claims });
  const outcomes = new PgOutcomes(pool, claims, effects, commit);
  outcomes.wakeups = wakeups;
  const stats = new PgStats(pool);
  const quota = new PgQuota(pool, effects);
  return {
    nodeId: opts.nodeId,
    ...expose(intake, 'commitIncoming', 'readBody', 'countByState', 'handFresh'),
    // Fresh mail of this store at its commit, and of other nodes' stores by NOTIFY (their ids; none after a lost listener).
    onCommit: (o) => both(intake.onCommit(o), wakeups.onRemoteMail(o)),
    ...expose(new PgMessages(pool), 'listQueue', 'countQueue', 'getMessage', 'eventsOfRecipients'),
    ...expose(claims, 'claimDue', 'nextDueAt', 'recoverSending', 'renewClaims'),
    ...expose(outcomes, 'recordOutcomes', 'requeue', 'applyQueueOp', 'queueShape'),
    // Operators' queue operations of other nodes' stores, by NOTIFY after their commit (`reset` after a lost listener).
    onRemoteQueueChange: (o) => wakeups.onRemoteChange((c) => { if (c === 'reset') o({ kind: 'reset' }); else if (c.aggregate === 'queue') o({ kind: 'op', op: c.op, target: c.target }); }),
    ...expose(webhooks, 'addWebhook', 'getWebhook', 'listWebhooks', 'removeWebhook', 'claimWebhookDue', 'nextWebhookDueAt', 'recordWebhookAttempt',
      'releaseWebhookClaims', 'recoverWebhookClaims', 'listWebhookAttempts', 'webhookBacklog'),
    onWebhookEnqueued: (o) => both(webhooks.onWebhookEnqueued(o), wakeups.onRemoteOutbox(o)),
    ...expose(new PgSuppression(pool, effects), 'addSuppression', 'removeSuppression', 'listSuppressions', 'isSuppressed', 'recordRefusal'),
    ...expose(stats, 'queryStats', 'queryRcptStats', 'listSendDetails', 'listRejections', 'purge'),
    ...expose(idempotency, 'getIdempotency', 'saveIdempotency', 'probeWritable'),
    ...expose(quota, 'quotaUsage', 'dailyFigures', 'domainsActiveOn', 'getReputation', 'saveReputation', 'listReputationHistory', 'markQuotaReached'),
    ...expose(new PgAudit(pool), 'auditMessageIds', 'auditEvents', 'auditOutbox', 'auditDigest'),
    ...expose(new PgCluster(pool), 'heartbeat', 'listNodes', 'tryLeadJob', 'releaseJob', 'listJobLeases', 'sendingByNode'),
    ...expose(new PgThrottles(pool), 'takeSlot', 'releaseSlot', 'renewSlots', 'releaseNodeSlots', 'slotsByNode', 'readPace', 'casPace'),
    ...accounts(pool, { effects, intake, stats, quota, wakeups, timeZone: opts.timeZone ?? 'UTC' }),
    // Writes run on the pool's connections, not a thread of the store's: there is no writer to fail.
    onWriterFailure: () => undefined,
    async close() {
      await Promise.allSettled([intake.drain(), outcomes.drain()]);
      await Promise.allSettled([wakeups.close(), pool.end()]);
    },
  };
}

/** The pool on its own, migrated and durable: for the backend's own tests and tools (migrations, durability). */
export interface PgBackend {
  /** the steps applied by this open (0 when another node had applied them) */
  readonly migrated: number;
  /** Runs a statement on the pool; errors arrive as catalogue errors. */
  query(sql: string, params?: unknown[]): Promise<{ rows: Record<string, unknown>[] }>;
  close(): Promise<void>;
}

/** Connects, checks durability and migrates; a failure closes the pool and rejects with a catalogue error. */
export async function openPgBackend(opts: PgPoolOptions): Promise<PgBackend> {
  const pool: PgPool = createPgPool(opts);
  const backend = mappingErrors({
    async open(): Promise<number> { await checkDurability(pool); return migratePg(pool); },
    async query(sql: string, params: unknown[] = []) { return pool.query(sql, params); },
    async close() { await pool.end(); },
  });
  try {
    const migrated = await backend.open();
    return { migrated, query: (sql, params) => backend.query(sql, params), close: () => backend.close() };
  } catch (e) {
    await pool.end().catch(() => undefined);
    throw e;
  }
}
