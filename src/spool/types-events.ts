/**
 * spool/types-events — the recipient history: event types and rows, and the read port for a
 * recipient's events. Message-less and domain events belong to their own aggregates.
 */
import type { RecipientId } from '../util/ids.js';

/** Event types in a recipient's history. The final ones are delivered, failed, expired and deleted. */
export type EventType =
  | 'reception' | 'deferred' | 'delivered' | 'failed' | 'expired' | 'deleted'
  | 'requeued' | 'held' | 'released' | 'dsn'
  /** after the final state, appended by inbound mail and the public endpoint (spool/sqlite-inbound.ts) */
  | 'bounced' | 'unsubscribe';

export interface SpoolEvent {
  id: number;
  at: number;
  recipientId: RecipientId | null;
  type: string;
  detail: Record<string, unknown>;
}

export interface EventStore {
  /** The history events of these recipients, oldest first. */
  eventsOfRecipients(ids: readonly RecipientId[]): Promise<SpoolEvent[]>;
}
