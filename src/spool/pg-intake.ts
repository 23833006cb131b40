/**
 * spool/pg-intake — intake on PostgreSQL: a message, its body as chunked bytea and its
 * recipients ('queued', each with its reception event; those this node's scheduler takes at
 * once are claimed in the same transaction, spool/fresh.ts) committed group-wise — the messages
 * whose DATA ended together share one transaction and one COMMIT (spool/group-commit.ts),
 * and each caller's promise settles only after that COMMIT (synchronous_commit on,
 * spool/pg-pool.ts), so a `250` never precedes durability. A failed batch stores nothing of
 * any of its messages, together with what it commits with: its counters (the rules'
 * effects), its idempotency record and its alias tasks (the tasks port's `aliasTask`; an
 * intake not given one refuses such a message, never drops its tasks).
 */
import { MtaError } from '../util/errors.js';
import { RECIPIENT_STATES, type RecipientState } from './states.js';
import type { QueueId } from '../util/ids.js';
import { mappingErrors } from './errors.js';
import { GroupCommit } from './group-commit.js';
import { insertMessages } from './pg-message-rows.js';
import type { PgEffects } from './pg-effects.js';
import type { PgIdempotency } from './pg-idempotency.js';
import type { PgPool } from './pg-pool.js';
import { inTransaction, type PgTx } from './pg-tx.js';
import type { PgWakeups } from './pg-wakeups.js';
import type { AliasTaskRequest, CommitObserver, FreshTaker, IncomingMessage, LaneCounts, QueueEntry } from './types-queue.js';
import { FreshHandoff, laneCounts } from './fresh.js';
import type { PgClaims } from './pg-claims.js';

export interface PgIntakeOptions { windowMs: number; maxBatch: number }

/** The ports whose rows a message commits with. */
export interface PgIntakeDeps {
  effects: PgEffects;
  idempotency: PgIdempotency;
  /** tells the other nodes of the batch after its COMMIT (their schedulers wake) */
  wakeups?: PgWakeups;
  /** claims recipients in the batch's transaction for this node's scheduler (spool/fresh.ts); without it, none are */
  claims?: PgClaims;
}

export class PgIntake {
  private readonly group: GroupCommit<IncomingMessage>;
  /** the commit observers and the scheduler taking fresh mail in intake's commits */
  private readonly fresh = new FreshHandoff();
  /** Writes an alias task of a message inside intake's transaction (the tasks port plugs it in: pg-store.ts plugTasks). */
  aliasTask: ((tx: PgTx, m: IncomingMessage, a: AliasTaskRequest) => Promise<void>) | undefined;

  constructor(private readonly pool: PgPool, opts: PgIntakeOptions, private readonly deps: PgIntakeDeps) {
    this.group = new GroupCommit<IncomingMessage>((batch) => this.fresh.write(batch, (granted) => this.write(batch, granted)),
      { name: 'intake', windowMs: opts.windowMs, maxBatch: opts.maxBatch });
  }

  /** Intake on `pool` (migrated), its errors catalogue errors. */
  static open(pool: PgPool, opts: PgIntakeOptions, deps: PgIntakeDeps): PgIntake {
    return mappingErrors(new PgIntake(pool, opts, deps));
  }

  commitIncoming(msg: IncomingMessage): Promise<void> {
    // Before the batch: a message whose 250 promises more than this port stores is refused whole.
    if (msg.aliasTasks?.length && !this.aliasTask) return Promise.reject(new MtaError('MTA_ERR_STORAGE_BACKEND', 'alias tasks need the tasks port (PgIntake.aliasTask), which this intake was not given'));
    return this.group.submit(msg);
  }

  /** Tells this node's observers of mail another port committed (a task's chunk), as of a batch of intake's. */
  announce(ids: readonly QueueId[]): void { this.fresh.announce(ids); }

  /** Called with the ids of each committed batch (the scheduler hears of fresh mail). */
  onCommit(observer: CommitObserver): () => void { return this.fresh.onCommit(observer); }
  handFresh(taker: FreshTaker | undefined): void { this.fresh.hand(taker); }

  /** Writes what is pending, and waits for it (shutdown). */
  drain(): Promise<void> { return this.group.drain(); }

  /** The batch's transaction; it claims the first `granted` recipients of each lane for this node's scheduler. */
  private async write(batch: readonly IncomingMessage[], granted: LaneCounts): Promise<QueueEntry[]> {
    const claims = granted.trigger + granted.batch > 0 ? this.deps.claims : undefined;
    const token = claims?.issueToken();
    const claimed = await inTransaction(this.pool, async (client) => {
      await insertMessages(client, batch, (m, rcpt) => ({ sender: m.sender, rcpt, size: m.size, client_ip: m.clientIp, auth_user: m.authUser }));
      for (const m of batch) {
        await this.deps.effects.accepted(client, { sender: m.sender, receivedAt: m.receivedAt, tag: m.tag, recipients: m.recipients });
        for (const a of m.aliasTasks ?? []) await this.aliasTask!(client, m, a); // the 250 promises the expansion
        if (m.idempotency) await this.deps.idempotency.saveIn(client, m.idempotency.record, m.idempotency.expireBefore);
      }
      const entries = claims && token !== undefined ? await claims.claimFreshIn(client, batch.map((m) => m.id), granted, token, Date.now()) : [];
      // The other nodes need not look for what this node took.
      const has = laneCounts(batch);
      if (entries.length < has.trigger + has.batch) await this.deps.wakeups?.notifyIn(client, 'mta_mail', batch.map((m) => m.id));
      return entries;
    });
    // Held from the commit on, as claimDue's are.
    if (token !== undefined) claims?.hold(claimed, token);
    return claimed;
  }

  /** The body, CHUNK bytes at a time, a few chunks per query so memory stays flat. */
  async *readBody(id: QueueId): AsyncIterable<Buffer> {
    for (let seq = 0; ;) {
      const { rows } = await this.pool.query<{ data: Buffer }>('SELECT data FROM message_chunks WHERE message_id = $1 AND seq >= $2 ORDER BY seq LIMIT 16', [id, seq]);
      if (rows.length === 0) return;
      for (const r of rows) { yield r.data; seq++; }
    }
  }

  async countByState(): Promise<Record<RecipientState, number>> {
    const out = Object.fromEntries(RECIPIENT_STATES.map((s) => [s, 0])) as Record<RecipientState, number>;
    const { rows } = await this.pool.query<{ state: RecipientState; n: number }>('SELECT state, count(*)::int AS n FROM recipients GROUP BY state');
    for (const r of rows) out[r.state] = r.n;
    return out;
  }
}
