/**
 * admin/queue-ops — the queue service: operator queue control (one message, or every
 * recipient a selector names, like postsuper), the queue summary and one message with its
 * header block, shared by the admin API (acting through the running scheduler) and the CLI
 * (`mta queue ...`, with a direct-spool fallback when no daemon answers), so both
 * validate the same way and report the same numbers. It never asks for confirmation: that
 * is the CLI's job, before it calls.
 */
import type { MessageDetail, MessageStore, QueueEntry, QueueOp, QueueSelector, QueueStore, QueueTarget } from '../spool/types-queue.js';
import { QUEUE_OP_STATES, type RecipientState } from '../spool/states.js';
import { parseQueueId, parseTaskId } from '../util/ids.js';
import { canonicalAddress, normaliseDomain } from '../util/address.js';
import { headerBlock } from '../delivery/message.js';
import { MtaError } from '../util/errors.js';
import { iso } from './context.js';
import type { TrackingStore } from '../spool/types-tracking.js';
import { withHits } from '../tracking/timeline.js';

/** What the operator asks for; `retry` is a flush of one message. */
export type QueueCommand = 'flush' | 'retry' | 'hold' | 'release' | 'delete';
export const QUEUE_COMMANDS: readonly QueueCommand[] = ['flush', 'retry', 'hold', 'release', 'delete'];

/** The running scheduler, as far as queue control and status need it. */
export interface QueueController {
  control(op: QueueOp, target: QueueTarget): Promise<number>;
  readonly readyCount: number;
  readonly activeConnections: number;
}

export type QueueOpStore = Pick<QueueStore, 'applyQueueOp' | 'queueShape'> & Pick<MessageStore, 'getMessage' | 'countByState' | 'countQueue'>;

/** The message a queue id names, with its recipients and events; a precise error if none. */
export async function findMessage(store: Pick<MessageStore, 'getMessage'>, text: string): Promise<MessageDetail> {
  const id = parseQueueId(text);
  if (!id) throw new MtaError('MTA_ERR_INVALID', `${JSON.stringify(text)} is not a queue id`, 'id');
  const message = await store.getMessage(id);
  if (!message) throw new MtaError('MTA_ERR_NOT_FOUND', `no message ${id} in the queue`, 'id');
  return message;
}

/** A message with its recipients, events (opens and clicks among them, tracking/timeline.ts) and top-level header block (CRLF, as stored). */
export async function messageWithHeaders(store: Pick<MessageStore, 'getMessage' | 'readBody'> & Pick<TrackingStore, 'trackingHitsOfRecipients'>, text: string):
  Promise<{ message: MessageDetail; headers: string }> {
  const found = await findMessage(store, text);
  const hits = await store.trackingHitsOfRecipients(found.recipients.map((r) => r.recipientId));
  const message = hits.length === 0 ? found : { ...found, events: withHits(found.events, hits) };
  return { message, headers: await headerBlock(store.readBody(message.id)) };
}

/** A recipient as the API and `mta queue list --json` show it (times ISO 8601). */
export function entryView(r: QueueEntry): {
  recipient_id: number; queue_id: string; state: RecipientState; sender: string; rcpt: string; domain: string; lane: 'trigger' | 'batch';
  attempts: number; size: number; received_at: string; next_attempt_at: string; last_reply: string | null;
} {
  return {
    recipient_id: r.recipientId, queue_id: r.queueId, state: r.state, sender: r.sender, rcpt: r.rcpt, domain: r.domain, lane: r.lane,
    attempts: r.attempts, size: r.size, received_at: iso(r.receivedAt), next_attempt_at: iso(r.nextAttemptAt), last_reply: r.lastReply,
  };
}

