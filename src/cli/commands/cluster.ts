/**
 * mta cluster status — the nodes sharing this store (one with SQLite, any number with
 * PostgreSQL): each with its last heartbeat and whether it is alive or stale, the jobs it
 * leads, the recipients it holds in delivery and the cluster-wide connection slots it holds;
 * then each one-at-a-time job's leader and lease. From the running daemon (GET
 * /api/v1/cluster), else read from the store.
 *
 *   NODE    STATUS  LAST HEARTBEAT        AGE  HOSTNAME  VERSION  SENDING  SLOTS  JOBS
 *   node-1  alive   2026-12-05T01:02:03Z  4s   mx1       1.4.0    12       3      dns-check,retention-purge
 */
import { Command } from 'commander';
import { configPathOf } from '../context.js';
import { print, printJson, table, timeText } from '../output.js';
import { callAdmin } from '../admin-client.js';
import { loadConfig } from '../../config/config.js';
import { openStore } from '../../spool/index.js';
import { clusterStatus, HEARTBEAT_MS, STALE_AFTER_MS, type ClusterStatus } from '../../daemon/cluster.js';
import { JOB_LEASE_MS } from '../../util/cluster-jobs.js';
import { CLAIM_LEASE_MS } from '../../spool/types-leases.js';
import { SLOT_LEASE_MS } from '../../scheduler/shared-limits.js';

const HELP = `
A cluster is the set of nodes sharing one store (README, "Nodes and one-at-a-time jobs").
Each node beats every ${HEARTBEAT_MS / 1000} seconds; one not heard from for ${STALE_AFTER_MS / 1000} seconds is shown
stale. Stale changes nothing by itself: a dead node's work moves when its leases run out,
its recipients in delivery after ${CLAIM_LEASE_MS / 60_000} minutes and its jobs after ${JOB_LEASE_MS / 1000} seconds, to the
next node that asks. SLOTS: the connections a node holds under the cluster-wide
connection caps (max_connections_per_domain, shaping max_connections); a dead node's
slots free after ${SLOT_LEASE_MS / 1000} seconds.

Jobs that run on one node at a time: dns-check (domains.check_schedule), retention-purge
(retention.purge_schedule), reputation (reputation.schedule), mta-sts-sweep (hourly),
tls-rpt-send (TLS reports), and task-expand:<task id> for each batch task being expanded.
With SQLite the one node leads them all.`;

export function clusterCommand(): Command {
  const cmd = new Command('cluster').description('the nodes sharing this store, and which of them runs each periodic job');
  cmd.command('status').description('nodes with their last heartbeat (alive or stale), job leaders, recipients in delivery and connection slots per node')
    .option('--json', 'JSON output')
    .addHelpText('after', HELP)
    .action(async (o: { json?: boolean }, c: Command) => {
      const config = loadConfig({ path: configPathOf(c) });
      let status = (await callAdmin(config, 'GET', '/api/v1/cluster')) as ClusterStatus | undefined;
      if (!status) {
        const store = openStore(config);
        try { status = await clusterStatus(store, store.nodeId, Date.now()); } finally { await store.close(); }
      }
      if (o.json) return printJson(status);
      print(render(status));
    });
  return cmd;
}

function render(s: ClusterStatus): string {
  const alive = s.nodes.filter((n) => n.status === 'alive').length;
  const head = `${s.nodes.length} node(s), ${alive} alive, seen from ${s.node} at ${timeText(s.at)} (heartbeat every ${s.heartbeat_s}s, stale after ${s.stale_after_s}s)`;
  const nodes = s.nodes.length === 0 ? '(no node has registered yet: start the daemon)' : table(
    s.nodes.map((n) => ({ ...n, node: n.node === s.node ? `${n.node} *` : n.node, last: timeText(n.last_heartbeat), age: `${n.age_s}s`, jobs: n.jobs.join(',') || '-' })),
    ['node', 'status', 'last', 'age', 'hostname', 'version', 'sending', 'slots', 'jobs'],
    ['NODE', 'STATUS', 'LAST HEARTBEAT', 'AGE', 'HOSTNAME', 'VERSION', 'SENDING', 'SLOTS', 'JOBS'],
  );
  const jobs = s.jobs.length === 0 ? '(no job has a leader yet)' : table(
    s.jobs.map((j) => ({ ...j, since: timeText(j.since), until: timeText(j.lease_until) })),
    ['job', 'leader', 'since', 'until', 'state'], ['JOB', 'LEADER', 'SINCE', 'LEASE UNTIL', 'STATE'],
  );
  // Claims by nodes that never beat (or from before leases named a node) are listed apart, not lost.
  const orphans = s.sending.filter((x) => x.node === null || !s.nodes.some((n) => n.node === x.node));
  const other = orphans.length === 0 ? '' : `\n\nrecipients in delivery held by no listed node:\n${table(
    orphans.map((x) => ({ ...x, node: x.node ?? '(none)' })), ['node', 'recipients', 'expired'], ['NODE', 'RECIPIENTS', 'LEASE EXPIRED'])}`;
  return `${head}\n\n${nodes}\n\n${jobs}${other}`;
}
