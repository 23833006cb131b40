/**
 * tasks/states — the batch task life cycle: one union, one transition function.
 *
 *   queued ─start─▶ sending ─(list expanded, nothing waiting)─finish─▶ done
 *                     │  ▲
 *            quota ───┘  └─── resume (by itself at resume_at) ── paused_quota
 *   queued | sending | paused_quota ─pause─▶ paused ─resume─▶ sending
 *   any but done / cancelled ─cancel─▶ cancelled
 *
 * The store applies a change only if the task is still in the state it was read in
 * (compare and set), so the expander and an operator never overwrite each other.
 */
import type { TaskState } from '../spool/types-tasks.js';
import { MtaError, assertNever } from '../util/errors.js';

export type TaskEvent = 'start' | 'pause' | 'resume' | 'quota' | 'finish' | 'cancel';

/** The state after `ev`, or MTA_ERR_TASK_STATE when `ev` is not allowed in `from`. */
export function transition(from: TaskState, ev: TaskEvent): TaskState {
  const refuse = (why: string): never => { throw new MtaError('MTA_ERR_TASK_STATE', why, 'state'); };
  switch (ev) {
    case 'start': return from === 'queued' ? 'sending' : refuse(`a ${shownState(from)} task cannot start`);
    case 'pause':
      return from === 'queued' || from === 'sending' || from === 'paused_quota' ? 'paused' : refuse(`a ${shownState(from)} task cannot be paused`);
    case 'resume': return from === 'paused' || from === 'paused_quota' ? 'sending' : refuse(`only a paused task can be resumed (this one is ${shownState(from)})`);
    case 'quota': return from === 'sending' ? 'paused_quota' : refuse(`a ${shownState(from)} task cannot pause for the quota`);
    case 'finish': return from === 'sending' ? 'done' : refuse(`a ${shownState(from)} task cannot finish`);
    case 'cancel': return from === 'done' || from === 'cancelled' ? refuse(`the task is ${from} already`) : 'cancelled';
    default: return assertNever(ev, 'task event');
  }
}

/** The state as people read it (the seed's "paused (quota)"). */
export function shownState(s: TaskState): string {
  switch (s) {
    case 'paused_quota': return 'paused (quota)';
    case 'queued': case 'sending': case 'paused': case 'done': case 'cancelled': return s;
    default: return assertNever(s, 'task state');
  }
}

export function isFinished(s: TaskState): boolean { return s === 'done' || s === 'cancelled'; }
