/**
 * admin/compose — turns a send API request into RFC 5322 bytes for intake: nodemailer's
 * MailComposer builds the MIME tree (text and/or HTML alternatives, attachments,
 * encoded-word headers), with file and URL access off so a request can only ever send
 * what it carries. The result, like a raw message from `/send/raw`, goes through
 * `toCrlf` first: HTTP clients write bare LF freely, intake (rightly, for SMTP) refuses
 * it, and a stored message must be CRLF-clean before it is relayed.
 *
 * The tag travels as the X-Mta-Tag header, which intake takes off and records, exactly as
 * for SMTP; Message-ID and Date come from the composer (or the request's Message-ID),
 * Received from intake.
 */
import { Transform, pipeline, type Readable, type TransformCallback } from 'node:stream';
import MailComposer from 'nodemailer/lib/mail-composer';

export interface ComposeInput {
  from: { name?: string | undefined; address: string };
  to: readonly string[];
  /** the Cc header (Bcc is never written: those recipients are in the envelope only) */
  cc?: readonly string[] | undefined;
  subject: string;
  text?: string | undefined;
  html?: string | undefined;
  replyTo?: string | undefined;
  headers: Record<string, string>;
  tag?: string | undefined;
  /** the X-Mta-Track value ("opens, clicks", "none"): the `tracking` field */
  track?: string | undefined;
  attachments: readonly { filename: string; contentType?: string | undefined; content: Buffer }[];
}

/** Headers the request may not set: the composer, intake or the envelope own them. */
export const RESERVED_HEADERS: ReadonlySet<string> = new Set([
  'from', 'to', 'cc', 'bcc', 'subject', 'reply-to', 'sender', 'date', 'received', 'return-path', 'mime-version',
  'content-type', 'content-transfer-encoding', 'content-disposition', 'dkim-signature', 'x-mta-tag', 'x-mta-track',
]);

export function composeMessage(input: ComposeInput): Readable {
  const headers = Object.entries(input.headers).filter(([k]) => k.toLowerCase() !== 'message-id');
  const messageId = Object.entries(input.headers).find(([k]) => k.toLowerCase() === 'message-id')?.[1];
  const composer = new MailComposer({
    from: input.from.name ? { name: input.from.name, address: input.from.address } : input.from.address,
    to: [...input.to],
    ...(input.cc?.length ? { cc: [...input.cc] } : {}),
    subject: input.subject,
    ...(input.text !== undefined ? { text: input.text } : {}),
    ...(input.html !== undefined ? { html: input.html } : {}),
    ...(input.replyTo ? { replyTo: input.replyTo } : {}),
    ...(messageId ? { messageId } : {}),
    headers: [...headers.map(([key, value]) => ({ key, value })), ...(input.tag ? [{ key: 'X-Mta-Tag', value: input.tag }] : []), ...(input.track ? [{ key: 'X-Mta-Track', value: input.track }] : [])],
    attachments: input.attachments.map((a) => ({ filename: a.filename, content: a.content, ...(a.contentType ? { contentType: a.contentType } : {}) })),
    disableFileAccess: true,
    disableUrlAccess: true,
    newline: 'win',
  });
  // pipeline(), not pipe(): a composer error must reach intake as an error, not leave it waiting.
  return pipeline(composer.compile().createReadStream(), toCrlf(), () => { /* reported through the stream */ });
}

const CR = 0x0d, LF = 0x0a;

/** LF not preceded by CR becomes CRLF (across chunk boundaries); everything else passes. */
export function toCrlf(): Transform {
  let prevCR = false;
  return new Transform({
    transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
      let extra = 0;
      for (let i = 0; i < chunk.length; i++) if (chunk[i] === LF && !(i === 0 ? prevCR : chunk[i - 1] === CR)) extra++;
      if (extra === 0) {
        prevCR = chunk.length > 0 ? chunk[chunk.length - 1] === CR : prevCR;
        return cb(null, chunk);
      }
      const out = Buffer.allocUnsafe(chunk.length + extra);
      let o = 0;
      for (let i = 0; i < chunk.length; i++) {
        const b = chunk[i]!;
        if (b === LF && !(i === 0 ? prevCR : chunk[i - 1] === CR)) out[o++] = CR;
        out[o++] = b;
      }
      prevCR = chunk[chunk.length - 1] === CR;
      cb(null, out);
    },
  });
}
