/**
 * admin/routes/tracking — engagement over the API: GET /api/v1/tasks/{id}/tracking, a batch
 * task's opens and clicks with their rates per class and its clicks per link
 * (tracking/report.ts does the work, as for `mta tracking show`).
 */
import { z } from 'zod';
import { Tasks } from '../../tasks/tasks.js';
import { taskTracking } from '../../tracking/report.js';
import { defineRoute, type Route } from '../router.js';
import type { ApiContext } from '../context.js';

const figures = z.object({
  opens: z.number().int(), unique_opens: z.number().int(), open_rate: z.number().nullable().describe('unique opens / delivered; null before any delivery'),
  clicks: z.number().int(), unique_clicks: z.number().int(), click_rate: z.number().nullable().describe('unique clicks / delivered'),
});

export function trackingRoutes(ctx: ApiContext): Route[] {
  const tasks = new Tasks(ctx.store, () => ctx.config());
  return [
    defineRoute({
      method: 'GET', path: '/api/v1/tasks/:id/tracking', tag: 'tasks',
      summary: 'Opens and clicks of a task\'s mail: raw and unique, with rates, human / machine / scanner apart, and clicks per link',
      params: z.strictObject({ id: z.string().min(1).max(64).describe('the task id') }),
      response: z.object({
        task_id: z.string(), tracking: z.boolean(), delivered: z.number().int(),
        human: figures, machine: figures.describe('privacy proxies and prefetchers'), scanner: figures.describe('security gateways following links'),
        links: z.array(z.object({ link: z.number().int(), url: z.string(), class: z.enum(['human', 'machine', 'scanner']), clicks: z.number().int(), unique_clicks: z.number().int() })),
      }),
      handler: async ({ params }) => taskTracking(ctx.store, tasks, params.id),
    }),
  ];
}
