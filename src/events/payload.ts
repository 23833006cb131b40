/**
 * events/payload — the notification events and their wire form: the one documented event
 * union that webhooks, statistics and the API share, how an event becomes a request body
 * (JSON, or DirectMail's `key=value&...` form) and how the body is signed.
 *
 * Recipient events carry DirectMail's fields (env_id, msg_id, account, from, rcpt,
 * recv_time, end_time, status, err_code, err_msg) plus ours (event, tag, attempts,
 * bounce_category). Times are UTC and written "YYYY-MM-DD HH:mm:ss", DirectMail's form,
 * in both formats so a receiver parses one shape.
 *
 * Pure functions only: the rules (events/effects.ts) build payloads with these inside the
 * spool's transactions, which must never wait on anything here.
 */
import { createHmac } from 'node:crypto';

/**
 * What happened to one recipient. `deleted` is an operator's `mta queue delete`; `bounce`
 * is an asynchronous bounce that arrived later for mail already handed over (inbound/);
 * `rejected` is a recipient refused at submission because it is on the suppression list
 * (559, status 2): no message was created, so `env_id` and `msg_id` are empty.
 */
export type RecipientEventName = 'delivered' | 'failed' | 'expired' | 'deferred' | 'deleted' | 'bounce' | 'rejected';
/** What happened to a sending domain (the DNS self-checker; quota.reached: src/quota). */
export type DomainEventName = 'domain.dns_error' | 'domain.verified' | 'domain.dkim_rotated' | 'quota.reached';
/** `test` is sent by `mta webhook test` whatever the webhook's filter says. */
export type WebhookEventName = RecipientEventName | DomainEventName | 'unsubscribe' | 'complaint' | 'open' | 'click' | 'test';

/** Events a webhook can subscribe to (its filter). */
export const SUBSCRIBABLE_EVENTS: readonly Exclude<WebhookEventName, 'test'>[] = [
  'delivered', 'failed', 'expired', 'deferred', 'deleted', 'domain.dns_error', 'domain.verified', 'domain.dkim_rotated',
  'bounce', 'unsubscribe', 'quota.reached', 'rejected', 'complaint', 'open', 'click',
];

export type DirectMailStatus = 0 | 2 | 3 | 4;

export interface RecipientEventPayload {
  event: RecipientEventName;
  /** the queue id */
  env_id: string;
  /** the Message-ID header, without angle brackets (as DirectMail sends it) */
  msg_id: string;
  /** the authenticated user, else the envelope sender */
  account: string;
  from: string;
  rcpt: string;
  recv_time: string;
  end_time: string;
  /** 0 delivered, 2 invalid address, 3 rejected as spam, 4 failed (or not yet delivered) */
  status: DirectMailStatus;
  /** the remote reply's code; null when no reply decided (operator delete) */
  err_code: number | null;
  err_msg: string;
  tag: string | null;
  attempts: number;
  /** the classification of a non-delivery (user_unknown, spam_block, ...); null when delivered */
  bounce_category: string | null;
  /** the batch task the message belongs to; null for other mail */
  task_id: string | null;
  /** the egress source the attempt left from (only when egress sources are configured) */
  egress_source?: string;
}

export interface DomainEventPayload {
  event: DomainEventName;
  domain: string;
  time: string;
  [detail: string]: unknown;
}

export interface TestEventPayload { event: 'test'; webhook_id: number; time: string }

/**
 * A recipient unsubscribed (public/ link or one-click POST, or inbound/ mailto). The
 * message fields are null when the message has been purged since (the link outlives it).
 */
export interface UnsubscribeEventPayload {
  event: 'unsubscribe';
  env_id: string;
  msg_id: string | null;
  account: string | null;
  from: string | null;
  rcpt: string;
  /** the sender domain the unsubscribe applies to (the suppression's scope) */
  domain: string;
  tag: string | null;
  task_id: string | null;
  time: string;
  /** how: `link` (the page's button), `one-click` (RFC 8058 POST), `mailto` */
  method: string;
}

/**
 * A recipient complained (a feedback report with Feedback-Type abuse, inbound/ and
 * feedback/): they are suppressed for mail from `domain`. Not a delivery outcome, so it
 * has no `status`.
 */
export interface ComplaintEventPayload {
  event: 'complaint';
  env_id: string;
  msg_id: string;
  account: string;
  from: string;
  rcpt: string;
  /** the sender domain the suppression applies to */
  domain: string;
  tag: string | null;
  task_id: string | null;
  time: string;
  feedback_type: string;
  /** the reporter's User-Agent (e.g. "Yahoo!-Mail-Feedback/2.0") */
  user_agent: string | null;
  /** false when the address was suppressed for this domain already */
  suppressed: boolean;
}

/**
 * An asynchronous bounce of mail already delivered (inbound/): its own event, not a second
 * outcome. It carries the recipient fields except `status` (receivers keyed on `status`
 * read every event with one as the outcome), with the bounce's DirectMail status in
 * `bounce_status` and `after_delivery: true`.
 */
export type LateBounceEventPayload = Omit<RecipientEventPayload, 'status' | 'event'> & { event: 'bounce'; bounce_status: DirectMailStatus; after_delivery: true };

export function lateBouncePayload(i: RecipientEventInput & { event: 'bounce' }): LateBounceEventPayload {
  const { status, event: _event, ...rest } = recipientPayload(i);
  return { event: 'bounce', ...rest, bounce_status: status, after_delivery: true };
}

/**
 * A recipient opened the mail or clicked a link (src/tracking): its first hit of the kind,
 * or every hit with `tracking.webhook_every_hit`. `class` says who it was: `human`,
 * `machine` (a proxy fetched the pixel) or `scanner` (a gateway followed the link).
 */
