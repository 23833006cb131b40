/**
 * ids — branded identifiers, parsed and printed only at the edges.
 *
 * A QueueId is time-sortable (like KumoMTA's SpoolId and Postfix's long queue ids):
 * 10 base-32 characters of milliseconds since the epoch, then 8 random ones. Sorting the
 * strings sorts by arrival. Never build one from user input without `parseQueueId`.
 */
import { randomBytes } from 'node:crypto';

declare const brand: unique symbol;
export type Brand<T, B extends string> = T & { readonly [brand]: B };

export type QueueId = Brand<string, 'QueueId'>;
export type RecipientId = Brand<number, 'RecipientId'>;

const ALPHABET = '0123456789ABCDEFGHJKMNPQRSTVWXYZ'; // Crockford base32: no I, L, O, U
const QUEUE_ID_RE = /^[0-9A-HJKMNP-TV-Z]{18}$/;

let lastMs = 0;
let seq = 0;

export function newQueueId(now: number = Date.now()): QueueId {
  // Within one millisecond a counter keeps ids ordered and unique even if random collides.
  if (now === lastMs) seq++;
  else { lastMs = now; seq = 0; }
  let t = now;
  let head = '';
  for (let i = 0; i < 10; i++) { head = ALPHABET[t % 32] + head; t = Math.floor(t / 32); }
  const rnd = randomBytes(5);
  let tail = ALPHABET[(seq >> 5) & 31]! + ALPHABET[seq & 31]!;
  for (let i = 0; i < 6; i++) tail += ALPHABET[rnd[i % 5]! % 32]!;
  return (head + tail) as QueueId;
}

export function parseQueueId(text: string): QueueId | undefined {
  const t = text.trim().toUpperCase();
  return QUEUE_ID_RE.test(t) ? (t as QueueId) : undefined;
}

export function queueIdTime(id: QueueId): number {
  let t = 0;
  for (const c of id.slice(0, 10)) t = t * 32 + ALPHABET.indexOf(c);
  return t;
}

export function asRecipientId(n: number): RecipientId { return n as RecipientId; }

/** A batch task: 'T' and a queue-id-like time-sortable tail, so it is never taken for a queue id. */
export type TaskId = Brand<string, 'TaskId'>;
const TASK_ID_RE = /^T[0-9A-HJKMNP-TV-Z]{18}$/;
export function newTaskId(now: number = Date.now()): TaskId { return `T${newQueueId(now)}` as TaskId; }
export function parseTaskId(text: string): TaskId | undefined {
  const t = text.trim().toUpperCase();
  return TASK_ID_RE.test(t) ? (t as TaskId) : undefined;
}
