/**
 * admin/routes/tasks — batch tasks over the API (DirectMail's BatchSendMail): create,
 * list, show, pause, resume, cancel. tasks/tasks.ts does the work, as for `mta task ...`.
 * A created task is `queued`; the daemon's expander starts it within a moment.
 */
import { z } from 'zod';
import { Tasks, taskView } from '../../tasks/tasks.js';
import { TASK_STATES, type TaskState } from '../../spool/types-tasks.js';
import { defineRoute, type Route } from '../router.js';
import { isoTime, type ApiContext } from '../context.js';

const TAG = 'tasks';
const P = '/api/v1/tasks';

const taskSchema = z.object({
  id: z.string(),
  kind: z.enum(['template', 'alias']).describe('template: created by an operator; alias: mail sent to a list alias address'),
  list: z.string(),
  template: z.string().nullable(),
  source_id: z.string().nullable().describe('alias tasks: the queue id of the message sent to the alias'),
  sender: z.string(),
  tag: z.string().nullable(),
  address_type: z.enum(['sender', 'random']).describe('random: a per-recipient VERP envelope sender'),
  tracking: z.boolean(),
  unsubscribe: z.boolean(),
  state: z.enum(TASK_STATES as unknown as [TaskState, ...TaskState[]]),
  state_shown: z.string().describe('the state as shown to people, e.g. "paused (quota)"'),
  pause_reason: z.string().nullable(),
  resume_at: isoTime.nullable().describe('paused (quota): when the task resumes by itself'),
  list_size: z.number().int().nullable().describe('members when expansion started'),
  expanded: z.number().int().describe('members handled so far: requested + suppressed + invalid'),
  exhausted: z.boolean().describe('every member has been expanded'),
  progress: z.string().describe('"expanded / list size"'),
  requested: z.number().int().describe('messages queued, one recipient each'),
  delivered: z.number().int(),
  failed: z.number().int().describe('failed, expired or deleted'),
  invalid: z.number().int().describe('invalid member addresses plus deliveries refused as invalid addresses'),
  suppressed: z.number().int().describe('members skipped: on the suppression list'),
  waiting: z.number().int().describe('recipients not yet in a final state'),
  bounced_after_delivery: z.number().int().describe('delivered recipients whose mail bounced later (asynchronous bounce); still counted in delivered'),
  deferred: z.number().int().optional(),
  held: z.number().int().optional(),
  tracking_note: z.string().nullable(),
  created_at: isoTime,
  updated_at: isoTime,
  finished_at: isoTime.nullable(),
  finished: z.boolean(),
});

const idParam = z.strictObject({ id: z.string().min(1).max(64).describe('the task id') });

export function taskRoutes(ctx: ApiContext): Route[] {
  const tasks = new Tasks(ctx.store, ctx.config, () => ctx.scheduler());
  return [
    defineRoute({
      method: 'POST', path: P, tag: TAG, status: 201,
      summary: 'Create a batch task (only batch senders; an approved template; every template variable in the list)',
      body: z.strictObject({
        list: z.string().min(1).max(64),
        template: z.string().min(1).max(64),
        from: z.string().min(3).max(320).describe('a batch sender address'),
        tag: z.string().max(64).optional(),
        address_type: z.enum(['sender', 'random']).default('sender'),
        tracking: z.boolean().default(false),
        unsubscribe: z.boolean().default(false).describe('List-Unsubscribe headers and a footer link (needs [public] base_url)'),
      }),
      response: taskSchema,
      handler: async ({ body }) => taskView(await tasks.create({
        list: body.list, template: body.template, from: body.from, tag: body.tag, addressType: body.address_type,
        tracking: body.tracking, unsubscribe: body.unsubscribe,
      })),
    }),
    defineRoute({
      method: 'GET', path: P, tag: TAG, summary: 'List batch tasks, newest first',
      query: z.strictObject({
        state: z.enum(TASK_STATES as unknown as [TaskState, ...TaskState[]]).optional(),
        limit: z.coerce.number().int().min(1).max(1000).default(100),
        before: z.string().max(64).optional().describe('cursor: the last id of the previous page'),
      }),
      response: z.object({ items: z.array(taskSchema) }),
      handler: async ({ query }) => ({
        items: (await tasks.list({ ...(query.state ? { states: [query.state] } : {}), limit: query.limit, ...(query.before ? { before: query.before } : {}) })).map((t) => taskView(t)),
      }),
    }),
    defineRoute({
      method: 'GET', path: `${P}/:id`, tag: TAG, summary: 'Show one batch task with its waiting recipients per state',
      params: idParam, response: taskSchema,
      handler: async ({ params }) => { const t = await tasks.get(params.id); return taskView(t, await tasks.waiting(t)); },
    }),
    defineRoute({
      method: 'POST', path: `${P}/:id/pause`, tag: TAG, summary: 'Pause a task: nothing more is expanded (recipients already queued are delivered)',
      params: idParam, response: taskSchema,
      handler: async ({ params }) => taskView(await tasks.pause(params.id)),
    }),
    defineRoute({
      method: 'POST', path: `${P}/:id/resume`, tag: TAG, summary: 'Resume a paused task (also one paused for the quota)',
      params: idParam, response: taskSchema,
      handler: async ({ params }) => taskView(await tasks.resume(params.id)),
    }),
    defineRoute({
      method: 'POST', path: `${P}/:id/cancel`, tag: TAG, summary: 'Cancel a task: nothing more is expanded and its waiting recipients are deleted',
      params: idParam, response: taskSchema.extend({ deleted: z.number().int().describe('waiting recipients deleted') }),
      handler: async ({ params }) => { const r = await tasks.cancel(params.id); return { ...taskView(r.task), deleted: r.deleted }; },
    }),
  ];
}
