/**
 * spool/pg-wakeups — wake-ups across nodes with LISTEN/NOTIFY: fresh mail (the scheduler's
 * `onCommit`) and webhook outbox rows (the dispatcher's `onWebhookEnqueued`). A port that
 * commits either sends its notification inside that transaction (`notifyIn`), so PostgreSQL
 * delivers it only after the COMMIT, and never for a rolled-back one. Each store listens on
 * one connection of its own (not the pool's: a pooled connection is not kept listening);
 * notifications a store sent itself are skipped (its observers heard of them at commit).
 *
 * A wake-up is a hint, never the truth: the woken side reads the database. Losing the
 * listening connection (PostgreSQL restarting) loses notifications, so after it reconnects
 * every observer is woken once. It must never hold work back: nothing waits for a notification.
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import type { PgPoolOptions } from './pg-pool.js';
import type { PgTx } from './pg-tx.js';
import type { QueueId } from '../util/ids.js';

export type WakeChannel = 'mta_mail' | 'mta_outbox';

/** Payload bytes per notification (PostgreSQL's limit is 8000). */
const MAX_PAYLOAD = 7000;
/** How long after losing its connection the listener tries again (ms); timers are unref'd. */
const RECONNECT_MS = 1000;

interface Payload { from: string; ids?: string[] }

export class PgWakeups {
  /** This store's mark on its notifications (a node may run several stores, in tests). */
  readonly from = randomBytes(6).toString('hex');
  private readonly mail = new Set<(ids: readonly QueueId[]) => void>();
  private readonly outbox = new Set<() => void>();
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
      await client.query('LISTEN mta_mail; LISTEN mta_outbox');
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
  }

  private heard(channel: string, text: string | undefined): void {
    let p: Payload;
    try { p = JSON.parse(text ?? '') as Payload; } catch { return; }
    if (p.from === this.from) return;
    if (channel === 'mta_mail') for (const o of this.mail) safely(() => o((p.ids ?? []) as QueueId[]));
    else if (channel === 'mta_outbox') for (const o of this.outbox) safely(o);
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

function safely(fn: () => void): void {
  try { fn(); } catch { /* an observer must not stop the others */ }
}
