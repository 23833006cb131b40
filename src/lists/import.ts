/**
 * lists/import — members into a recipient list, from a CSV or TXT file (`mta list import`)
 * or JSON rows (the API). The header row names the variables: `EAddr` (required, any
 * case; a seed-style header such as `收件人邮箱地址{EAddr}` counts too), `UserName`,
 * `NickName`, `Gender`, `Birthday`, `Mobile` and any other column. A TXT file is tab
 * separated, or one address per line without a header.
 *
 * Streaming: the file is decoded (UTF-8, GBK, or sniffed: a BOM or valid UTF-8 in the
 * first 64 KB, else GBK) and parsed as a stream, and members are written in batches of
 * BATCH rows, one transaction each — memory does not grow with the file. Re-importing
 * an address updates its variables; a second row for an address within one import is a
 * duplicate (the first one wins). Invalid rows are reported with their line number, value
 * and reason, never dropped silently. `strict`: a first pass reads the whole file and the
 * first invalid row refuses it before anything is written.
 */
import { createReadStream } from 'node:fs';
import { open } from 'node:fs/promises';
import { extname } from 'node:path';
import { randomUUID } from 'node:crypto';
import { pipeline } from 'node:stream';
import { parse } from 'csv-parse';
import iconv from 'iconv-lite';
import type { MemberWrite } from '../spool/types.js';
import type { ListStoreApi } from './lists.js';
import { canonicalAddress } from '../util/address.js';
import { MtaError } from '../util/errors.js';

export const BATCH = 1000;
const SNIFF_BYTES = 64 * 1024;
const MAX_DUPLICATE_EXAMPLES = 100;
const MAX_VALUE = 1024;
/** Canonical spelling of the seed's variables; other column names are kept as written. */
const KNOWN = ['EAddr', 'UserName', 'NickName', 'Gender', 'Birthday', 'Mobile'];

export type Encoding = 'utf8' | 'gbk';
export type EncodingOption = Encoding | 'auto';

export interface ImportProblem { line: number; value: string; reason: string }

export interface ImportReport {
  list: string;
  /** data rows read (header excluded) */
  rows: number;
  imported: number;
  updated: number;
  duplicates: number;
  invalid: number;
  /** every invalid row */
  errors: ImportProblem[];
  /** the first duplicates (line and address) */
  duplicate_rows: { line: number; value: string }[];
  /** variable columns, EAddr excluded */
  variables: string[];
  /** --strict found an error: nothing was written */
  refused: boolean;
  encoding?: Encoding;
}

/** One data row as a source gives it: the EAddr value, the other variables, or a problem found while reading. */
export interface SourceRow { line: number; value: string; variables: Record<string, string>; problem?: string }

export interface ImportOptions {
  strict?: boolean;
  batch?: number;
  now?: () => number;
  /** called after every batch with the data rows read so far */
  onProgress?: (rows: number) => void;
}

/** The canonical name of a header cell: `{Name}` inside a label counts, the seed's names in any case. */
export function columnName(cell: string): string {
  let c = cell.replace(/^\uFEFF/, '').trim();
  const braced = /\{([^{}]+)\}/.exec(c);
  if (braced) c = braced[1]!.trim();
  return KNOWN.find((k) => k.toLowerCase() === c.toLowerCase()) ?? c;
}

export interface Header { eaddr: number; names: string[] }

/** The header row → column names; undefined when there is no EAddr column. Refuses empty and repeated names. */
export function parseHeader(cells: readonly string[]): Header | undefined {
  const names = cells.map(columnName);
  const eaddr = names.indexOf('EAddr');
  if (eaddr < 0) return undefined;
  names.forEach((n, i) => {
    if (n === '' && !(i === names.length - 1 && i > 0)) throw new MtaError('MTA_ERR_INVALID', `column ${i + 1} of the header row has no name`);
    if (n !== '' && names.indexOf(n) !== i) throw new MtaError('MTA_ERR_INVALID', `column "${n}" appears twice in the header row`);
    if (n.length > 64) throw new MtaError('MTA_ERR_INVALID', `column name "${n.slice(0, 64)}..." is longer than 64 characters`);
  });
  return { eaddr, names };
}

function missingEAddr(found: readonly string[]): MtaError {
  return new MtaError('MTA_ERR_INVALID',
    `the header row has no EAddr column (found: ${found.map((f) => JSON.stringify(f)).join(', ') || 'nothing'}); the first row must name the columns, e.g. EAddr,UserName,NickName`, 'EAddr');
}

