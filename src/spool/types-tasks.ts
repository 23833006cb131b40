/**
 * spool/types-tasks — what batch tasks (src/tasks) need from the spool: the task rows,
 * one transaction per expanded chunk (messages + cursor + counters), guarded state
 * changes, and the alias lookups intake needs.
 */
import type { QueueId, TaskId } from '../util/ids.js';
import type { IncomingMessage } from './types-queue.js';

export type TaskState = 'queued' | 'sending' | 'paused' | 'paused_quota' | 'done' | 'cancelled';
export const TASK_STATES: readonly TaskState[] = ['queued', 'sending', 'paused', 'paused_quota', 'done', 'cancelled'];
/** `template`: a task created by an operator; `alias`: mail sent to a list's alias address. */
export type TaskKind = 'template' | 'alias';
/** `sender`: MAIL FROM is the sender address; `random`: a per-recipient VERP address. */
export type AddressType = 'sender' | 'random';

/** The template as approved when the task was created: later edits do not change the task. */
export interface TaskContent { subject: string; fromName: string | null; html: string; text: string | null }

export interface TaskRecord {
  id: TaskId;
  kind: TaskKind;
  list: string;
  template: string | null;
  content: TaskContent | null;
  /** kind 'alias': the stored message sent to the alias */
  sourceId: QueueId | null;
  sender: string;
  tag: string | null;
  addressType: AddressType;
  tracking: boolean;
  unsubscribe: boolean;
  state: TaskState;
  pauseReason: string | null;
  resumeAt: number | null;
  /** the last member address expanded; null before the first chunk */
  cursor: string | null;
  /** the cursor reached the end of the list */
  exhausted: boolean;
  /** members when expansion started; null before */
  listSize: number | null;
  /** messages queued (one recipient each) */
  requested: number;
  suppressed: number;
  /** members whose address is not valid (never queued) */
  invalid: number;
  delivered: number;
  /** failed, expired or deleted (other than bouncedInvalid) */
  failed: number;
  /** failed as an invalid address (DirectMail status 2) */
  bouncedInvalid: number;
  /** delivered, then bounced asynchronously (still counted in delivered) */
  bouncedAfterDelivery: number;
  createdAt: number;
  updatedAt: number;
  finishedAt: number | null;
}

/** A message of a task: one recipient, the task's id, and the envelope MAIL FROM when it is not the sender. */
export interface TaskMessage extends IncomingMessage { taskId: TaskId; returnPath: string | null }

/** One expanded chunk, committed whole or not at all. */
export interface TaskChunk {
  taskId: TaskId;
  /** the cursor the chunk was read after: the commit is refused when the task moved on meanwhile */
  after: string | null;
  /** the last member address in the chunk */
  cursor: string;
  exhausted: boolean;
  messages: TaskMessage[];
  suppressed: number;
  invalid: number;
  at: number;
}

/** A state change, applied only when the task is in `from` (compare and set). */
export interface TaskStateChange {
  from: TaskState;
  to: TaskState;
  at: number;
  pauseReason?: string | null;
  resumeAt?: number | null;
  /** set list_size (queued → sending) */
  listSize?: number;
}

export interface TaskFilter { states?: readonly TaskState[] | undefined; limit?: number | undefined; /** cursor: id to continue below (newest first) */ before?: string | undefined }

export interface TaskStore {
  addTask(t: TaskRecord): Promise<void>;
  getTask(id: TaskId): Promise<TaskRecord | undefined>;
  /** Newest first. */
  listTasks(f: TaskFilter): Promise<TaskRecord[]>;
  setTaskState(id: TaskId, c: TaskStateChange): Promise<boolean>;
  /** Stores the chunk's messages, moves the cursor and counters; false (nothing stored) when the task is not 'sending' at `after`. */
  commitTaskChunk(c: TaskChunk): Promise<boolean>;
  /** The list whose alias address this is (canonical, lower case), if any. */
  listByAlias(address: string): Promise<string | undefined>;
  /** The task's recipients not yet final, per state (read from the waiting recipients, not the task's history). */
  waitingOfTask(id: TaskId): Promise<{ queued: number; sending: number; deferred: number; held: number }>;
}
