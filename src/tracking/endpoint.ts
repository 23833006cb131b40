/**
 * tracking/endpoint — the public endpoint's tracking paths:
 *
 *   GET|HEAD /o/<token>  the open pixel: a 1×1 transparent GIF
 *   GET|HEAD /c/<token>  a click: 302 to the URL signed into the token; the honeypot link
 *                        gets an empty page
 *
 * The token is verified with the tracking keys alone (no database read), so the answer
 * never waits on storage: the hit is classified (tracking/classify.ts) and stored after the
 * reply is sent. Every answer is `Cache-Control: no-store`, so each open reaches us.
 * A token that does not verify (altered, truncated, of a retired key) gets a 404 page.
 *
 * Must never: redirect anywhere but the token's own URL, or answer a bad token with a
 * redirect.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { isIPv4, isIPv6 } from 'node:net';
import type { Logger } from 'pino';
import type { Config } from '../config/config.js';
import type { Store } from '../spool/types.js';
import { loadTrackingKeys, type TrackingKeys } from './keys.js';
import { openToken, type TrackingToken } from './token.js';
import { CLICK_PATH, OPEN_PATH } from './paths.js';
import { Classifier, HONEYPOT_LINK, loadRules } from './classify.js';

/** The smallest transparent GIF (43 bytes). */
const PIXEL = Buffer.from('R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7', 'base64');
const NO_STORE = { 'cache-control': 'no-store, no-cache, must-revalidate, private, max-age=0', pragma: 'no-cache', expires: '0', 'referrer-policy': 'no-referrer' };
/** How often an unknown key id makes us read the key file again (another node may have rotated). */
const KEY_RELOAD_MS = 10_000;

export interface TrackingEndpointDeps { config: () => Config; store: Store; log: Logger }

export class TrackingEndpoint {
  private keys: TrackingKeys | undefined;
  private keysReadAt = 0;
  readonly classifier: Classifier;

  constructor(private readonly deps: TrackingEndpointDeps) {
    this.classifier = new Classifier(loadRules(deps.config().tracking.rulesFile));
  }

  handles(path: string): boolean { return path.startsWith(OPEN_PATH) || path.startsWith(CLICK_PATH); }

  /** Re-reads the keys on the next request (SIGHUP, or after a rotation). */
  reloadKeys(): void { this.keys = undefined; }

  private open(token: string): TrackingToken | undefined {
    const now = Date.now();
    if (!this.keys) { this.keys = loadTrackingKeys(this.deps.config().dataDir); this.keysReadAt = now; }
    const t = openToken(this.keys, token);
    if (t || now - this.keysReadAt < KEY_RELOAD_MS) return t;
    this.keys = loadTrackingKeys(this.deps.config().dataDir);
    this.keysReadAt = now;
    return openToken(this.keys, token);
  }

  /** Answers the request; false when the token is not valid (the caller shows its 404 page). */
  handle(req: IncomingMessage, res: ServerResponse, method: string, path: string): boolean {
    const pixel = path.startsWith(OPEN_PATH);
    const t = this.open(path.slice((pixel ? OPEN_PATH : CLICK_PATH).length));
    if (!t || (pixel ? t.kind !== 'o' : t.kind === 'o')) return false;
    if (pixel) {
      res.writeHead(200, { ...NO_STORE, 'content-type': 'image/gif', 'content-length': PIXEL.length });
      res.end(method === 'HEAD' ? undefined : PIXEL);
    } else if (t.kind === 'c') {
      res.writeHead(302, { ...NO_STORE, location: t.url!, 'content-length': 0 });
      res.end();
    } else {
      res.writeHead(200, { ...NO_STORE, 'content-type': 'text/plain; charset=utf-8', 'content-length': 0 });
      res.end();
    }
    const ua = req.headers['user-agent'];
    void this.record(t, method, req.socket.remoteAddress ?? null, typeof ua === 'string' ? ua.slice(0, 512) : null);
    return true;
  }

  private async record(t: TrackingToken, method: string, ip: string | null, userAgent: string | null): Promise<void> {
    const at = Date.now();
    const kind = t.kind === 'o' ? 'open' as const : 'click' as const;
    const link = t.kind === 'h' ? HONEYPOT_LINK : t.link;
    const clientIp = ip?.replace(/^::ffff:/, '') ?? null;
    try {
      // With tracking.privacy the stored IPs are truncated: the burst rule then compares those.
      const earlier = kind === 'click' ? await this.deps.store.trackingHitsOf(t.recipientId) : [];
      const v = this.classifier.classify({ kind, honeypot: t.kind === 'h', method, ip: clientIp, storedIp: this.deps.config().tracking.privacy ? truncateIp(clientIp) : clientIp, userAgent, at, sentAt: t.sentAt, link }, earlier);
      const c = this.deps.config().tracking;
      await this.deps.store.recordTrackingHit({
        at, kind, queueId: t.queueId, recipientId: t.recipientId, link, url: t.url, ip: c.privacy ? truncateIp(clientIp) : clientIp, userAgent, method,
        class: v.class, reason: v.reason, notify: c.webhookEveryHit ? 'every' : 'first',
      });
      if (v.alsoScanner.length > 0) await this.deps.store.reclassifyTrackingHits(v.alsoScanner, 'scanner', v.reason ?? 'scanner');
    } catch (e) {
      // The person got their page; a hit that cannot be stored is only a count missing.
      this.deps.log.error({ err: (e as Error).message, queue_id: t.queueId, kind }, 'tracking hit could not be recorded');
    }
  }
}

/** The address with its host part cut (tracking.privacy): IPv4 to /24, IPv6 to /48. */
export function truncateIp(ip: string | null): string | null {
  if (!ip) return ip;
  if (isIPv4(ip)) return ip.replace(/\.\d+$/, '.0');
  if (isIPv6(ip)) {
    const full = ip.includes('::') ? expandV6(ip) : ip.split(':');
    return `${full.slice(0, 3).join(':')}::`;
  }
  return null;
}

function expandV6(ip: string): string[] {
  const [head, tail] = ip.split('::') as [string, string];
  const h = head ? head.split(':') : [];
  const t = tail ? tail.split(':') : [];
  return [...h, ...Array<string>(8 - h.length - t.length).fill('0'), ...t];
}
