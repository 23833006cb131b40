/**
 * accounts/reply-to-token — the codec of reply-to verification links: `<payload>.<mac>`,
 * the payload base64url JSON (sender, address to verify, the send's random nonce, when the
 * link runs out), the MAC HMAC-SHA256 over the payload (16 bytes, base64url) under a key
 * derived from the server's secret for this one purpose (util/secret.ts), so no other
 * token of ours (unsubscribe, tracking) opens as one of these, nor these as them.
 *
 * The signature makes a link unforgeable and its expiry untamperable without a database
 * read; single use is the spool's part (the nonce must still be the sender's pending one).
 * Must never: return a payload whose MAC does not verify, or accept a second spelling of
 * a token (the canonical base64url only).
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { cachedKey, deriveKey } from '../util/secret.js';

export interface ReplyToToken {
  sender: string;
  address: string;
  nonce: string;
  /** ms since the epoch, a whole second (the token carries seconds) */
  expiresAt: number;
}

const MAC_BYTES = 16;
/** A link of a few hundred characters; anything far longer is refused before any work. */
const MAX_TOKEN = 2048;

const keyOf = cachedKey((secret) => deriveKey(secret, 'reply-to verification v1'));

function mac(secret: Buffer, payload: string): Buffer {
  return createHmac('sha256', keyOf(secret)).update(`mta-reply-to ${payload}`).digest().subarray(0, MAC_BYTES);
}

export function sealReplyToToken(secret: Buffer, t: ReplyToToken): string {
  const body = { s: t.sender, a: t.address, n: t.nonce, e: Math.floor(t.expiresAt / 1000) };
  const payload = Buffer.from(JSON.stringify(body), 'utf8').toString('base64url');
  return `${payload}.${mac(secret, payload).toString('base64url')}`;
}

/** The token's content, or undefined when it is malformed, cut short or altered (its expiry is the caller's to judge). */
export function openReplyToToken(secret: Buffer, token: string): ReplyToToken | undefined {
  if (token.length > MAX_TOKEN) return undefined;
  const m = /^([A-Za-z0-9_-]+)\.([A-Za-z0-9_-]{22})$/.exec(token);
  if (!m) return undefined;
  const given = Buffer.from(m[2]!, 'base64url');
  if (given.toString('base64url') !== m[2]) return undefined;
  const want = mac(secret, m[1]!);
  if (given.length !== want.length || !timingSafeEqual(given, want)) return undefined;
  let b: Record<string, unknown>;
  try { b = JSON.parse(Buffer.from(m[1]!, 'base64url').toString('utf8')) as Record<string, unknown>; } catch { return undefined; }
  const { s, a, n, e } = b;
  if (typeof s !== 'string' || typeof a !== 'string' || typeof n !== 'string' || typeof e !== 'number' || !Number.isInteger(e)) return undefined;
  return { sender: s, address: a, nonce: n, expiresAt: e * 1000 };
}
