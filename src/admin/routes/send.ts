/**
 * admin/routes/send — the send API (DirectMail SingleSendMail):
 *
 *   POST /api/v1/send       JSON: from, to, cc, bcc, subject, text/html (or template + variables),
 *                           reply_to, headers, tag, attachments
 *   POST /api/v1/send/raw   JSON {from, to, message: base64 RFC 5322}, or the message itself as
 *                           Content-Type: message/rfc822 with X-Mta-From / X-Mta-To headers
 *
 * Both answer 200 {queue_id, message_id, recipients: [{rcpt, accepted, code, reason}]}
 * after the durable commit, honour `Idempotency-Key`, and refuse as SMTP would (see
 * admin/send-service.ts). The API token acts for the account: any enabled sender may be
 * used as `from`.
 */
import { Readable, Transform, pipeline } from 'node:stream';
import { z } from 'zod';
import { parseAddress } from '../../util/address.js';
import { MtaError } from '../../util/errors.js';
import { Reply, defineRoute, mediaType, readBody, type Route } from '../router.js';
import type { ApiContext } from '../context.js';
import { trackHeaderValue } from '../../tracking/request.js';
import { RESERVED_HEADERS, composeMessage, toCrlf } from '../compose.js';
import { Idempotency, fingerprint, idempotencyKey } from '../idempotency.js';
import { SendService } from '../send-service.js';
import { renderForSend } from '../send-template.js';
import { replyToFor } from '../../accounts/reply-to.js';

const TAG = 'send';
const RFC822 = 'message/rfc822';

const address = z.string().min(3).max(400);
const addressList = z.union([address, z.array(address).min(1).max(10_000)], { message: 'must be an address or a list of addresses' })
  .describe('one address or a list (at most smtp.max_recipients after removing duplicates)');
const tag = z.string().regex(/^[A-Za-z0-9_.:@-]{1,128}$/, { message: 'must be 1-128 letters, digits or _ . : @ -' });
const headerName = z.string().regex(/^[!-9;-~]{1,76}$/, { message: 'must be a header field name' });
const headerValue = z.string().max(998).regex(/^[^\r\n\0]*$/, { message: 'must be one line' });

