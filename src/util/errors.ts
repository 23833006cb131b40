/**
 * errors — where most modules import the coded errors from. The catalogue itself (codes,
 * texts, HTTP statuses, SMTP replies, retryable) is mail/errors.ts; this module re-exports
 * it so the many `util/errors.js` imports keep working, and holds the mail-agnostic
 * `assertNever`.
 */
export { CATALOGUE, ERRORS, RETRYABLE, MtaError, errorEntry, isMtaError, isRetryable, type ErrorCode, type ErrorEntry } from '../mail/errors.js';

export function assertNever(x: never, what = 'value'): never {
  throw new Error(`unexpected ${what}: ${JSON.stringify(x)}`);
}
