/**
 * spool/states — the recipient life cycle: one union, one transition function.
 *
 *   queued ──pick──▶ sending ──2xx──▶ delivered
 *     ▲  ▲             │ ├──4xx──▶ deferred ──due──▶ (picked again)
 *     │  └─release─ held ◀─hold─ queued/deferred
 *     │                │ ├──5xx──▶ failed
 *     │                │ └──lifetime over──▶ expired
 *     └──── requeue ───┘   (hand-back, shutdown, crash recovery)
 *   queued/deferred/held ──delete (operator)──▶ failed
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

/**
 * Every allowed transition: the event, the states it may come from, the state it leads
 * to. This is the one declaration: transition(), the queue operations' states and the
 * backend's guards follow it (the guards of spool/sqlite-queue.ts are checked against it,
 * state by state, through the store, by test/recipient-states.test.ts).
 *
 * Outcomes come only from `sending`: a recipient is claimed before any attempt, expiry
 * included. An operator's `delete` leaves `sending` alone: mail on the wire finishes its
 * attempt and that outcome is its one final event (the scheduler hands back what it only
 * holds in memory before deleting, so that mail is `queued` again when the delete runs).
 */
export const TRANSITIONS: Readonly<Record<RecipientEvent, { readonly from: readonly RecipientState[]; readonly to: RecipientState }>> = {
  pick: { from: ['queued', 'deferred'], to: 'sending' },
  delivered: { from: ['sending'], to: 'delivered' },
  deferred: { from: ['sending'], to: 'deferred' },
  failed: { from: ['sending'], to: 'failed' },
  expired: { from: ['sending'], to: 'expired' },
  /** a hand-back (withdrawn from memory, shutdown) and start-up recovery */
  requeue: { from: ['sending'], to: 'queued' },
  hold: { from: ['queued', 'deferred'], to: 'held' },
  release: { from: ['held'], to: 'queued' },
  /** no store operation makes it: intake refuses a suppressed recipient at RCPT instead */
  suppress: { from: ['queued'], to: 'suppressed' },
  delete: { from: ['queued', 'deferred', 'held'], to: 'failed' },
};

/** The next state, or undefined when the event is not allowed from `from`. */
export function transition(from: RecipientState, ev: RecipientEvent): RecipientState | undefined {
  const t = TRANSITIONS[ev];
  return t.from.includes(from) ? t.to : undefined;
}

/** States a query may name, with `active` meaning every non-final one. */
export function parseStateFilter(text: string): RecipientState | undefined {
  return (RECIPIENT_STATES as readonly string[]).includes(text) ? (text as RecipientState) : undefined;
}

/**
 * The states each operator queue operation acts on; anything else it leaves alone. A flush
 * changes no state: it makes mail that can be picked due now.
 */
export const QUEUE_OP_STATES: Readonly<Record<'flush' | 'hold' | 'release' | 'delete', readonly RecipientState[]>> = {
  flush: TRANSITIONS.pick.from,
  hold: TRANSITIONS.hold.from,
  release: TRANSITIONS.release.from,
  delete: TRANSITIONS.delete.from,
};

/** Mail not yet in a final state: what `mta queue list` shows by default, like mailq. */
export const PENDING_STATES: readonly RecipientState[] = RECIPIENT_STATES.filter((s) => !isFinal(s));
