/**
 * spool/types-domains — what sending domains (src/accounts, src/dns) need from the spool:
 * the domain rows with their DKIM keys, the DNS check results and the domain events.
 */

export type DkimAlgorithm = 'rsa' | 'ed25519';

export type DomainStatus = 'unverified' | 'verified';

export interface DomainRecord {
  name: string;
  dkimSelector: string;
  dkimAlgorithm: DkimAlgorithm;
  dkimPrivateKey: string;
  dkimPublicKey: string;
  ownershipToken: string;
  status: string;
  createdAt: number;
  checkedAt?: number | null;
  /** a rotated key waiting for its DNS record before it replaces the current one */
  nextDkim?: { selector: string; privateKey: string; publicKey: string } | null;
}

export type DomainCheckName = 'ownership' | 'spf' | 'dkim' | 'dmarc' | 'mx' | 'tracking' | 'ptr' | 'hostname' | 'mta-sts' | 'tls-rpt';
export type DomainCheckStatus = 'ok' | 'missing' | 'mismatch' | 'error' | 'skipped';

export interface DomainCheckRecord {
  domain: string;
  name: DomainCheckName;
  status: DomainCheckStatus;
  expected: string | null;
  found: string | null;
  /** one line: the DNS error, or advice */
  detail: string | null;
  checkedAt: number;
}

/** Events that concern a domain rather than a message (domain.dns_error, domain.verified, ...). */
export interface DomainEvent { at: number; type: string; domain: string; detail: Record<string, unknown> }

export interface DomainStore {
  addDomain(d: DomainRecord): Promise<void>;
  getDomain(name: string): Promise<DomainRecord | undefined>;
  listDomains(): Promise<DomainRecord[]>;
  removeDomain(name: string): Promise<boolean>;
  /** Replaces the domain's check results, sets its status, and appends the events, in one transaction. */
  saveDomainChecks(domain: string, checks: readonly DomainCheckRecord[], status: DomainStatus, events: readonly DomainEvent[]): Promise<void>;
  getDomainChecks(domain: string): Promise<DomainCheckRecord[]>;
  listDomainEvents(filter: { domain?: string; since?: number; limit?: number }): Promise<DomainEvent[]>;
  /** Stores (or clears, with null) the key waiting to replace the current DKIM key. */
  setNextDkimKey(domain: string, next: { selector: string; privateKey: string; publicKey: string } | null): Promise<void>;
  /** The waiting key becomes the signing key; returns the old selector. */
  promoteNextDkimKey(domain: string): Promise<string | undefined>;
}
