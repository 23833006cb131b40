/**
 * admin/routes/senders — sender addresses over the API: list, show, add (optionally with
 * the SMTP password), set the password, disable/enable, remove. accounts/senders.ts does
 * the work, as for `mta sender ...`. Passwords are never returned, only whether one is set.
 */
import { z } from 'zod';
import { Senders } from '../../accounts/senders.js';
import type { SenderRecord } from '../../spool/types-senders.js';
import { normaliseDomain } from '../../util/address.js';
import { MtaError } from '../../util/errors.js';
import { defineRoute, type Route } from '../router.js';
import { deletedSchema, iso, isoTime, type ApiContext } from '../context.js';
import { decodeCursor, pageQuery, pageSchema, pageSorted } from '../pagination.js';

const TAG = 'senders';
const P = '/api/v1/senders';

const addressParam = z.strictObject({ address: z.string().min(3).max(320).describe('the sender address') });
const password = z.string().min(8, { message: 'password must have at least 8 characters' }).max(512, { message: 'password must have at most 512 characters' });

const senderSchema = z.object({
  address: z.string(),
  domain: z.string(),
  type: z.enum(['trigger', 'batch']).describe('trigger: transactional lane, delivered first; batch: bulk'),
  reply_to: z.string().nullable(),
  smtp_enabled: z.boolean().describe('whether an SMTP password is set'),
  disabled: z.boolean(),
  created_at: isoTime,
});

function senderView(s: SenderRecord): z.input<typeof senderSchema> {
  return { address: s.address, domain: s.domain, type: s.type, reply_to: s.replyTo, smtp_enabled: s.passwordHash !== null, disabled: s.disabled, created_at: iso(s.createdAt) };
}

export function senderRoutes(ctx: ApiContext): Route[] {
  const senders = new Senders(ctx.store);
  const toggle = (name: 'disable' | 'enable'): Route => defineRoute({
    method: 'POST', path: `${P}/:address/${name}`, tag: TAG,
    summary: name === 'disable' ? 'Disable a sender: SMTP and the send API refuse its mail with 551' : 'Enable a disabled sender',
    params: addressParam, response: senderSchema,
    handler: async ({ params }) => senderView(await senders.setDisabled(params.address, name === 'disable')),
  });
  return [
    defineRoute({
      method: 'GET', path: P, tag: TAG, summary: 'List sender addresses',
      query: z.strictObject({ domain: z.string().max(253).optional().describe('only this domain'), ...pageQuery }),
      response: pageSchema(senderSchema),
      handler: async ({ query }) => {
        let domain: string | undefined;
        if (query.domain !== undefined) {
          domain = normaliseDomain(query.domain);
          if (!domain) throw new MtaError('MTA_ERR_INVALID', `"${query.domain}" is not a valid domain name`, 'domain');
        }
        const after = decodeCursor(query.cursor, z.string());
        return pageSorted(await senders.list(domain), query.limit, after, (s: SenderRecord) => s.address, senderView);
      },
    }),
    defineRoute({
      method: 'POST', path: P, tag: TAG, status: 201, summary: 'Add a sender address on an existing domain',
      body: z.strictObject({
        address: z.string().min(3).max(320),
        type: z.enum(['trigger', 'batch']).default('trigger'),
        reply_to: z.string().max(320).optional(),
        password: password.optional().describe('SMTP password (enables SMTP submission); stored as a scrypt hash'),
      }),
      response: senderSchema,
      handler: async ({ body }) => senderView(await senders.add({ address: body.address, type: body.type, replyTo: body.reply_to, password: body.password })),
    }),
    defineRoute({
      method: 'GET', path: `${P}/:address`, tag: TAG, summary: 'Show one sender',
      params: addressParam, response: senderSchema,
      handler: async ({ params }) => senderView(await senders.get(params.address)),
    }),
    defineRoute({
      method: 'PUT', path: `${P}/:address/password`, tag: TAG, summary: 'Set the SMTP password',
      params: addressParam, body: z.strictObject({ password }), response: senderSchema,
      handler: async ({ params, body }) => {
        await senders.setPassword(params.address, body.password);
        return senderView(await senders.get(params.address));
      },
    }),
    toggle('disable'),
    toggle('enable'),
    defineRoute({
      method: 'DELETE', path: `${P}/:address`, tag: TAG, summary: 'Remove a sender address',
      params: addressParam, response: deletedSchema,
      handler: async ({ params }) => { await senders.remove(params.address); return { deleted: true as const }; },
    }),
  ];
}
