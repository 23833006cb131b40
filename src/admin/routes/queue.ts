/**
 * admin/routes/queue — the queue over the API: waiting recipients (or all, with the
 * history) by state, domain, sender and task, one message with its headers, recipients and
 * events, the summary, and operator control (flush, retry, hold, release, delete; one
 * message or by selector) acting through the running scheduler so it takes effect at
 * once. admin/queue-ops.ts does the work, as for `mta queue ...`.
 */
import { z } from 'zod';
import { PENDING_STATES, RECIPIENT_STATES, type RecipientState } from '../../spool/states.js';
import type { QueueTarget } from '../../spool/types-queue.js';
import { MtaError } from '../../util/errors.js';
import { defineRoute, type Route } from '../router.js';
import { isoTime, type ApiContext } from '../context.js';
import { decodeCursor, pageQuery, pageSchema, toPage } from '../pagination.js';
import { AGE_LABELS, bulkTarget, entryView, flushTarget, messageView, messageWithHeaders, queueIdTarget, queueSummary, runQueueCommand, selectorOf, type QueueCommand } from '../queue-ops.js';

const TAG = 'queue';
const P = '/api/v1/queue';

const state = z.enum(RECIPIENT_STATES as unknown as [RecipientState, ...RecipientState[]]);
const idParam = z.strictObject({ id: z.string().min(1).max(64).describe('queue id') });

const entrySchema = z.object({
  recipient_id: z.number().int(),
  queue_id: z.string(),
  state,
  sender: z.string(),
  rcpt: z.string(),
  domain: z.string(),
  lane: z.enum(['trigger', 'batch']),
  attempts: z.number().int(),
  size: z.number().int(),
  received_at: isoTime,
  next_attempt_at: isoTime,
  last_reply: z.string().nullable(),
});

const messageSchema = z.object({
  queue_id: z.string(), received_at: isoTime, sender: z.string(), auth_user: z.string().nullable(), client_ip: z.string().nullable(),
  helo: z.string().nullable(), message_id: z.string(), subject: z.string().nullable(), size: z.number().int(),
  lane: z.enum(['trigger', 'batch']), tag: z.string().nullable(),
  headers: z.string().describe('the top-level header block as stored (CRLF line ends)'),
  recipients: z.array(entrySchema),
  events: z.array(z.object({
    id: z.number().int().describe('the event\'s row; for an open or click, its row in tracking_hits'), at: isoTime, rcpt: z.string().nullable(),
    type: z.string().describe('reception, delivered, deferred, ..., and open / click (each tracking hit, with class, reason, method, ip, user_agent, first)'),
    detail: z.record(z.string(), z.unknown()),
  })).describe('the recipients\' history, opens and clicks among it, in time order'),
});

const countsSchema = z.object(Object.fromEntries(RECIPIENT_STATES.map((s) => [s, z.number().int()])) as Record<RecipientState, z.ZodNumber>);
/** Selector fields of the bulk operations (admin/queue-ops.ts checks them). */
const selectorBody = {
  domain: z.string().max(253).optional().describe('recipient domain'),
  sender: z.string().max(320).optional().describe('envelope sender (<> for bounces)'),
  task_id: z.string().max(32).optional().describe('batch task'),
  state: state.optional().describe('one of the states the operation acts on'),
};
const affectedSchema = z.object({ affected: z.number().int().describe('recipients changed') });

