/**
 * suppression — the invalid-address list. Entries come from hard bounces, complaints,
 * unsubscribes or an operator; each has a reason, a source and a time. Scope '' applies
 * to every sender; a domain scope only to mail from that domain (unsubscribe).
 */
import type { Store } from '../spool/types.js';
import type { RecipientRefusal, SuppressionFilter, SuppressionRecord, SuppressionSource } from '../spool/types-suppression.js';
import { canonicalAddress, normaliseDomain } from '../util/address.js';
import { MtaError } from '../util/errors.js';

/**
 * What an operator needs about an entry that refused a recipient, for the 559 log line and
 * `mta log --rcpt`: which entry (reason, source, scope, since when) and how to remove it.
 */
export function suppressionFacts(r: SuppressionRecord): Record<string, string> {
  return {
    suppression: r.reason, source: r.source, scope: r.scope === '' ? 'all' : r.scope,
    suppressed_at: new Date(r.createdAt).toISOString(),
    remove: `mta suppression remove ${r.address}${r.scope === '' ? '' : ` --scope ${r.scope}`}`,
  };
}

/** The same, as one line of text. */
export function suppressionNote(r: SuppressionRecord): string {
  const f = suppressionFacts(r);
  return `${r.address} is on the suppression list (scope ${f['scope']}, source ${f['source']}, since ${f['suppressed_at']}): ${f['suppression']}; remove with "${f['remove']}"`;
}

export class Suppression {
  constructor(private readonly store: Store) {}

  async add(address: string, opts: { reason?: string | undefined; source?: SuppressionSource; scope?: string | undefined } = {}): Promise<{ record: SuppressionRecord; added: boolean }> {
    const a = canonicalAddress(address);
    if (!a) throw new MtaError('MTA_ERR_INVALID', `"${address}" is not a valid address`, 'address');
    let scope = '';
    if (opts.scope) {
      const d = normaliseDomain(opts.scope);
      if (!d) throw new MtaError('MTA_ERR_INVALID', `"${opts.scope}" is not a valid domain`, 'scope');
      scope = d;
    }
    const record: SuppressionRecord = {
      address: a, scope, reason: opts.reason ?? 'added by operator', source: opts.source ?? 'manual', createdAt: Date.now(),
    };
    const added = await this.store.addSuppression(record);
    return { record, added };
  }

  async remove(address: string, scope?: string): Promise<number> {
    const a = canonicalAddress(address);
    if (!a) throw new MtaError('MTA_ERR_INVALID', `"${address}" is not a valid address`, 'address');
    const n = await this.store.removeSuppression(a, scope === undefined ? undefined : (normaliseDomain(scope) ?? scope));
    if (n === 0) throw new MtaError('MTA_ERR_NOT_FOUND', `${a} is not on the suppression list`, 'address');
    return n;
  }

  list(filter: SuppressionFilter = {}): Promise<SuppressionRecord[]> {
    return this.store.listSuppressions(filter);
  }

  /**
   * Records a suppressed recipient's refusal (its `rejected` event). Never fails the
   * refusal itself: a spool that cannot write now is reported to `onError` and the 559 stands.
   */
  async refused(r: RecipientRefusal, onError: (e: Error) => void): Promise<void> {
    await this.store.recordRefusal(r).catch((e: unknown) => onError(e as Error));
  }

  /** Every entry of one address, whatever its scope. */
  async entriesOf(address: string): Promise<SuppressionRecord[]> {
    const a = canonicalAddress(address);
    if (!a) return [];
    return (await this.store.listSuppressions({ search: a })).filter((r) => r.address === a);
  }

  check(rcpt: string, senderDomain: string): Promise<SuppressionRecord | undefined> {
    const a = canonicalAddress(rcpt);
    return a ? this.store.isSuppressed(a, senderDomain) : Promise.resolve(undefined);
  }
}