/** One message as the API and `mta queue show --json` print it. */
export function messageView(m: MessageDetail, headers: string): {
  queue_id: string; received_at: string; sender: string; auth_user: string | null; client_ip: string | null; helo: string | null;
  message_id: string; subject: string | null; size: number; lane: 'trigger' | 'batch'; tag: string | null; headers: string;
  recipients: ReturnType<typeof entryView>[];
  events: { id: number; at: string; rcpt: string | null; type: string; detail: Record<string, unknown> }[];
} {
  const rcptOf = new Map(m.recipients.map((r) => [r.recipientId as number, r.rcpt]));
  return {
    queue_id: m.id, received_at: iso(m.receivedAt), sender: m.sender, auth_user: m.authUser, client_ip: m.clientIp, helo: m.helo,
    message_id: m.messageId, subject: m.subject, size: m.size, lane: m.lane, tag: m.tag, headers,
    recipients: m.recipients.map(entryView),
    events: m.events.map((e) => ({ id: e.id, at: iso(e.at), rcpt: e.recipientId === null ? null : rcptOf.get(e.recipientId) ?? null, type: e.type, detail: e.detail })),
  };
}

export function opOf(cmd: QueueCommand): QueueOp {
  return cmd === 'retry' ? 'flush' : cmd;
}

export function queueIdTarget(text: unknown): QueueTarget {
  const id = typeof text === 'string' ? parseQueueId(text) : undefined;
  if (!id) throw new MtaError('MTA_ERR_INVALID', `${JSON.stringify(text)} is not a queue id`, 'queue_id');
  return { queueId: id };
}

export function domainTarget(text: unknown): QueueTarget {
  const d = typeof text === 'string' ? normaliseDomain(text) : undefined;
  if (!d) throw new MtaError('MTA_ERR_INVALID', `${JSON.stringify(text)} is not a valid domain name`, 'domain');
  return { domain: d };
}

/** Selector fields as the API body names them (the CLI maps its options onto these). */
export interface SelectorFields { domain?: unknown; sender?: unknown; task_id?: unknown; state?: unknown }
export const SELECTOR_FIELDS: readonly (keyof SelectorFields)[] = ['domain', 'sender', 'task_id', 'state'];

/**
 * The recipients a selector names for `cmd`, or undefined when no field is given. Every
 * field must match; `state` must be one the operation acts on (a hold takes queued or
 * deferred mail), so a selector never promises what the operation would skip.
 */
export function selectorOf(cmd: QueueCommand, f: SelectorFields): QueueSelector | undefined {
  if (SELECTOR_FIELDS.every((k) => f[k] === undefined)) return undefined;
  const text = (k: keyof SelectorFields): string | undefined => {
    const v = f[k];
    if (v === undefined) return undefined;
    if (typeof v !== 'string') throw new MtaError('MTA_ERR_INVALID', `${k} must be a string`, k);
    return v;
  };
  const sel: QueueSelector = {};
  const domain = text('domain');
  if (domain !== undefined) sel.domain = (domainTarget(domain) as { domain: string }).domain;
  const sender = text('sender');
  if (sender !== undefined) {
    // The null sender (bounces) is written <>, as in the logs.
    const s = sender === '<>' ? '' : canonicalAddress(sender);
    if (s === undefined) throw new MtaError('MTA_ERR_INVALID', `${JSON.stringify(sender)} is not an email address (or <> for the null sender)`, 'sender');
    sel.sender = s;
  }
  const task = text('task_id');
  if (task !== undefined) {
    const id = parseTaskId(task);
    if (!id) throw new MtaError('MTA_ERR_INVALID', `${JSON.stringify(task)} is not a task id`, 'task_id');
    sel.taskId = id;
  }
  const state = text('state');
  if (state !== undefined) {
    const allowed = QUEUE_OP_STATES[opOf(cmd)];
    if (!(allowed as readonly string[]).includes(state)) throw new MtaError('MTA_ERR_INVALID', `${cmd} acts on ${allowed.join(' or ')} recipients, not ${JSON.stringify(state)}`, 'state');
    sel.states = [state as RecipientState];
  }
  return sel;
}

/** A selector in words: `domain=x.test sender=a@b.test`. */
export function describeSelector(sel: QueueSelector): string {
  const parts = [
    sel.domain !== undefined ? `domain=${sel.domain}` : '', sel.sender !== undefined ? `sender=${sel.sender || '<>'}` : '',
    sel.taskId !== undefined ? `task=${sel.taskId}` : '', sel.states !== undefined ? `state=${sel.states.join(',')}` : '',
  ];
  return parts.filter(Boolean).join(' ');
}