export function queueRoutes(ctx: ApiContext): Route[] {
  const run = async (cmd: QueueCommand, target: QueueTarget, client: string): Promise<{ affected: number }> => {
    const st = ctx.state();
    if (st !== 'running' && st !== 'starting') throw new MtaError('MTA_ERR_STATE', `the daemon is ${st}; queue operations are refused`);
    const affected = await runQueueCommand(ctx.store, ctx.scheduler(), cmd, target);
    // Operator actions are worth one audit line each.
    ctx.log.info({ op: cmd, target, affected, client }, 'queue operation');
    return { affected };
  };
  const perMessage = (cmd: Exclude<QueueCommand, 'flush'>, summary: string): Route => defineRoute({
    method: 'POST', path: `${P}/:id/${cmd}`, tag: TAG, summary, params: idParam, response: affectedSchema,
    handler: async ({ params, client }) => run(cmd, queueIdTarget(params.id), client),
  });
  const bulk = (cmd: 'hold' | 'release' | 'delete', summary: string): Route => defineRoute({
    method: 'POST', path: `${P}/${cmd}`, tag: TAG, summary, description: 'Every field given must match; at least one is required.',
    body: z.strictObject(selectorBody), response: affectedSchema,
    handler: async ({ body, client }) => run(cmd, bulkTarget(cmd, body), client),
  });
  return [
    defineRoute({
      method: 'GET', path: P, tag: TAG, summary: 'List waiting recipients (queued, sending, deferred, held), oldest first; all=true adds the history',
      query: z.strictObject({
        state: state.optional(), all: z.enum(['true', 'false']).default('false').describe('also recipients in a final state (delivered, failed, ...)'),
        domain: z.string().max(253).optional().describe('recipient domain'), sender: z.string().max(320).optional().describe('envelope sender'),
        task_id: z.string().max(32).optional().describe('batch task'), ...pageQuery,
      }),
      response: pageSchema(entrySchema),
      handler: async ({ query }) => {
        const sel = selectorOf('flush', { domain: query.domain, sender: query.sender, task_id: query.task_id });
        const states = query.state ? [query.state] : query.all === 'true' ? undefined : PENDING_STATES;
        // The store's own cursor, wrapped like every listing's; a wrapped string the store did not make is its 400.
        const after = decodeCursor(query.cursor, z.string().min(1).max(256));
        const rows = await ctx.store.listQueue({ ...sel, states, after, limit: query.limit + 1 });
        return toPage(rows, query.limit, (r) => r.cursor, entryView);
      },
    }),
    defineRoute({
      method: 'GET', path: `${P}/summary`, tag: TAG, summary: 'Counts by state, and waiting mail per recipient domain and age (like qshape)',
      response: z.object({
        counts: countsSchema, waiting: z.number().int(), buckets: z.array(z.string()),
        domains: z.array(z.object({
          domain: z.string(), total: z.number().int(), queued: z.number().int(), sending: z.number().int(), deferred: z.number().int(),
          held: z.number().int(), age: z.record(z.string(), z.number().int()).describe(`recipients per age bucket: ${AGE_LABELS.join(', ')}`),
        })),
      }),
      handler: async () => { const s = await queueSummary(ctx.store); return { ...s, buckets: [...s.buckets] }; },
    }),
    defineRoute({
      method: 'GET', path: `${P}/:id`, tag: TAG, summary: 'One message: envelope, headers, recipients and every event',
      params: idParam, response: messageSchema,
      handler: async ({ params }) => {
        const { message, headers } = await messageWithHeaders(ctx.store, params.id);
        return messageView(message, headers);
      },
    }),
    defineRoute({
      method: 'POST', path: `${P}/flush`, tag: TAG, summary: 'Try waiting mail now: everything ({}), one message ({"queue_id"}) or the recipients a selector names',
      body: z.strictObject({ queue_id: z.string().max(64).optional(), ...selectorBody }),
      response: affectedSchema,
      handler: async ({ body, client }) => run('flush', flushTarget(body), client),
    }),
    bulk('hold', 'Hold the queued and deferred recipients a selector names'),
    bulk('release', 'Release the held recipients a selector names'),
    bulk('delete', 'Delete the waiting recipients a selector names: they end as failed with a "deleted" event (no bounce)'),
    perMessage('retry', 'Try one message now, whatever its next retry time'),
    perMessage('hold', 'Hold a message: its queued and deferred recipients wait until released'),
    perMessage('release', 'Release a held message: its recipients are queued for delivery now'),
    perMessage('delete', 'Delete a message from the queue: its waiting recipients end as failed with a "deleted" event (no bounce)'),
  ];
}
