/**
 * admin/access — who may make a request on the admin listener, decided before anything
 * else is looked at (admin/auth.ts has the rules for the allowlist and the token):
 *
 *   allowlist → public routes stop here → the console's pages and assets check only Host →
 *   Host/Origin (admin/browser.ts) → sign-in routes
 *   stop here → `Authorization: Bearer` (the admin token, acts as admin) or else the
 *   console's session cookie (admin/session.ts), whose role must allow the call
 *   (admin/roles.ts) → a call that changes something from a session needs its CSRF token
 *   (X-CSRF-Token, from the sign-in reply or GET /api/v1/session).
 *
 * Also the fastify plugins this needs: cookies, CSRF tokens bound to the session, and the
 * per-address rate limit of sign-in. Their keys derive from the admin token, so tokens
 * stay valid across restarts and change with it. Must never: let a session call what its
 * role may not, or accept a session's change without its CSRF token.
 */
import { createHmac } from 'node:crypto';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import cookie from '@fastify/cookie';
import csrf from '@fastify/csrf-protection';
import rateLimit from '@fastify/rate-limit';
import type { Config } from '../config/config.js';
import { countRejection } from '../metrics/metrics.js';
import { MtaError } from '../util/errors.js';
import { checkAllowlist, checkToken, isPublic } from './auth.js';
import { allowedHosts, checkBrowser, checkHost } from './browser.js';
import { clientOf } from './http.js';
import { checkRole, isReadOnly } from './roles.js';
import { CSRF_HEADER, SESSION_COOKIE, type Sessions } from './session.js';
import type { Access, Route } from './router.js';

export interface AccessDeps {
  config: () => Config;
  token: () => string;
  sessions: Sessions;
}

function key(token: string, purpose: string): string {
  return createHmac('sha256', token).update(`mta console ${purpose}`).digest('base64url');
}

/** Cookies, CSRF and the sign-in rate limit: registered before any route. */
export async function registerAccessPlugins(app: FastifyInstance, deps: AccessDeps): Promise<void> {
  const token = deps.token();
  await app.register(cookie, { secret: key(token, 'cookie') });
  await app.register(csrf, {
    sessionPlugin: '@fastify/cookie',
    cookieKey: 'mta_csrf',
    cookieOpts: { path: '/', sameSite: 'strict', httpOnly: true, signed: true },
    csrfOpts: { hmacKey: key(token, 'csrf') },
    getToken: (req) => req.headers[CSRF_HEADER] as string | undefined,
    getUserInfo: (req) => (req.principal?.kind === 'session' ? req.principal.sessionHash : ''),
  });
  await app.register(rateLimit, {
    global: false,
    keyGenerator: (req) => clientOf(req),
    errorResponseBuilder: (_req, ctx) => new MtaError('MTA_ERR_THROTTLED', `too many sign-in attempts from this address; try again in ${Math.ceil(ctx.ttl / 1000)} s`),
  });
}

/** After the access check: a change made from a session carries the session's CSRF token. */
export function addCsrfCheck(app: FastifyInstance): void {
  app.addHook('onRequest', (request, reply, done) => {
    if (request.principal?.kind === 'session' && !isReadOnly(request.method)) app.csrfProtection(request, reply, done);
    else done();
  });
}

/** Throws the catalogue error that refuses the request; sets request.principal when it is let in. */
export async function gate(deps: AccessDeps, request: FastifyRequest, access: Access, route: Route | undefined): Promise<void> {
  const config = deps.config();
  try { checkAllowlist(clientOf(request), config.admin); } catch (e) { countRejection('api', 'IP_NOT_ALLOWED'); throw e; }
  if (isPublic(access, config.admin)) return;
  try {
    if (access === 'page') return checkHost(request.headers, allowedHosts(config));
    checkBrowser(request.headers, allowedHosts(config));
    if (access === 'login') return;
    // undefined for a request fastify refused before its hooks (a malformed URL): no cookies parsed then.
    const cookieValue = (request.cookies as Record<string, string | undefined> | undefined)?.[SESSION_COOKIE];
    if (request.headers.authorization !== undefined || !cookieValue) {
      checkToken(request.headers.authorization, deps.token());
      request.principal = { kind: 'token', role: 'admin' };
      return;
    }
    const p = await deps.sessions.check(cookieValue);
    checkRole(p.role, route, request.method);
    request.principal = p;
  } catch (e) { countRejection('api', 'AUTH_FAILED'); throw e; }
}
