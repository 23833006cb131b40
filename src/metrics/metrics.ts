/**
 * metrics — the Prometheus metrics of the process (SPEC §2 "Monitoring"), in one registry
 * served by the admin API at `/metrics`. Call sites (submission listener, send API,
 * intake, delivery agent) add one line each: `metrics.smtpAuth.inc({ result: 'failure' })`,
 * `countRejection('smtp', 'TOO_BIG')`.
 *
 * The names follow Prometheus conventions (`_total` counters, base units: seconds,
 * bytes) so that `rate(...[5m]) * 60` gives the per-minute rates the seed's console shows
 * ("Count/Min"); config/alerts.yml is written against these names and a test checks that
 * every metric an alert uses exists here.
 *
 * Caveats: the registry is per process, not per Daemon object (tests that start several
 * daemons in one process share counters; compare deltas). Queue sizes are not kept
 * here: `renderMetrics` reads them from the spool at scrape time, so they cannot drift.
 * Must never: take a label value from user input without a fixed set (cardinality).
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { ReplyName } from '../mail/replies.js';
import type { RecipientState } from '../spool/states.js';
import type { WebhookOutboxState } from '../spool/types-webhooks.js';
import { RECIPIENT_STATES } from '../spool/states.js';

export const registry = new Registry();
collectDefaultMetrics({ register: registry, prefix: 'mta_' });

/** Why mail was refused, as a bounded label set; SPEC names size, quota, spam, recipients, suppressed, allowlist. */
export const REJECTION_REASONS = [
  'size', 'quota', 'spam', 'recipients', 'suppressed', 'allowlist', 'auth', 'smuggling', 'unverified_domain',
  'sender', 'from_header', 'syntax', 'mime', 'connections', 'deadline', 'local_error', 'shutdown',
] as const;
export type RejectionReason = typeof REJECTION_REASONS[number];
export type RejectionSource = 'smtp' | 'api';

/** Every reply the submission side can refuse with, and the reason label it counts under. */
const REASON_OF: Record<ReplyName, RejectionReason | null> = {
  AUTH_FAILED: 'auth', AUTH_THROTTLED: 'auth', ACCOUNT_THROTTLED: 'auth', ENCRYPTION_REQUIRED: 'auth',
  TOO_MANY_RCPTS: 'recipients', TOO_BIG: 'size', HEADER_TOO_BIG: 'size', UNKNOWN_TAG: null, TRACKING_REFUSED: null,
  SUPPRESSED: 'suppressed', DAILY_QUOTA: 'quota', MONTHLY_QUOTA: 'quota',
  SENDER_DISABLED: 'sender', SENDER_MISMATCH: 'sender', NULL_SENDER: 'sender',
  DOMAIN_NOT_VERIFIED: 'unverified_domain', FROM_REFUSED: 'from_header', IDENTITY_REFUSED: 'from_header', IP_NOT_ALLOWED: 'allowlist',
  TOO_MANY_CONNS: 'connections', PROXY_REFUSED: 'connections', DEADLINE: 'deadline', BAD_RCPT: 'syntax', BAD_SENDER: 'syntax',
  BAD_CONTENT: 'smuggling', BAD_MIME: 'mime', NO_STORAGE: 'local_error', LOCAL_ERROR: 'local_error',
  SHUTTING_DOWN: 'shutdown', QUEUED: null,
};

export function rejectionReason(reply: ReplyName): RejectionReason | null {
  return REASON_OF[reply];
}

/** Delivery outcome kinds as recorded by the agent. */
export const DELIVERY_RESULTS = ['delivered', 'deferred', 'failed', 'expired'] as const;

