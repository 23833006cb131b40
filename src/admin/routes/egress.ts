/**
 * admin/routes/egress — `GET /api/v1/egress`: each egress source of this node with its
 * pools, warm-up day and cap, connections in use and today's counts per destination
 * provider (sent, deferral and block replies). What `mta egress status` prints.
 */
import { z } from 'zod';
import { defineRoute, type Route } from '../router.js';
import type { ApiContext } from '../context.js';
import { EgressSelector } from '../../delivery/egress.js';

const TAG = 'egress';

const counts = { sent: z.number().int(), deferred: z.number().int(), blocked: z.number().int() };
export const egressStatusSchema = z.object({
  day: z.string().describe('the UTC day the counts are for'),
  node: z.string(),
  sources: z.array(z.object({
    name: z.string(), address: z.string(), helo: z.string(), node: z.string().nullable(), pools: z.array(z.string()),
    warmup_day: z.number().int().nullable().describe('day of the warm-up (1 on warmup_from); null: no warm-up'),
    cap: z.number().int().nullable().describe('recipients per destination provider today; null: no cap'),
    in_use: z.number().int(), max_connections: z.number().int().nullable(),
    ...counts,
    providers: z.array(z.object({ provider: z.string(), cap: z.number().int().nullable(), ...counts })),
  })),
});

export function egressRoutes(ctx: ApiContext): Route[] {
  return [
    defineRoute({
      method: 'GET', path: '/api/v1/egress', tag: TAG, summary: 'Egress sources: warm-up day and cap, sent, deferral and block replies per destination provider today',
      response: egressStatusSchema,
      // Without delivery the counters are read from the spool as the last run left them.
      handler: async () => (ctx.egress?.() ?? new EgressSelector(ctx.config(), ctx.store, ctx.log)).status(),
    }),
  ];
}
