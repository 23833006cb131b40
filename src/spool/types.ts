/**
 * spool/types — the storage contract as a whole: `Store` composes one interface per
 * aggregate (spool/types-<aggregate>.ts, each owning its records and vocabulary) and adds
 * what concerns the whole store. It is asynchronous on purpose: the SQLite backend answers
 * at once, a PostgreSQL backend will not, and callers must not be able to tell. Nothing
 * outside src/spool/ touches tables. This file must not define or re-export aggregate
 * types: a module imports the aggregate it uses from its own file.
 *
 * Paging cursors (QueueEntry.cursor, SendDetail.cursor, Rejection.cursor) are opaque
 * strings of base64url characters that the backend makes and reads: callers pass them back
 * unchanged and never rely on ids being row ids or on id order being commit order. A cursor
 * the backend did not make is MTA_ERR_INVALID with field `cursor`.
 */
import type { MessageStore, QueueStore } from './types-queue.js';
import type { EventStore } from './types-events.js';
import type { DomainStore } from './types-domains.js';
import type { SenderStore } from './types-senders.js';
import type { SuppressionStore } from './types-suppression.js';
import type { WebhookStore } from './types-webhooks.js';
import type { StatsStore } from './types-stats.js';
import type { IdempotencyStore } from './types-idempotency.js';
import type { TagStore } from './types-tags.js';
import type { TemplateStore } from './types-templates.js';
import type { ListStore } from './types-lists.js';
import type { TaskStore } from './types-tasks.js';
import type { QuotaStore } from './types-quota.js';
import type { EgressStore } from './types-egress.js';
import type { MtaStsStore } from './types-mtasts.js';
import type { LeaseStore } from './types-leases.js';
import type { TlsRptStore } from './types-tlsrpt.js';
import type { UserStore } from './types-users.js';
import type { InboundStore } from './types-inbound.js';
import type { AuditStore } from './types-audit.js';
import type { FeedbackStore } from './types-feedback.js';
import type { TrackingStore } from './types-tracking.js';
import type { ClusterStore } from './types-cluster.js';
import type { ThrottleStore } from './types-throttles.js';

export interface Store extends MessageStore, QueueStore, EventStore, DomainStore, SenderStore, SuppressionStore, WebhookStore,
  StatsStore, IdempotencyStore, TagStore, TemplateStore, ListStore, TaskStore, QuotaStore, InboundStore, EgressStore, MtaStsStore,
  LeaseStore, AuditStore, FeedbackStore, TlsRptStore, UserStore, TrackingStore, ClusterStore, ThrottleStore {
  /** A small write in a transaction that is rolled back: throws when the database does not take writes now. */
  probeWritable(): Promise<void>;
  close(): Promise<void>;
}
