/**
 * spool/types-cluster — what the nodes sharing one store know of each other (issue 19):
 * each node's heartbeat (who it is, what it runs, when it was last seen), named job leases
 * that let exactly one node at a time run a periodic job (DNS re-check, retention purge,
 * ...), and the recipients each node holds in delivery, read from the claims' own leases
 * (types-leases.ts). With SQLite there is one node, which always leads.
 *
 * Holds no rules: when a node counts as alive, which jobs exist and how long a lease lasts
 * are the daemon's (util/cluster-jobs.ts, daemon/cluster.ts). A backend must never let two nodes
 * hold one job's unexpired lease.
 */

/** What a node says about itself at each heartbeat. */
export interface NodeInfo {
  /** the program's version (nodes of a cluster may be upgraded one at a time) */
  version: string;
  hostname: string;
  /** what it listens on, e.g. "smtp 0.0.0.0:587", "admin 127.0.0.1:8025" */
  listeners: readonly string[];
  /** when this process started, ms since epoch */
  startedAt: number;
}

export interface NodeRecord extends NodeInfo {
  nodeId: string;
  /** the last heartbeat, ms since epoch */
  heartbeatAt: number;
}

/** One job's lease: the node that runs it now. */
export interface JobLease {
  job: string;
  nodeId: string;
  /** when this node took the job (renewals keep it) */
  since: number;
  /** the lease runs out at this time unless renewed; after it another node may take the job */
  leaseUntil: number;
}

/** Recipients in 'sending' held by one node (null: claims made before leases recorded a node). */
export interface SendingByNode {
  nodeId: string | null;
  recipients: number;
  /** of those, the ones whose lease ran out (the node died or stalled): any node takes them back */
  expired: number;
}

export interface ClusterStore {
  /** Records that `nodeId` is alive at `now`, with what it says about itself (a first heartbeat registers it). */
  heartbeat(nodeId: string, info: NodeInfo, now: number): Promise<void>;
  /** Every node that ever beat, by node id. */
  listNodes(): Promise<NodeRecord[]>;
  /**
   * Takes or renews `job` for `nodeId` until `now` + `leaseMs`, atomically: true when the job
   * was free, its lease had run out (lease_until <= now), or `nodeId` held it already; false
   * when another node holds an unexpired lease (nothing changes then).
   */
  tryLeadJob(job: string, nodeId: string, now: number, leaseMs: number): Promise<boolean>;
  /** Gives `job` up if `nodeId` holds it (at stop: another node takes over at once); whether it did. */
  releaseJob(job: string, nodeId: string): Promise<boolean>;
  /** Every job lease, expired ones included, by job name. */
  listJobLeases(): Promise<JobLease[]>;
  /** Recipients in 'sending' per claiming node, by node id; `now` tells which leases ran out. */
  sendingByNode(now: number): Promise<SendingByNode[]>;
}
