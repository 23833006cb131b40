/**
 * accounts/domains — sending domains: creation with a fresh DKIM key pair and an
 * ownership token, listing, removal, DKIM key rotation, and the DNS records the owner must
 * publish with the status of each from the last check. This is the service layer: the
 * CLI (cli/commands/domain.ts) and the admin API (admin/routes/domains.ts) both call it,
 * so both validate and answer the same way. What to publish and DNS verification live in
 * dns/; recordsFor and zoneLines stay here for the callers that know them by this name.
 */
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import type { Store } from '../spool/types.js';
import type { DkimAlgorithm, DomainCheckRecord, DomainRecord } from '../spool/types-domains.js';
import { normaliseDomain } from '../util/address.js';
import { MtaError } from '../util/errors.js';
import { proposedRecords, recordsToPublish, zoneLines, type PublishRecord, type RecordSettings } from '../dns/records.js';
import type { CheckContext } from '../dns/context.js';

export interface DkimKeyPair { privateKeyPem: string; publicKeyDns: string }

/** Generates a key; the public part is encoded as DKIM's p= wants it (RFC 6376, RFC 8463). */
export function generateDkimKey(algorithm: DkimAlgorithm): DkimKeyPair {
  if (algorithm === 'ed25519') {
    const { privateKey, publicKey } = generateKeyPairSync('ed25519');
    const spki = publicKey.export({ type: 'spki', format: 'der' });
    // RFC 8463: p= is the raw 32-byte key, the last 32 bytes of the SPKI.
    return {
      privateKeyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
      publicKeyDns: spki.subarray(spki.length - 32).toString('base64'),
    };
  }
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  return {
    privateKeyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    publicKeyDns: publicKey.export({ type: 'spki', format: 'der' }).toString('base64'),
  };
}

export function defaultSelector(now = new Date()): string {
  return `mta${now.getUTCFullYear()}${String(now.getUTCMonth() + 1).padStart(2, '0')}`;
}

export interface DnsRecord { type: 'TXT' | 'MX' | 'CNAME'; host: string; value: string; purpose: string; note?: string }

/** What recordsFor needs; the optional fields default to "not configured" (hostname for the MX). */
export interface DomainSettings extends Partial<Omit<RecordSettings, 'ownershipRecord' | 'hostname'>> { ownershipRecord: string; hostname: string }

/** The records to publish, without asking DNS (dns/records.ts has the merging version). */
export function recordsFor(d: DomainRecord, s: DomainSettings): DnsRecord[] {
  return proposedRecords(d, { ...s, sendingIps: s.sendingIps ?? [], mxHost: s.mxHost ?? s.hostname });
}

export { zoneLines };

/** A record to publish with the status of the check that covers it, from the last check. */
export interface RecordRow { type: PublishRecord['type']; host: string; value: string; purpose: string; status: string; note?: string }

export interface DkimRotation {
  domain: string;
  currentSelector: string;
  nextSelector: string;
  record: { type: 'TXT'; host: string; value: string };
}

/** One line per domain for listings: which checks fail, from the last check. */
export interface DomainSummary { domain: DomainRecord; checks: DomainCheckRecord[]; failing: string[] }

const SELECTOR_RE = /^[a-z0-9][a-z0-9-]{0,62}$/i;

export class Domains {
  constructor(private readonly store: Store) {}

  async add(name: string, opts: { algorithm: DkimAlgorithm; selector?: string | undefined }): Promise<DomainRecord> {
    const domain = normaliseDomain(name);
    if (!domain) throw new MtaError('MTA_ERR_INVALID', `"${name}" is not a valid domain name`, 'domain');
    const selector = opts.selector ?? defaultSelector();
    if (!SELECTOR_RE.test(selector)) throw new MtaError('MTA_ERR_INVALID', `"${selector}" is not a valid DKIM selector`, 'selector');
    if (await this.store.getDomain(domain)) throw new MtaError('MTA_ERR_EXISTS', `domain ${domain} exists already`, 'domain');
    const key = generateDkimKey(opts.algorithm);
    const rec: DomainRecord = {
      name: domain, dkimSelector: selector, dkimAlgorithm: opts.algorithm, dkimPrivateKey: key.privateKeyPem,
      dkimPublicKey: key.publicKeyDns, ownershipToken: randomBytes(16).toString('hex'), status: 'unverified',
      createdAt: Date.now(),
    };
    await this.store.addDomain(rec);
    return rec;
  }

  async get(name: string): Promise<DomainRecord> {
    const d = await this.store.getDomain(normaliseDomain(name) ?? name);
    if (!d) throw new MtaError('MTA_ERR_NOT_FOUND', `no domain ${name}`, 'domain');
    return d;
  }

  list(): Promise<DomainRecord[]> { return this.store.listDomains(); }

  /** Every domain with its last check results and what fails ("spf missing"). */
  async summaries(): Promise<DomainSummary[]> {
    const out: DomainSummary[] = [];
    for (const d of await this.store.listDomains()) {
      const checks = await this.store.getDomainChecks(d.name);
      out.push({ domain: d, checks, failing: checks.filter((x) => x.status !== 'ok' && x.status !== 'skipped').map((x) => `${x.name} ${x.status}`) });
    }
    return out;
  }

  /** The records to publish (merged with what DNS has unless offline), each with its last check status. */
  async records(name: string, ctx: CheckContext, opts: { offline?: boolean } = {}): Promise<{ domain: DomainRecord; records: RecordRow[]; publish: PublishRecord[]; zone: string[] }> {
    const d = await this.get(name);
    const publish = await recordsToPublish(d, ctx, { offline: !!opts.offline });
    const checks = await this.store.getDomainChecks(d.name);
    const records = publish.map((r): RecordRow => ({
      type: r.type, host: r.host, value: r.value, purpose: r.purpose,
      status: checks.find((c) => c.name === r.purpose)?.status ?? 'unchecked', ...(r.note ? { note: r.note } : {}),
    }));
    return { domain: d, records, publish, zone: zoneLines(publish) };
  }

  /**
   * Makes a new DKIM key under a new selector; it replaces the current key once its record
   * is visible in DNS (accounts/verification.ts). Default selector: mtaYYYYMM, with a
   * suffix when that is the current one.
   */
  async rotateDkim(name: string, opts: { algorithm?: DkimAlgorithm | undefined; selector?: string | undefined } = {}): Promise<DkimRotation> {
    const d = await this.get(name);
    let selector = opts.selector ?? defaultSelector();
    if (!opts.selector) for (let i = 2; selector === d.dkimSelector; i++) selector = `${defaultSelector()}-${i}`;
    if (!SELECTOR_RE.test(selector)) throw new MtaError('MTA_ERR_INVALID', `"${selector}" is not a valid DKIM selector`, 'selector');
    if (selector === d.dkimSelector) throw new MtaError('MTA_ERR_INVALID', `selector ${selector} is the current one; choose another`, 'selector');
    const algorithm = opts.algorithm ?? d.dkimAlgorithm;
    const key = generateDkimKey(algorithm);
    await this.store.setNextDkimKey(d.name, { selector, privateKey: key.privateKeyPem, publicKey: key.publicKeyDns });
    return {
      domain: d.name, currentSelector: d.dkimSelector, nextSelector: selector,
      record: { type: 'TXT', host: `${selector}._domainkey.${d.name}`, value: `v=DKIM1; k=${algorithm}; p=${key.publicKeyDns}` },
    };
  }

  async remove(name: string): Promise<void> {
    const d = await this.get(name);
    await this.store.removeDomain(d.name);
  }
}
