/**
 * mail/verp — VERP envelope senders: `bounce+<token>@<bounce subdomain>.<domain>`,
 * where the token names one message (its queue id), sealed with the server's secret so
 * a bounce can be mapped back to exactly that message and nobody can make up one that
 * maps anywhere. The token is lower-case base32 (bouncing servers may change a local
 * part's case) and 39 characters, so the local part stays far below SMTP's 64.
 *
 * Also the queue-id packing shared with the mailto unsubscribe tokens (mail/tokens.ts).
 */
import { base32Decode, base32Encode, openSiv, sealSiv, sivKeys } from '../util/secret.js';
import { parseQueueId, type QueueId } from '../util/ids.js';
import { MtaError } from '../util/errors.js';

export const VERP_PREFIX = 'bounce+';
const VERSION = 1;

const CROCKFORD = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';

/** 18 Crockford base-32 characters → 12 bytes (90 bits, 6 zero bits of padding). */
export function packQueueId(id: QueueId): Buffer {
  let n = 0n;
  for (const c of id) n = (n << 5n) | BigInt(CROCKFORD.indexOf(c));
  n <<= 6n;
  return Buffer.from(n.toString(16).padStart(24, '0'), 'hex');
}

export function unpackQueueId(b: Buffer): QueueId | undefined {
  if (b.length !== 12) return undefined;
  let n = BigInt(`0x${b.toString('hex')}`);
  if ((n & 63n) !== 0n) return undefined;
  n >>= 6n;
  let s = '';
  for (let i = 0; i < 18; i++) { s = CROCKFORD[Number(n & 31n)]! + s; n >>= 5n; }
  return parseQueueId(s);
}

const keyCache = new WeakMap<Buffer, Buffer>();
function keys(secret: Buffer): Buffer {
  let k = keyCache.get(secret);
  if (!k) { k = sivKeys(secret, `verp v${VERSION}`); keyCache.set(secret, k); }
  return k;
}

/** The token alone (what follows `bounce+`). */
export function verpToken(secret: Buffer, queueId: string): string {
  const id = parseQueueId(queueId);
  if (!id) throw new MtaError('MTA_ERR_INVALID', `not a queue id: ${queueId}`, 'queue_id');
  return base32Encode(sealSiv(keys(secret), packQueueId(id)));
}

/** The envelope sender for one message: `bounce+<token>@<bounceSubdomain>.<senderDomain>`. */
export function verpAddress(secret: Buffer, queueId: string, senderDomain: string, bounceSubdomain: string): string {
  return `${VERP_PREFIX}${verpToken(secret, queueId)}@${bounceSubdomain.toLowerCase()}.${senderDomain.toLowerCase()}`;
}

/** The message a VERP address was made for; undefined for anything else, forged or altered. */
export function parseVerp(secret: Buffer, address: string): { queueId: string } | undefined {
  const at = address.lastIndexOf('@');
  const local = (at < 0 ? address : address.slice(0, at)).trim();
  if (local.slice(0, VERP_PREFIX.length).toLowerCase() !== VERP_PREFIX) return undefined;
  const sealed = base32Decode(local.slice(VERP_PREFIX.length));
  if (!sealed) return undefined;
  const plain = openSiv(keys(secret), sealed);
  const queueId = plain ? unpackQueueId(plain) : undefined;
  return queueId ? { queueId } : undefined;
}
