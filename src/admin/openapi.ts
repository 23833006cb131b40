/**
 * admin/openapi — the OpenAPI 3.1 document of the admin API, generated from the route
 * declarations (admin/routes/*): the zod schemas the server validates requests with
 * become JSON Schema (2020-12, OpenAPI 3.1's dialect) through `z.toJSONSchema`. Request
 * parts are described as the client writes them (io "input": defaults make fields
 * optional), responses as the server sends them (io "output").
 */
import { z } from 'zod';
import type { Route } from './router.js';

type Json = Record<string, unknown>;

/** One schema as JSON Schema, without the `$schema` key (the document's dialect applies). */
export function jsonSchema(schema: z.ZodType, io: 'input' | 'output'): Json {
  const out = z.toJSONSchema(schema, { io, target: 'draft-2020-12', unrepresentable: 'any' }) as Json;
  delete out['$schema'];
  return out;
}

export const errorSchema = z.object({
  error: z.object({
    code: z.string().describe('MTA_ERR_*'),
    message: z.string(),
    field: z.string().optional().describe('the request field at fault, e.g. "to[2]"'),
    smtp_code: z.number().int().optional().describe('send API: the SMTP reply code SMTP would have given'),
    reason: z.string().optional().describe('send API: that reply\'s enhanced code and text'),
    recipients: z.array(z.object({ rcpt: z.string(), accepted: z.boolean(), code: z.number().int(), reason: z.string() })).optional()
      .describe('send API: per-recipient results when no recipient was accepted'),
  }),
});

function operationId(r: Route): string {
  const words = r.path.split('/').filter((s) => s && s !== 'api' && s !== 'v1')
    .map((s) => (s.startsWith(':') ? `By${cap(s.slice(1))}` : s.split(/[^a-zA-Z0-9]+/).map(cap).join('')));
  return r.method.toLowerCase() + words.join('');
}

function cap(s: string): string { return s.charAt(0).toUpperCase() + s.slice(1); }

/** Parameters from an object schema's properties: required unless the property accepts undefined. */
function parameters(schema: z.ZodType, where: 'path' | 'query'): Json[] {
  if (!(schema instanceof z.ZodObject)) return [];
  return Object.entries(schema.shape as Record<string, z.ZodType>).map(([name, prop]) => {
    const s = jsonSchema(prop, 'input');
    const description = s['description'];
    delete s['description'];
    return {
      name, in: where, required: where === 'path' || !prop.safeParse(undefined).success, schema: s,
      ...(typeof description === 'string' ? { description } : {}),
    };
  });
}

export function openApiDocument(routes: readonly Route[], version: string): Json {
  const paths: Record<string, Record<string, Json>> = {};
  const tags = new Set<string>();
  for (const r of routes) {
    const path = r.path.replace(/:([A-Za-z_][A-Za-z0-9_]*)/g, '{$1}');
    tags.add(r.tag);
    const content: Json = {};
    if (r.body) content['application/json'] = { schema: jsonSchema(r.body, 'input') };
    for (const t of r.rawBodyTypes) content[t] = { schema: { type: 'string', contentMediaType: t } };
    const responseContent = r.responseType === 'application/json'
      ? { 'application/json': { schema: jsonSchema(r.response, 'output') } }
      : { [r.responseType]: { schema: { type: 'string' } } };
    const security = r.access === 'public' || r.access === 'login' ? { security: [] } : r.access === 'metrics' ? { security: [{ bearerAuth: [] }, {}] } : {};
    (paths[path] ??= {})[r.method.toLowerCase()] = {
      operationId: operationId(r),
      summary: r.summary,
      ...(r.description ? { description: r.description } : {}),
      tags: [r.tag],
      ...security,
      parameters: [...parameters(r.params, 'path'), ...parameters(r.query, 'query')],
      ...(Object.keys(content).length ? { requestBody: { required: !!r.body && r.method !== 'GET', content } } : {}),
      responses: {
        [String(r.status)]: { description: 'success', content: responseContent },
        '4XX': { $ref: '#/components/responses/Error' },
        '5XX': { $ref: '#/components/responses/Error' },
      },
    };
  }
  return {
    openapi: '3.1.0',
    info: {
      title: 'mta admin API',
      version,
      description: 'Everything the mta CLI does, the send API, /healthz and /metrics. Authorization: Bearer <admin.token> on every call '
        + 'except /healthz (and /metrics with admin.metrics_public). Errors: {"error": {"code", "message", "field"}}. '
        + 'Listings take ?limit and ?cursor and return {"items", "next_cursor"}.',
    },
    jsonSchemaDialect: 'https://spec.openapis.org/oas/3.1/dialect/base',
    security: [{ bearerAuth: [] }, { sessionCookie: [] }],
    tags: [...tags].map((name) => ({ name })),
    paths,
    components: {
      securitySchemes: {
        bearerAuth: { type: 'http', scheme: 'bearer', description: 'admin.token (or admin.token_file)' },
        sessionCookie: { type: 'apiKey', in: 'cookie', name: 'mta_session', description: 'a web console session (POST /api/v1/session); changes also need X-CSRF-Token' },
      },
      schemas: { Error: jsonSchema(errorSchema, 'output') },
      responses: { Error: { description: 'an error', content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } } } },
    },
  };
}