/** Runs an import over rows from `source()`; strict reads the source twice (check, then write). */
export async function importRows(store: ListStoreApi, list: string, columns: readonly string[], source: () => AsyncIterable<SourceRow>, opts: ImportOptions = {}): Promise<ImportReport> {
  if (!(await store.getList(list))) throw new MtaError('MTA_ERR_NOT_FOUND', `no list named ${list}`);
  const report: ImportReport = {
    list, rows: 0, imported: 0, updated: 0, duplicates: 0, invalid: 0, errors: [], duplicate_rows: [], variables: [...columns], refused: false,
  };
  if (opts.strict) {
    for await (const row of source()) {
      report.rows++;
      const problem = check(row);
      if (problem) {
        report.invalid = 1; report.errors.push(problem); report.refused = true;
        return report;
      }
    }
  }
  const now = opts.now ?? Date.now;
  const importId = randomUUID();
  report.rows = 0;
  const size = opts.batch ?? BATCH;
  let batch: { line: number; address: string; variables: Record<string, string> }[] = [];
  const flush = async (): Promise<void> => {
    if (batch.length === 0) return;
    const done = await store.upsertListMembers(list, importId, columns, batch, now());
    done.forEach((w: MemberWrite, i) => {
      if (w === 'inserted') report.imported++;
      else if (w === 'updated') report.updated++;
      else {
        report.duplicates++;
        if (report.duplicate_rows.length < MAX_DUPLICATE_EXAMPLES) report.duplicate_rows.push({ line: batch[i]!.line, value: batch[i]!.address });
      }
    });
    batch = [];
    opts.onProgress?.(report.rows);
  };
  for await (const row of source()) {
    report.rows++;
    const problem = check(row);
    if (problem) { report.invalid++; report.errors.push(problem); continue; }
    batch.push({ line: row.line, address: canonicalAddress(row.value)!, variables: row.variables });
    if (batch.length >= size) await flush();
  }
  await flush();
  return report;
}

function check(row: SourceRow): ImportProblem | undefined {
  const value = row.value.trim();
  if (row.problem) return { line: row.line, value, reason: row.problem };
  if (value === '') return { line: row.line, value, reason: 'EAddr is empty' };
  if (!canonicalAddress(value)) return { line: row.line, value, reason: 'not a valid email address' };
  const long = Object.entries(row.variables).find(([, v]) => v.length > MAX_VALUE);
  if (long) return { line: row.line, value, reason: `${long[0]} is longer than ${MAX_VALUE} characters` };
  return undefined;
}

// ---- files ----

/** A BOM or valid UTF-8 in the first 64 KB means UTF-8; anything else is taken as GBK. */
export function sniffEncoding(head: Buffer): Encoding {
  if (head.length >= 3 && head[0] === 0xef && head[1] === 0xbb && head[2] === 0xbf) return 'utf8';
  try {
    new TextDecoder('utf-8', { fatal: true }).decode(head, { stream: true });
    return 'utf8';
  } catch {
    return 'gbk';
  }
}

