/**
 * spool/types-audit — read-only figures for checking what the spool holds from outside the
 * code that wrote it (consistency checks, the hardening and fault tests): every message id,
 * events of one type whether or not a message has them, the webhook outbox in numbers, and
 * one digest of all stored content. Every member is a plain read a PostgreSQL backend
 * answers as well; none may write, and none may expose backend details (row ids aside from
 * the event ids the recipient history already shows, table names, SQL).
 */
import type { QueueId } from '../util/ids.js';
import type { SpoolEvent } from './types-events.js';

/** An event with the message it belongs to; null for message-less ones (rejected, quota.reached). */
export interface AuditEvent extends SpoolEvent { queueId: QueueId | null }

/** The webhook outbox in numbers: rows, POST attempts counted on them, rows given up. */
export interface OutboxFigures { rows: number; attempts: number; dead: number }

export interface AuditStore {
  /** Every stored message (any state), oldest first. */
  auditMessageIds(): Promise<QueueId[]>;
  /** Events of one type, oldest first, at most `limit` (default 1000). */
  auditEvents(type: string, limit?: number): Promise<AuditEvent[]>;
  auditOutbox(): Promise<OutboxFigures>;
  /**
   * A digest of everything stored: equal digests mean nothing was written in between. The
   * cluster's heartbeats and job leases (types-cluster.ts) are left out: they change every
   * few seconds on their own.
   */
  auditDigest(): Promise<string>;
}
