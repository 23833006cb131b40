/**
 * admin/idempotency — the send API's `Idempotency-Key` header (after the IETF httpapi
 * draft): the first successful response to a key is stored for 24 hours, and a request
 * that repeats the key within that time gets the same response (with
 * `Idempotent-Replayed: true`) without sending again.
 *
 *   same key, same request, first one finished  → the stored response
 *   same key while the first is still running   → 409 (retry later)
 *   same key, another request body              → 422 MTA_ERR_IDEMPOTENCY
 *
 * Only successes are stored: a refused request may be corrected and retried with the
 * same key. Keys are per account; the API has one account today (the admin token).
 *
 * The send routes hand the key to intake (KeyRecorder), which commits it in the message's
 * own transaction: once the 200 is sent, a crash cannot lose the key and let a retry send
 * again. A handler that does not record the key gets it saved after its success, as before.
 */
import { createHash } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { IdempotencyStore } from '../spool/types-idempotency.js';
import type { IncomingMessage as SpoolMessage } from '../spool/types-queue.js';
import { MtaError } from '../util/errors.js';
import { Reply } from './router.js';

export const KEY_TTL_MS = 24 * 3600_000;
export const ACCOUNT = 'default';
const HEADER = 'idempotency-key';

export function fingerprint(...parts: (string | Buffer)[]): string {
  const h = createHash('sha256');
  for (const p of parts) { h.update(p); h.update('\0'); }
  return h.digest('hex');
}

/** The key of a request, if it has one; a malformed key is a 400. */
export function idempotencyKey(req: IncomingMessage): string | undefined {
  const v = req.headers[HEADER];
  if (v === undefined) return undefined;
  const key = Array.isArray(v) ? v.join(',') : v;
  if (!/^[\x21-\x7e]{1,255}$/.test(key)) throw new MtaError('MTA_ERR_INVALID', 'Idempotency-Key must be 1 to 255 visible ASCII characters', 'Idempotency-Key');
  return key;
}

/** Makes the key's record for a response; called by intake just before the message's commit. */
export type KeyRecorder = (status: number, body: unknown) => NonNullable<SpoolMessage['idempotency']>;

export class Idempotency {
  private readonly running = new Set<string>();

  constructor(private readonly store: IdempotencyStore, private readonly now: () => number = Date.now) {}

  /** Runs `fn` once per key; `print` is the request's fingerprint. */
  async run(key: string | undefined, print: string, fn: (record: KeyRecorder | undefined) => Promise<Reply>): Promise<Reply> {
    if (key === undefined) return fn(undefined);
    const seen = await this.store.getIdempotency(ACCOUNT, key, this.now() - KEY_TTL_MS);
    if (seen) {
      if (seen.fingerprint !== print) throw new MtaError('MTA_ERR_IDEMPOTENCY', 'this Idempotency-Key was used for a different request in the last 24 hours', 'Idempotency-Key');
      return new Reply(seen.status, JSON.parse(seen.response) as unknown, { 'idempotent-replayed': 'true' });
    }
    if (this.running.has(key)) throw new MtaError('MTA_ERR_STATE', 'a request with this Idempotency-Key is still being processed; retry shortly', 'Idempotency-Key');
    this.running.add(key);
    let recorded = false;
    const record: KeyRecorder = (status, body) => {
      recorded = true;
      const t = this.now();
      return { record: { account: ACCOUNT, key, fingerprint: print, status, response: JSON.stringify(body), createdAt: t }, expireBefore: t - KEY_TTL_MS };
    };
    try {
      const reply = await fn(record);
      // Recorded means committed with the message (a failed commit never gets here as a success).
      if (!recorded && reply.status >= 200 && reply.status < 300) {
        const t = this.now();
        await this.store.saveIdempotency({ account: ACCOUNT, key, fingerprint: print, status: reply.status, response: JSON.stringify(reply.body), createdAt: t }, t - KEY_TTL_MS);
      }
      return reply;
    } finally {
      this.running.delete(key);
    }
  }
}
