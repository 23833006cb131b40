/**
 * helpers/dkim-keys — a fresh DKIM key pair for example.com and a resolver that answers
 * mailauth's TXT lookup for it, so signing tests verify without DNS traffic.
 */
import type { DkimKey } from '../../src/delivery/dkim.js';
import { generateDkimKey } from '../../src/accounts/domains.js';

export const DOMAIN = 'example.com';
export const SELECTOR = 'mta202611';
export const NOW = new Date('2026-11-23T02:10:35Z');

export function keyFor(algorithm: 'rsa' | 'ed25519'): { key: DkimKey; txt: string } {
  const pair = generateDkimKey(algorithm);
  return {
    key: { domain: DOMAIN, selector: SELECTOR, algorithm, privateKeyPem: pair.privateKeyPem },
    txt: `v=DKIM1; k=${algorithm}; p=${pair.publicKeyDns}`,
  };
}

export function resolverFor(txt: string) {
  return async (name: string, rrtype: string): Promise<string[][]> => {
    if (rrtype === 'TXT' && name.toLowerCase() === `${SELECTOR}._domainkey.${DOMAIN}`) return [[txt]];
    throw Object.assign(new Error(`queryTxt ENOTFOUND ${name}`), { code: 'ENOTFOUND' });
  };
}
