/**
 * spool/types-leases — the contract of leased claims. Several nodes (processes) may share one
 * store: a recipient `claimDue` hands out is the claiming node's until its lease runs out,
 * and the node keeps renewing it while the delivery is on its way. A claim whose lease ran
 * out may be taken by another node; the first claimer's late outcome or hand-back is then
 * not recorded (it would overwrite the new claimer's). Start-up recovery takes back only
 * this node's own claims and expired ones; another node's live claims are left alone.
 * Webhook outbox claims work the same way, with the lease the dispatcher asks for.
 *
 * Holds no code beyond the defaults; a backend must never let two claimers hold one row.
 */

/** What a node id may look like (config and the node-id file): it appears in logs and event details. */
export const NODE_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

/** How long a recipient's claim holds without renewal. */
export const CLAIM_LEASE_MS = 5 * 60_000;
/** How often a node renews the claims it holds: well inside the lease, so a slow renewal or two cost nothing. */
export const CLAIM_RENEW_MS = 60_000;

/**
 * Tests shorten the claim lease (test/pg-cluster-kill.test.ts kills a node and waits for its
 * claims to run out: five minutes is too long to wait for), with the renewal interval
 * (scheduler.ts TEST_RENEW_ENV) well inside it. Never set in production.
 */
export const TEST_LEASE_ENV = 'MTA_TEST_CLAIM_LEASE_MS';

/** The lease a store gives its claims: CLAIM_LEASE_MS, or the test's MTA_TEST_CLAIM_LEASE_MS. */
export function claimLeaseMs(): number {
  return Number(process.env[TEST_LEASE_ENV]) || CLAIM_LEASE_MS;
}

export interface LeaseStore {
  /** The name this store claims under (`storage.node_id`, or the data dir's `node-id` file). */
  readonly nodeId: string;
  /** Extends to `now` + claimLeaseMs() the lease of every recipient this node holds ('sending'); returns how many. */
  renewClaims(now: number): Promise<number>;
}
