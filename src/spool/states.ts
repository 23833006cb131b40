/**
 * spool/states — the recipient life cycle: one union, one transition function.
 *
 *   queued ──pick──▶ sending ──2xx──▶ delivered
 *     ▲  ▲             │ ├──4xx──▶ deferred ──due──▶ (picked again)
 *     │  └─release─ held ◀─hold─ queued/deferred
 *     │                │ └──5xx──▶ failed
 *     └──── requeue ───┘   (crash recovery, shutdown, flush)
 *   deferred ──lifetime over──▶ expired;  queued ──suppressed at intake──▶ suppressed
 *
 * Final states never change again: each recipient produces exactly one final event.
 */
import { assertNever } from '../util/errors.js';

export type RecipientState =
  | 'queued' | 'sending' | 'deferred' | 'held'
  | 'delivered' | 'failed' | 'suppressed' | 'expired';

export const RECIPIENT_STATES: readonly RecipientState[] = [
  'queued', 'sending', 'deferred', 'held', 'delivered', 'failed', 'suppressed', 'expired',
];

export type RecipientEvent =
  | 'pick' | 'delivered' | 'deferred' | 'failed' | 'expired' | 'requeue'
  | 'hold' | 'release' | 'suppress' | 'delete';

export function isFinal(s: RecipientState): boolean {
  switch (s) {
    case 'delivered': case 'failed': case 'suppressed': case 'expired': return true;
    case 'queued': case 'sending': case 'deferred': case 'held': return false;
    default: return assertNever(s, 'recipient state');
  }
}

/** The next state, or undefined when the event is not allowed from `from`. */
export function transition(from: RecipientState, ev: RecipientEvent): RecipientState | undefined {
  switch (ev) {
    case 'pick': return from === 'queued' || from === 'deferred' ? 'sending' : undefined;
    case 'delivered': return from === 'sending' ? 'delivered' : undefined;
    case 'deferred': return from === 'sending' ? 'deferred' : undefined;
    case 'failed': return from === 'sending' || from === 'queued' || from === 'deferred' ? 'failed' : undefined;
    case 'expired': return from === 'sending' || from === 'deferred' || from === 'queued' ? 'expired' : undefined;
    case 'requeue': return from === 'sending' || from === 'deferred' ? 'queued' : undefined;
    case 'hold': return from === 'queued' || from === 'deferred' ? 'held' : undefined;
    case 'release': return from === 'held' ? 'queued' : undefined;
    case 'suppress': return from === 'queued' ? 'suppressed' : undefined;
    case 'delete': return isFinal(from) ? undefined : 'failed';
    default: return assertNever(ev, 'recipient event');
  }
}

/** States a query may name, with `active` meaning every non-final one. */
export function parseStateFilter(text: string): RecipientState | undefined {
  return (RECIPIENT_STATES as readonly string[]).includes(text) ? (text as RecipientState) : undefined;
}

/** The states each operator queue operation acts on; anything else it leaves alone. */
export const QUEUE_OP_STATES: Readonly<Record<'flush' | 'hold' | 'release' | 'delete', readonly RecipientState[]>> = {
  flush: ['queued', 'deferred'],
  hold: ['queued', 'deferred'],
  release: ['held'],
  delete: ['queued', 'deferred', 'held'],
};

/** Mail not yet in a final state: what `mta queue list` shows by default, like mailq. */
export const PENDING_STATES: readonly RecipientState[] = RECIPIENT_STATES.filter((s) => !isFinal(s));
