/**
 * admin/routes/session — signing in to and out of the web console:
 *
 *   POST   /api/v1/session   {name, password} → the session cookie and a CSRF token
 *   GET    /api/v1/session   who is calling, and a CSRF token for the session
 *   DELETE /api/v1/session   signs out (the session is ended on the server too)
 *
 * Sign-in is rate-limited per client address; a wrong name and a wrong password get the
 * same answer, in the same time. Users themselves: admin/routes/users.ts.
 */
import { z } from 'zod';
import { Users } from '../../accounts/users.js';
import { MtaError } from '../../util/errors.js';
import { USER_ROLES } from '../../spool/types-users.js';
import { defineRoute, type Route } from '../router.js';
import { iso, isoTime, type ApiContext } from '../context.js';
import type { Principal, Sessions } from '../session.js';
import type { FastifyReply } from 'fastify';

const TAG = 'session';

const sessionSchema = z.object({
  kind: z.enum(['session', 'token']).describe('token: the call carried the admin token'),
  user: z.string().nullable(),
  role: z.enum(USER_ROLES),
  csrf_token: z.string().nullable().describe('send it as X-CSRF-Token with every call that changes something (sessions only)'),
  expires_at: isoTime.nullable().describe('when the session ends unless used again (idle) or at the latest (lifetime)'),
});

function view(p: Principal, reply: FastifyReply): z.input<typeof sessionSchema> {
  if (p.kind === 'token') return { kind: 'token', user: null, role: 'admin', csrf_token: null, expires_at: null };
  return { kind: 'session', user: p.user, role: p.role, csrf_token: reply.generateCsrf({ userInfo: p.sessionHash, secure: reply.request.protocol === 'https' }), expires_at: iso(p.expiresAt) };
}

export function sessionRoutes(ctx: ApiContext, sessions: Sessions): Route[] {
  const users = new Users(ctx.store);
  return [
    defineRoute({
      method: 'POST', path: '/api/v1/session', tag: TAG, access: 'login', rateLimit: { max: () => ctx.config().admin.signInAttempts, windowMs: 60_000 },
      summary: 'Sign in to the web console: sets the session cookie (HttpOnly, SameSite=Strict)',
      description: 'At most admin.sign_in_attempts (default 10) attempts a minute per client address, then 429 MTA_ERR_THROTTLED.',
      body: z.strictObject({ name: z.string().min(1).max(64), password: z.string().min(1).max(512) }),
      response: sessionSchema,
      handler: async ({ body, http }) => {
        const u = await users.verify(body.name, body.password);
        if (!u) throw new MtaError('MTA_ERR_AUTH', 'wrong user name or password');
        const p = await sessions.start(u, http.request, http.reply);
        http.request.principal = p;
        ctx.log.info({ user: u.name, role: u.role, client: http.request.raw.socket.remoteAddress }, 'console sign-in');
        return view(p, http.reply);
      },
    }),
    defineRoute({
      method: 'GET', path: '/api/v1/session', tag: TAG, summary: 'Who is calling: the console user and role, and a CSRF token for the session',
      response: sessionSchema,
      handler: async ({ http }) => view(http.request.principal!, http.reply),
    }),
    defineRoute({
      method: 'DELETE', path: '/api/v1/session', tag: TAG, role: 'viewer', summary: 'Sign out: ends the session and clears its cookie',
      response: z.object({ signed_out: z.boolean() }),
      handler: async ({ http }) => {
        await sessions.end(http.request, http.reply);
        return { signed_out: http.request.principal?.kind === 'session' };
      },
    }),
  ];
}
