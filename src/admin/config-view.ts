/**
 * admin/config-view — the running configuration as plain JSON for GET /api/v1/config (the
 * console's settings page): maps become objects, IP sets their entries as written, and
 * every secret is replaced by "[redacted]".
 *
 * Secrets are found by key (token, pass, password, secret, and the PostgreSQL url, whose
 * text may carry the password) and, anywhere else, as the user:password part of a URL.
 * Must never: print a secret's value, nor its length. Caveat: a new secret key named
 * otherwise must be added to SECRET_KEYS (test/console-api-a.test.ts feeds one of each).
 */
import { IpSet } from '../util/ipset.js';
import { redactUrl } from '../events/webhooks.js';

export const REDACTED = '[redacted]';
const SECRET_KEYS = /^(token|pass|password|secret|url)$/i;

export type JsonValue = string | number | boolean | null | JsonValue[] | { [k: string]: JsonValue };

function isSecret(key: string | undefined, value: unknown): boolean {
  return key !== undefined && SECRET_KEYS.test(key) && value !== '' && value !== undefined && value !== null;
}

/** `value` as JSON with secrets redacted; functions and undefined are left out. */
export function configView(value: unknown, key?: string): JsonValue | undefined {
  if (isSecret(key, value)) return REDACTED;
  if (value === undefined || typeof value === 'function' || typeof value === 'symbol') return undefined;
  if (value === null || typeof value === 'number' || typeof value === 'boolean') return value;
  if (typeof value === 'bigint') return String(value);
  if (typeof value === 'string') return value.includes('://') ? redactUrl(value) : value;
  if (value instanceof IpSet) return [...value.entries];
  if (Array.isArray(value)) return value.map((v) => configView(v) ?? null);
  const entries: [string, unknown][] = value instanceof Map ? [...value.entries()].map(([k, v]) => [String(k), v]) : Object.entries(value);
  const out: { [k: string]: JsonValue } = {};
  for (const [k, v] of entries) {
    const j = configView(v, k);
    if (j !== undefined) out[k] = j;
  }
  return out;
}
