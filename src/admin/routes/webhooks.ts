/**
 * admin/routes/webhooks — async notifications over the API: list, add (the generated
 * secret is returned once), remove, send a signed `test` event, and the attempt log of one
 * webhook or all. events/webhooks.ts does the work and the input checks, as for
 * `mta webhook ...`; these handlers only map HTTP to it.
 *
 * A test event the endpoint does not accept with a 2xx is 502 MTA_ERR_WEBHOOK (the CLI
 * exits 1 on it); the attempt is in the log either way.
 */
import { z } from 'zod';
import { WebhookService, type WebhookView } from '../../events/webhooks.js';
import { SUBSCRIBABLE_EVENTS } from '../../events/payload.js';
import { MtaError } from '../../util/errors.js';
import { defineRoute, type Route } from '../router.js';
import { deletedSchema, isoTime, type ApiContext } from '../context.js';
import { decodeCursor, pageQuery, pageSchema, toPage } from '../pagination.js';

const TAG = 'webhooks';
const P = '/api/v1/webhooks';

// The service parses the id (a positive whole number) and names the field.
const idParam = z.strictObject({ id: z.string().min(1).max(32).describe('webhook id (a positive whole number)') });
const logQuery = z.strictObject({ limit: z.coerce.number().int().min(1).max(10_000).default(50).describe('at most this many attempts, 1..10000') });

const webhookSchema = z.object({
  id: z.number().int(),
  url: z.string(),
  scope: z.string().describe('"account", or the sender address it is limited to'),
  sender: z.string().nullable(),
  events: z.union([z.literal('*'), z.array(z.string())]).describe(`"*" or some of: ${SUBSCRIBABLE_EVENTS.join(', ')}`),
  format: z.enum(['json', 'form']),
  created_at: isoTime,
  disabled: z.boolean(),
  backlog: z.number().int().optional().describe('events not yet delivered (listing only)'),
  dead: z.number().int().optional().describe('events given up after webhooks.max_age (listing only)'),
});

const attemptSchema = z.object({
  id: z.number().int(),
  webhook_id: z.number().int(),
  outbox_id: z.number().int().nullable().describe('null for a test event'),
  event: z.string(),
  at: isoTime,
  status: z.number().int().nullable().describe('HTTP status, null when there was no answer'),
  error: z.string().nullable(),
  duration_ms: z.number().int(),
});

export function webhookRoutes(ctx: ApiContext): Route[] {
  const hooks = new WebhookService(ctx.store, ctx.config);
  const log = defineRoute({
    method: 'GET', path: `${P}/:id/log`, tag: TAG, summary: 'Recent delivery attempts of one webhook, newest first',
    params: idParam, query: logQuery, response: z.object({ items: z.array(attemptSchema) }),
    handler: async ({ params, query }) => ({ items: await hooks.log({ id: params.id, limit: query.limit }) }),
  });
  return [
    defineRoute({
      method: 'GET', path: P, tag: TAG, summary: 'List webhooks with their backlog and dead events, by id (secrets are never shown)',
      query: z.strictObject({ ...pageQuery }),
      response: pageSchema(webhookSchema),
      handler: async ({ query }) => {
        const after = decodeCursor(query.cursor, z.number().int());
        const rows = (await hooks.list()).filter((w: WebhookView) => after === undefined || w.id > after);
        return toPage(rows.slice(0, query.limit + 1), query.limit, (w) => w.id, (w) => w);
      },
    }),
    defineRoute({
      method: 'POST', path: P, tag: TAG, status: 201, summary: 'Add a webhook (account level, or for one sender); a generated secret is returned once',
      body: z.strictObject({
        url: z.string().min(1).max(4096).describe('http:// or https:// URL'),
        sender: z.string().max(320).optional().describe('sender level: only this sender\'s mail'),
        events: z.union([z.literal('*'), z.array(z.string().max(64)).min(1).max(32)]).optional()
          .describe(`"*" (default) or a list of: ${SUBSCRIBABLE_EVENTS.join(', ')}`),
        format: z.enum(['json', 'form']).optional().describe('json (default): one event per request; form: DirectMail\'s key=value body'),
        secret: z.string().max(512).optional().describe('signing secret, at least 16 characters; default: generated and returned once'),
      }),
      response: webhookSchema.extend({ secret: z.string().optional().describe('the generated secret (only when none was given); it cannot be shown again') }),
      handler: async ({ body }) => {
        const r = await hooks.add(body);
        return { ...r.webhook, ...(r.secret !== undefined ? { secret: r.secret } : {}) };
      },
    }),
    defineRoute({
      method: 'DELETE', path: `${P}/:id`, tag: TAG, summary: 'Remove a webhook; its undelivered events are dropped',
      params: idParam, response: deletedSchema.extend({ id: z.number().int(), dropped: z.number().int().describe('undelivered events dropped') }),
      handler: async ({ params }) => ({ deleted: true as const, ...(await hooks.remove(params.id)) }),
    }),
    defineRoute({
      method: 'POST', path: `${P}/:id/test`, tag: TAG, summary: 'Send a signed "test" event now; 502 MTA_ERR_WEBHOOK unless the endpoint answers 2xx',
      params: idParam,
      response: z.object({
        id: z.number().int(), url: z.string(), ok: z.boolean(), status: z.number().int().nullable(), error: z.string().nullable(), duration_ms: z.number().int(),
      }),
      handler: async ({ params }) => {
        const r = await hooks.test(params.id);
        if (!r.ok) throw new MtaError('MTA_ERR_WEBHOOK', `webhook ${r.id} did not accept the test event (${r.status !== null ? `HTTP ${r.status}` : r.error ?? 'no answer'})`);
        return r;
      },
    }),
    log,
    defineRoute({
      method: 'GET', path: `${P}/log`, tag: TAG, summary: 'Recent delivery attempts of every webhook, newest first',
      query: logQuery, response: z.object({ items: z.array(attemptSchema) }),
      handler: async ({ query }) => ({ items: await hooks.log({ limit: query.limit }) }),
    }),
  ];
}
