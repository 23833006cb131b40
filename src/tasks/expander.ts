/**
 * tasks/expander — turns running batch tasks into queued mail, lazily, a chunk at a time.
 *
 * For each task in `sending` whose recipients still waiting (requested minus final
 * outcomes, counted on the task row) are below `[tasks] window`, it reads the next
 * `chunk_size` members after the task's cursor, renders one message per member
 * (tasks/render.ts), and commits the messages, the new cursor and the counters in one
 * transaction (spool/sqlite-tasks.ts). A 1,000,000-member list is never held in memory
 * nor materialised up front, and a restart neither duplicates nor skips a member.
 *
 * Before a chunk the quota gate is asked; over quota the task pauses (`paused_quota`)
 * with resume_at 24 hours later, and this loop resumes it then by itself. A task whose
 * list is expanded and whose recipients are all final is `done`.
 *
 * In a cluster one node expands a given task: the one holding its lease (`gate`,
 * util/cluster-jobs.ts); the others skip it, and take over when that lease runs out.
 *
 * Must never: commit a chunk for a task that is no longer `sending` at the cursor it was
 * read after (the store refuses it, so a pause or cancel wins over a chunk being built, and
 * a node expanding after its lease was lost cannot queue a member twice).
 */
import type { Logger } from 'pino';
import type { Config } from '../config/config.js';
import type { Store } from '../spool/types.js';
import type { TaskMessage, TaskRecord, TaskState } from '../spool/types-tasks.js';
import { parseAddress } from '../util/address.js';
import { renderMember, type RenderEnv, type TaskFrame } from './render.js';
import { transition, type TaskEvent } from './states.js';
import { tasksIn } from './tasks.js';
import { assertNever, isRetryable } from '../util/errors.js';
import { WakeLoop } from '../util/wake-loop.js';
import { Lifecycle } from '../util/lifecycle.js';
import type { TaskGate } from '../util/cluster-jobs.js';

/** The quota check the expander needs (quota/quota.ts QuotaService has this shape). */
export interface QuotaGate {
  check(domain: string, count: number, now: number): Promise<{ ok: true; left: number } | { ok: false; which: 'daily' | 'monthly'; limit: number; used: number }>;
  reached(domain: string, which: 'daily' | 'monthly', now: number): Promise<void>;
}

/** The seed's rule: a task paused by the quota resumes by itself a day later. */
export const QUOTA_PAUSE_MS = 24 * 3600_000;
/** Without a wake-up the expander still looks this often (outcomes free the window). */
const IDLE_LOOK_MS = 250;
/**
 * Rendering gives the event loop back after this many members (0.1–0.25 ms each here).
 * Every await in the loop below settles at once (the store's reads are synchronous), so
 * without it a chunk of 500 was one task of 45–120 ms, and SMTP replies and login codes
 * waited behind it (bench/RESULTS.md: event-loop delay p99 44–50 ms, 9–10 ms with it).
 */
export const RENDER_SLICE = 32;
/** A chunk of large alias messages stops early at this many bytes. */
const CHUNK_BYTES = 32 * 1024 * 1024;

export interface ExpanderDeps {
  store: Store;
  config: () => Config;
  log: Logger;
  render: RenderEnv;
  /** undefined: no quota applies */
  quota?: QuotaGate | undefined;
  /** which tasks this node expands (one node per task in a cluster: util/cluster-jobs.ts); undefined: every task */
  gate?: TaskGate | undefined;
  /**
   * Login codes first (delivery/precedence.ts): rendering a campaign is batch work on the event
   * loop, so before each slice it waits, briefly, while trigger mail is being delivered.
   */
  precedence?: { batchMayStart(): Promise<void> | undefined } | undefined;
  now?: () => number;
}

type Step = 'progress' | 'idle';

export class TaskExpander {
  /** restartable: stop() then start() holds expansion back and resumes it */
  private readonly life = new Lifecycle('task expander', undefined, { restartable: true });
  /** runs the passes when woken, and every IDLE_LOOK_MS (outcomes free a task's window unannounced) */
  private readonly loop = new WakeLoop({
    pass: () => this.pass(),
    nextDelay: () => IDLE_LOOK_MS,
    onError: (e) => { this.deps.log.error({ err: (e as Error).message }, 'task expander could not read the spool; trying again shortly'); return IDLE_LOOK_MS; },
  });
  private readonly now: () => number;