export interface TrackingEventPayload {
  event: 'open' | 'click';
  env_id: string;
  msg_id: string;
  account: string;
  from: string;
  rcpt: string;
  tag: string | null;
  task_id: string | null;
  time: string;
  class: 'human' | 'machine' | 'scanner';
  reason: string | null;
  /** the link's target (clicks; null for the hidden honeypot link) */
  url: string | null;
  ip: string | null;
  user_agent: string | null;
  first: boolean;
}

export type WebhookPayload = LateBounceEventPayload | RecipientEventPayload | DomainEventPayload | TestEventPayload | UnsubscribeEventPayload | ComplaintEventPayload
  | TrackingEventPayload;

export type WebhookFormat = 'json' | 'form';

/** "YYYY-MM-DD HH:mm:ss" in UTC. */
export function formatTime(ms: number): string {
  return new Date(ms).toISOString().slice(0, 19).replace('T', ' ');
}

export interface RecipientEventInput {
  event: RecipientEventName;
  queueId: string;
  messageId: string;
  authUser: string | null;
  sender: string;
  rcpt: string;
  receivedAt: number;
  at: number;
  reply: string;
  /** the outcome detail's DirectMail status and category (delivery/classify.ts) */
  status: unknown;
  category: unknown;
  attempts: number;
  tag: string | null;
  taskId?: string | null | undefined;
  /** the outcome detail's egress source name */
  source?: unknown;
}

/** The Message-ID header as DirectMail sends it: without angle brackets. */
function msgIdOf(messageId: string): string { return messageId.replace(/^\s*<|>\s*$/g, ''); }

/** Whose mail it is: the authenticated user, else the envelope sender. */
function accountOf(authUser: string | null, sender: string): string { return authUser ?? sender; }

/** The fields that name a recipient's message in every event about it (complaint, open, click), in payload order. */
export function messageFields(m: { queueId: string; messageId: string; authUser: string | null; sender: string; rcpt: string }): {
  env_id: string; msg_id: string; account: string; from: string; rcpt: string;
} {
  return { env_id: m.queueId, msg_id: msgIdOf(m.messageId), account: accountOf(m.authUser, m.sender), from: m.sender, rcpt: m.rcpt };
}

export function recipientPayload(i: RecipientEventInput): RecipientEventPayload {
  const code = /^(\d{3})\b/.exec(i.reply)?.[1];
  const status: DirectMailStatus = i.event === 'delivered' ? 0 : i.status === 2 || i.status === 3 ? i.status : 4;
  return {
    event: i.event,
    env_id: i.queueId,
    msg_id: msgIdOf(i.messageId),
    account: accountOf(i.authUser, i.sender),
    from: i.sender,
    rcpt: i.rcpt,
    recv_time: formatTime(i.receivedAt),
    end_time: formatTime(i.at),
    status,
    err_code: code ? Number(code) : null,
    err_msg: i.reply,
    tag: i.tag,
    attempts: i.attempts,
    bounce_category: i.event === 'delivered' || typeof i.category !== 'string' ? null : i.category,
    task_id: i.taskId ?? null,
    ...(typeof i.source === 'string' ? { egress_source: i.source } : {}),
  };
}

/** The message an unsubscribe came from, as far as it is still known (a purged one is not). */
export interface UnsubscribeEventInput {
  queueId: string;
  message: { messageId: string; authUser: string | null; sender: string; rcpt: string; tag: string | null; taskId: string | null } | undefined;
  /** the unsubscribed address: the recipient's when the message is known */
  address: string;
  /** the suppression's scope, the sender domain */
  domain: string;
  at: number;
  method: string;
}

export function unsubscribePayload(i: UnsubscribeEventInput): UnsubscribeEventPayload {
  const m = i.message;
  return {
    event: 'unsubscribe', env_id: i.queueId, msg_id: m ? msgIdOf(m.messageId) : null, account: m ? accountOf(m.authUser, m.sender) : null,
    from: m?.sender ?? null, rcpt: m?.rcpt ?? i.address, domain: i.domain, tag: m?.tag ?? null, task_id: m?.taskId ?? null,
    time: formatTime(i.at), method: i.method,
  };
}

export function domainPayload(e: { type: DomainEventName; domain: string; at: number; detail: Record<string, unknown> }): DomainEventPayload {
  return { ...e.detail, event: e.type, domain: e.domain, time: formatTime(e.at) };
}

/**
 * The request body. `form` writes every field as `key=value` in payload order; null is an
 * empty value and nested values (a domain event's failing checks) are JSON text.
 */
export function encodeBody(payload: WebhookPayload, format: WebhookFormat): { body: string; contentType: string } {
  if (format === 'json') return { body: JSON.stringify(payload), contentType: 'application/json' };
  const form = new URLSearchParams();
  for (const [k, v] of Object.entries(payload)) {
    form.append(k, v === null || v === undefined ? '' : typeof v === 'object' ? JSON.stringify(v) : String(v));
  }
  return { body: form.toString(), contentType: 'application/x-www-form-urlencoded' };
}

/** X-Mta-Signature: hex HMAC-SHA256 over `${timestamp}.${body}` with the webhook's secret. */
export function sign(secret: string, timestamp: number, body: string): string {
  return createHmac('sha256', secret).update(`${timestamp}.${body}`, 'utf8').digest('hex');
}

/** Whether a webhook's filter ('*' or a list) takes this event; `test` always passes. */
export function filterAccepts(filter: '*' | readonly string[], event: WebhookEventName): boolean {
  return event === 'test' || filter === '*' || filter.includes(event);
}
