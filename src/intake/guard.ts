/**
 * intake/guard — the first filter on DATA bytes, before anything parses them.
 *
 * Refuses (SMTP smuggling defence, after Postfix's CVE-2023-51764 fix): a CR not followed
 * by LF, an LF not preceded by CR, NUL bytes, and lines over 1000 bytes including CRLF
 * (RFC 5321 §4.5.3.1.6). Enforces the size limit while streaming: past the limit bytes
 * are counted and dropped, never buffered. After a violation it keeps consuming (the
 * client must finish DATA before we may answer) but passes nothing on.
 */
import { Transform, type TransformCallback } from 'node:stream';

export type GuardViolation = 'bare-cr' | 'bare-lf' | 'nul' | 'line-too-long' | 'too-big';

const CR = 0x0d, LF = 0x0a, NUL = 0x00;
export const MAX_LINE = 1000;

export class DataGuard extends Transform {
  violation: GuardViolation | undefined;
  bytes = 0;
  private prevCR = false;
  private lineLen = 0;
  /** Set when a later stage failed: keep draining, stop forwarding. */
  stopped = false;

  constructor(private readonly maxSize: number) {
    super();
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.bytes += chunk.length;
    if (this.violation || this.stopped) return cb();
    if (this.bytes > this.maxSize) { this.violation = 'too-big'; return cb(); }
    for (let i = 0; i < chunk.length; i++) {
      const b = chunk[i]!;
      if (this.prevCR) {
        if (b !== LF) { this.violation = 'bare-cr'; return cb(); }
        this.prevCR = false;
        this.lineLen = 0;
        continue;
      }
      if (b === CR) { this.prevCR = true; this.lineLen++; continue; }
      if (b === LF) { this.violation = 'bare-lf'; return cb(); }
      if (b === NUL) { this.violation = 'nul'; return cb(); }
      if (++this.lineLen > MAX_LINE - 2) { this.violation = 'line-too-long'; return cb(); }
    }
    cb(null, chunk);
  }

  override _flush(cb: TransformCallback): void {
    // smtp-server strips the final CRLF before the dot; a lone CR at the very end is bare.
    if (!this.violation && this.prevCR) this.violation = 'bare-cr';
    cb();
  }
}
