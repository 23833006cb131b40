/**
 * spool/types-idempotency — what the send API (admin/idempotency.ts) needs from the spool:
 * the first response given to an Idempotency-Key.
 */

/** The first response the send API gave to an Idempotency-Key. */
export interface IdempotencyRecord {
  account: string;
  key: string;
  /** sha256 of the request, so the key cannot be reused for another request */
  fingerprint: string;
  status: number;
  /** the JSON body */
  response: string;
  createdAt: number;
}

export interface IdempotencyStore {
  /** The record of a key if it was saved at or after `notBefore`. */
  getIdempotency(account: string, key: string, notBefore: number): Promise<IdempotencyRecord | undefined>;
  /** Saves the first response to a key (drops records older than `expireBefore` first); false when the key was taken. */
  saveIdempotency(rec: IdempotencyRecord, expireBefore: number): Promise<boolean>;
}
