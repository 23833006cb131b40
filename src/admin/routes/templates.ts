/**
 * admin/routes/templates — tags and templates over the API: tags list/add/remove;
 * templates list/show/create/edit/remove, approve/reject and render; and the preview of a
 * draft that is not stored (the console's editor).
 * templates/tags.ts and templates/templates.ts do the work, as for `mta tag|template ...`.
 */
import { z } from 'zod';
import { variablesSchema } from '../variables.js';
import { Tags, TAG_NAME } from '../../templates/tags.js';
import { Templates, TEMPLATE_NAME, previewTemplate, variablesOf } from '../../templates/templates.js';
import type { TagRecord } from '../../spool/types-tags.js';
import type { TemplateRecord } from '../../spool/types-templates.js';
import { defineRoute, type Route } from '../router.js';
import { deletedSchema, iso, isoTime, type ApiContext } from '../context.js';

const TAGS = '/api/v1/tags';
const TPL = '/api/v1/templates';
/** Bodies up to templates.max_body_size each, plus JSON overhead. */
const maxBody = (ctx: ApiContext) => (): number => ctx.config().templates.maxBodySize * 2 + 64 * 1024;

const tagName = z.string().regex(TAG_NAME, { message: 'must be 1-64 letters, digits, _ - .' });
const tplName = z.string().regex(TEMPLATE_NAME, { message: 'must be 1-64 letters, digits, _ - .' });

const tagSchema = z.object({ name: z.string(), description: z.string(), created_at: isoTime });
const tagView = (t: TagRecord): z.input<typeof tagSchema> => ({ name: t.name, description: t.description, created_at: iso(t.createdAt) });

const templateSchema = z.object({
  name: z.string(),
  subject: z.string(),
  from_name: z.string().nullable(),
  html: z.string(),
  text: z.string().nullable().describe('null: generated from the HTML when sent'),
  state: z.enum(['draft', 'approved', 'rejected']),
  reject_reason: z.string().nullable(),
  variables: z.array(z.string()).describe('the {Variable} names the template uses'),
  created_at: isoTime,
  updated_at: isoTime,
});
function templateView(t: TemplateRecord): z.input<typeof templateSchema> {
  return {
    name: t.name, subject: t.subject, from_name: t.fromName, html: t.html, text: t.text, state: t.state, reject_reason: t.rejectReason,
    variables: variablesOf(t.subject, t.html, t.text), created_at: iso(t.createdAt), updated_at: iso(t.updatedAt),
  };
}

const subject = z.string().min(1).max(998).regex(/^[^\r\n]*$/, { message: 'must be one line' });
const fromName = z.string().max(256).regex(/^[^\r\n]*$/, { message: 'must be one line' });
const nameParam = z.strictObject({ name: tplName.describe('the template name') });

