/**
 * spool/types-webhooks — the webhook outbox aggregate (src/events): webhook targets, the
 * outbox rows the dispatcher leases, and the log of POST attempts.
 */
import type { WebhookEventName, WebhookFormat } from '../events/payload.js';

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
  /** Logs one POST and, for an outbox row this node still holds, moves it on; one transaction. */
  recordWebhookAttempt(a: Omit<WebhookAttempt, 'id'>, next?: OutboxNext): Promise<void>;
  /** Gives leased rows this node still holds back without counting an attempt (shutdown). */
  releaseWebhookClaims(ids: readonly number[]): Promise<void>;
  /** At start-up: the leases this node left by an unclean stop are void (other nodes' stay until they run out). */
  recoverWebhookClaims(): Promise<number>;
  listWebhookAttempts(filter: { webhookId?: number; limit?: number }): Promise<WebhookAttempt[]>;
  webhookBacklog(): Promise<Record<WebhookOutboxState, number>>;
  /** Called after a commit that enqueued outbox rows (cheap, in-process). */
  onWebhookEnqueued(observer: () => void): () => void;
}
