/**
 * spool/cluster-rows — rows of the cluster tables (nodes, job_leases, the recipients'
 * claim columns) as the contract's records, shared by both backends (sqlite-cluster.ts,
 * pg-cluster.ts): the columns are named alike, listeners are JSON text, and PostgreSQL's
 * BIGINT and COUNT arrive as strings, so every number goes through Number().
 */
import type { JobLease, NodeRecord, SendingByNode } from './types-cluster.js';

/**
 * The cluster's liveness tables: written by every node's heartbeat every few seconds,
 * whatever else happens, so the audit digest (types-audit.ts) leaves them out: "nothing
 * was written" must not depend on whether a heartbeat fell in between. The throttle rows
 * (types-throttles.ts) are written by every connection and paced message: likewise.
 */
export const LIVENESS_TABLES: readonly string[] = ['nodes', 'job_leases', 'throttle_slots', 'throttle_pace'];

/** A nodes row as the contract's record (both backends keep listeners as JSON text). */
export function nodeRecord(r: Record<string, unknown>): NodeRecord {
  return {
    nodeId: String(r['node_id']), version: String(r['version']), hostname: String(r['hostname']),
    listeners: JSON.parse(String(r['listeners'])) as string[], startedAt: Number(r['started_at']), heartbeatAt: Number(r['heartbeat_at']),
  };
}

export function jobLease(r: Record<string, unknown>): JobLease {
  return { job: String(r['job']), nodeId: String(r['node_id']), since: Number(r['since']), leaseUntil: Number(r['lease_until']) };
}

export function sendingRow(r: Record<string, unknown>): SendingByNode {
  return { nodeId: r['claimed_by'] === null ? null : String(r['claimed_by']), recipients: Number(r['n']), expired: Number(r['expired'] ?? 0) };
}
