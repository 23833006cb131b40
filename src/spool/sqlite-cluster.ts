/**
 * spool/sqlite-cluster — the SQLite side of `ClusterStore` (types-cluster.ts): the nodes
 * table (one row per node, its last heartbeat), job_leases (one row per job, taken or renewed
 * by one conditional upsert, so of two claimers exactly one gets it), and the recipients in
 * delivery per claiming node, read from the claims' lease columns (migration 15). With SQLite
 * the store has one node, but the contract is the same as PostgreSQL's.
 *
 * Must never: decide who should lead or when a node is dead (util/cluster-jobs.ts, daemon/cluster.ts).
 */
import type { Statement } from 'better-sqlite3';
import type { Db } from './db.js';
import type { ClusterStore, JobLease, NodeInfo, NodeRecord, SendingByNode } from './types-cluster.js';
import { jobLease, nodeRecord, sendingRow } from './cluster-rows.js';

export class SqliteCluster implements ClusterStore {
  private readonly st: Record<'beat' | 'nodes' | 'lead' | 'release' | 'leases' | 'sending', Statement>;

  constructor(db: Db) {
    this.st = {
      beat: db.prepare(`INSERT INTO nodes (node_id, version, hostname, listeners, started_at, heartbeat_at) VALUES (@nodeId, @version, @hostname, @listeners, @startedAt, @now)
                        ON CONFLICT (node_id) DO UPDATE SET version = excluded.version, hostname = excluded.hostname, listeners = excluded.listeners,
                        started_at = excluded.started_at, heartbeat_at = excluded.heartbeat_at`),
      nodes: db.prepare('SELECT * FROM nodes ORDER BY node_id'),
      // Taken when free, expired or already ours; `since` stays while the same node renews.
      lead: db.prepare(`INSERT INTO job_leases (job, node_id, since, lease_until) VALUES (@job, @nodeId, @now, @until)
                        ON CONFLICT (job) DO UPDATE SET
                          since = CASE WHEN job_leases.node_id = excluded.node_id THEN job_leases.since ELSE excluded.since END,
                          node_id = excluded.node_id, lease_until = excluded.lease_until
                        WHERE job_leases.node_id = excluded.node_id OR job_leases.lease_until <= excluded.since`),
      release: db.prepare('DELETE FROM job_leases WHERE job = ? AND node_id = ?'),
      leases: db.prepare('SELECT * FROM job_leases ORDER BY job'),
      sending: db.prepare(`SELECT claimed_by, COUNT(*) AS n, SUM(CASE WHEN lease_until <= ? THEN 1 ELSE 0 END) AS expired
                           FROM recipients WHERE state = 'sending' GROUP BY claimed_by ORDER BY claimed_by`),
    };
  }

  async heartbeat(nodeId: string, info: NodeInfo, now: number): Promise<void> {
    this.st.beat.run({ nodeId, version: info.version, hostname: info.hostname, listeners: JSON.stringify(info.listeners), startedAt: info.startedAt, now });
  }

  async listNodes(): Promise<NodeRecord[]> {
    return (this.st.nodes.all() as Record<string, unknown>[]).map(nodeRecord);
  }

  async tryLeadJob(job: string, nodeId: string, now: number, leaseMs: number): Promise<boolean> {
    return this.st.lead.run({ job, nodeId, now, until: now + leaseMs }).changes === 1;
  }

  async releaseJob(job: string, nodeId: string): Promise<boolean> {
    return this.st.release.run(job, nodeId).changes === 1;
  }

  async listJobLeases(): Promise<JobLease[]> {
    return (this.st.leases.all() as Record<string, unknown>[]).map(jobLease);
  }

  async sendingByNode(now: number): Promise<SendingByNode[]> {
    return (this.st.sending.all(now) as Record<string, unknown>[]).map(sendingRow);
  }
}
