/**
 * admin/auth — who may call the admin API, decided before anything else is looked at
 * (so a stranger cannot even learn which paths exist):
 *
 *   1. `admin.allowed_ips` (when not empty): other client IPs get 403, on every path.
 *   2. Public routes (/healthz; /metrics with `admin.metrics_public`) stop here.
 *   3. What a browser sends for a web page: a foreign Host, a cross-site Origin → 403
 *      (admin/browser.ts).
 *   4. The token — `admin.token`, or the one generated in the data dir when that is empty
 *      (admin/token.ts): there is no token-less mode, not even on loopback, since any web
 *      page can reach loopback. No `Authorization: Bearer` header → 401; a wrong token →
 *      403. The comparison is over SHA-256 digests with timingSafeEqual, so neither the
 *      token's content nor its length leaks through timing.
 *
 * The send API's own IP rule (`smtp.allowed_ips`, as for SMTP) is checked by the send
 * routes, after this.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { Config } from '../config/config.js';
import { MtaError } from '../util/errors.js';
import type { Access } from './router.js';

export function isLoopback(addr: string | undefined): boolean {
  if (!addr) return false;
  const a = addr.toLowerCase();
  return a === '::1' || /^127\.\d+\.\d+\.\d+$/.test(a) || /^::ffff:127\.\d+\.\d+\.\d+$/.test(a);
}

/** Compares digests, so neither the token's length nor its content leaks through timing. */
export function tokenMatches(given: string, expected: string): boolean {
  const h = (s: string): Buffer => createHash('sha256').update(s, 'utf8').digest();
  return timingSafeEqual(h(given), h(expected));
}

/** Rule 1: `admin.allowed_ips`. Throws MTA_ERR_FORBIDDEN (403). */
export function checkAllowlist(ip: string | undefined, admin: Config['admin']): void {
  if (!admin.allowedIps.empty && !(ip && admin.allowedIps.has(ip))) {
    throw new MtaError('MTA_ERR_FORBIDDEN', `client ${ip ?? '?'} is not in admin.allowed_ips`);
  }
}

/** Whether a route needs nothing more than the allowlist (rule 2). */
export function isPublic(access: Access, admin: Config['admin']): boolean {
  return access === 'public' || (access === 'metrics' && admin.metricsPublic);
}

/** Rule 4: the token. Throws MTA_ERR_AUTH (401) or MTA_ERR_FORBIDDEN (403). */
export function checkToken(authorization: string | undefined, token: string): void {
  // An empty expected token would match an empty bearer: never serve without one.
  if (!token) throw new MtaError('MTA_ERR_INTERNAL', 'the admin API has no token');
  const m = /^Bearer\s+(\S+)\s*$/i.exec(authorization ?? '');
  if (!m) throw new MtaError('MTA_ERR_AUTH', 'missing admin token (Authorization: Bearer <token>; the token is admin.token, or the data directory\'s admin.token file when that is not set)');
  if (!tokenMatches(m[1]!, token)) throw new MtaError('MTA_ERR_FORBIDDEN', 'wrong admin token');
}
