/**
 * admin/roles — what each console role may call, decided by the server for every request
 * from a session (the console's own buttons are only a convenience):
 *
 *   viewer    reads (GET/HEAD) only;
 *   operator  also changes mail, queue, lists, templates, tasks, suppressions and sends;
 *   admin     also manages users and configuration (domains, senders, webhooks, egress).
 *
 * A route may name its least role (`role` in defineRoute); otherwise it follows from the
 * method and the route's tag, so a route added in the usual style is covered as well. The
 * admin token (scripts, the CLI) acts as admin.
 */
import { MtaError } from '../util/errors.js';
import type { UserRole } from '../spool/types-users.js';
import type { Route } from './router.js';

const RANK: Record<UserRole, number> = { viewer: 0, operator: 1, admin: 2 };
/** Tags whose changes are configuration: only an admin makes them. */
export const ADMIN_TAGS: ReadonlySet<string> = new Set(['users', 'domains', 'senders', 'webhooks', 'egress', 'config', 'settings']);

export function isReadOnly(method: string): boolean {
  return method === 'GET' || method === 'HEAD';
}

/** The least role for `method` on `route` (undefined: an unknown path, judged by its method). */
export function requiredRole(route: Route | undefined, method: string): UserRole {
  if (route?.role) return route.role;
  if (isReadOnly(method)) return 'viewer';
  return route && ADMIN_TAGS.has(route.tag) ? 'admin' : 'operator';
}

/** Throws MTA_ERR_FORBIDDEN (403) when `role` is below what the call needs. */
export function checkRole(role: UserRole, route: Route | undefined, method: string): void {
  const need = requiredRole(route, method);
  if (RANK[role] < RANK[need]) {
    throw new MtaError('MTA_ERR_FORBIDDEN', `the ${role} role may not ${method} ${route?.path ?? 'this path'} (needs ${need})`);
  }
}
