/**
 * admin/routes/users — the web console's users over the API, as `mta user` manages them
 * (accounts/users.ts). Admins only, whatever the method.
 */
import { z } from 'zod';
import { Users } from '../../accounts/users.js';
import { USER_ROLES, type ConsoleUserRecord } from '../../spool/types-users.js';
import { defineRoute, type Route } from '../router.js';
import { deletedSchema, iso, isoTime, type ApiContext } from '../context.js';

const TAG = 'users';
const userSchema = z.object({ name: z.string(), role: z.enum(USER_ROLES), created: isoTime, password_changed: isoTime });
const nameParam = z.strictObject({ name: z.string().min(1).max(64) });
const password = z.string().min(8).max(512);

function view(u: ConsoleUserRecord): z.input<typeof userSchema> {
  return { name: u.name, role: u.role, created: iso(u.createdAt), password_changed: iso(u.passwordChangedAt) };
}

export function userRoutes(ctx: ApiContext): Route[] {
  const users = new Users(ctx.store);
  return [
    defineRoute({
      method: 'GET', path: '/api/v1/users', tag: TAG, role: 'admin', summary: 'Console users',
      response: z.object({ items: z.array(userSchema) }),
      handler: async () => ({ items: (await users.list()).map(view) }),
    }),
    defineRoute({
      method: 'POST', path: '/api/v1/users', tag: TAG, role: 'admin', summary: 'Add a console user',
      body: z.strictObject({ name: z.string().min(1).max(64), role: z.enum(USER_ROLES), password }),
      response: userSchema,
      handler: async ({ body }) => view(await users.add(body.name, body.role, body.password)),
    }),
    defineRoute({
      method: 'PUT', path: '/api/v1/users/:name/password', tag: TAG, role: 'admin', summary: 'Set a console user\'s password (ends their sessions)',
      params: nameParam, body: z.strictObject({ password }),
      response: userSchema,
      handler: async ({ params, body }) => {
        await users.setPassword(params.name, body.password);
        return view(await users.get(params.name));
      },
    }),
    defineRoute({
      method: 'PUT', path: '/api/v1/users/:name/role', tag: TAG, role: 'admin', summary: 'Change a console user\'s role (applies from their next request)',
      params: nameParam, body: z.strictObject({ role: z.enum(USER_ROLES) }),
      response: userSchema,
      handler: async ({ params, body }) => view(await users.setRole(params.name, body.role)),
    }),
    defineRoute({
      method: 'DELETE', path: '/api/v1/users/:name', tag: TAG, role: 'admin', summary: 'Remove a console user (and end their sessions)',
      params: nameParam, response: deletedSchema,
      handler: async ({ params }) => {
        await users.remove(params.name);
        return { deleted: true as const };
      },
    }),
  ];
}
