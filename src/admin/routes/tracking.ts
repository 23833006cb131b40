/**
 * admin/routes/tracking — engagement over the API: GET /api/v1/tasks/{id}/tracking, a batch
 * task's opens and clicks with their rates per class and its clicks per link
 * (tracking/report.ts does the work, as for `mta tracking show`); GET /api/v1/stats/engagement,
 * people's opens and clicks per day (the console's Overview).
 */
import { z } from 'zod';
import { Tasks } from '../../tasks/tasks.js';
import { dailyEngagement, taskTracking } from '../../tracking/report.js';
import { defineRoute, type Route } from '../router.js';
import type { ApiContext } from '../context.js';

const figures = z.object({
  opens: z.number().int(), unique_opens: z.number().int(), open_rate: z.number().nullable().describe('unique opens / delivered; null before any delivery'),
  clicks: z.number().int(), unique_clicks: z.number().int(), click_rate: z.number().nullable().describe('unique clicks / delivered'),
});

export function trackingRoutes(ctx: ApiContext): Route[] {
  const tasks = new Tasks(ctx.store, () => ctx.config());
  const day = z.string().max(32).describe('YYYY-MM-DD (a day of the configured timezone)');
  const dayRow = { opens: z.number().int(), unique_opens: z.number().int(), clicks: z.number().int(), unique_clicks: z.number().int() };
  return [
    defineRoute({
      method: 'GET', path: '/api/v1/stats/engagement', tag: 'stats',
      summary: 'Opens and clicks by people (not proxies or scanners) per day of the configured timezone, counted on the day of the hit; at most 31 days',
      query: z.strictObject({ from: day.optional().describe('first day (default: to)'), to: day.optional().describe('last day (default: today)') }),
      response: z.object({
        time_zone: z.string(), from: z.string(), to: z.string(),
        rows: z.array(z.object({ day: z.string(), ...dayRow }).describe('unique_*: distinct recipients that day')),
        total: z.object(dayRow).describe('unique_*: distinct recipients over the whole range'),
      }),
      handler: async ({ query }) => dailyEngagement(ctx.store, ctx.config().timeZone, query),
    }),
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