/** How many recipients `cmd` would change now (what a confirmation names). */
export async function countAffected(store: Pick<MessageStore, 'countQueue'>, cmd: QueueCommand, sel: QueueSelector): Promise<number> {
  return store.countQueue({ ...sel, states: sel.states ?? QUEUE_OP_STATES[opOf(cmd)] });
}

/** A flush body: `{}` (everything), `{"queue_id": ID}`, or selector fields; nothing else. */
export function flushTarget(body: unknown): QueueTarget {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw new MtaError('MTA_ERR_INVALID', 'request body must be a JSON object');
  const b = body as Record<string, unknown>;
  const unknown = Object.keys(b).filter((k) => k !== 'queue_id' && !(SELECTOR_FIELDS as readonly string[]).includes(k));
  if (unknown.length) throw new MtaError('MTA_ERR_INVALID', `unknown field ${unknown.map((k) => JSON.stringify(k)).join(', ')}; a flush takes "queue_id" or ${SELECTOR_FIELDS.map((k) => `"${k}"`).join(', ')}`);
  const sel = selectorOf('flush', b);
  if (b['queue_id'] !== undefined && sel) throw new MtaError('MTA_ERR_INVALID', 'give "queue_id" or selector fields, not both');
  if (b['queue_id'] !== undefined) return queueIdTarget(b['queue_id']);
  return sel ? { select: sel } : { all: true };
}

/** hold, release or delete by selector: at least one field, so "everything" is never an accident. */
export function bulkTarget(cmd: Exclude<QueueCommand, 'flush' | 'retry'>, body: SelectorFields): QueueTarget {
  const sel = selectorOf(cmd, body);
  if (!sel) throw new MtaError('MTA_ERR_INVALID', `${cmd} by selector needs at least one of ${SELECTOR_FIELDS.join(', ')}`);
  return { select: sel };
}

/**
 * Applies one operator command and returns how many recipients it changed. With a
 * controller (the running scheduler) recipients waiting in memory are handed back first
 * and the scheduler wakes at once; without one the spool is changed directly.
 */
export async function runQueueCommand(store: QueueOpStore, controller: QueueController | undefined, cmd: QueueCommand, target: QueueTarget): Promise<number> {
  if ('queueId' in target && !(await store.getMessage(target.queueId))) {
    throw new MtaError('MTA_ERR_NOT_FOUND', `no message ${target.queueId} in the queue`, 'queue_id');
  }
  const op = opOf(cmd);
  return controller ? controller.control(op, target) : store.applyQueueOp(op, target, Date.now());
}

/** qshape's idea: where the waiting mail is, and how old it is. Upper bounds in ms. */
export const AGE_BUCKETS: readonly { label: string; below: number }[] = [
  { label: '0-5m', below: 5 * 60_000 },
  { label: '5-60m', below: 60 * 60_000 },
  { label: '1-4h', below: 4 * 3600_000 },
  { label: '4-24h', below: 24 * 3600_000 },
];
export const AGE_LABELS: readonly string[] = [...AGE_BUCKETS.map((b) => b.label), '1d+'];

export interface SummaryRow {
  domain: string;
  total: number;
  queued: number;
  sending: number;
  deferred: number;
  held: number;
  /** recipients per message-age bucket, keyed by AGE_LABELS */
  age: Record<string, number>;
}

export interface QueueSummary {
  counts: Record<RecipientState, number>;
  /** recipients not yet in a final state */
  waiting: number;
  buckets: readonly string[];
  domains: SummaryRow[];
}

export async function queueSummary(store: QueueOpStore, now = Date.now()): Promise<QueueSummary> {
  const counts = await store.countByState();
  const shape = await store.queueShape(now, AGE_BUCKETS.map((b) => b.below));
  const domains = shape.map((r): SummaryRow => ({
    domain: r.domain, total: r.total, ...r.byState,
    age: Object.fromEntries(AGE_LABELS.map((l, i) => [l, r.byAge[i] ?? 0])),
  }));
  const waiting = counts.queued + counts.sending + counts.deferred + counts.held;
  return { counts, waiting, buckets: AGE_LABELS, domains };
}