const sendBody = z.strictObject({
  from: address.describe('an enabled sender address, optionally with a display name: "App <app@example.com>"'),
  to: addressList,
  cc: addressList.optional().describe('shown in the Cc header; counted with to and bcc against smtp.max_recipients'),
  bcc: addressList.optional().describe('envelope only: never in any header'),
  subject: z.string().max(998).regex(/^[^\r\n\0]*$/, { message: 'must be one line' }).optional().describe('required unless template is given'),
  text: z.string().optional(),
  html: z.string().optional(),
  template: z.string().min(1).max(64).optional().describe('a stored template (mta template): its subject, HTML and text, rendered as `mta template render` does'),
  variables: z.record(z.string().max(128), z.string().max(100_000)).optional()
    .describe('the template\'s {name} values: every variable it uses, and no others'),
  reply_to: z.string().max(320).optional()
    .describe('the sender\'s verified reply-to address (mta sender reply-to set); absent: that address when verified, else no Reply-To; any other or an unverified one is 409 MTA_ERR_REPLY_TO_UNVERIFIED'),
  headers: z.record(headerName, headerValue).optional().describe(`extra header fields; not: ${[...RESERVED_HEADERS].join(', ')}`),
  tag: tag.optional().describe('recorded like X-Mta-Tag on SMTP; statistics can be filtered by it'),
  tracking: z.strictObject({ opens: z.boolean().default(false), clicks: z.boolean().default(false) }).optional()
    .describe('open and click tracking, as X-Mta-Track on SMTP; absent: the sending domain\'s default; needs public.base_url'),
  attachments: z.array(z.strictObject({
    filename: z.string().min(1).max(255).regex(/^[^\r\n\0/\\]+$/, { message: 'must be a file name' }),
    content_type: z.string().regex(/^[A-Za-z0-9!#$&^_.+-]+\/[A-Za-z0-9!#$&^_.+-]+$/, { message: 'must be a media type such as "application/pdf"' }).optional(),
    content: z.base64().describe('the file, base64 (no line breaks)'),
  })).max(100).optional(),
}).superRefine((b, ctx) => {
  if (b.template !== undefined) {
    for (const k of ['subject', 'text', 'html'] as const) {
      if (b[k] !== undefined) ctx.addIssue({ code: 'custom', path: [k], message: `${k} comes from the template; give one or the other` });
    }
  } else {
    if (b.variables !== undefined) ctx.addIssue({ code: 'custom', path: ['variables'], message: 'variables only go with template' });
    if (b.subject === undefined) ctx.addIssue({ code: 'custom', path: ['subject'], message: 'required (or give template)' });
    if (b.text === undefined && b.html === undefined) ctx.addIssue({ code: 'custom', path: ['text'], message: 'text or html is required (or template)' });
  }
  for (const k of Object.keys(b.headers ?? {})) {
    if (RESERVED_HEADERS.has(k.toLowerCase())) ctx.addIssue({ code: 'custom', path: ['headers', k], message: `${k} cannot be set here (use the field for it, or leave it to the server)` });
  }
});

const rawBody = z.strictObject({
  from: address.describe('the envelope sender: an enabled sender address'),
  to: addressList,
  message: z.base64().describe('the RFC 5322 message, base64; its From header must be on the sender\'s domain'),
  tag: tag.optional(),
});

const sendResponse = z.object({
  queue_id: z.string(),
  message_id: z.string(),
  recipients: z.array(z.object({
    rcpt: z.string(), accepted: z.boolean(),
    code: z.number().int().describe('the SMTP reply code: 250, or 559 suppressed, 501 bad syntax'),
    reason: z.string().describe('enhanced status code and text'),
  })),
});

const list = (v: string | string[]): string[] => (Array.isArray(v) ? v : [v]);

export function sendRoutes(ctx: ApiContext): Route[] {
  const svc = new SendService(ctx);
  const idem = new Idempotency(ctx.store);
  // A JSON body carries the message base64-encoded: 4/3 of it, plus room for the rest.
  const maxJson = (): number => Math.ceil((ctx.config().smtp.maxMessageSize * 4) / 3) + 64 * 1024;
  const common = {
    tag: TAG, maxBody: maxJson, response: sendResponse,
    tooLarge: (declared?: number) => svc.tooLarge(declared),
    before: (_req: unknown, client: string) => svc.checkClient(client),
  };
  return [
    defineRoute({
      ...common, method: 'POST', path: '/api/v1/send', body: sendBody,
      summary: 'Send one message to one or more recipients (SingleSendMail); answered after the durable commit',
      description: 'Refusals carry smtp_code and reason as SMTP would answer (553 sender/domain, 551 disabled, 556 too many recipients, '
        + '557/552 size, 554 IP not allowed). Suppressed recipients are refused one by one (559) and the others sent. '
        + 'Idempotency-Key: the same key within 24 hours returns the first response without sending again.',
      handler: async ({ body, req, client, raw }) => idem.run(idempotencyKey(req), fingerprint('send', raw ?? ''), async (record) => {
        const cc = body.cc ? list(body.cc) : [];
        const prepared = await svc.prepare(body.from, [...list(body.to), ...cc, ...(body.bcc ? list(body.bcc) : [])]);
        const content = body.template !== undefined
          ? await renderForSend(ctx.store, ctx.config(), body.template, body.variables ?? {}, prepared.sender.address)
          : { subject: body.subject!, text: body.text, html: body.html, fromName: undefined };
        // Only the sender's verified reply-to (accounts/reply-to.ts): asked for while unverified, 409.
        const replyTo = replyToFor(prepared.sender, body.reply_to, (ctx.now ?? Date.now)());
        const attachments = (body.attachments ?? []).map((a) => ({ filename: a.filename, contentType: a.content_type, content: Buffer.from(a.content, 'base64') }));
        const approx = attachments.reduce((n, a) => n + a.content.length, 0) + Buffer.byteLength(content.text ?? '') + Buffer.byteLength(content.html ?? '');
        if (approx > ctx.config().smtp.maxMessageSize) throw svc.contentTooBig();
        // Headers name the accepted recipients of to and cc (suppressed ones are left out); bcc stays in the envelope.
        const shown = (given: string[]): string[] => given.map((r) => parseAddress(r.trim())?.address).filter((a): a is string => a !== undefined && prepared.accepted.includes(a));
        const source = composeMessage({
          from: { name: prepared.fromName ?? content.fromName, address: prepared.sender.address }, to: shown(list(body.to)), cc: shown(cc),
          subject: content.subject, text: content.text, html: content.html, replyTo, headers: body.headers ?? {}, tag: body.tag, attachments,
          ...(body.tracking ? { track: trackHeaderValue(body.tracking) ?? 'none' } : {}),
        });
        return svc.submit(prepared, source, 'send', client, record);
      }),
    }),
    defineRoute({
      ...common, method: 'POST', path: '/api/v1/send/raw', body: rawBody, rawBodyTypes: [RFC822],
      summary: 'Send a ready-made RFC 5322 message to the given envelope',
      description: `JSON {from, to, message (base64), tag?}, or the message as the body with Content-Type: ${RFC822} and the envelope in `
        + 'X-Mta-From and X-Mta-To (comma-separated) headers (X-Mta-Tag optional). Same checks, replies and Idempotency-Key as /send.',
      handler: async ({ body, req, client, raw }) => {
        if (mediaType(req) !== RFC822) {
          const b = body!;
          return idem.run(idempotencyKey(req), fingerprint('raw', raw ?? ''), async (record) => {
            const prepared = await svc.prepare(b.from, list(b.to));
            const message = Buffer.from(b.message, 'base64');
            if (message.length > ctx.config().smtp.maxMessageSize) throw svc.contentTooBig();
            return svc.submit(prepared, withTag(Readable.from([message]), b.tag), 'raw', client, record);
          });
        }
        const from = header(req.headers['x-mta-from']);
        const to = header(req.headers['x-mta-to']);
        if (!from) throw new MtaError('MTA_ERR_INVALID', 'X-Mta-From: required with a message/rfc822 body', 'X-Mta-From');
        if (!to) throw new MtaError('MTA_ERR_INVALID', 'X-Mta-To: required with a message/rfc822 body', 'X-Mta-To');
        const t = header(req.headers['x-mta-tag']);
        if (t !== undefined && !tag.safeParse(t).success) throw new MtaError('MTA_ERR_INVALID', 'X-Mta-Tag: must be 1-128 letters, digits or _ . : @ -', 'X-Mta-Tag');
        const key = idempotencyKey(req);
        const max = ctx.config().smtp.maxMessageSize;
        if (Number(req.headers['content-length'] ?? 0) > max) { req.resume(); throw svc.tooLarge(Number(req.headers['content-length'])); }
        // With a key the body is read first: its fingerprint decides between sending and replaying.
        const bytes = key === undefined ? undefined : await readBody(req, max, (d) => svc.tooLarge(d));
        return idem.run(key, fingerprint('rfc822', from, to, t ?? '', bytes ?? ''), async (record): Promise<Reply> => {
          const prepared = await svc.prepare(from, to.split(',').map((s) => s.trim()).filter(Boolean));
          return svc.submit(prepared, withTag(bytes ? Readable.from([bytes]) : capped(req, max), t), 'raw', client, record);
        });
      },
    }),
  ];
}

function header(v: string | string[] | undefined): string | undefined {
  const s = Array.isArray(v) ? v.join(',') : v;
  return s === undefined || s.trim() === '' ? undefined : s.trim();
}

/**
 * The message with X-Mta-Tag put in front (intake takes the first one off), LF made CRLF.
 * pipeline() passes a broken upload on as an error, so intake ends instead of waiting.
 */
function withTag(source: Readable, tagValue: string | undefined): Readable {
  const body = pipeline(source, toCrlf(), () => { /* errors reach intake through the stream */ });
  if (!tagValue) return body;
  return Readable.from((async function* () { yield Buffer.from(`X-Mta-Tag: ${tagValue}\r\n`); yield* body; })());
}

/**
 * A streamed body: intake's guard stops storing past the limit but reads on (SMTP must
 * let the client finish); over HTTP a body far past it is cut instead of drained.
 */
function capped(req: Readable, max: number): Readable {
  let n = 0;
  const cut = new Transform({
    transform(c: Buffer, _e, cb): void {
      n += c.length;
      if (n > max + 1024 * 1024) { req.destroy(); return cb(new Error('request body far over the size limit')); }
      cb(null, c);
    },
  });
  return pipeline(req, cut, () => { /* as above */ });
}
