/**
 * intake/splitter — mailsplit's Splitter without a turn of the event loop per line.
 *
 * mailsplit 5's `_transform` hands every line to `processLine` and then waits for
 * `setImmediate` before the next one. A 2 KB message is ~40 lines, so intake needed ~40
 * turns of the loop after its last byte had arrived, each behind everything else the loop
 * had to do for the other sessions: 4 ms of a 17 ms median accept, and 24 ms of the
 * slowest 1% (bench/RESULTS.md, 2026-12-05 accept tail). `processLine` itself is
 * synchronous, so this `_transform` is mailsplit's (5.4.6, MIT) with the yields removed:
 * the same grouping of lines into the same pieces, one chunk in one go. The loop still gets
 * its turn between chunks, which the socket delivers at most 64 KiB at a time.
 */
import { Splitter } from 'mailsplit';
import type { TransformCallback } from 'node:stream';

interface Piece { type: string; node?: { parentNode?: unknown }; value?: Buffer }
type Next = (err?: Error | null, data?: Piece | false, flush?: boolean) => void;
/** The parts of mailsplit's Splitter this override works with (not in its public typings). */
interface SplitterInternals {
  line: Buffer | false;
  hasFailed: boolean;
  processLine(line: Buffer | false, final: boolean, next: Next): void;
  push(piece: Piece): boolean;
}

const LF = 0x0a;
const CR = 0x0d;

/** What the splitter makes of a message: MIME nodes (their headers parsed) and the bytes between them. */
export type SplitPiece = Piece;

export class SyncSplitter extends Splitter {
  /**
   * With `sink`, the splitter is used as a plain object, never piped: feed() and finish() hand
   * each piece to `sink` synchronously. Intake runs this way (intake/intake.ts): a stream and a
   * pipe per stage allocated more than the message itself, and all of it was kept alive
   * across the commit's fsync, long enough to be promoted (bench/RESULTS.md, 2026-12-05 23:10).
   */
  constructor(config?: ConstructorParameters<typeof Splitter>[0], private readonly sink?: (piece: SplitPiece) => void) {
    super(config);
  }

  override push(piece: unknown, encoding?: BufferEncoding): boolean {
    if (!this.sink) return super.push(piece, encoding);
    if (piece !== null) this.sink(piece as SplitPiece);
    return true;
  }

  /** One chunk of the message; an error (a header block over the limit, too many parts) is returned, not emitted. */
  feed(chunk: Buffer): Error | undefined {
    let failed: Error | undefined;
    this._transform(chunk, 'buffer' as BufferEncoding, (e) => { failed = e ?? undefined; });
    return failed;
  }

  /** The end of the message: mailsplit's _flush, answered synchronously. */
  finish(): Error | undefined {
    const self = this as unknown as SplitterInternals;
    if (self.hasFailed) return undefined;
    let answered = false;
    let failed: Error | undefined;
    self.processLine(false, true, (e, data) => {
      answered = true;
      if (e) failed = e;
      else if (data && (data.type === 'node' || data.value?.length)) this.push(data);
    });
    if (!answered) throw new Error('mailsplit processLine did not answer synchronously');
    return failed;
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, callback: TransformCallback): void {
    const self = this as unknown as SplitterInternals;
    let pos = 0;
    let i = 0;
    let group: Piece = { type: 'none' };
    let groupstart = self.line ? -self.line.length : 0;
    let groupend = 0;

    // A body piece of a child node leaves its last line break to the boundary line after it.
    const checkTrailingLinebreak = (data: Piece): void => {
      if (data.type !== 'body' || !data.node?.parentNode || !data.value?.length) return;
      const v = data.value;
      if (v[v.length - 1] === LF) {
        groupstart--; groupend--; pos--;
        if (v.length > 1 && v[v.length - 2] === CR) {
          groupstart--; groupend--; pos--;
          // store only <CR>, as <LF> should be on the positive side
          if (groupstart < 0 && !self.line) self.line = Buffer.from([CR]);
          data.value = v.subarray(0, v.length - 2);
        } else {
          data.value = v.subarray(0, v.length - 1);
        }
      } else if (v[v.length - 1] === CR) {
        groupstart--; groupend--; pos--;
        data.value = v.subarray(0, v.length - 1);
      }
    };
    /** without the last line ending of a child node's body */
    const trimBodyEnd = (): void => {
      if (group.type === 'body' && groupend >= groupstart && group.node?.parentNode && chunk[groupend - 1] === LF) {
        groupend--;
        if (groupend >= groupstart && chunk[groupend - 1] === CR) groupend--;
      }
    };

    // processLine answers synchronously on every path (mailsplit 5); `answered` proves it per line
    let answered = false;
    let err: Error | null | undefined;
    let data: Piece | false | undefined;
    let flush: boolean | undefined;
    const answer: Next = (e, d, f) => { answered = true; err = e; data = d; flush = f; };
    while (i < chunk.length) {
      // memchr, not a byte loop: indexing the Buffer byte by byte here allocated ~40 bytes per
      // byte of mail (85 KB of a 2 KB message, a third of the main thread's allocation; bench/RESULTS.md)
      const lf = chunk.indexOf(LF, i);
      if (lf < 0) break;
      const start = Math.max(pos, 0);
      pos = i = lf + 1;
      answered = false;
      self.processLine(chunk.subarray(start, i), false, answer);
      if (!answered) throw new Error('mailsplit processLine did not answer synchronously');
      if (err) {
        self.hasFailed = true;
        callback(err);
        return;
      }
      if (!data) continue;

      if (flush) {
        if (group.type !== 'none') {
          trimBodyEnd();
          if (groupstart !== groupend) {
            group.value = chunk.subarray(groupstart, groupend);
            if (groupend < i) data.value = chunk.subarray(groupend, i);
          }
          self.push(group);
          group = { type: 'none' };
          groupstart = groupend = i;
        }
        self.push(data);
        groupend = i;
        continue;
      }

      if (data.type === group.type) {
        groupend = i; // shift slice end position forward
        continue;
      }
      trimBodyEnd();
      if (group.type !== 'none' && group.type !== 'node' && groupstart !== groupend) {
        // a previous data/body piece to output
        group.value = chunk.subarray(groupstart, groupend);
        if (group.value.length) {
          self.push(group);
          group = { type: 'none' };
        }
      }
      if (data.type === 'node') {
        self.push(data);
        groupstart = i;
        groupend = i;
      } else if (groupstart < 0) {
        groupstart = i;
        groupend = i;
        checkTrailingLinebreak(data);
        if (data.value?.length) self.push(data);
      } else {
        // start a new data/body piece
        group = data;
        groupstart = groupend;
        groupend = i;
      }
    }

    // skip the last line break of a child node's body
    if (pos >= groupstart + 1 && group.type === 'body' && group.node?.parentNode && chunk[pos - 1] === LF) {
      pos--;
      if (pos >= groupstart && chunk[pos - 1] === CR) pos--;
    }
    if (group.type !== 'none' && group.type !== 'node' && pos > groupstart) {
      // a leftover data/body piece to push out
      group.value = chunk.subarray(groupstart, pos);
      if (group.value.length) self.push(group);
    }
    if (pos < chunk.length) self.line = self.line ? Buffer.concat([self.line, chunk.subarray(pos)]) : chunk.subarray(pos);
    callback();
  }
}
