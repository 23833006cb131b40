// Minimal typings for the parts of mailsplit we use.
declare module 'mailsplit' {
  import { Transform } from 'node:stream';
  export interface HeaderLine { key: string; line: string }
  export class Headers {
    get(key: string): string[];
    getFirst(key: string): string;
    getList(): HeaderLine[];
    hasHeader(key: string): boolean;
    add(key: string, value: string | Buffer, index?: number): void;
    addFormatted(key: string, line: string, index?: number): void;
    remove(key: string): void;
    update(key: string, value: string): void;
    build(lineEnd?: string): Buffer;
  }
  export interface MimeNode {
    type: 'node'; root: boolean; headers: Headers; contentType?: string; multipart?: string | false;
    /** transfer-encoding decoder and encoder streams (tracking/rewrite.ts) */
    getDecoder(): Transform; getEncoder(encoding?: string): Transform;
  }
  export class Splitter extends Transform { constructor(config?: { maxHeadSize?: number; maxChildNodes?: number; ignoreEmbedded?: boolean }) }
  export class Joiner extends Transform { constructor() }
}
declare module 'libmime' {
  const libmime: {
    decodeWords(text: string): string; foldLines(text: string, len?: number, afterSpace?: boolean): string;
    /** encoded-words for the non-ASCII words of `text` (lists/personalise) */
    encodeWords(text: string, encoding?: 'Q' | 'B', maxLength?: number): string;
  };
  export default libmime;
}
