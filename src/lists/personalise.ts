/**
 * lists/personalise — one list member's copy of a message: `{Variable}` placeholders
 * (the template syntax) filled in the Subject and in every text/plain and text/html part,
 * everything else passed on byte for byte.
 *
 *   bytes → mailsplit Splitter → Personaliser → Joiner → bytes
 *
 * A text part is collected whole (one at a time: a placeholder may straddle chunks and
 * encodings), decoded (transfer encoding, then charset → UTF-8), filled — values as they
 * are in text, HTML-escaped in HTML — and written back as UTF-8, always transfer-encoded:
 * base64 stays base64, anything else becomes quoted-printable with a `-` that starts a
 * line written `=2D`. So the output is CRLF-clean and 7-bit safe whatever the values hold,
 * and no value can make structure: a member's variable holding a line break and the
 * message's boundary (`\r\n--boundary\r\nContent-Type: text/html`) once added a part to
 * that member's copy; encoded, no line of the part can begin with `--`. A part without a
 * known placeholder is not touched at all, nor is its charset changed.
 *
 * Never: touches attachments (Content-Disposition: attachment, non-text parts, an
 * attached message/rfc822 — its text is the forwarded mail's, not ours to fill), expands
 * a value that itself looks like a placeholder (one pass), buffers more than one text part.
 *
 * Caveats: a text part in a charset libmime cannot decode (UTF-7, unknown names) is left
 * as it is, placeholders included, rather than relabelled. An HTML part converted from
 * another charset has its `<meta charset>` rewritten to utf-8; other charset hints inside
 * the HTML are not looked for. Unknown names (`{Nope}`) stay as written.
 */
import { Readable, Transform, pipeline, type TransformCallback } from 'node:stream';
import { Splitter, Joiner, type MimeNode, type Headers } from 'mailsplit';
import libmime from 'libmime';
import { createDecodeStream } from 'libmime/lib/charset';
import { escapeHtml } from '../templates/templates.js';
import { MtaError } from '../util/errors.js';
import { escapeLeadingDash } from '../util/qp.js';

/** The template syntax (templates/templates.ts). */
const PLACEHOLDER = /\{([A-Za-z_][A-Za-z0-9_]*)\}/g;
/** A text part larger than this is refused rather than held in memory (messages are capped well below it). */
export const MAX_TEXT_PART = 64 * 1024 * 1024;
const CRLF = Buffer.from('\r\n');

/** The fields of mailsplit's MimeNode this module reads and calls (src/types/mailsplit.d.ts has the common ones). */
interface TextNode extends MimeNode {
  encoding: string | false;
  charset: string | false;
  contentType: string;
  disposition: string | false;
  getDecoder(): Transform;
  getEncoder(encoding?: string): Transform;
  setCharset(charset: string): void;
}

type SplitData = MimeNode | { type: 'body' | 'data' | 'none'; value?: Buffer };

/** `{Name}` → vars.Name (through `escape`), unknown names kept; `count` is how many were filled. */
export function fillPlaceholders(text: string, vars: Record<string, string>, escape: (s: string) => string = (s) => s): { text: string; count: number } {
  let count = 0;
  const out = text.replace(PLACEHOLDER, (whole, name: string) => {
    if (!Object.hasOwn(vars, name)) return whole;
    count++;
    return escape(vars[name]!);
  });
  return { text: out, count };
}

export interface PersonaliseOptions {
  /** largest text part, bytes (default MAX_TEXT_PART); a larger one fails the stream with MTA_ERR_TOO_LARGE */
  maxTextPart?: number;
}

/** The message in `source` with the member's `vars` filled in (see the module header). */
export function personalise(source: AsyncIterable<Buffer> | Readable, vars: Record<string, string>, opts: PersonaliseOptions = {}): Readable {
  const input = source instanceof Readable ? source : Readable.from(source);
  // pipeline(): a broken source or a refused part reaches the reader as an error, not a hang.
  return pipeline(input, new Splitter({ ignoreEmbedded: true }), new Personaliser(vars, opts.maxTextPart ?? MAX_TEXT_PART), new Joiner(), () => { /* reported through the stream */ });
}

/** personalise() into one Buffer (tests, `template render`-style previews). */
export async function personaliseBuffer(message: Buffer | string, vars: Record<string, string>): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of personalise(Readable.from([Buffer.from(message)]), vars)) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

class Personaliser extends Transform {
  /** the text part being collected, held back until its body is rewritten (its headers may change) */
  private held: { node: TextNode; chunks: Buffer[]; size: number } | undefined;

  constructor(private readonly vars: Record<string, string>, private readonly maxTextPart: number) {
    super({ readableObjectMode: true, writableObjectMode: true });
  }

  override _transform(data: SplitData, _enc: BufferEncoding, cb: TransformCallback): void {
    this.handle(data).then(() => cb(), cb);
  }

