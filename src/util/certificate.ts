/**
 * util/certificate — what a PEM certificate file says about its own end: when it stops
 * being valid and how many whole days are left. Read from disk each time (a renewal shows
 * at once, before the daemon reloads it). Must never: throw for an unreadable or malformed
 * file; that is reported as `error` so a status page still renders.
 */
import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';

const DAY_MS = 86_400_000;

export interface CertificateEnd {
  path: string;
  /** ISO 8601; null when the file cannot be read as a certificate */
  valid_to: string | null;
  /** whole days until valid_to (negative once expired); null with error */
  days_left: number | null;
  error: string | null;
}

export function certificateEnd(path: string, now = Date.now()): CertificateEnd {
  try {
    const end = Date.parse(new X509Certificate(readFileSync(path)).validTo);
    return { path, valid_to: new Date(end).toISOString(), days_left: Math.floor((end - now) / DAY_MS), error: null };
  } catch (e) {
    return { path, valid_to: null, days_left: null, error: (e as Error).message };
  }
}
