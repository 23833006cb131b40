/**
 * admin/routes/stats — sending statistics over the API: the report `mta stats --json`
 * prints (per day, sender domain, sender or tag; at most 31 days), and the tracking report
 * of `mta stats --tracking --json` (GET /api/v1/stats/tracking). stats/stats.ts and
 * stats/tracking-stats.ts do the work and check the dates and filters.
 */
import { z } from 'zod';
import { StatsService, REPORT_GROUPS, STATS_GROUPS } from '../../stats/stats.js';
import type { StatsGroup } from '../../spool/types-stats.js';
import { TRACKING_GROUPS, trackingStats } from '../../stats/tracking-stats.js';
import type { TrackingGroup } from '../../spool/types-tracking.js';
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

const engagement = z.object({
  opens: z.number().int().describe('pixel loads (every hit)'), unique_opens: z.number().int().describe('recipients with an open'),
  clicks: z.number().int().describe('link clicks (every hit)'), unique_clicks: z.number().int().describe('recipients with a click'),
  open_rate: z.number().nullable().describe('unique_opens / delivered (0..1, 4 decimals); null without deliveries'),
  click_rate: z.number().nullable().describe('unique_clicks / delivered; null without deliveries'),
  click_to_open_rate: z.number().nullable().describe('unique_clicks / unique_opens; null without opens'),
});
const trackingRowSchema = z.object({
  key: z.string().describe('the day, sending domain, sender, tag or task id ("" for none); TOTAL in total; the day in trend'),
  delivered: z.number().int().describe('delivered recipients of the group\'s mail, tracked or not (the rates\' base)'),
  human: engagement.describe('hits by people'),
  machine: engagement.describe('hits by machines: privacy proxies and prefetchers (opens), security gateways (clicks); never added to human'),
});
const clickCounts = z.object({ clicks: z.number().int(), unique_clicks: z.number().int() });

const day = z.string().max(32).describe('YYYY-MM-DD (a day of the configured timezone)');
/** The days and filters both reports take. */
const rangeAndFilters = {
  from: day.optional().describe('first day, YYYY-MM-DD (default: to)'),
  to: day.optional().describe('last day, YYYY-MM-DD (default: today)'),
  domain: z.string().max(253).optional().describe('only mail from this sender domain'),
  sender: z.string().max(320).optional().describe('only mail from this sender address'),
  tag: z.string().max(256).optional().describe('only mail with this tag'),
};
const groups = z.enum(STATS_GROUPS as unknown as [StatsGroup, ...StatsGroup[]]);
const trackingGroups = z.enum(TRACKING_GROUPS as unknown as [TrackingGroup, ...TrackingGroup[]]);

export function statsRoutes(ctx: ApiContext): Route[] {
  const stats = new StatsService(ctx.store, ctx.config().timeZone);
  return [
    defineRoute({
      method: 'GET', path: '/api/v1/stats', tag: TAG, summary: 'Sending statistics per day (of the configured timezone), domain, sender, tag or recipient domain (mta stats --json)',
      description: 'At most 31 days in one query. Requests count on the day (configured timezone) the message was received, and so do its outcomes.',
      query: z.strictObject({
        ...rangeAndFilters,
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
    defineRoute({
      method: 'GET', path: '/api/v1/stats/tracking', tag: TAG,
      summary: 'Opens and clicks: raw, unique and rates, people and machines apart, per day, domain, sender, tag or task, with a daily trend and the most clicked links (mta stats --tracking --json)',
      description: 'Counted on the day (configured timezone) the message was received, at most 31 days. A recipient counts once as a unique open or click of each class; '
        + 'machine hits (Apple Mail Privacy Protection, Gmail\'s image proxy, link scanners) are reported apart and never added to human ones. Hits follow the details retention.',
      query: z.strictObject({
        ...rangeAndFilters,
        task: z.string().max(64).optional().describe('only the mail of this batch task'),
        by: trackingGroups.optional().describe('one row per day (default), sending domain, sender, tag or task'),
        links: z.string().max(5).optional().describe('how many of the most clicked links to list (default 10, at most 1000)'),
      }),
      response: z.object({
        time_zone: z.string(), from: z.string(), to: z.string(), by: trackingGroups,
        filter: z.object({ domain: z.string().optional(), sender: z.string().optional(), tag: z.string().optional(), task: z.string().optional() }),
        rows: z.array(trackingRowSchema),
        total: trackingRowSchema,
        trend: z.array(trackingRowSchema).describe('every day of the range, quiet days as zeros (key: the day): the series for charts'),
        links: z.array(z.object({ url: z.string(), human: clickCounts, machine: clickCounts })).describe('the most clicked URLs of the mail, by human unique clicks (the honeypot left out)'),
      }),
      handler: async ({ query }) => trackingStats(ctx.store, query, ctx.config().timeZone),
    }),
  ];
}
