/**
 * admin/routes/cluster — `GET /api/v1/cluster`: the nodes sharing the store with their last
 * heartbeat (alive or stale), which node leads each one-at-a-time job, and the recipients
 * each node holds in delivery, and the connection slots each holds (daemon/cluster.ts). What `mta cluster status` prints; any
 * node answers for the whole cluster.
 */
import { z } from 'zod';
import { defineRoute, type Route } from '../router.js';
import { isoTime, type ApiContext } from '../context.js';
import { clusterStatus } from '../../daemon/cluster.js';

const TAG = 'system';

export const clusterStatusSchema = z.object({
  node: z.string().describe('the node that answered'),
  at: isoTime,
  heartbeat_s: z.number().describe('how often each node beats'),
  stale_after_s: z.number().describe('a node not heard from for this long is shown as stale'),
  nodes: z.array(z.object({
    node: z.string(), hostname: z.string(), version: z.string(), listeners: z.array(z.string()),
    started_at: isoTime, last_heartbeat: isoTime, age_s: z.number().int().describe('seconds since the last heartbeat'),
    status: z.enum(['alive', 'stale']), jobs: z.array(z.string()).describe('the jobs it leads now'),
    sending: z.number().int().describe('recipients it holds in delivery'),
    slots: z.number().int().describe('cluster-wide connection slots it holds (open connections, idle pooled ones included)'),
  })),
  jobs: z.array(z.object({
    job: z.string(), leader: z.string(), since: isoTime, lease_until: isoTime,
    state: z.enum(['held', 'expired']).describe('expired: the leader stopped renewing; the next node to ask takes the job'),
  })),
  sending: z.array(z.object({
    node: z.string().nullable().describe('the claiming node (null: claims from before leases named one)'),
    recipients: z.number().int(), expired: z.number().int().describe('of those, whose lease ran out: any node takes them back'),
  })),
});

export function clusterRoutes(ctx: ApiContext): Route[] {
  return [
    defineRoute({
      method: 'GET', path: '/api/v1/cluster', tag: TAG, summary: 'Cluster nodes with their last heartbeat, job leaders, and recipients in delivery per node',
      response: clusterStatusSchema,
      handler: async () => clusterStatus(ctx.store, ctx.store.nodeId, Date.now()),
    }),
  ];
}