  constructor(private readonly deps: ExpanderDeps) {
    this.now = deps.now ?? Date.now;
  }

  start(): void {
    this.life.to('running');
    this.loop.start();
  }

  /** Looks at the tasks soon (coalesced): a task created, resumed, or a clock moved. */
  wake(): void {
    this.loop.wake();
  }

  /** Stops after the chunk in progress (which commits or not, whole). */
  async stop(): Promise<void> {
    if (!this.life.running) { if (this.life.state === 'idle') this.life.to('stopped'); return; }
    this.life.to('stopping');
    await this.loop.stop();
    this.life.to('stopped');
  }

  /** One pass over every live task, repeated while any made progress. */
  private async pass(): Promise<void> {
    for (;;) {
      if (!this.life.running) return;
      const tasks = await tasksIn(this.deps.store, ['queued', 'sending', 'paused_quota']);
      await this.deps.gate?.releaseTasksBut(new Set(tasks.map((t) => t.id)));
      let progress = false;
      for (const t of tasks) { // oldest first
        if (!this.life.running) return;
        try {
          if ((await this.step(t)) === 'progress') progress = true;
        } catch (e) {
          await this.pauseForError(t, e);
        }
      }
      if (!progress) return;
      await new Promise((r) => setImmediate(r)); // let delivery and the API breathe between chunks
    }
  }

  private async change(t: TaskRecord, ev: TaskEvent, extra: { pauseReason?: string | null; resumeAt?: number | null; listSize?: number } = {}): Promise<boolean> {
    const to: TaskState = transition(t.state, ev);
    const ok = await this.deps.store.setTaskState(t.id, { from: t.state, to, at: this.now(), ...extra });
    if (ok) this.deps.log.info({ task_id: t.id, from: t.state, to, ...extra }, 'task state');
    return ok;
  }

  private async step(t: TaskRecord): Promise<Step> {
    const now = this.now();
    switch (t.state) {
      case 'queued': {
        const list = await this.deps.store.getList(t.list);
        return (await this.change(t, 'start', { listSize: list?.members ?? 0 })) ? 'progress' : 'idle';
      }
      case 'paused_quota':
        if (t.resumeAt !== null && now < t.resumeAt) return 'idle';
        return (await this.change(t, 'resume', { pauseReason: null, resumeAt: null })) ? 'progress' : 'idle';
      case 'sending':
        // Another node expands it: this one would render the chunk only to have its commit refused.
        if (this.deps.gate && !(await this.deps.gate.leadTask(t.id))) return 'idle';
        return this.expand(t, now);
      case 'paused': case 'done': case 'cancelled': return 'idle';
      default: return assertNever(t.state, 'task state');
    }
  }

