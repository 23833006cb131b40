/**
 * tracking/token — the codec of open and click tokens: `<key id>.<payload>.<mac>`, the
 * payload base64url JSON (message, recipient, when it was sent; for a click the link's
 * index and its URL), the MAC HMAC-SHA256 over key id and payload (16 bytes, base64url).
 * Everything a hit needs is in the token, so answering one reads no database; the URL a
 * click redirects to is the one that was signed into the mail, so the endpoint cannot be
 * used as an open redirect.
 *
 * Must never: trust a payload whose MAC does not verify, or accept a token of another
 * purpose (unsubscribe tokens are another codec with another key).
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import type { QueueId, RecipientId } from '../util/ids.js';
import type { TrackingKey, TrackingKeys } from './keys.js';

/** open pixel, click, or the hidden honeypot link only machines follow */
export type TokenKind = 'o' | 'c' | 'h';

export interface TrackingToken {
  kind: TokenKind;
  queueId: QueueId;
  recipientId: RecipientId;
  /** when the message was handed to the receiving server (ms) */
  sentAt: number;
  link?: number | undefined;
  url?: string | undefined;
}

/** Longer tokens are refused before any work: a URL is at most a few kB in practice. */
export const MAX_TOKEN = 8192;
const MAC_BYTES = 16;

function mac(key: TrackingKey, signed: string): Buffer {
  return createHmac('sha256', key.key).update(`mta-track ${signed}`).digest().subarray(0, MAC_BYTES);
}

export function sealToken(keys: TrackingKeys, t: TrackingToken): string {
  const key = keys.current;
  const body = { k: t.kind, q: t.queueId, r: t.recipientId, s: Math.floor(t.sentAt / 1000), ...(t.link !== undefined ? { l: t.link } : {}), ...(t.url !== undefined ? { u: t.url } : {}) };
  const signed = `${key.id}.${Buffer.from(JSON.stringify(body), 'utf8').toString('base64url')}`;
  return `${signed}.${mac(key, signed).toString('base64url')}`;
}

/** The token's content, or undefined when it is malformed, truncated, altered or of an unknown key. */
export function openToken(keys: TrackingKeys, token: string): TrackingToken | undefined {
  if (token.length > MAX_TOKEN) return undefined;
  const m = /^([0-9a-f]{6})\.([A-Za-z0-9_-]+)\.([A-Za-z0-9_-]{22})$/.exec(token);
  if (!m) return undefined;
  const key = keys.get(m[1]!);
  if (!key) return undefined;
  const given = Buffer.from(m[3]!, 'base64url');
  // The last base64url character carries 2 bits of the MAC and 4 unused ones: a token
  // differing only there must not open (one token per hit link, nothing malleable).
  if (given.toString('base64url') !== m[3]) return undefined;
  const want = mac(key, `${m[1]}.${m[2]}`);
  if (given.length !== want.length || !timingSafeEqual(given, want)) return undefined;
  let b: Record<string, unknown>;
  try { b = JSON.parse(Buffer.from(m[2]!, 'base64url').toString('utf8')) as Record<string, unknown>; } catch { return undefined; }
  const kind = b['k'];
  if ((kind !== 'o' && kind !== 'c' && kind !== 'h') || typeof b['q'] !== 'string' || typeof b['r'] !== 'number' || typeof b['s'] !== 'number') return undefined;
  if (kind === 'c' && (typeof b['u'] !== 'string' || typeof b['l'] !== 'number')) return undefined;
  return {
    kind, queueId: b['q'] as QueueId, recipientId: b['r'] as RecipientId, sentAt: b['s'] * 1000,
    ...(typeof b['l'] === 'number' ? { link: b['l'] } : {}), ...(typeof b['u'] === 'string' ? { url: b['u'] } : {}),
  };
}