async function readHead(path: string): Promise<Buffer> {
  let fh;
  try {
    fh = await open(path, 'r');
  } catch (e) {
    throw new MtaError('MTA_ERR_INVALID', `cannot read ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, 'file');
  }
  try {
    const buf = Buffer.alloc(SNIFF_BYTES);
    const { bytesRead } = await fh.read(buf, 0, SNIFF_BYTES, 0);
    return buf.subarray(0, bytesRead);
  } finally {
    await fh.close();
  }
}

/** Records of a delimited file, decoded and parsed as a stream, each with its (last) line number. */
async function* records(path: string, encoding: Encoding, delimiter: string): AsyncIterable<{ line: number; cells: string[] }> {
  const parser = parse({
    delimiter, bom: true, info: true, relax_column_count: true, relax_quotes: true, skip_empty_lines: true,
  });
  pipeline(createReadStream(path), iconv.decodeStream(encoding), parser, (err) => { if (err) parser.destroy(err); });
  try {
    for await (const r of parser as AsyncIterable<{ record: string[]; info: { lines: number } }>) {
      if (r.record.every((c) => c.trim() === '')) continue;
      yield { line: r.info.lines, cells: r.record };
    }
  } catch (e) {
    if (e instanceof MtaError) throw e;
    throw new MtaError('MTA_ERR_INVALID', `${path}: ${(e as Error).message}`, 'file');
  }
}

export interface FileImportOptions extends ImportOptions { encoding?: EncodingOption }

/** Imports a CSV or TXT file into `list`. */
export async function importFile(store: ListStoreApi, list: string, path: string, opts: FileImportOptions = {}): Promise<ImportReport> {
  if (!(await store.getList(list))) throw new MtaError('MTA_ERR_NOT_FOUND', `no list named ${list}`);
  const head = await readHead(path);
  const encoding: Encoding = !opts.encoding || opts.encoding === 'auto' ? sniffEncoding(head) : opts.encoding;
  const firstLine = iconv.decode(head, encoding).split(/\r?\n/, 1)[0] ?? '';
  const ext = extname(path).toLowerCase();
  const delimiter = ext === '.txt' || ext === '.tsv' || (ext !== '.csv' && firstLine.includes('\t') && !firstLine.includes(',')) ? '\t' : ',';

  // The first record decides: a header naming EAddr, or (one column holding an address) a bare list of addresses.
  let header: Header | undefined;
  let headerless = false;
  for await (const r of records(path, encoding, delimiter)) {
    header = parseHeader(r.cells);
    if (!header && r.cells.length === 1 && canonicalAddress(r.cells[0]!)) { header = { eaddr: 0, names: ['EAddr'] }; headerless = true; }
    if (!header) throw missingEAddr(r.cells.map((c) => c.trim()));
    break;
  }
  if (!header) throw new MtaError('MTA_ERR_INVALID', `${path} is empty: expected a header row naming EAddr and one row per recipient`, 'file');
  const h = header;
  const columns = h.names.filter((n, i) => i !== h.eaddr && n !== '');

  async function* rows(): AsyncIterable<SourceRow> {
    let first = true;
    for await (const r of records(path, encoding, delimiter)) {
      if (first && !headerless) { first = false; continue; }
      first = false;
      const variables: Record<string, string> = {};
      h.names.forEach((n, i) => { if (i !== h.eaddr && n !== '') variables[n] = (r.cells[i] ?? '').trim(); });
      const extra = r.cells.slice(h.names.length).some((c) => c.trim() !== '');
      yield {
        line: r.line, value: r.cells[h.eaddr] ?? '', variables,
        ...(extra ? { problem: `${r.cells.length} fields, but the header names ${h.names.length} columns` } : {}),
      };
    }
  }
  const report = await importRows(store, list, columns, rows, opts);
  report.encoding = encoding;
  return report;
}

// ---- JSON rows (the API) ----

/** Imports `[{EAddr, UserName, ...}]`; a row's "line" is its 1-based position. */
export async function importJsonRows(store: ListStoreApi, list: string, input: readonly Record<string, unknown>[], opts: ImportOptions = {}): Promise<ImportReport> {
  const columns: string[] = [];
  const rows: SourceRow[] = input.map((obj, i) => {
    let value = '';
    let problem: string | undefined;
    const variables: Record<string, string> = {};
    for (const [k, v] of Object.entries(obj)) {
      const name = columnName(k);
      const text = v === null || v === undefined ? '' : typeof v === 'object' ? JSON.stringify(v) : String(v);
      if (name === 'EAddr') { value = text; continue; }
      if (name === '' || name.length > 64) { problem = `"${k}" is not a usable variable name`; continue; }
      variables[name] = text.trim();
      if (!columns.includes(name)) columns.push(name);
    }
    if (!Object.keys(obj).some((k) => columnName(k) === 'EAddr')) problem ??= 'no EAddr field';
    return { line: i + 1, value, variables, ...(problem ? { problem } : {}) };
  });
  // Rows without a value for a column get '' (as a short file row would).
  for (const r of rows) for (const c of columns) r.variables[c] ??= '';
  async function* source(): AsyncIterable<SourceRow> { yield* rows; }
  return importRows(store, list, columns, source, opts);
}

/** The report as a short table of text lines (the first `max` invalid rows). */
export function formatReport(r: ImportReport, max = 20): string {
  const lines: string[] = [];
  if (r.refused) {
    const e = r.errors[0]!;
    lines.push(`refused (--strict): line ${e.line}: ${JSON.stringify(e.value)}: ${e.reason}; nothing was imported`);
    return lines.join('\n');
  }
  lines.push(`list ${r.list}: ${r.rows} rows read${r.encoding ? ` (${r.encoding})` : ''}`);
  lines.push(`  imported    ${r.imported}`);
  lines.push(`  updated     ${r.updated}`);
  lines.push(`  duplicates  ${r.duplicates}`);
  lines.push(`  invalid     ${r.invalid}`);
  if (r.variables.length) lines.push(`  variables   ${r.variables.join(', ')}`);
  if (r.errors.length) {
    lines.push('', 'LINE  VALUE  REASON');
    for (const e of r.errors.slice(0, max)) lines.push(`${e.line}  ${JSON.stringify(e.value)}  ${e.reason}`);
    if (r.errors.length > max) lines.push(`... and ${r.errors.length - max} more (--json lists them all)`);
  }
  return lines.join('\n');
}
