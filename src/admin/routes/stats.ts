/**
 * admin/routes/stats — sending statistics over the API: the report `mta stats --json`
 * prints (per day, sender domain, sender or tag; at most 31 days). stats/stats.ts does the
 * work and checks the dates and filters.
 */
import { z } from 'zod';
import { StatsService, REPORT_GROUPS, STATS_GROUPS } from '../../stats/stats.js';
import type { StatsGroup } from '../../spool/types-stats.js';
import { defineRoute, type Route } from '../router.js';
import type { ApiContext } from '../context.js';

const TAG = 'stats';

const rowSchema = z.object({
  key: z.string().describe('the day (YYYY-MM-DD), domain, sender or tag; TOTAL in total'),
  requests: z.number().int(), delivered: z.number().int(), failed: z.number().int(), invalid: z.number().int(),
  deferred: z.number().int(), expired: z.number().int(),
  cancelled: z.number().int().describe('recipients of tasks the operator cancelled (not failed)'),
  delivery_rate: z.number().describe('delivered / (requests - cancelled) (0..1)'),
  invalid_rate: z.number().describe('invalid / (requests - cancelled) (0..1)'),
});

const mainRowSchema = rowSchema.extend({
  complaints: z.number().int().describe('feedback reports of type abuse (ARF complaints) about mail received that day'),
  complaint_rate: z.number().describe('complaints / delivered (0..1), as the reputation reads it'),
  late_bounces: z.number().int().describe('asynchronous bounces of delivered mail (still counted in delivered)'),
});

const rcptRowSchema = rowSchema.extend({
  day: z.string().describe('the day of receipt (YYYY-MM-DD); empty in total'),
  key: z.string().describe('the recipient domain; TOTAL in total'),
  failed_by_category: z.record(z.string(), z.number().int()).describe('final failures per bounce category (user_unknown, policy, ..., expired, deleted)'),
  latency_median_ms: z.number().int().nullable().describe('receipt to delivery: upper bound of the histogram bucket holding the median; null without deliveries'),
  latency_p95_ms: z.number().int().nullable().describe('the same for the 95th percentile'),
});

const day = z.string().max(32).describe('YYYY-MM-DD (a day of the configured timezone)');
const groups = z.enum(STATS_GROUPS as unknown as [StatsGroup, ...StatsGroup[]]);

export function statsRoutes(ctx: ApiContext): Route[] {
  const stats = new StatsService(ctx.store, ctx.config().timeZone);
  return [
    defineRoute({
      method: 'GET', path: '/api/v1/stats', tag: TAG, summary: 'Sending statistics per day (of the configured timezone), domain, sender, tag or recipient domain (mta stats --json)',
      description: 'At most 31 days in one query. Requests count on the day (configured timezone) the message was received, and so do its outcomes.',
      query: z.strictObject({
        from: day.optional().describe('first day, YYYY-MM-DD (default: to)'),
        to: day.optional().describe('last day, YYYY-MM-DD (default: today)'),
        domain: z.string().max(253).optional().describe('only mail from this sender domain'),
        sender: z.string().max(320).optional().describe('only mail from this sender address'),
        tag: z.string().max(256).optional().describe('only mail with this tag'),
        by: z.enum(REPORT_GROUPS).optional().describe('one row per day (default), sender domain, sender or tag; rcpt-domain: one row per day and recipient domain (only the domain filter applies)'),
      }),
      response: z.union([
        z.object({
          time_zone: z.string(), from: z.string(), to: z.string(), by: groups,
          filter: z.object({ domain: z.string().optional(), sender: z.string().optional(), tag: z.string().optional() }),
          rows: z.array(mainRowSchema),
          total: mainRowSchema,
        }),
        z.object({
          time_zone: z.string(), from: z.string(), to: z.string(), by: z.literal('rcpt-domain'),
          filter: z.object({ domain: z.string().optional() }),
          rows: z.array(rcptRowSchema),
          total: rcptRowSchema,
        }),
      ]),
      handler: async ({ query }) => stats.query(query),
    }),
  ];
}
