/**
 * spool/pg-wakeups — wake-ups across nodes with LISTEN/NOTIFY: fresh mail (the scheduler's
 * `onCommit`), webhook outbox rows (the dispatcher's `onWebhookEnqueued`), and changes another
 * node must act on because it holds their rows in memory (`mta_change`: an operator's queue
 * operation, which another node's scheduler must apply to the recipients it claimed; the
 * README's "Running a cluster" lists what each node keeps in memory and why only that needs
 * it). A port that commits any of them sends its notification inside that transaction
 * (`notifyIn`, `notifyChange`), so PostgreSQL
 * delivers it only after the COMMIT, and never for a rolled-back one. Each store listens on
 * one connection of its own (not the pool's: a pooled connection is not kept listening);
 * notifications a store sent itself are skipped (its observers heard of them at commit).
 *
 * A wake-up is a hint, never the truth: the woken side reads the database. Losing the
 * listening connection (PostgreSQL restarting) loses notifications, so after it reconnects
 * every observer is woken once (a change observer hears `reset`). It must never hold work
 * back: nothing waits for a notification.
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import type { PgPoolOptions } from './pg-pool.js';
import type { PgTx } from './pg-tx.js';
import type { QueueId } from '../util/ids.js';
import type { QueueOp, QueueTarget } from './types-queue.js';

export type WakeChannel = 'mta_mail' | 'mta_outbox';

/** What a store announces on `mta_change`: the aggregate, and what of it changed. */
export type ChangeNote = { aggregate: 'queue'; op: QueueOp; target: QueueTarget };
/** A change another store committed, or `reset`: changes may have been missed (the listener reconnected). */
export type ChangeObserver = (c: ChangeNote | 'reset') => void;

const QUEUE_OPS: readonly string[] = ['flush', 'hold', 'release', 'delete'] satisfies QueueOp[];

/** Payload bytes per notification (PostgreSQL's limit is 8000). */
const MAX_PAYLOAD = 7000;
/** How long after losing its connection the listener tries again (ms); timers are unref'd. */
const RECONNECT_MS = 1000;

interface Payload { from: string; ids?: string[]; change?: ChangeNote }

export class PgWakeups {
  /** This store's mark on its notifications (a node may run several stores, in tests). */
  readonly from = randomBytes(6).toString('hex');
  private readonly mail = new Set<(ids: readonly QueueId[]) => void>();
  private readonly outbox = new Set<() => void>();
  private readonly changes = new Set<ChangeObserver>();
  private client: pg.Client | undefined;
  private retry: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(private readonly opts: PgPoolOptions) {}

  /** Connects and listens; resolves once notifications are being received. */
  async start(): Promise<void> {
    const client = new pg.Client({ connectionString: this.opts.url, application_name: 'mta-listen', connectionTimeoutMillis: 10_000 });
    const lost = (): void => {
      if (this.client !== client) return;
      this.client = undefined;
      client.end().catch(() => undefined);
      this.reconnectLater();
    };
    client.on('error', lost);
    client.on('end', lost);
    client.on('notification', (n) => this.heard(n.channel, n.payload));
    this.client = client;
    try {
      await client.connect();
      await client.query('LISTEN mta_mail; LISTEN mta_outbox; LISTEN mta_change');
    } catch (e) {
      this.client = undefined;
      await client.end().catch(() => undefined);
      throw e;
    }
  }

  private reconnectLater(): void {
    if (this.closed || this.retry) return;
    this.retry = setTimeout(() => {
      this.retry = undefined;
      if (this.closed) return;
      this.start().then(() => this.wakeAll(), () => this.reconnectLater());
    }, RECONNECT_MS);
    this.retry.unref();
  }

  /** Notifications may have been missed: every observer looks once. */
  private wakeAll(): void {
    for (const o of this.mail) safely(() => o([]));
    for (const o of this.outbox) safely(o);
    for (const o of this.changes) safely(() => o('reset'));
  }

  private heard(channel: string, text: string | undefined): void {
    let p: Payload;
    try { p = JSON.parse(text ?? '') as Payload; } catch { return; }
    if (p.from === this.from) return;
    if (channel === 'mta_mail') for (const o of this.mail) safely(() => o((p.ids ?? []) as QueueId[]));
    else if (channel === 'mta_outbox') for (const o of this.outbox) safely(o);
    else if (channel === 'mta_change' && isChange(p.change)) for (const o of this.changes) safely(() => o(p.change!));
  }

  /** Fresh mail committed by another store: its ids (empty after a reconnect: look anyway). */
  onRemoteMail(observer: (ids: readonly QueueId[]) => void): () => void {
    this.mail.add(observer);
    return () => this.mail.delete(observer);
  }

  onRemoteOutbox(observer: () => void): () => void {
    this.outbox.add(observer);
    return () => this.outbox.delete(observer);
  }

  /** Changes committed by other stores (never this one's own), and `reset` after a reconnect. */
  onRemoteChange(observer: ChangeObserver): () => void {
    this.changes.add(observer);
    return () => this.changes.delete(observer);
  }

  /** Inside the committing transaction: the other stores hear of `change` after its COMMIT. */
  async notifyChange(tx: PgTx, change: ChangeNote): Promise<void> {
    const text = JSON.stringify({ from: this.from, change } satisfies Payload);
    // An operator's selector is a few short fields; one that would not fit is a bug, not a reason to lose the change.
    if (text.length > MAX_PAYLOAD) throw new Error(`change notification of ${text.length} bytes is over ${MAX_PAYLOAD}`);
    await tx.query('SELECT pg_notify($1, $2)', ['mta_change', text]);
  }

  /** Inside the committing transaction: delivered to the listeners after its COMMIT (identical ones once). */
  async notifyIn(tx: PgTx, channel: WakeChannel, ids?: readonly string[]): Promise<void> {
    const payloads: Payload[] = [];
    if (!ids) payloads.push({ from: this.from });
    else {
      // Split so each payload stays under PostgreSQL's limit.
      let part: string[] = [];
      let size = 0;
      for (const id of ids) {
        if (size + id.length + 3 > MAX_PAYLOAD && part.length) { payloads.push({ from: this.from, ids: part }); part = []; size = 0; }
        part.push(id);
        size += id.length + 3;
      }
      payloads.push({ from: this.from, ids: part });
    }
    await tx.query('SELECT pg_notify($1, p) FROM unnest($2::text[]) AS p', [channel, payloads.map((p) => JSON.stringify(p))]);
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.retry) clearTimeout(this.retry);
    const c = this.client;
    this.client = undefined;
    await c?.end().catch(() => undefined);
  }
}

/** A change as this program writes them (a payload is read from the database, not trusted blindly). */
function isChange(c: ChangeNote | undefined): c is ChangeNote {
  return !!c && c.aggregate === 'queue' && QUEUE_OPS.includes(c.op) && typeof c.target === 'object' && c.target !== null;
}

function safely(fn: () => void): void {
  try { fn(); } catch { /* an observer must not stop the others */ }
}
