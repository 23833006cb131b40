/**
 * admin/routes/lists — recipient lists over the API: create, list, show (member count and
 * a cursor page of members), remove, and members as JSON rows `[{EAddr, UserName, ...}]`
 * with the same validation and report as `mta list import`, or a CSV/TXT file uploaded as
 * multipart/form-data (admin/list-upload.ts). lists/ does the work.
 */
import { join } from 'node:path';
import { z } from 'zod';
import { Lists } from '../../lists/lists.js';
import { importJsonRows } from '../../lists/import.js';
import { UPLOAD_MEDIA_TYPE, importUpload } from '../list-upload.js';
import type { ListMember, ListRecord } from '../../spool/types-lists.js';
import { defineRoute, mediaType, type Route } from '../router.js';
import { problemLogShape } from '../import-report.js';
import { variablesSchema } from '../variables.js';
import { iso, isoTime, type ApiContext } from '../context.js';
import { decodeCursor, pageQuery, pageSchema, pageSorted, toPage } from '../pagination.js';

const TAG = 'lists';
const P = '/api/v1/lists';
const MAX_ROWS = 50_000;

const listSchema = z.object({
  name: z.string(),
  alias: z.string().describe('mail to this address goes to every member'),
  description: z.string().nullable(),
  variables: z.array(z.string()).describe('variable columns imported so far (EAddr not included)'),
  member_count: z.number().int(),
  created_at: isoTime,
});

const memberSchema = z.object({
  EAddr: z.string(),
  variables: z.record(z.string(), z.string()),
  updated_at: isoTime,
});

const reportSchema = z.object({
  list: z.string(),
  rows: z.number().int(),
  imported: z.number().int(),
  updated: z.number().int(),
  duplicates: z.number().int(),
  invalid: z.number().int(),
  ...problemLogShape,
  duplicate_rows: z.array(z.object({ line: z.number().int(), value: z.string() })),
  variables: z.array(z.string()),
  refused: z.boolean(),
  encoding: z.enum(['utf8', 'gbk']).optional().describe('how an uploaded file was read'),
  encoding_note: z.string().optional().describe('why that encoding (auto: valid UTF-8, else valid GBK)'),
});

function listView(l: ListRecord): z.input<typeof listSchema> {
  return { name: l.name, alias: l.alias, description: l.description, variables: l.columns, member_count: l.members, created_at: iso(l.createdAt) };
}

function memberView(m: ListMember): z.input<typeof memberSchema> {
  return { EAddr: m.address, variables: m.variables, updated_at: iso(m.updatedAt) };
}

const nameParam = z.strictObject({ name: z.string().min(1).max(64) });
const memberParam = z.strictObject({ name: z.string().min(1).max(64), address: z.string().min(1).max(320) });
const memberBody = z.strictObject({ variables: variablesSchema(1024).default({}).describe('variable name → value') });

