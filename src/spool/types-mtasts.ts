/**
 * spool/types-mtasts — what MTA-STS (delivery/mta-sts.ts) needs from the spool: the last
 * policy fetched per recipient domain, so a restart keeps enforcing it (RFC 8461 §5.1: a
 * cached policy holds until its max_age runs out, whatever the DNS says meanwhile).
 */

export interface MtaStsPolicyRecord {
  /** the recipient domain (A-labels, lower case) */
  domain: string;
  /** the TXT record's id the policy was fetched for */
  id: string;
  mode: 'enforce' | 'testing' | 'none';
  /** the policy's mx patterns ("mx.example.com", "*.example.net") */
  mx: string[];
  maxAgeS: number;
  fetchedAt: number;
  /** fetchedAt + max_age: the policy is not used after this */
  expiresAt: number;
}

export interface MtaStsStore {
  mtaStsPolicy(domain: string): Promise<MtaStsPolicyRecord | undefined>;
  /** Stores (or replaces) the domain's policy. */
  saveMtaStsPolicy(p: MtaStsPolicyRecord): Promise<void>;
  /** Policies not expired at `now`, those ending first first, at most `limit` (the refresh sweep's work). */
  liveMtaStsPolicies(now: number, limit: number): Promise<MtaStsPolicyRecord[]>;
}
