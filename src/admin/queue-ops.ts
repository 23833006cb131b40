/**
 * admin/queue-ops — the queue service: operator queue control, the queue summary and one
 * message with its header block, shared by the admin API (acting through the running
 * scheduler) and the CLI (`mta queue ...`, with a direct-spool fallback when no daemon
 * answers), so both validate the same way and report the same numbers.
 */
import type { MessageDetail, MessageStore, QueueOp, QueueStore, QueueTarget } from '../spool/types.js';
import type { RecipientState } from '../spool/states.js';
import { parseQueueId } from '../util/ids.js';
import { normaliseDomain } from '../util/address.js';
import { headerBlock } from '../delivery/message.js';
import { MtaError } from '../util/errors.js';

/** What the operator asks for; `retry` is a flush of one message. */
export type QueueCommand = 'flush' | 'retry' | 'hold' | 'release' | 'delete';
export const QUEUE_COMMANDS: readonly QueueCommand[] = ['flush', 'retry', 'hold', 'release', 'delete'];

/** The running scheduler, as far as queue control and status need it. */
export interface QueueController {
  control(op: QueueOp, target: QueueTarget): Promise<number>;
  readonly readyCount: number;
  readonly activeConnections: number;
}

export type QueueOpStore = Pick<QueueStore, 'applyQueueOp' | 'queueShape'> & Pick<MessageStore, 'getMessage' | 'countByState'>;

/** A message with its recipients, events and top-level header block (CRLF, as stored). */
export async function messageWithHeaders(store: Pick<MessageStore, 'getMessage' | 'readBody'>, text: string): Promise<{ message: MessageDetail; headers: string }> {
  const id = parseQueueId(text);
  if (!id) throw new MtaError('MTA_ERR_INVALID', `${JSON.stringify(text)} is not a queue id`, 'id');
  const message = await store.getMessage(id);
  if (!message) throw new MtaError('MTA_ERR_NOT_FOUND', `no message ${id} in the queue`, 'id');
  return { message, headers: await headerBlock(store.readBody(id)) };
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

/** A flush body: `{}` (everything), `{"queue_id": ID}` or `{"domain": D}`; nothing else. */
export function flushTarget(body: unknown): QueueTarget {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw new MtaError('MTA_ERR_INVALID', 'request body must be a JSON object');
  const b = body as Record<string, unknown>;
  const unknown = Object.keys(b).filter((k) => k !== 'queue_id' && k !== 'domain');
  if (unknown.length) throw new MtaError('MTA_ERR_INVALID', `unknown field ${unknown.map((k) => JSON.stringify(k)).join(', ')}; a flush takes "queue_id" or "domain"`);
  if (b['queue_id'] !== undefined && b['domain'] !== undefined) throw new MtaError('MTA_ERR_INVALID', 'give "queue_id" or "domain", not both');
  if (b['queue_id'] !== undefined) return queueIdTarget(b['queue_id']);
  if (b['domain'] !== undefined) return domainTarget(b['domain']);
  return { all: true };
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
