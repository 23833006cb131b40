/**
 * public/unsubscribe — turning a verified unsubscribe token into a suppression entry
 * scoped to the sender domain, a history event and an `unsubscribe` webhook (one spool
 * transaction: InboundStore.recordUnsubscribe). Shared by the public endpoint (link and
 * RFC 8058 one-click POST) and the inbound listener (mailto).
 *
 * Nothing here trusts the request beyond the token: the address and domain come out of
 * the sealed token (link) or out of the stored message, matched by the sealed digest
 * (mailto), never from a form field or a From header.
 */
import type { Logger } from 'pino';
import type { Store } from '../spool/types.js';
import type { UnsubscribeMethod } from '../spool/types-inbound.js';
import { canonicalAddress, domainOf, normaliseDomain } from '../util/address.js';
import { openLinkToken, openMailtoToken, recipientDigest, type UnsubscribeTarget } from '../mail/tokens.js';
import { VERP_PREFIX } from '../mail/verp.js';

export interface UnsubscribeOutcome { target: UnsubscribeTarget; added: boolean }

export class Unsubscriber {
  constructor(private readonly store: Store, private readonly secret: Buffer, private readonly log: Logger) {}

  /** The target of a link token, or undefined when it is not one of ours. Reads nothing, changes nothing. */
  inspect(token: string): UnsubscribeTarget | undefined {
    const t = openLinkToken(this.secret, token);
    if (!t) return undefined;
    const address = canonicalAddress(t.address);
    const senderDomain = normaliseDomain(t.senderDomain);
    return address && senderDomain ? { ...t, address, senderDomain } : undefined;
  }

  async byLink(token: string, method: Extract<UnsubscribeMethod, 'link' | 'one-click'>): Promise<UnsubscribeOutcome | undefined> {
    const target = this.inspect(token);
    return target ? this.apply(target, method) : undefined;
  }

  /** Whether an `unsubscribe+<token>@...` address carries a token of ours (no lookup). */
  verifies(address: string): boolean {
    return openMailtoToken(this.secret, address) !== undefined;
  }

  /**
   * The target of an `unsubscribe+<token>@<domain>` recipient, found among the stored
   * message's recipients; undefined when the token is not ours or the message is gone.
   */
  async resolveMailto(address: string): Promise<UnsubscribeTarget | undefined> {
    const opened = openMailtoToken(this.secret, address);
    if (!opened) return undefined;
    const msg = await this.store.getMessage(opened.queueId);
    if (!msg) return undefined;
    // The sender domain the token was made for: the message's sender domain (its VERP
    // bounce domain without the first label), or the domain the mailto went to.
    const domains = new Set<string>();
    const add = (d: string): void => { const n = normaliseDomain(d); if (n) domains.add(n); };
    const senderDomain = domainOf(msg.sender);
    add(senderDomain);
    const strip = (d: string): string => d.slice(d.indexOf('.') + 1);
    if (msg.sender.toLowerCase().startsWith(VERP_PREFIX)) add(strip(senderDomain));
    add(domainOf(address));
    add(strip(domainOf(address)));
    for (const r of msg.recipients) {
      const rcpt = canonicalAddress(r.rcpt);
      if (!rcpt) continue;
      for (const d of domains) {
        if (recipientDigest(rcpt, d).equals(opened.digest)) return { address: rcpt, senderDomain: d, queueId: opened.queueId };
      }
    }
    return undefined;
  }

  async apply(target: UnsubscribeTarget, method: UnsubscribeMethod): Promise<UnsubscribeOutcome> {
    const { added } = await this.store.recordUnsubscribe({ ...target, method, at: Date.now() });
    this.log.info({ rcpt: target.address, domain: target.senderDomain, queue_id: target.queueId, method, added }, added ? 'unsubscribed' : 'unsubscribe repeated (already suppressed)');
    return { target, added };
  }
}

/** "jane.doe@example.com" → "j******e@example.com": enough for its owner to recognise, little for a passer-by. */
export function maskAddress(address: string): string {
  const at = address.lastIndexOf('@');
  const local = address.slice(0, at);
  const masked = local.length <= 2 ? `${local[0] ?? ''}*` : `${local[0]}${'*'.repeat(Math.min(local.length - 2, 8))}${local[local.length - 1]}`;
  return `${masked}@${address.slice(at + 1)}`;
}