  override _flush(cb: TransformCallback): void {
    this.release().then(() => cb(), cb);
  }

  private async handle(data: SplitData): Promise<void> {
    if (this.held && data.type === 'body') {
      const value = data.value;
      if (!value) return;
      this.held.size += value.length;
      if (this.held.size > this.maxTextPart) throw new MtaError('MTA_ERR_TOO_LARGE', `a text part is over ${this.maxTextPart} bytes; it cannot be personalised`);
      this.held.chunks.push(value);
      return;
    }
    if (data.type === 'none' && !data.value?.length) return;
    await this.release();
    if (data.type === 'node') {
      const node = data as TextNode;
      if (node.root) fillSubject(node.headers, this.vars);
      if (isFillable(node)) { this.held = { node, chunks: [], size: 0 }; return; }
    }
    this.push(data);
  }

  /** Writes out the held part: its (possibly changed) headers, then its body. */
  private async release(): Promise<void> {
    const held = this.held;
    if (!held) return;
    this.held = undefined;
    const raw = Buffer.concat(held.chunks, held.size);
    const body = await fillPart(held.node, raw, this.vars);
    this.push(held.node);
    if ((body ?? raw).length) this.push(body ?? raw);
  }
}

function isFillable(node: TextNode): boolean {
  return !node.multipart && (node.contentType === 'text/plain' || node.contentType === 'text/html') && node.disposition !== 'attachment';
}

function fillSubject(headers: Headers, vars: Record<string, string>): void {
  if (!headers.hasHeader('Subject')) return;
  const decoded = libmime.decodeWords(headers.getFirst('Subject'));
  const filled = fillPlaceholders(decoded, vars);
  if (filled.count === 0) return;
  const value = filled.text.replace(/[\r\n]+/g, ' ');
  // Only non-ASCII words are encoded; libmime splits them so the folded line stays short.
  // eslint-disable-next-line no-control-regex
  headers.update('Subject', /^[\x20-\x7e\t]*$/.test(value) ? value : libmime.encodeWords(value, 'Q', 52));
}

/** The part's new body, or undefined to pass it on unchanged (nothing to fill, or a charset we cannot read). */
async function fillPart(node: TextNode, raw: Buffer, vars: Record<string, string>): Promise<Buffer | undefined> {
  const cte = (node.encoding || '7bit').toLowerCase();
  if (!['7bit', '8bit', 'binary', 'quoted-printable', 'base64'].includes(cte)) return undefined;
  const bytes = cte === 'base64' || cte === 'quoted-printable' ? await through(node.getDecoder(), raw) : raw;
  // An "ascii" or missing charset with 8-bit bytes in it was UTF-8 in practice.
  const declared = node.charset && !/^(us-)?ascii$/i.test(node.charset) ? node.charset : 'utf-8';
  const decoder = createDecodeStream(declared);
  if (!decoder.supported) return undefined;
  const text = (await through(decoder, bytes)).toString('utf8');

  const html = node.contentType === 'text/html';
  const filled = fillPlaceholders(text, vars, html ? escapeHtml : undefined);
  if (filled.count === 0) return undefined;
  let out = filled.text.replace(/\r\n|\r|\n/g, '\r\n');
  if (html && !/^utf-?8$/i.test(declared)) out = out.replace(/(<meta\b[^>]*?\bcharset\s*=\s*["']?)[A-Za-z0-9_:.-]+/gi, '$1utf-8');
  const utf8 = Buffer.from(out, 'utf8');

  ensureHeader(node.headers, 'Content-Type', 'text/plain');
  node.setCharset('utf-8');
  const encoding = cte === 'base64' ? 'base64' : 'quoted-printable';
  ensureHeader(node.headers, 'Content-Transfer-Encoding', encoding);
  let encoded = await through(node.getEncoder(encoding), utf8);
  if (encoding === 'quoted-printable') encoded = Buffer.from(escapeLeadingDash(encoded.toString('latin1')), 'latin1');
  // A body that ended the message with a line break keeps it (base64 output has none).
  return raw.subarray(-2).equals(CRLF) && !encoded.subarray(-2).equals(CRLF) ? Buffer.concat([encoded, CRLF]) : encoded;
}

/**
 * A header the node is about to rewrite is added at the end of the part's header block
 * first when missing: mailsplit would otherwise insert it on top, above trace headers.
 */
function ensureHeader(headers: Headers, key: string, value: string): void {
  if (!headers.hasHeader(key)) headers.add(key, value, headers.getList().length);
}

/** Runs a buffer through a transform stream (a decoder or an encoder) and collects the output. */
function through(stream: Transform, input: Buffer): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const out: Buffer[] = [];
    stream.on('data', (c: Buffer | string) => out.push(typeof c === 'string' ? Buffer.from(c, 'latin1') : c));
    stream.on('error', reject);
    stream.on('end', () => resolve(Buffer.concat(out)));
    stream.end(input);
  });
}
