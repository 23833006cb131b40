/**
 * spool/pg-cluster — the cluster port on PostgreSQL (contract: types-cluster.ts), answered
 * as SQLite's (sqlite-cluster.ts): node heartbeats as upserts of the `nodes` row, and job
 * leases taken with one `INSERT ... ON CONFLICT DO UPDATE ... WHERE` that succeeds only when
 * the job is free, its lease ran out, or the caller holds it. PostgreSQL locks the
 * conflicting row and checks the WHERE on its latest version, so among nodes racing for one
 * job exactly one gets it. Must never: decide who should lead or when a node is dead
 * (util/cluster-jobs.ts, daemon/cluster.ts).
 */
import type { PgPool } from './pg-pool.js';
import type { ClusterStore, JobLease, NodeInfo, NodeRecord, SendingByNode } from './types-cluster.js';
import { jobLease, nodeRecord, sendingRow } from './cluster-rows.js';

export class PgCluster implements ClusterStore {
  constructor(private readonly pool: PgPool) {}

  async heartbeat(nodeId: string, info: NodeInfo, now: number): Promise<void> {
    await this.pool.query(
      `INSERT INTO nodes (node_id, version, hostname, listeners, started_at, heartbeat_at) VALUES ($1, $2, $3, $4, $5, $6)
       ON CONFLICT (node_id) DO UPDATE SET version = excluded.version, hostname = excluded.hostname, listeners = excluded.listeners,
       started_at = excluded.started_at, heartbeat_at = excluded.heartbeat_at`,
      [nodeId, info.version, info.hostname, JSON.stringify(info.listeners), info.startedAt, now],
    );
  }

  async listNodes(): Promise<NodeRecord[]> {
    const { rows } = await this.pool.query('SELECT * FROM nodes ORDER BY node_id COLLATE "C"');
    return rows.map(nodeRecord);
  }

  async tryLeadJob(job: string, nodeId: string, now: number, leaseMs: number): Promise<boolean> {
    const r = await this.pool.query(
      `INSERT INTO job_leases (job, node_id, since, lease_until) VALUES ($1, $2, $3, $4)
       ON CONFLICT (job) DO UPDATE SET
         since = CASE WHEN job_leases.node_id = excluded.node_id THEN job_leases.since ELSE excluded.since END,
         node_id = excluded.node_id, lease_until = excluded.lease_until
       WHERE job_leases.node_id = excluded.node_id OR job_leases.lease_until <= excluded.since`,
      [job, nodeId, now, now + leaseMs],
    );
    return r.rowCount === 1;
  }

  async releaseJob(job: string, nodeId: string): Promise<boolean> {
    return ((await this.pool.query('DELETE FROM job_leases WHERE job = $1 AND node_id = $2', [job, nodeId])).rowCount ?? 0) === 1;
  }

  async listJobLeases(): Promise<JobLease[]> {
    return (await this.pool.query('SELECT * FROM job_leases ORDER BY job')).rows.map(jobLease);
  }

  async sendingByNode(now: number): Promise<SendingByNode[]> {
    const { rows } = await this.pool.query(
      `SELECT claimed_by, COUNT(*) AS n, SUM(CASE WHEN lease_until <= $1 THEN 1 ELSE 0 END) AS expired
       FROM recipients WHERE state = 'sending' GROUP BY claimed_by ORDER BY claimed_by COLLATE "C" NULLS FIRST`, [now]);
    return rows.map(sendingRow);
  }
}
