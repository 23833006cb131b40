/**
 * admin/routes/senders — sender addresses over the API: list, show, add (optionally with
 * the SMTP password and a reply-to), set the password, disable/enable, remove, and the
 * reply-to's verification (set, resend, clear). accounts/senders.ts and
 * accounts/reply-to.ts do the work, as for `mta sender ...`. Passwords are never
 * returned, only whether one is set.
 */
import { z } from 'zod';
import { Senders } from '../../accounts/senders.js';
import { ReplyToRateError, ReplyTos, replyToView } from '../../accounts/reply-to.js';
import type { SenderRecord } from '../../spool/types-senders.js';
import { normaliseDomain } from '../../util/address.js';
import { MtaError } from '../../util/errors.js';
import { loadSecret } from '../../util/secret.js';
import { ApiError, defineRoute, type Route } from '../router.js';
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
  reply_to: z.string().nullable().describe('used in Reply-To only once verified'),
  reply_to_state: z.enum(['none', 'pending', 'expired', 'verified']).describe('pending: the verification link is out; expired: it ran out (resend)'),
  reply_to_expires_at: isoTime.nullable().describe('pending or expired: when the current link runs out'),
  reply_to_verified_at: isoTime.nullable().describe('verified: when (null for addresses set before verification existed)'),
  smtp_enabled: z.boolean().describe('whether an SMTP password is set'),
  disabled: z.boolean(),
  created_at: isoTime,
});

/** The API's sender object (the CLI prints it too when no daemon answers). */
export function senderView(s: SenderRecord, now: number): z.input<typeof senderSchema> {
  const r = replyToView(s.replyTo, now);
  return {
    address: s.address, domain: s.domain, type: s.type, reply_to: r.address, reply_to_state: r.state, reply_to_expires_at: iso(r.expiresAt),
    reply_to_verified_at: iso(r.verifiedAt), smtp_enabled: s.passwordHash !== null, disabled: s.disabled, created_at: iso(s.createdAt),
  };
}

/** A refused verification mail over its limit is 429 with `retry_after` (seconds; also the Retry-After header). */
async function limited<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (e) {
    if (e instanceof ReplyToRateError) throw new ApiError(e.code, e.message, { extra: { retry_after: e.retryAfterS } });
    throw e;
  }
}

export function senderRoutes(ctx: ApiContext): Route[] {
  const senders = new Senders(ctx.store);
  const now = ctx.now ?? Date.now;
  const view = (s: SenderRecord): z.input<typeof senderSchema> => senderView(s, now());
  let secret: Buffer | undefined;
  const replyTos = (): ReplyTos => new ReplyTos({ store: ctx.store, config: ctx.config, secret: (secret ??= loadSecret(ctx.config().dataDir)), now, log: ctx.log });
  const replyToBody = z.strictObject({ address: z.string().min(3).max(320).describe('the reply-to address to verify') });
  const toggle = (name: 'disable' | 'enable'): Route => defineRoute({
    method: 'POST', path: `${P}/:address/${name}`, tag: TAG,
    summary: name === 'disable' ? 'Disable a sender: SMTP and the send API refuse its mail with 551' : 'Enable a disabled sender',
    params: addressParam, response: senderSchema,
    handler: async ({ params }) => view(await senders.setDisabled(params.address, name === 'disable')),
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
        return pageSorted(await senders.list(domain), query.limit, after, (s: SenderRecord) => s.address, view);
      },
    }),
    defineRoute({
      method: 'POST', path: P, tag: TAG, status: 201, summary: 'Add a sender address on an existing domain',
      body: z.strictObject({
        address: z.string().min(3).max(320),
        type: z.enum(['trigger', 'batch']).default('trigger'),
        reply_to: z.string().max(320).optional().describe('stored pending, and a verification link mailed to it (as PUT .../reply-to)'),
        password: password.optional().describe('SMTP password (enables SMTP submission); stored as a scrypt hash'),
      }),
      response: senderSchema,
      handler: async ({ body }) => {
        if (body.reply_to === undefined) return view(await senders.add({ address: body.address, type: body.type, password: body.password }));
        const r = replyTos();
        r.precheck(body.reply_to);
        const added = await senders.add({ address: body.address, type: body.type, password: body.password });
        try {
          return view(await limited(() => r.set(added.address, body.reply_to!)));
        } catch (e) {
          await senders.remove(added.address); // all or nothing: no sender without the reply-to it was asked with
          throw e;
        }
      },
    }),
    defineRoute({
      method: 'GET', path: `${P}/:address`, tag: TAG, summary: 'Show one sender',
      params: addressParam, response: senderSchema,
      handler: async ({ params }) => view(await senders.get(params.address)),
    }),
    defineRoute({
      method: 'PUT', path: `${P}/:address/password`, tag: TAG, summary: 'Set the SMTP password',
      params: addressParam, body: z.strictObject({ password }), response: senderSchema,
      handler: async ({ params, body }) => {
        await senders.setPassword(params.address, body.password);
        return view(await senders.get(params.address));
      },
    }),
    defineRoute({
      method: 'PUT', path: `${P}/:address/reply-to`, tag: TAG, summary: 'Set the reply-to address: stored pending, and a verification link mailed to it',
      description: 'The link (public.base_url, needed) works once, for reply_to.link_validity (10 minutes); until it is confirmed the address is '
        + 'never put in Reply-To. At most reply_to.max_per_sender mails per sender and reply_to.max_per_address per address an hour: '
        + 'beyond, 429 MTA_ERR_REPLY_TO_RATE with retry_after (seconds) and Retry-After. The same address, already verified, changes nothing.',
      params: addressParam, body: replyToBody, response: senderSchema,
      handler: async ({ params, body }) => view(await limited(() => replyTos().set(params.address, body.address))),
    }),
    defineRoute({
      method: 'POST', path: `${P}/:address/reply-to/resend`, tag: TAG, summary: 'Mail a new verification link for the pending or expired reply-to (the earlier link stops working)',
      params: addressParam, response: senderSchema,
      handler: async ({ params }) => view(await limited(() => replyTos().resend(params.address))),
    }),
    defineRoute({
      method: 'DELETE', path: `${P}/:address/reply-to`, tag: TAG, summary: 'Remove the reply-to address (a link still out stops working)',
      params: addressParam, response: senderSchema,
      handler: async ({ params }) => view(await replyTos().clear(params.address)),
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
