/**
 * spool/chunks — how every backend stores a body: rows of at most CHUNK bytes, in order,
 * written once and never rewritten on retries. Pure; it must never touch storage.
 */

export const CHUNK = 64 * 1024;

/** Re-chunks small stream pieces into rows of at most CHUNK bytes. */
export function rechunk(chunks: Buffer[]): Buffer[] {
  const out: Buffer[] = [];
  let acc: Buffer[] = [];
  let len = 0;
  for (const c of chunks) {
    let off = 0;
    while (off < c.length) {
      const take = Math.min(CHUNK - len, c.length - off);
      acc.push(c.subarray(off, off + take));
      len += take; off += take;
      if (len === CHUNK) { out.push(Buffer.concat(acc, len)); acc = []; len = 0; }
    }
  }
  if (len > 0 || out.length === 0) out.push(Buffer.concat(acc, len));
  return out;
}
