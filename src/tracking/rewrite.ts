/**
 * tracking/rewrite — one recipient's copy of a tracked message: walks the MIME tree
 * (mailsplit), decodes each HTML part (and plain-text part, when text links are tracked)
 * from its transfer encoding, rewrites its links and adds the pixel (tracking/links.ts),
 * and encodes it again the same way. Headers, boundaries, other parts and the nesting
 * (multipart/alternative inside multipart/related or mixed) pass through unchanged, and the
 * top-level X-Mta-Track header is taken off. Runs before DKIM signing, which signs the
 * result.
 *
 * Must never: touch attachments or the parts of an attached message (message/rfc822), or a
 * part in a charset that is not ASCII-compatible (UTF-16/32: left as it is).
 */
import { Readable, Transform, Writable, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { Splitter, Joiner, type MimeNode } from 'mailsplit';
import { escapeLeadingDash } from '../util/qp.js';
import { LinkCounter, rewriteHtml, rewriteText, type LinkRewriter } from './links.js';

export const TRACK_HEADER = 'x-mta-track';

export interface RewriteOptions extends LinkRewriter {
  opens: boolean;
  clicks: boolean;
  /** rewrite the links of text/plain parts too (tracking.text_links) */
  textLinks: boolean;
}

/** RFC 5322 §2.1.1: a line must not be longer than 998 octets. */
const MAX_LINE = 998;

type Part = MimeNode & { encoding?: string | false; charset?: string | false; disposition?: string | false; rfc822?: boolean; parentNode?: Part };

function insideAttachedMessage(n: Part): boolean {
  for (let p = n.parentNode; p; p = p.parentNode) if (p.rfc822) return true;
  return false;
}

function asciiCompatible(charset: string | false | undefined): boolean {
  return !charset || !/^(utf-?(16|32)|ucs-?[24])/i.test(charset);
}

async function through(stream: Transform, input: Buffer): Promise<Buffer> {
  const out: Buffer[] = [];
  stream.on('data', (c: Buffer) => out.push(c));
  const done = new Promise<void>((resolve, reject) => { stream.on('end', resolve); stream.on('error', reject); });
  stream.end(input);
  await done;
  return Buffer.concat(out);
}

class PartRewriter extends Transform {
  private current: { node: Part; chunks: Buffer[]; html: boolean } | undefined;
  private readonly counter = new LinkCounter();

  constructor(private readonly o: RewriteOptions) { super({ objectMode: true }); }

  private wanted(n: Part): { html: boolean } | undefined {
    if (n.multipart || n.disposition === 'attachment' || insideAttachedMessage(n) || !asciiCompatible(n.charset)) return undefined;
    if (n.contentType === 'text/html') return { html: true };
    if (n.contentType === 'text/plain' && this.o.textLinks && this.o.clicks) return { html: false };
    return undefined;
  }

  override _transform(data: { type: string; value?: Buffer }, _enc: BufferEncoding, cb: TransformCallback): void {
    if (this.current && data.type === 'body') { if (data.value) this.current.chunks.push(data.value); cb(); return; }
    this.flushPart().then(() => {
      if (data.type === 'node') {
        const n = data as unknown as Part;
        if (n.root) n.headers.remove(TRACK_HEADER);
        const w = this.wanted(n);
        if (w) { this.current = { node: n, chunks: [], html: w.html }; cb(); return; }
      }
      cb(null, data);
    }, (e: unknown) => cb(e as Error));
  }

  override _flush(cb: TransformCallback): void {
    this.flushPart().then(() => cb(), (e: unknown) => cb(e as Error));
  }

  private async flushPart(): Promise<void> {
    const part = this.current;
    if (!part) return;
    this.current = undefined;
    const n = part.node;
    const raw = Buffer.concat(part.chunks);
    const decoded = (await through(n.getDecoder(), raw)).toString('latin1');
    const text = part.html ? rewriteHtml(decoded, { ...this.o, pixel: this.o.opens ? this.o.pixel : undefined, honeypot: this.o.honeypot }, this.counter, this.o.clicks)
      : rewriteText(decoded, this.o, this.counter);
    let body: Buffer;
    const enc = n.encoding || '7bit';
    // Longer links can push a 7bit/8bit line past the limit: such a part goes out quoted-printable.
    const qp = enc === 'quoted-printable' || (enc !== 'base64' && text.split(/\r?\n/).some((l) => l.length > MAX_LINE));
    if (enc === 'base64') {
      body = await through(n.getEncoder(), Buffer.from(text, 'latin1'));
    } else if (qp) {
      // A decoded "=2D" line start must not come back as "--": it could read as a boundary (util/qp.ts).
      const encoded = await through(n.getEncoder('quoted-printable'), Buffer.from(text, 'latin1'));
      body = Buffer.from(escapeLeadingDash(encoded.toString('latin1')), 'latin1');
    } else {
      body = Buffer.from(text, 'latin1');
    }
    // Keep the part's ending as it was: with or without a last line break (mailsplit keeps
    // the one before a boundary with the boundary).
    body = Buffer.concat([Buffer.from(body.toString('latin1').replace(/\r?\n$/, ''), 'latin1'), Buffer.from(/\n$/.test(raw.toString('latin1')) ? '\r\n' : '')]);
    this.push(n);
    this.push({ type: 'body', node: n, value: Buffer.from(body.toString('latin1').replace(/\r?\n/g, '\r\n'), 'latin1') });
  }
}

/** The recipient's copy of `message` (CRLF lines), links and pixel rewritten. */
export async function rewriteMessage(message: Buffer, o: RewriteOptions): Promise<Buffer> {
  const out: Buffer[] = [];
  const sink = new Writable({ write(c: Buffer, _e, cb) { out.push(c); cb(); } });
  await pipeline(Readable.from([message]), new Splitter(), new PartRewriter(o), new Joiner(), sink);
  return Buffer.concat(out);
}
