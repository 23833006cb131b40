/**
 * admin/list-upload — a recipient list file uploaded as multipart/form-data (the API's
 * counterpart of `mta list import FILE`). busboy parses the request as it arrives; the
 * `file` part is streamed to a temporary file in `<data_dir>/tmp` and then imported by
 * lists/import.ts's importFile — the same code, encoding sniffing and report as the CLI.
 *
 * Why a temporary file and not the importer reading the request directly: the importer
 * reads its input more than once (a 64 KB sniff for the encoding, the header row, and under
 * `strict` a whole checking pass before anything is written), and an HTTP body can be read
 * only once. A file on disk keeps memory flat for a 1,000,000-row upload and keeps strict
 * imports all-or-nothing.
 *
 * Form fields (any order, before or after the file): `strict` (true|false), `encoding`
 * (auto|utf8|gbk), `format` (csv|txt; default: the file name's extension, else sniffed).
 *
 * Never: holds the file in memory, keeps the temporary file after the request, reads more
 * than `[lists] max_upload_size` (+1 MB of draining so the client can read the 413).
 *
 * A daemon killed mid-upload leaves its `list-upload-*` file in `<data_dir>/tmp`; the daemon
 * sweeps them at start-up (sweepUploads), before the admin API takes a request.
 */
import { createWriteStream } from 'node:fs';
import { mkdir, readdir, rename, unlink } from 'node:fs/promises';
import { extname, join } from 'node:path';
import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import busboy from 'busboy';
import type { ListStoreApi } from '../lists/lists.js';
import { importFile, type EncodingOption, type ImportReport } from '../lists/import.js';
import { MtaError } from '../util/errors.js';

export const UPLOAD_MEDIA_TYPE = 'multipart/form-data';
/** Bytes allowed past the limit for boundaries and form fields. */
const FORM_OVERHEAD = 64 * 1024;
const DRAIN = 1024 * 1024;

export interface UploadFields { strict: boolean; encoding: EncodingOption; format: 'csv' | 'txt' | undefined }

export interface UploadOptions {
  /** largest file part, bytes */
  maxBytes: number;
  /** where the temporary file goes (created when missing) */
  tmpDir: string;
  /** `?strict=true` on the URL; the form field wins */
  strict?: boolean;
}

function tooLarge(max: number): MtaError {
  return new MtaError('MTA_ERR_TOO_LARGE', `the uploaded file is over lists.max_upload_size (${max} bytes); import larger files with \`mta list import\``, 'file');
}

function invalid(message: string, field?: string): MtaError {
  return new MtaError('MTA_ERR_INVALID', message, field);
}

const UPLOAD_PREFIX = 'list-upload-';

/** Removes the temporary files of uploads cut short by a crash; returns how many. Other files are left alone. */
export async function sweepUploads(tmpDir: string): Promise<number> {
  const names = await readdir(tmpDir).catch(() => [] as string[]);
  let n = 0;
  for (const name of names) {
    if (!name.startsWith(UPLOAD_PREFIX)) continue;
    await unlink(join(tmpDir, name)).then(() => { n++; }, () => { /* gone meanwhile */ });
  }
  return n;
}

/** Imports the `file` part of a multipart/form-data request into `list`. */
export async function importUpload(store: ListStoreApi, list: string, req: IncomingMessage, opts: UploadOptions): Promise<ImportReport> {
  // Refuse before reading: an unknown list or a declared size over the limit.
  if (!(await store.getList(list))) { req.resume(); throw new MtaError('MTA_ERR_NOT_FOUND', `no list named ${list}`); }
  const declared = Number(req.headers['content-length'] ?? 0);
  if (declared > opts.maxBytes + FORM_OVERHEAD) {
    if (declared > opts.maxBytes + FORM_OVERHEAD + DRAIN) req.destroy(); else req.resume();
    throw tooLarge(opts.maxBytes);
  }
  await mkdir(opts.tmpDir, { recursive: true, mode: 0o700 });
  const tmp = join(opts.tmpDir, `${UPLOAD_PREFIX}${randomUUID()}`);
  let path = tmp;
  try {
    const { fields, filename } = await receive(req, tmp, opts);
    const ext = fields.format ? `.${fields.format}` : ['.csv', '.txt', '.tsv'].includes(extname(filename).toLowerCase()) ? extname(filename).toLowerCase() : '';
    // importFile picks the delimiter from the extension (and sniffs without one).
    if (ext) { path = tmp + ext; await rename(tmp, path); }
    // Messages name the upload by its file name, never by the temporary path on the server.
    return await importFile(store, list, path, { strict: fields.strict, encoding: fields.encoding, label: filename ? `the uploaded file ${JSON.stringify(filename)}` : 'the uploaded file' });
  } finally {
    await unlink(path).catch(() => { /* never written, or gone already */ });
  }
}

