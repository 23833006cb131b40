/**
 * intake/guard — the first filter on DATA bytes, before anything parses them.
 *
 * Refuses (SMTP smuggling defence, after Postfix's CVE-2023-51764 fix): a CR not followed
 * by LF, an LF not preceded by CR, NUL bytes, and lines over 1000 bytes including CRLF
 * (RFC 5321 §4.5.3.1.6). Enforces the size limit while streaming: past the limit bytes
 * are counted and dropped, never buffered. After a violation it keeps consuming (the
 * client must finish DATA before we may answer) but passes nothing on.
 */
export type GuardViolation = 'bare-cr' | 'bare-lf' | 'nul' | 'line-too-long' | 'too-big';

const CR = 0x0d, LF = 0x0a, NUL = 0x00;
export const MAX_LINE = 1000;

/** A plain object, not a stream: intake calls it on each chunk as it arrives (intake/intake.ts). */
export class DataGuard {
  violation: GuardViolation | undefined;
  bytes = 0;
  private prevCR = false;
  private lineLen = 0;

  constructor(private readonly maxSize: number) {}

  /** Whether `chunk` may be passed on: false from the first violation on. */
  scan(chunk: Buffer): boolean {
    this.bytes += chunk.length;
    if (this.violation) return false;
    if (this.bytes > this.maxSize) { this.violation = 'too-big'; return false; }
    for (let i = 0; i < chunk.length; i++) {
      const b = chunk[i]!;
      if (this.prevCR) {
        if (b !== LF) { this.violation = 'bare-cr'; return false; }
        this.prevCR = false;
        this.lineLen = 0;
        continue;
      }
      if (b === CR) { this.prevCR = true; this.lineLen++; continue; }
      if (b === LF) { this.violation = 'bare-lf'; return false; }
      if (b === NUL) { this.violation = 'nul'; return false; }
      if (++this.lineLen > MAX_LINE - 2) { this.violation = 'line-too-long'; return false; }
    }
    return true;
  }

  /** The end of DATA. smtp-server strips the final CRLF before the dot; a lone CR at the very end is bare. */
  end(): void {
    if (!this.violation && this.prevCR) this.violation = 'bare-cr';
  }
}