export function listRoutes(ctx: ApiContext): Route[] {
  const lists = new Lists(ctx.store);
  return [
    defineRoute({
      method: 'POST', path: P, tag: TAG, summary: 'Create a recipient list', status: 201,
      body: z.strictObject({
        name: z.string().min(1).max(64).describe('letters, digits, _ . -'),
        alias: z.string().min(3).max(320).describe('unique alias address'),
        description: z.string().max(500).optional(),
      }),
      response: listSchema,
      handler: async ({ body }) => listView(await lists.create(body)),
    }),
    defineRoute({
      method: 'GET', path: P, tag: TAG, summary: 'List recipient lists, by name',
      query: z.strictObject({ ...pageQuery }),
      response: pageSchema(listSchema),
      handler: async ({ query }) => pageSorted(await lists.list(), query.limit, decodeCursor(query.cursor, z.string()), (l) => l.name, listView),
    }),
    defineRoute({
      method: 'GET', path: `${P}/:name`, tag: TAG, summary: 'A list with its member count and a page of members (by address)',
      params: nameParam,
      query: z.strictObject({ ...pageQuery, q: z.string().max(320).optional().describe('only members whose address contains this text (any case)') }),
      response: listSchema.extend({ members: pageSchema(memberSchema) }),
      handler: async ({ params, query }) => {
        const l = await lists.get(params.name);
        const after = decodeCursor(query.cursor, z.string());
        const rows = await lists.members(params.name, { after, limit: query.limit + 1, contains: query.q });
        return { ...listView(l), members: toPage(rows, query.limit, (m) => m.address, memberView) };
      },
    }),
    defineRoute({
      method: 'DELETE', path: `${P}/:name`, tag: TAG, summary: 'Remove a list and its members',
      params: nameParam,
      response: z.object({ removed: z.literal(true) }),
      handler: async ({ params }) => { await lists.remove(params.name); return { removed: true as const }; },
    }),
    defineRoute({
      method: 'POST', path: `${P}/:name/members`, tag: TAG,
      summary: 'Add or update members from JSON rows [{EAddr, UserName, ...}] or an uploaded CSV/TXT file; the report lists every invalid row',
      description: `JSON: at most ${MAX_ROWS} rows per request. ?strict=true refuses all rows when one is invalid.\n\n`
        + 'multipart/form-data: the file in a part named `file` (CSV, or TXT tab-separated or one address per line; header row naming '
        + 'EAddr and the variables; UTF-8 or GBK), with optional fields `strict` (true|false), `encoding` (auto|utf8|gbk, default auto: '
        + 'sniffed) and `format` (csv|txt, default from the file name). The file is streamed to disk, never held in memory, and imported '
        + 'exactly as `mta list import` does; the report says which encoding was read. A file over `[lists] max_upload_size` is 413 '
        + '(MTA_ERR_TOO_LARGE); a form without a `file` part, an unknown field or a malformed body is 400 (MTA_ERR_INVALID). '
        + 'Under strict, a refused file (refused: true) changes nothing.',
      params: nameParam,
      query: z.strictObject({ strict: z.enum(['true', 'false']).optional().describe('refuse all rows on the first invalid one') }),
      body: z.array(z.record(z.string(), z.union([z.string(), z.number(), z.boolean(), z.null()]))).min(1).max(MAX_ROWS),
      maxBody: () => 16 * 1024 * 1024,
      rawBodyTypes: [UPLOAD_MEDIA_TYPE],
      response: reportSchema,
      handler: async ({ params, query, body, req }) => {
        if (mediaType(req) === UPLOAD_MEDIA_TYPE) {
          const cfg = ctx.config();
          return importUpload(ctx.store, params.name, req, {
            maxBytes: cfg.lists.maxUploadSize, tmpDir: join(cfg.dataDir, 'tmp'), ...(query.strict ? { strict: query.strict === 'true' } : {}),
          });
        }
        return importJsonRows(ctx.store, params.name, body, { strict: query.strict === 'true' });
      },
    }),
    defineRoute({
      method: 'POST', path: `${P}/:name/members/:address`, tag: TAG, status: 201,
      summary: 'Add one member (409 MTA_ERR_EXISTS when the address is a member already)',
      params: memberParam, body: memberBody, response: memberSchema,
      handler: async ({ params, body }) => memberView(await lists.addMember(params.name, params.address, body.variables)),
    }),
    defineRoute({
      method: 'PUT', path: `${P}/:name/members/:address`, tag: TAG,
      summary: 'Change variables of one member; the others stay (404 when it is not a member)',
      params: memberParam, body: memberBody, response: memberSchema,
      handler: async ({ params, body }) => memberView(await lists.updateMember(params.name, params.address, body.variables)),
    }),
    defineRoute({
      method: 'DELETE', path: `${P}/:name/members/:address`, tag: TAG, summary: 'Remove one member',
      params: memberParam, response: z.object({ removed: z.literal(true) }),
      handler: async ({ params }) => { await lists.removeMember(params.name, params.address); return { removed: true as const }; },
    }),
  ];
}
