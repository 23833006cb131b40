/**
 * admin/routes/suppression — the invalid-address list over the API: list (search, time
 * range, cursor), add, remove, and the CSV export. suppression/suppression.ts and
 * suppression/export.ts do the work, as for `mta suppression ...`. Scope '' (shown as
 * null) applies to every sender domain.
 */
import { z } from 'zod';
import { Suppression } from '../../suppression/suppression.js';
import type { SuppressionRecord } from '../../spool/types-suppression.js';
import { suppressionFilter, writeSuppressionCsv } from '../../suppression/export.js';
import { MtaError } from '../../util/errors.js';
import { Reply, defineRoute, type Route } from '../router.js';
import { importSuppressionText } from '../../suppression/import.js';
import { problemLogShape } from '../import-report.js';
import { iso, isoTime, type ApiContext } from '../context.js';
import { decodeCursor, pageQuery, pageSchema, toPage } from '../pagination.js';

const TAG = 'suppression';
const P = '/api/v1/suppressions';

const entrySchema = z.object({
  address: z.string(),
  scope: z.string().nullable().describe('null: every sender; else only mail from this sender domain'),
  reason: z.string(),
  source: z.enum(['bounce', 'complaint', 'unsubscribe', 'manual']),
  created_at: isoTime,
});

function entryView(r: SuppressionRecord): z.input<typeof entrySchema> {
  return { address: r.address, scope: r.scope || null, reason: r.reason, source: r.source, created_at: iso(r.createdAt) };
}

const time = z.iso.datetime({ offset: true }).describe('ISO 8601 time');

function ms(text: string | undefined, field: string): number | undefined {
  if (text === undefined) return undefined;
  const t = Date.parse(text);
  if (Number.isNaN(t)) throw new MtaError('MTA_ERR_INVALID', `${field}: not a time`, field);
  return t;
}

export function suppressionRoutes(ctx: ApiContext): Route[] {
  const list = new Suppression(ctx.store);
  return [
    defineRoute({
      method: 'GET', path: P, tag: TAG, summary: 'List suppressed addresses, by address',
      query: z.strictObject({
        search: z.string().min(1).max(320).optional().describe('only addresses containing this text'),
        since: time.optional().describe('added at or after'),
        until: time.optional().describe('added at or before'),
        ...pageQuery,
      }),
      response: pageSchema(entrySchema),
      handler: async ({ query }) => {
        const after = decodeCursor(query.cursor, z.tuple([z.string(), z.string()]));
        const rows = await list.list({
          ...(query.search ? { search: query.search } : {}), since: ms(query.since, 'since'), until: ms(query.until, 'until'),
          ...(after ? { after: after[0], afterScope: after[1] } : {}), limit: query.limit + 1,
        });
        return toPage(rows, query.limit, (r) => [r.address, r.scope], entryView);
      },
    }),
    defineRoute({
      method: 'POST', path: P, tag: TAG, summary: 'Suppress an address (added: false when it was already on the list)',
      body: z.strictObject({
        address: z.string().min(3).max(320),
        reason: z.string().min(1).max(500).optional(),
        scope: z.string().max(253).optional().describe('only for mail from this sender domain (default: every sender)'),
      }),
      response: entrySchema.extend({ added: z.boolean() }),
      handler: async ({ body }) => {
        const r = await list.add(body.address, { reason: body.reason, scope: body.scope, source: 'manual' });
        return { ...entryView(r.record), added: r.added };
      },
    }),
    defineRoute({
      method: 'GET', path: `${P}/export`, tag: TAG, responseType: 'text/csv',
      summary: 'The list as CSV (mta suppression export): address, scope, source, reason, created_at, with a header row',
      query: z.strictObject({
        format: z.enum(['csv']).optional().describe('csv (the only format)'),
        search: z.string().max(320).optional().describe('only addresses containing this text'),
        since: z.string().max(64).optional().describe('added at or after: YYYY-MM-DD or YYYY-MM-DDTHH:MM[:SS][Z]'),
        until: z.string().max(64).optional().describe('added at or before (a bare date means its end)'),
      }),
      response: z.string(),
      handler: async ({ query }) => {
        const filter = suppressionFilter(query);
        const chunks: string[] = [];
        await writeSuppressionCsv(ctx.store, filter, { write: (s: string) => chunks.push(s) });
        return new Reply(200, chunks.join(''), { 'content-disposition': 'attachment; filename="suppressions.csv"' }, 'text/csv; charset=utf-8');
      },
    }),
    defineRoute({
      method: 'POST', path: `${P}/import`, tag: TAG,
      summary: 'Suppress the addresses of a CSV text (mta suppression import): a report with every bad line',
      description: 'Body: {"csv": "..."} — the export\'s format (a header naming address, and optionally scope and reason) or one address per line. '
        + 'A malformed line is reported at its own line and the rest imported; `invalid` > 0 means rows were dropped.',
      body: z.strictObject({ csv: z.string().min(1) }),
      maxBody: () => 16 * 1024 * 1024,
      response: z.object({
        rows: z.number().int(), added: z.number().int(), already: z.number().int().describe('on the list already'),
        invalid: z.number().int(), ...problemLogShape,
      }),
      handler: async ({ body }) => importSuppressionText(ctx.store, body.csv),
    }),
    defineRoute({
      method: 'DELETE', path: `${P}/:address`, tag: TAG, summary: 'Remove an address from the list (every scope unless ?scope= names one)',
      params: z.strictObject({ address: z.string().min(3).max(320) }),
      query: z.strictObject({ scope: z.string().max(253).optional().describe('only the entry for this sender domain') }),
      response: z.object({ removed: z.number().int() }),
      handler: async ({ params, query }) => ({ removed: await list.remove(params.address, query.scope) }),
    }),
  ];
}
