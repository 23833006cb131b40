/**
 * admin/session — web console sessions: a random cookie value (32 bytes) handed out at
 * sign-in, stored only as its SHA-256, ended by sign-out, a password change, removing the
 * user, `admin.session_idle_timeout` without a request, or `admin.session_lifetime` after
 * sign-in. The cookie is HttpOnly, SameSite=Strict, Path=/ and Secure when the request
 * came over TLS. CSRF tokens (@fastify/csrf-protection) are bound to the session.
 *
 * Must never: store or log a cookie value, or accept a session past either limit.
 */
import { createHash, randomBytes } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type {} from '@fastify/cookie';
import type { Store } from '../spool/types.js';
import type { ConsoleUserRecord, UserRole } from '../spool/types-users.js';
import { MtaError } from '../util/errors.js';

export const SESSION_COOKIE = 'mta_session';
export const CSRF_HEADER = 'x-csrf-token';
const TOUCH_EVERY_MS = 60_000;

/** Who is calling, once the access hook has let a request in. */
export type Principal =
  | { kind: 'token'; role: 'admin' }
  | { kind: 'session'; role: UserRole; user: string; sessionHash: string; expiresAt: number };

declare module 'fastify' {
  interface FastifyRequest { principal?: Principal }
}

export function sessionHash(value: string): string {
  return createHash('sha256').update(value, 'utf8').digest('hex');
}

function cookieOptions(request: FastifyRequest): { path: string; httpOnly: true; sameSite: 'strict'; secure: boolean } {
  return { path: '/', httpOnly: true, sameSite: 'strict', secure: request.protocol === 'https' };
}

export interface SessionLimits { idleMs: number; lifetimeMs: number }

export class Sessions {
  constructor(private readonly store: Store, private readonly limits: () => SessionLimits) {}

  /** A new session for `user`, its cookie set on `reply`. */
  async start(user: ConsoleUserRecord, request: FastifyRequest, reply: FastifyReply): Promise<Principal & { kind: 'session' }> {
    const value = randomBytes(32).toString('base64url');
    const now = Date.now();
    const hash = sessionHash(value);
    await this.store.addSession({ idHash: hash, user: user.name, createdAt: now, lastSeenAt: now });
    reply.setCookie(SESSION_COOKIE, value, cookieOptions(request));
    return { kind: 'session', role: user.role, user: user.name, sessionHash: hash, expiresAt: this.expiry(now, now) };
  }

  /** The session the request's cookie names, refreshed; throws MTA_ERR_AUTH when there is none (any more). */
  async check(value: string): Promise<Principal & { kind: 'session' }> {
    const hash = sessionHash(value);
    const s = await this.store.getSession(hash);
    const now = Date.now();
    const { idleMs, lifetimeMs } = this.limits();
    if (s && (now - s.lastSeenAt > idleMs || now - s.createdAt > lifetimeMs)) await this.store.removeSession(hash);
    else if (s) {
      const user = await this.store.getUser(s.user);
      if (user) {
        // One write a minute at most (a busy console page must not write on every call),
        // and often enough that a short idle timeout still counts each use.
        if (now - s.lastSeenAt >= Math.min(TOUCH_EVERY_MS, idleMs / 4)) await this.store.touchSession(hash, now);
        return { kind: 'session', role: user.role, user: user.name, sessionHash: hash, expiresAt: this.expiry(s.createdAt, now) };
      }
    }
    throw new MtaError('MTA_ERR_AUTH', 'the console session has expired or was ended; sign in again');
  }

  async end(request: FastifyRequest, reply: FastifyReply): Promise<void> {
    const p = request.principal;
    if (p?.kind === 'session') await this.store.removeSession(p.sessionHash);
    reply.clearCookie(SESSION_COOKIE, cookieOptions(request));
  }

  /** Sessions past either limit, removed (the daemon's housekeeping). */
  purge(now = Date.now()): Promise<number> {
    const { idleMs, lifetimeMs } = this.limits();
    return this.store.purgeSessions(now - idleMs, now - lifetimeMs);
  }

  private expiry(createdAt: number, lastSeenAt: number): number {
    const { idleMs, lifetimeMs } = this.limits();
    return Math.min(createdAt + lifetimeMs, lastSeenAt + idleMs);
  }
}
