/**
 * tracking/copies — a tracked message's copy for one recipient, made at delivery just
 * before DKIM signing: the tracking base (the sending domain's tracking host once the DNS
 * check saw its CNAME, else `public.base_url`), tokens signed with the current tracking key
 * (tracking/keys.ts, loaded on first use), and the MIME rewrite (tracking/rewrite.ts).
 *
 * Must never: make a link to a host that does not lead to our public endpoint, or send the
 * X-Mta-Track header on.
 */
import type { Config } from '../config/config.js';
import type { QueueEntry } from '../spool/types-queue.js';
import type { Store } from '../spool/types.js';
import { loadTrackingKeys, type TrackingKeys } from './keys.js';
import { sealToken } from './token.js';
import { rewriteMessage } from './rewrite.js';
import { CLICK_PATH, OPEN_PATH, isOwnLink } from './paths.js';
import type { TrackSetting } from './request.js';

export class TrackedCopies {
  private keys: TrackingKeys | undefined;

  constructor(private readonly config: () => Config, private readonly store: Pick<Store, 'getDomainChecks'>) {}

  /** The keys, read from the data dir on first use (and again after `reloadKeys`, e.g. on SIGHUP). */
  private get signing(): TrackingKeys {
    this.keys ??= loadTrackingKeys(this.config().dataDir);
    return this.keys;
  }

  reloadKeys(): void { this.keys = undefined; }

  /**
   * Where the links of `fromDomain`'s mail point: its tracking host when the DNS check found
   * the CNAME, else public.base_url; undefined when there is neither (links cannot be made).
   */
  async base(fromDomain: string | null): Promise<string | undefined> {
    const c = this.config();
    const publicBase = c.public.baseUrl?.replace(/\/+$/, '');
    if (!publicBase) return undefined;
    if (fromDomain && c.domains.trackingHost) {
      const checks = await this.store.getDomainChecks(fromDomain);
      if (checks.some((k) => k.name === 'tracking' && k.status === 'ok')) return `${new URL(publicBase).protocol}//${c.domains.trackingHost}.${fromDomain}`;
    }
    return publicBase;
  }

  /** The recipient's copy of `message`: its links and pixel carry tokens naming this recipient. */
  copyFor(message: Buffer, track: TrackSetting, entry: Pick<QueueEntry, 'queueId' | 'recipientId'>, base: string, sentAt = Date.now()): Promise<Buffer> {
    const keys = this.signing;
    const c = this.config();
    const token = (kind: 'o' | 'c' | 'h', extra: { link?: number; url?: string } = {}): string =>
      sealToken(keys, { kind, queueId: entry.queueId, recipientId: entry.recipientId, sentAt, ...extra });
    const bases = [base, ...(c.public.baseUrl ? [c.public.baseUrl] : [])];
    return rewriteMessage(message, {
      opens: track.opens, clicks: track.clicks, textLinks: c.tracking.textLinks,
      pixel: `${base}${OPEN_PATH}${token('o')}`,
      honeypot: `${base}${CLICK_PATH}${token('h')}`,
      click: (url, link) => `${base}${CLICK_PATH}${token('c', { link, url })}`,
      keep: (url) => isOwnLink(url, bases),
    });
  }
}
