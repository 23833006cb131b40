/**
 * feedback/reference — the signed reference header every outgoing message carries,
 * `X-Mta-Ref: <token>`, so a complaint (ARF report, feedback/arf.ts) maps back to the
 * message and, when the SMTP transaction had a single recipient, to that recipient, even
 * when the provider redacts `To:` and the VERP envelope sender is lost. The token is a SIV
 * seal (util/secret.ts: HMAC-SHA256 tag, AES-CTR) over the packed queue id and recipient
 * id, keyed from `<data_dir>/secret.key`: it names nothing readable, and nobody without the
 * key can make one that maps anywhere.
 *
 * The header is put on the wire between the DKIM signature (which does not cover it) and the
 * stored message; the stored message is never changed.
 * Never throws for a token from outside: one that does not open is undefined.
 */
import { base32Decode, base32Encode, loadSecret, openSiv, sealSiv, sivKeys } from '../util/secret.js';
import { packQueueId, unpackQueueId } from '../mail/verp.js';
import { parseQueueId, type QueueId } from '../util/ids.js';

export const REF_HEADER = 'X-Mta-Ref';
/** Recipient ids are SQLite row ids: 6 bytes hold 2^48 of them; 0 means "the message only". */
const RCPT_BYTES = 6;

const keyCache = new WeakMap<Buffer, Buffer>();
function keys(secret: Buffer): Buffer {
  let k = keyCache.get(secret);
  if (!k) { k = sivKeys(secret, 'feedback reference v1'); keyCache.set(secret, k); }
  return k;
}

export interface Reference { queueId: QueueId; recipientId: number | undefined }

export function referenceToken(secret: Buffer, queueId: QueueId, recipientId?: number): string {
  const rcpt = Buffer.alloc(RCPT_BYTES);
  rcpt.writeUIntBE(recipientId ?? 0, 0, RCPT_BYTES);
  return base32Encode(sealSiv(keys(secret), Buffer.concat([packQueueId(queueId), rcpt])));
}

/** What a reference names; undefined for anything not sealed with this key. */
export function openReference(secret: Buffer, token: string): Reference | undefined {
  const sealed = base32Decode(token.trim().toLowerCase());
  const plain = sealed ? openSiv(keys(secret), sealed) : undefined;
  if (!plain || plain.length !== 12 + RCPT_BYTES) return undefined;
  const queueId = unpackQueueId(plain.subarray(0, 12));
  const id = plain.readUIntBE(12, RCPT_BYTES);
  return queueId && parseQueueId(queueId) ? { queueId, recipientId: id === 0 ? undefined : id } : undefined;
}

/**
 * Stamps outgoing messages for delivery/agent.ts. The key is read from the data directory
 * on first use (the daemon created it at start); without it mail goes out unstamped rather
 * than not at all.
 */
export class ReferenceStamp {
  private secret: Buffer | null | undefined;

  constructor(private readonly dataDir: string, private readonly onError: (e: Error) => void) {}

  /** The header line (CRLF-terminated), or '' when there is no key. */
  header(queueId: QueueId, recipientId: number | undefined): string {
    if (this.secret === undefined) {
      try { this.secret = loadSecret(this.dataDir); } catch (e) { this.secret = null; this.onError(e as Error); }
    }
    return this.secret ? `${REF_HEADER}: ${referenceToken(this.secret, queueId, recipientId)}\r\n` : '';
  }
}
