/**
 * Reading messages back in tests: every leaf part decoded (mailsplit, libmime's decoders,
 * no string matching on encoded bytes), and what makes a message unfit as SMTP DATA.
 */
import { Splitter } from 'mailsplit';
import libmime from 'libmime';
import { decode } from 'libmime/lib/charset';

export interface Part { contentType: string; charset: string | false; encoding: string; header: string; raw: Buffer; text: string }

/** Every leaf part with its raw body and its body decoded (transfer encoding, then charset). */
export async function mimeParts(msg: Buffer): Promise<{ subject: string; parts: Part[] }> {
  const splitter = new Splitter({ ignoreEmbedded: true });
  const found: { node: any; chunks: Buffer[] }[] = [];
  let subject = '';
  splitter.on('data', (d: any) => {
    if (d.type === 'node') {
      if (d.root) subject = libmime.decodeWords(d.headers.getFirst('Subject'));
      if (!d.multipart) found.push({ node: d, chunks: [] });
    } else if (d.type === 'body' && d.value) found.at(-1)!.chunks.push(d.value);
  });
  await new Promise<void>((resolve, reject) => { splitter.on('end', resolve); splitter.on('error', reject); splitter.end(msg); });
  const out: Part[] = [];
  for (const { node, chunks } of found) {
    const raw = Buffer.concat(chunks);
    const dec = node.getDecoder();
    const bytes = await new Promise<Buffer>((resolve) => { const b: Buffer[] = []; dec.on('data', (c: Buffer) => b.push(c)); dec.on('end', () => resolve(Buffer.concat(b))); dec.end(raw); });
    out.push({ contentType: node.contentType, charset: node.charset, encoding: node.encoding || '7bit', header: node.getHeaders().toString('latin1'), raw, text: decode(bytes, node.charset || 'utf-8') });
  }
  return { subject, parts: out };
}

/** What is wrong with the message as SMTP DATA: bare CR or LF, lines over 998 bytes, no final CRLF. */
export function unclean(msg: Buffer): string[] {
  const s = msg.toString('latin1');
  const problems: string[] = [];
  if (/\r(?!\n)|(?<!\r)\n/.test(s)) problems.push('bare CR or LF');
  if (!s.split('\r\n').every((l) => l.length <= 998)) problems.push('a line over 998 bytes');
  if (!s.endsWith('\r\n')) problems.push('no final CRLF');
  return problems;
}
