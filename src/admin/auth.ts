/**
 * admin/auth — who may call the admin API, decided before anything else is looked at
 * (so a stranger cannot even learn which paths exist):
 *
 *   1. `admin.allowed_ips` (when not empty): other client IPs get 403, on every path.
 *   2. Public routes (/healthz; /metrics with `admin.metrics_public`) stop here.
 *   3. With `admin.token` set: no `Authorization: Bearer` header → 401; a wrong token → 403.
 *      The comparison is over SHA-256 digests with timingSafeEqual, so neither the
 *      token's content nor its length leaks through timing.
 *   4. With no token (development): loopback clients only; others get 403.
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

export interface ClientInfo { ip: string | undefined; authorization: string | undefined }

/** Rule 1: `admin.allowed_ips`. Throws MTA_ERR_FORBIDDEN (403). */
export function checkAllowlist(ip: string | undefined, admin: Config['admin']): void {
  if (!admin.allowedIps.empty && !(ip && admin.allowedIps.has(ip))) {
    throw new MtaError('MTA_ERR_FORBIDDEN', `client ${ip ?? '?'} is not in admin.allowed_ips`);
  }
}

/** Rules 2-4: the token, or loopback without one. Throws MTA_ERR_AUTH (401) or MTA_ERR_FORBIDDEN (403). */
export function checkToken(client: ClientInfo, admin: Config['admin'], access: Access): void {
  if (access === 'public' || (access === 'metrics' && admin.metricsPublic)) return;
  if (!admin.token) {
    if (isLoopback(client.ip)) return;
    throw new MtaError('MTA_ERR_FORBIDDEN', 'admin.token is not set, so the admin API only serves loopback clients; set admin.token (or admin.token_file) to use it from elsewhere');
  }
  const m = /^Bearer\s+(\S+)\s*$/i.exec(client.authorization ?? '');
  if (!m) throw new MtaError('MTA_ERR_AUTH', 'missing admin token (Authorization: Bearer <admin.token>)');
  if (!tokenMatches(m[1]!, admin.token)) throw new MtaError('MTA_ERR_FORBIDDEN', 'wrong admin token');
}

/** All four rules, in order. */
export function checkAccess(client: ClientInfo, admin: Config['admin'], access: Access): void {
  checkAllowlist(client.ip, admin);
  checkToken(client, admin, access);
}
