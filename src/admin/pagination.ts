/**
 * admin/pagination — every listing is paged the same way: `?limit=N&cursor=C` in, and
 * `{ "items": [...], "next_cursor": C | null }` out. A cursor is opaque to clients
 * (base64url of a small JSON value: the sort key of the last item returned), so the
 * order can be keyed differently per listing without the API changing. A page is read
 * with one row more than asked, to know whether another page follows.
 */
import { z } from 'zod';
import { MtaError } from '../util/errors.js';

export const MAX_LIMIT = 1000;

/** Query fields every listing takes. */
export const pageQuery = {
  limit: z.coerce.number().int().min(1).max(MAX_LIMIT).default(100).describe(`items per page, 1..${MAX_LIMIT}`),
  cursor: z.string().max(1024).optional().describe('next_cursor of the previous page'),
};

export function pageSchema<T extends z.ZodType>(item: T): z.ZodObject<{ items: z.ZodArray<T>; next_cursor: z.ZodNullable<z.ZodString> }> {
  return z.object({
    items: z.array(item),
    next_cursor: z.string().nullable().describe('pass as ?cursor= for the next page; null on the last page'),
  });
}

export interface Page<T> { items: T[]; next_cursor: string | null }

export function encodeCursor(key: unknown): string {
  return Buffer.from(JSON.stringify(key), 'utf8').toString('base64url');
}

/** The key inside a cursor, checked against `schema`; a cursor we did not make is a 400. */
export function decodeCursor<T extends z.ZodType>(cursor: string | undefined, schema: T): z.output<T> | undefined {
  if (cursor === undefined) return undefined;
  try {
    const r = schema.safeParse(JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')));
    if (r.success) return r.data;
  } catch { /* falls through */ }
  throw new MtaError('MTA_ERR_INVALID', 'cursor is not one this server returned', 'cursor');
}

/** A page from `rows` read with limit + 1; `key` gives the cursor of the last item kept. */
export function toPage<R, T>(rows: readonly R[], limit: number, key: (r: R) => unknown, view: (r: R) => T): Page<T> {
  const kept = rows.slice(0, limit);
  const last = kept[kept.length - 1];
  return { items: kept.map(view), next_cursor: rows.length > limit && last !== undefined ? encodeCursor(key(last)) : null };
}

/** Pages an in-memory list sorted by `key` (small tables: domains, senders). */
export function pageSorted<R, T>(rows: readonly R[], limit: number, after: string | undefined, key: (r: R) => string, view: (r: R) => T): Page<T> {
  const rest = after === undefined ? rows : rows.filter((r) => key(r) > after);
  return toPage(rest.slice(0, limit + 1), limit, key, view);
}