export function templateRoutes(ctx: ApiContext): Route[] {
  const tags = new Tags(ctx.store);
  const templates = new Templates(ctx.store, () => ctx.config().templates);
  return [
    defineRoute({
      method: 'GET', path: TAGS, tag: 'tags', summary: 'List tags',
      response: z.object({ items: z.array(tagSchema) }),
      handler: async () => ({ items: (await tags.list()).map(tagView) }),
    }),
    defineRoute({
      method: 'POST', path: TAGS, tag: 'tags', status: 201, summary: 'Add a tag',
      body: z.strictObject({ name: tagName, description: z.string().max(1000).default('') }),
      response: tagSchema,
      handler: async ({ body }) => tagView(await tags.add(body.name, body.description)),
    }),
    defineRoute({
      method: 'DELETE', path: `${TAGS}/:name`, tag: 'tags', summary: 'Remove a tag',
      params: z.strictObject({ name: z.string().min(1).max(64) }), response: deletedSchema,
      handler: async ({ params }) => { await tags.remove(params.name); return { deleted: true as const }; },
    }),
    defineRoute({
      method: 'GET', path: TPL, tag: 'templates', summary: 'List templates',
      response: z.object({ items: z.array(templateSchema) }),
      handler: async () => ({ items: (await templates.list()).map(templateView) }),
    }),
    defineRoute({
      method: 'POST', path: TPL, tag: 'templates', status: 201, summary: 'Create a template (a draft until approved)',
      maxBody: maxBody(ctx),
      body: z.strictObject({
        name: tplName, subject, from_name: fromName.optional(), html: z.string().min(1),
        text: z.string().optional().describe('text body; absent: generated from the HTML'),
      }),
      response: templateSchema,
      handler: async ({ body }) => templateView(await templates.create(body.name, {
        subject: body.subject, html: body.html, text: body.text ?? null, fromName: body.from_name ?? null,
      })),
    }),
    defineRoute({
      // An operator's, like every POST, though nothing is stored: a viewer calls no POST at all
      // (console-auth.test.ts holds every route to that); the console shows a viewer the saved HTML as it is.
      method: 'POST', path: `${TPL}/preview`, tag: 'templates',
      summary: 'Fill a draft (not stored) with sample variables: the console editor\'s live preview',
      description: 'A variable without a sample value stays as written ({Name}) and is listed in `missing`; `malformed` lists the placeholders approval would refuse.',
      maxBody: maxBody(ctx),
      body: z.strictObject({
        subject: z.string().max(998), html: z.string(),
        text: z.string().nullable().optional().describe('null or absent: generated from the HTML'),
        vars: variablesSchema().default({}).describe('sample values by variable name'),
      }),
      response: z.object({
        subject: z.string(), html: z.string(), text: z.string(), text_generated: z.boolean(),
        variables: z.array(z.string()), missing: z.array(z.string()), malformed: z.array(z.string()),
      }),
      handler: async ({ body }) => {
        const p = previewTemplate({ subject: body.subject, html: body.html, text: body.text ?? null }, body.vars, ctx.config().templates.maxRenderedSize);
        return { subject: p.subject, html: p.html, text: p.text, text_generated: p.textGenerated, variables: p.variables, missing: p.missing, malformed: p.malformed };
      },
    }),
    defineRoute({
      method: 'GET', path: `${TPL}/:name`, tag: 'templates', summary: 'Show one template',
      params: nameParam, response: templateSchema,
      handler: async ({ params }) => templateView(await templates.get(params.name)),
    }),
    defineRoute({
      method: 'PUT', path: `${TPL}/:name`, tag: 'templates', summary: 'Change a template; an approved or rejected template returns to draft',
      maxBody: maxBody(ctx), params: nameParam,
      body: z.strictObject({
        subject: subject.optional(), from_name: fromName.nullable().optional(), html: z.string().min(1).optional(),
        text: z.string().nullable().optional().describe('null: generate the text body from the HTML'),
      }),
      response: templateSchema,
      handler: async ({ params, body }) => templateView(await templates.edit(params.name, {
        subject: body.subject, fromName: body.from_name, html: body.html, text: body.text,
      })),
    }),
    defineRoute({
      method: 'DELETE', path: `${TPL}/:name`, tag: 'templates', summary: 'Remove a template',
      params: nameParam, response: deletedSchema,
      handler: async ({ params }) => { await templates.remove(params.name); return { deleted: true as const }; },
    }),
    defineRoute({
      method: 'POST', path: `${TPL}/:name/approve`, tag: 'templates', summary: 'Approve a draft (refused with malformed placeholders: 400 MTA_ERR_TEMPLATE)',
      params: nameParam, response: templateSchema,
      handler: async ({ params }) => templateView(await templates.approve(params.name)),
    }),
    defineRoute({
      method: 'POST', path: `${TPL}/:name/reject`, tag: 'templates', summary: 'Reject a template with a reason',
      params: nameParam, body: z.strictObject({ reason: z.string().min(1).max(1000) }), response: templateSchema,
      handler: async ({ params, body }) => templateView(await templates.reject(params.name, body.reason)),
    }),
    defineRoute({
      method: 'POST', path: `${TPL}/:name/render`, tag: 'templates',
      summary: 'The exact message for these variables (missing variables: 400 MTA_ERR_TEMPLATE_VAR)',
      params: nameParam,
      body: z.strictObject({
        vars: variablesSchema().default({}),
        from: z.string().min(3).max(320).optional().describe('From address (default noreply@<hostname>)'),
        to: z.string().min(3).max(320).optional(),
      }),
      response: z.object({ subject: z.string(), from_name: z.string().nullable(), html: z.string(), text: z.string(), text_generated: z.boolean(), mime: z.string() }),
      handler: async ({ params, body }) => {
        const r = await templates.render(params.name, body.vars, { from: body.from ?? `noreply@${ctx.config().hostname}`, to: body.to });
        return { subject: r.subject, from_name: r.fromName, html: r.html, text: r.text, text_generated: r.textGenerated, mime: r.mime };
      },
    }),
  ];
}