/** Reads the form: the file part into `dest`, the fields parsed; rejects on any problem with the form. */
function receive(req: IncomingMessage, dest: string, opts: UploadOptions): Promise<{ fields: UploadFields; filename: string }> {
  return new Promise((resolve, reject) => {
    const fields: UploadFields = { strict: opts.strict ?? false, encoding: 'auto', format: undefined };
    let bb: busboy.Busboy;
    try {
      bb = busboy({ headers: req.headers, limits: { files: 1, fileSize: opts.maxBytes, fields: 10, fieldSize: 1024, parts: 12 } });
    } catch (e) {
      req.resume();
      reject(invalid(`malformed multipart/form-data request: ${(e as Error).message}`));
      return;
    }
    let failure: Error | undefined;
    let file: { name: string; done: Promise<void>; out: NodeJS.WritableStream & { destroy(): void } } | undefined;
    let received = 0;
    const fail = (e: Error): void => {
      if (failure) return;
      failure = e;
      file?.out.destroy();
      // Keep reading (and discarding) so the client gets the reply, but not for ever (below).
      req.unpipe(bb);
      req.resume();
      reject(e);
    };
    req.on('data', (c: Buffer) => {
      received += c.length;
      if (failure && received > opts.maxBytes + FORM_OVERHEAD + DRAIN) req.destroy();
    });
    req.on('close', () => { if (!req.complete) fail(invalid('the upload was cut off before the end of the form')); });

    bb.on('field', (name, value, info) => {
      if (info.valueTruncated) return fail(invalid(`form field ${name} is too long`, name));
      switch (name) {
        case 'strict':
          if (value !== 'true' && value !== 'false') return fail(invalid('strict: must be true or false', 'strict'));
          fields.strict = value === 'true';
          return;
        case 'encoding':
          if (value !== 'auto' && value !== 'utf8' && value !== 'gbk') return fail(invalid('encoding: must be auto, utf8 or gbk', 'encoding'));
          fields.encoding = value;
          return;
        case 'format':
          if (value !== 'csv' && value !== 'txt') return fail(invalid('format: must be csv or txt', 'format'));
          fields.format = value;
          return;
        default:
          return fail(invalid(`unknown form field "${name}" (expected file, strict, encoding, format)`, name));
      }
    });
    bb.on('file', (name, stream, info) => {
      if (name !== 'file') {
        stream.resume();
        return fail(invalid(`unexpected file part "${name}": send the list file as the part named "file"`, name));
      }
      const out = createWriteStream(dest, { mode: 0o600 });
      // A stream destroyed while still opening creates its file afterwards: remove it then.
      out.on('close', () => { if (failure) unlink(dest).catch(() => { /* gone already */ }); });
      const done = new Promise<void>((res, rej) => {
        out.on('finish', res);
        out.on('error', rej);
        stream.on('limit', () => rej(tooLarge(opts.maxBytes)));
        stream.on('error', rej);
      });
      done.catch((e: Error) => { out.destroy(); fail(e); });
      file = { name: info.filename ?? '', done, out };
      stream.pipe(out);
    });
    bb.on('filesLimit', () => fail(invalid('only one file part may be sent', 'file')));
    bb.on('partsLimit', () => fail(invalid('too many parts in the form', 'file')));
    bb.on('fieldsLimit', () => fail(invalid('too many form fields', 'file')));
    bb.on('error', (e: Error) => fail(invalid(`malformed multipart/form-data request: ${e.message}`)));
    bb.on('close', () => {
      if (failure) return;
      if (!file) return fail(invalid('the form has no "file" part: send the CSV or TXT file as a part named "file"', 'file'));
      const f = file;
      f.done.then(() => { if (!failure) resolve({ fields, filename: f.name }); }, () => { /* fail() has rejected */ });
    });
    req.pipe(bb);
  });
}
