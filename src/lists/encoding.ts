/**
 * lists/encoding — which encoding an imported file is read in, checked over the whole file
 * before a row is read: `utf8` and `gbk` must be valid throughout; `auto` takes UTF-8 when
 * the file is valid UTF-8 (a BOM included), else GBK when it is valid GBK, and says which
 * and why (the import report shows it).
 *
 * Why the whole file and not a sniff of its head: a file valid UTF-8 in its first 64 KB and
 * broken later was decoded with replacement characters silently, and a file valid in
 * neither was read as GBK silently; both imported garbage as member variables.
 *
 * Must never: accept a file with a byte sequence invalid in the chosen encoding. The file is
 * read once here, in chunks; memory does not grow with it.
 */
import { createReadStream } from 'node:fs';
import iconv from 'iconv-lite';
import { MtaError } from '../util/errors.js';

export type Encoding = 'utf8' | 'gbk';
export type EncodingOption = Encoding | 'auto';

export interface EncodingChoice { encoding: Encoding; note: string }

/** Where the first invalid sequence is: its byte offset and line (1-based), or undefined when the file is valid. */
interface BadSpot { byte: number; line: number }

/** Checks the whole file in `encoding`. */
async function firstInvalid(path: string, encoding: Encoding): Promise<BadSpot | undefined> {
  let offset = 0;
  let line = 1;
  if (encoding === 'utf8') {
    const v = utf8Validator();
    for await (const chunk of createReadStream(path) as AsyncIterable<Buffer>) {
      for (let i = 0; i < chunk.length; i++) {
        const b = chunk[i]!;
        if (!v(b)) return { byte: offset + i, line };
        if (b === 0x0a) line++;
      }
      offset += chunk.length;
    }
    return v(-1) ? undefined : { byte: offset, line };
  }
  const decoder = iconv.getDecoder('gbk');
  for await (const chunk of createReadStream(path) as AsyncIterable<Buffer>) {
    const text = decoder.write(chunk);
    const bad = text.indexOf('\uFFFD');
    // GBK cannot encode U+FFFD: the decoder's replacement character marks an invalid sequence.
    if (bad >= 0) return { byte: offset, line: line + countLines(text.slice(0, bad)) };
    line += countLines(text);
    offset += chunk.length;
  }
  const rest = decoder.end() ?? '';
  return rest.includes('\uFFFD') ? { byte: offset, line } : undefined;
}

function countLines(s: string): number {
  let n = 0;
  for (let i = s.indexOf('\n'); i >= 0; i = s.indexOf('\n', i + 1)) n++;
  return n;
}

/** A byte-at-a-time UTF-8 checker (RFC 3629: no overlongs, surrogates or values over U+10FFFF); -1 asks "complete at the end?". */
function utf8Validator(): (b: number) => boolean {
  let need = 0;
  let lo = 0x80;
  let hi = 0xbf;
  return (b) => {
    if (b < 0) return need === 0;
    if (need > 0) {
      if (b < lo || b > hi) return false;
      need--; lo = 0x80; hi = 0xbf;
      return true;
    }
    if (b < 0x80) return true;
    if (b >= 0xc2 && b <= 0xdf) { need = 1; return true; }
    if (b >= 0xe0 && b <= 0xef) { need = 2; if (b === 0xe0) lo = 0xa0; if (b === 0xed) hi = 0x9f; return true; }
    if (b >= 0xf0 && b <= 0xf4) { need = 3; if (b === 0xf0) lo = 0x90; if (b === 0xf4) hi = 0x8f; return true; }
    return false;
  };
}

const where = (s: BadSpot): string => `line ${s.line}, byte ${s.byte}`;

/** The encoding to read `path` in, or MTA_ERR_INVALID naming where the file breaks it; `label` names the file in messages. */
export async function chooseEncoding(path: string, option: EncodingOption, label: string): Promise<EncodingChoice> {
  if (option !== 'auto') {
    const bad = await firstInvalid(path, option);
    if (bad) throw new MtaError('MTA_ERR_INVALID', `${label} is not valid ${option === 'utf8' ? 'UTF-8' : 'GBK'} (${where(bad)}); nothing was imported`, 'encoding');
    return { encoding: option, note: 'as requested' };
  }
  const notUtf8 = await firstInvalid(path, 'utf8');
  if (!notUtf8) return { encoding: 'utf8', note: 'auto: the file is valid UTF-8' };
  const notGbk = await firstInvalid(path, 'gbk');
  if (!notGbk) return { encoding: 'gbk', note: `auto: not valid UTF-8 (${where(notUtf8)}), valid GBK` };
  throw new MtaError('MTA_ERR_INVALID',
    `${label} is neither valid UTF-8 (${where(notUtf8)}) nor valid GBK (${where(notGbk)}); save it as UTF-8 and import again. Nothing was imported`, 'encoding');
}