  private async expand(t: TaskRecord, now: number): Promise<Step> {
    const { window, chunkSize } = this.deps.config().tasks;
    const waiting = t.requested - t.delivered - t.failed - t.bouncedInvalid;
    if (t.exhausted) {
      if (waiting > 0) return 'idle';
      return (await this.change(t, 'finish')) ? 'progress' : 'idle';
    }
    if (waiting >= window) return 'idle';
    const sender = await this.deps.store.getSender(t.sender);
    if (!sender) { await this.change(t, 'pause', { pauseReason: `sender ${t.sender} no longer exists` }); return 'idle'; }
    let budget = Math.min(chunkSize, window - waiting);
    if (this.deps.quota) {
      const q = this.deps.quota;
      const v = await q.check(sender.domain, budget, now);
      if (!v.ok) {
        // Room for part of a chunk is used; none left pauses the task for a day.
        const room = await q.check(sender.domain, 0, now);
        if (room.ok && room.left >= 1) budget = Math.min(budget, room.left);
        else {
          const reason = `${v.which} quota of ${sender.domain} reached (${v.used} of ${v.limit})`;
          if (await this.change(t, 'quota', { pauseReason: reason, resumeAt: now + QUOTA_PAUSE_MS })) await q.reached(sender.domain, v.which, now);
          return 'idle';
        }
      } else if (v.left < budget) {
        budget = Math.max(0, Math.floor(v.left));
        if (budget === 0) return 'idle';
      }
    }
    const members = await this.deps.store.listMembers(t.list, { after: t.cursor ?? undefined, limit: budget });
    const frame = await this.frame(t, sender);
    const messages: TaskMessage[] = [];
    let suppressed = 0;
    let invalid = 0;
    let bytes = 0;
    let taken = 0;
    for (const m of members) {
      if (taken % RENDER_SLICE === 0) {
        if (taken > 0) await new Promise((resolve) => setImmediate(resolve));
        // Before the first slice too: a chunk starts right after the last one's commit, and
        // with chunks of 100 that slice is a third of the rendering (bench/RESULTS.md, 2026-12-06 04:45).
        const wait = this.deps.precedence?.batchMayStart();
        if (wait) await wait;
      }
      taken++;
      const a = parseAddress(m.address);
      if (!a) invalid++;
      else if (await this.deps.store.isSuppressed(a.address, sender.domain)) suppressed++;
      else {
        const msg = await renderMember(this.deps.render, frame, { ...m, address: a.address }, now);
        messages.push(msg);
        bytes += msg.size;
        if (bytes >= CHUNK_BYTES) break;
      }
    }
    const last = members[taken - 1];
    const exhausted = taken === members.length && members.length < budget;
    if (!last) {
      // Nothing after the cursor: the list is expanded (commit the flag alone).
      return (await this.deps.store.commitTaskChunk({ taskId: t.id, after: t.cursor, cursor: t.cursor ?? '', exhausted: true, messages: [], suppressed: 0, invalid: 0, at: now }))
        ? 'progress' : 'idle';
    }
    const ok = await this.deps.store.commitTaskChunk({ taskId: t.id, after: t.cursor, cursor: last.address, exhausted, messages, suppressed, invalid, at: now });
    if (ok) this.deps.log.debug({ task_id: t.id, queued: messages.length, suppressed, invalid, cursor: last.address }, 'task chunk expanded');
    return ok ? 'progress' : 'idle';
  }

  private readonly frames = new Map<string, { at: number; columns: readonly string[]; sourceSubject: string | null }>();

  /** The per-task constants, read again every few seconds (a list's columns can grow). */
  private async frame(t: TaskRecord, sender: TaskFrame['sender']): Promise<TaskFrame> {
    let c = this.frames.get(t.id);
    if (!c || this.now() - c.at > 10_000 || this.now() < c.at) {
      const list = await this.deps.store.getList(t.list);
      const source = t.kind === 'alias' && t.sourceId ? await this.deps.store.getMessage(t.sourceId) : undefined;
      if (t.kind === 'alias' && !source) throw new Error(`the message sent to the alias (${t.sourceId}) is gone`);
      c = { at: this.now(), columns: list?.columns ?? [], sourceSubject: source?.subject ?? null };
      if (this.frames.size > 1000) this.frames.clear();
      this.frames.set(t.id, c);
    }
    return { task: t, sender, columns: c.columns, sourceSubject: c.sourceSubject };
  }

  /** A task that cannot expand (a render error, a missing source) pauses with the reason instead of stopping the others. */
  private async pauseForError(t: TaskRecord, e: unknown): Promise<void> {
    // Spool errors that pass by themselves (busy, full, I/O) are retryable; any other pauses the task.
    if (isRetryable(e)) {
      // The spool is busy or full: nothing was committed, the next pass tries the same chunk again.
      this.deps.log.error({ task_id: t.id, err: (e as Error).message }, 'task chunk could not be stored; trying again shortly');
      return;
    }
    const reason = `expansion failed: ${(e as Error).message}`.slice(0, 500);
    this.deps.log.error({ task_id: t.id, err: (e as Error).stack ?? String(e) }, 'task expansion failed; the task is paused');
    try {
      await this.deps.store.setTaskState(t.id, { from: t.state, to: transition(t.state, 'pause'), at: this.now(), pauseReason: reason });
    } catch { /* reported above; the next pass tries again */ }
  }
}
