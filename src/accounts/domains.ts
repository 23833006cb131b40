/**
 * accounts/domains — sending domains: creation with a fresh DKIM key pair and an
 * ownership token, listing, removal, and the DNS records the owner must publish.
 * What to publish and DNS verification live in dns/; recordsFor and zoneLines stay
 * here for the callers that know them by this name.
 */
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import type { Store, DomainRecord, DkimAlgorithm } from '../spool/types.js';
import { normaliseDomain } from '../util/address.js';
import { MtaError } from '../util/errors.js';
import { proposedRecords, zoneLines, type RecordSettings } from '../dns/records.js';

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

export class Domains {
  constructor(private readonly store: Store) {}

  async add(name: string, opts: { algorithm: DkimAlgorithm; selector?: string | undefined }): Promise<DomainRecord> {
    const domain = normaliseDomain(name);
    if (!domain) throw new MtaError('MTA_ERR_INVALID', `"${name}" is not a valid domain name`, 'domain');
    const selector = opts.selector ?? defaultSelector();
    if (!/^[a-z0-9][a-z0-9-]{0,62}$/i.test(selector)) throw new MtaError('MTA_ERR_INVALID', `"${selector}" is not a valid DKIM selector`, 'selector');
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

  async remove(name: string): Promise<void> {
    const d = await this.get(name);
    await this.store.removeDomain(d.name);
  }
}