export const metrics = {
  smtpAuth: new Counter({
    name: 'mta_smtp_auth_total', help: 'SMTP AUTH attempts by result (success, failure)',
    labelNames: ['result'] as const, registers: [registry],
  }),
  rejections: new Counter({
    name: 'mta_rejections_total', help: 'Refusals of connections, commands, messages or recipients by source (smtp, api) and reason',
    labelNames: ['source', 'reason'] as const, registers: [registry],
  }),
  accepted: new Counter({
    name: 'mta_messages_accepted_total', help: 'Messages committed to the spool, by source (smtp, api)',
    labelNames: ['source'] as const, registers: [registry],
  }),
  apiSends: new Counter({
    name: 'mta_api_sends_total', help: 'Messages accepted by the send API, by endpoint (send, raw)',
    labelNames: ['endpoint'] as const, registers: [registry],
  }),
  messageSize: new Histogram({
    name: 'mta_message_size_bytes', help: 'Size of accepted messages as stored',
    buckets: [2048, 8192, 32768, 131072, 524288, 2097152, 8388608, 33554432], registers: [registry],
  }),
  acceptLatency: new Histogram({
    name: 'mta_smtp_accept_seconds', help: "Time from the end of a message's DATA to its 250: parsing, checks and the durable commit (fsync included)",
    buckets: [0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5], registers: [registry],
  }),
  commitBatch: new Histogram({
    name: 'mta_intake_commit_batch_size', help: 'Messages per durable intake commit (group commit)',
    buckets: [1, 2, 4, 8, 16, 32, 64, 128, 256], registers: [registry],
  }),
  deliveries: new Counter({
    name: 'mta_deliveries_total', help: 'Recipient delivery outcomes by result (delivered, deferred, failed, expired) and bounce category',
    labelNames: ['result', 'category'] as const, registers: [registry],
  }),
  deliveryLatency: new Histogram({
    name: 'mta_delivery_latency_seconds', help: 'Time from acceptance to the final outcome of a recipient, by result',
    labelNames: ['result'] as const,
    buckets: [1, 5, 15, 60, 300, 900, 3600, 4 * 3600, 24 * 3600, 5 * 24 * 3600], registers: [registry],
  }),
  queueSize: new Gauge({
    name: 'mta_queue_recipients', help: 'Recipients in the spool by state (read from the spool at scrape time)',
    labelNames: ['state'] as const, registers: [registry],
  }),
  /** scrypt runs one at a time (accounts/senders.ts): a number that stays up is a flood of logins not in the login cache. */
  passwordChecks: new Gauge({
    name: 'mta_password_checks_pending', help: 'Password checks (scrypt) running or waiting for the one that runs', registers: [registry],
  }),
  /** Events waiting to be posted (pending or failed-and-retrying), read from the spool at scrape time. */
  webhookBacklog: new Gauge({
    name: 'mta_webhook_backlog', help: 'Webhook events waiting in the outbox (read from the spool at scrape time)', registers: [registry],
  }),
  /** Per egress source (names from the config, so bounded): each recipient's reply class. */
  egressReplies: new Counter({
    name: 'mta_egress_replies_total', help: 'Recipient replies per egress source by result (delivered, deferred, blocked)',
    labelNames: ['source', 'result'] as const, registers: [registry],
  }),
  /** MTA-STS decisions per delivery attempt (delivery/mta-sts.ts): policy mode and what it did. */
  mtaSts: new Counter({
    name: 'mta_mta_sts_results_total', help: 'MTA-STS decisions by policy mode (enforce, testing) and result (ok, no_matching_mx, tls_failed, would_defer)',
    labelNames: ['mode', 'result'] as const, registers: [registry],
  }),
  /** MTA-STS policy fetches (on demand and by the refresh sweep) by result. */
  mtaStsFetches: new Counter({
    name: 'mta_mta_sts_fetches_total', help: 'MTA-STS policy fetches by result (new, renewed: same id, changed: new id, failed_kept: failed with a cached policy kept, failed)',
    labelNames: ['result'] as const, registers: [registry],
  }),
  /** DANE (delivery/dane.ts): ok (matched) and encrypted_only (all records unusable) per message sent, tls_failed per refused connection, lookup_failed per host left out. */
  dane: new Counter({
    name: 'mta_dane_results_total', help: 'DANE results: ok, encrypted_only (per message sent), tls_failed (per refused connection), lookup_failed (per MX host left out)',
    labelNames: ['result'] as const, registers: [registry],
  }),
  /** Incremented by the webhook dispatcher for every failed POST. */
  webhookFailures: new Counter({
    name: 'mta_webhook_failures_total', help: 'Webhook deliveries that failed (HTTP error or no answer)', registers: [registry],
  }),
};

// Every series an alert or a dashboard may use exists from the start, at 0, so rate() and
// absent() behave before the first event.
for (const source of ['smtp', 'api'] as const) for (const reason of REJECTION_REASONS) metrics.rejections.inc({ source, reason }, 0);
for (const result of ['success', 'failure'] as const) metrics.smtpAuth.inc({ result }, 0);
for (const source of ['smtp', 'api'] as const) metrics.accepted.inc({ source }, 0);
for (const endpoint of ['send', 'raw'] as const) metrics.apiSends.inc({ endpoint }, 0);
metrics.webhookFailures.inc(0);
for (const result of ['ok', 'no_matching_mx', 'tls_failed'] as const) metrics.mtaSts.inc({ mode: 'enforce', result }, 0);
for (const result of ['ok', 'would_defer'] as const) metrics.mtaSts.inc({ mode: 'testing', result }, 0);
for (const result of ['new', 'renewed', 'changed', 'failed_kept', 'failed'] as const) metrics.mtaStsFetches.inc({ result }, 0);
for (const result of ['ok', 'encrypted_only', 'tls_failed', 'lookup_failed'] as const) metrics.dane.inc({ result }, 0);

/** One line at each refusal site. Replies that are not refusals (QUEUED) count nothing. */
export function countRejection(source: RejectionSource, reply: ReplyName): void {
  const reason = REASON_OF[reply];
  if (reason) metrics.rejections.inc({ source, reason });
}

/** One line in the delivery agent per recorded outcome. */
export function countDelivery(kind: typeof DELIVERY_RESULTS[number], category: unknown, receivedAt: number, at: number): void {
  metrics.deliveries.inc({ result: kind, category: typeof category === 'string' && /^[a-z_]{1,40}$/.test(category) ? category : 'none' });
  if (kind !== 'deferred') metrics.deliveryLatency.observe({ result: kind }, Math.max(0, (at - receivedAt) / 1000));
}

/** The Prometheus text, with the queue and webhook backlog gauges read from the spool now. */
export async function renderMetrics(store: {
  countByState(): Promise<Record<RecipientState, number>>;
  webhookBacklog(): Promise<Record<WebhookOutboxState, number>>;
}): Promise<{ contentType: string; text: string }> {
  const counts = await store.countByState();
  for (const state of RECIPIENT_STATES) metrics.queueSize.set({ state }, counts[state] ?? 0);
  const outbox = await store.webhookBacklog();
  metrics.webhookBacklog.set((outbox.pending ?? 0) + (outbox.failed ?? 0));
  return { contentType: registry.contentType, text: await registry.metrics() };
}

/** Observes the batch size of every intake commit of this store. Returns the unsubscribe function. */
export function observeCommits(store: { onCommit(o: (ids: readonly unknown[]) => void): () => void }): () => void {
  return store.onCommit((ids) => metrics.commitBatch.observe(ids.length));
}
