/**
 * mail/tokens — the unsubscribe tokens. Both are sealed with keys derived from the
 * server's secret (util/secret.ts), so they carry no readable or guessable id and cannot
 * be made, altered or spliced to unsubscribe anybody else:
 *
 *   link   (https, `/u/<token>`): AES-256-GCM with a random nonce over
 *          queue id, sender domain and address; base64url. Self-contained: it works
 *          after the message has been purged.
 *   mailto (`unsubscribe+<token>@...`): an SMTP local part must stay within 64
 *          characters and may be case-folded, so this one is lower-case base32 of a
 *          30-byte SIV seal over the packed queue id and a 6-byte digest of
 *          (address, sender domain). The inbound listener finds the recipient among the
 *          message's recipients by that digest, so it needs the message still stored.
 */
import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';
import { base32Decode, base32Encode, deriveKey, openSiv, sealSiv, sivKeys } from '../util/secret.js';
import { packQueueId, unpackQueueId } from './verp.js';
import { parseQueueId, type QueueId } from '../util/ids.js';
import { MtaError } from '../util/errors.js';

export const MAILTO_PREFIX = 'unsubscribe+';
const LINK_VERSION = 1;

export interface UnsubscribeTarget { address: string; senderDomain: string; queueId: string }

interface Keys { link: Buffer; mailto: Buffer }
const keyCache = new WeakMap<Buffer, Keys>();
function keys(secret: Buffer): Keys {
  let k = keyCache.get(secret);
  if (!k) {
    k = { link: deriveKey(secret, 'unsubscribe link v1'), mailto: sivKeys(secret, 'unsubscribe mailto v1') };
    keyCache.set(secret, k);
  }
  return k;
}

function checkedId(queueId: string): QueueId {
  const id = parseQueueId(queueId);
  if (!id) throw new MtaError('MTA_ERR_INVALID', `not a queue id: ${queueId}`, 'queue_id');
  return id;
}

/** The token of the https link. */
export function sealLinkToken(secret: Buffer, t: UnsubscribeTarget): string {
  const plain = Buffer.from(`${checkedId(t.queueId)}\n${t.senderDomain.toLowerCase()}\n${t.address}`, 'utf8');
  const nonce = randomBytes(12);
  const c = createCipheriv('aes-256-gcm', keys(secret).link, nonce);
  c.setAAD(Buffer.from([LINK_VERSION]));
  const body = Buffer.concat([c.update(plain), c.final()]);
  return Buffer.concat([Buffer.from([LINK_VERSION]), nonce, body, c.getAuthTag()]).toString('base64url');
}

export function openLinkToken(secret: Buffer, token: string): UnsubscribeTarget | undefined {
  if (!/^[A-Za-z0-9_-]{40,2000}$/.test(token)) return undefined;
  const b = Buffer.from(token, 'base64url');
  // Canonical encoding only: otherwise the last character's unused bits give each link
  // several spellings, and "one link, one token" is easier to reason about.
  if (b.length < 1 + 12 + 16 + 1 || b[0] !== LINK_VERSION || b.toString('base64url') !== token) return undefined;
  try {
    const d = createDecipheriv('aes-256-gcm', keys(secret).link, b.subarray(1, 13));
    d.setAAD(b.subarray(0, 1));
    d.setAuthTag(b.subarray(b.length - 16));
    const plain = Buffer.concat([d.update(b.subarray(13, b.length - 16)), d.final()]).toString('utf8');
    const [queueId, senderDomain, address, ...rest] = plain.split('\n');
    if (rest.length > 0 || !queueId || !senderDomain || !address || !parseQueueId(queueId)) return undefined;
    return { queueId, senderDomain, address };
  } catch {
    return undefined; // authentication failed: altered or not ours
  }
}

/** Which (address, sender domain) a mailto token stands for, without naming either. */
export function recipientDigest(address: string, senderDomain: string): Buffer {
  return createHash('sha256').update(`${address.toLowerCase()}\n${senderDomain.toLowerCase()}`, 'utf8').digest().subarray(0, 6);
}

/** The token of the mailto address (what follows `unsubscribe+`), 48 characters. */
export function sealMailtoToken(secret: Buffer, t: UnsubscribeTarget): string {
  const plain = Buffer.concat([packQueueId(checkedId(t.queueId)), recipientDigest(t.address, t.senderDomain)]);
  return base32Encode(sealSiv(keys(secret).mailto, plain));
}

/** The message and recipient digest of an `unsubscribe+<token>@...` address (or bare token). */
export function openMailtoToken(secret: Buffer, addressOrToken: string): { queueId: QueueId; digest: Buffer } | undefined {
  const at = addressOrToken.lastIndexOf('@');
  let local = (at < 0 ? addressOrToken : addressOrToken.slice(0, at)).trim();
  if (local.slice(0, MAILTO_PREFIX.length).toLowerCase() === MAILTO_PREFIX) local = local.slice(MAILTO_PREFIX.length);
  const sealed = base32Decode(local);
  const plain = sealed ? openSiv(keys(secret).mailto, sealed) : undefined;
  if (!plain || plain.length !== 18) return undefined;
  const queueId = unpackQueueId(plain.subarray(0, 12));
  return queueId ? { queueId, digest: plain.subarray(12) } : undefined;
}
