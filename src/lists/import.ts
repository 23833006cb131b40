/**
 * lists/import — members into a recipient list, from a CSV or TXT file (`mta list import`)
 * or JSON rows (the API). The header row names the variables: `EAddr` (required, any
 * case; a seed-style header such as `收件人邮箱地址{EAddr}` counts too), `UserName`,
 * `NickName`, `Gender`, `Birthday`, `Mobile` and any other column. A TXT file is tab
 * separated, or one address per line without a header.
 *
 * Streaming: the file's encoding is checked over the whole file first (lists/encoding.ts:
 * UTF-8, GBK, or auto; invalid input is refused), then it is decoded and parsed line by line
 * (lists/csv-records.ts: a malformed row is reported at its own line and the next line is
 * read on), and members are written in batches of BATCH rows, one transaction each —
 * memory does not grow with the file. Re-importing an address updates its variables; a
 * second row for an address within one import is a duplicate (the first one wins). Invalid
 * rows (bad address, too few or too many fields, a broken quote, a value too long) are
 * reported with their line number, value and reason, never dropped silently; the report
 * keeps the first problems and counts all (lists/import-report.ts). `strict`: a first pass
 * reads the whole file and the first invalid row refuses it before anything is written.
 *
 * Must never: name a file by a path the caller did not give (an upload's temporary file
 * is "the uploaded file"), or key a plain object by a name from the input (a column named
 * `__proto__` or `constructor`): variables are null-prototype objects.
 */
import { createReadStream } from 'node:fs';
import { open } from 'node:fs/promises';
import { extname } from 'node:path';
import { randomUUID } from 'node:crypto';
import { createInterface } from 'node:readline';
import iconv from 'iconv-lite';
import type { MemberWrite } from '../spool/types-lists.js';
import type { ListStoreApi } from './lists.js';
import { canonicalAddress } from '../util/address.js';
import { unescapeCell } from '../util/csv-cells.js';
import { MtaError } from '../util/errors.js';
import { chooseEncoding, type Encoding, type EncodingOption } from './encoding.js';
import { csvRecords, type CsvReaderOptions, type CsvRecord } from './csv-records.js';
import { addProblem, emptyProblemLog, type ImportProblem, type ProblemLog } from './import-report.js';

export type { Encoding, EncodingOption } from './encoding.js';

export const BATCH = 1000;
const HEAD_BYTES = 64 * 1024;
const MAX_DUPLICATE_EXAMPLES = 100;
const MAX_VALUE = 1024;
/** Canonical spelling of the seed's variables; other column names are kept as written. */
const KNOWN = ['EAddr', 'UserName', 'NickName', 'Gender', 'Birthday', 'Mobile'];

export interface ImportReport extends ProblemLog {
  list: string;
  /** data rows read (header excluded) */
  rows: number;
  imported: number;
  updated: number;
  duplicates: number;
  /** the first duplicates (line and address) */
  duplicate_rows: { line: number; value: string }[];
  /** variable columns, EAddr excluded */
  variables: string[];
  /** --strict found an error: nothing was written */
  refused: boolean;
  /** a file's encoding, and why it was chosen */
  encoding?: Encoding;
  encoding_note?: string;
}

/** One data row as a source gives it: the EAddr value, the other variables, or a problem found while reading. */
export interface SourceRow { line: number; value: string; variables: Record<string, string>; problem?: Pick<ImportProblem, 'reason' | 'kind'> }

/** A map of variables keyed by input names: no prototype, so `__proto__` or `constructor` is a name like any other. */
export function variableMap(): Record<string, string> {
  return Object.create(null) as Record<string, string>;
}

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
    list, rows: 0, imported: 0, updated: 0, duplicates: 0, ...emptyProblemLog(), duplicate_rows: [], variables: [...columns], refused: false,
  };
  if (opts.strict) {
    for await (const row of source()) {
      report.rows++;
      const problem = check(row);
      if (problem) {
        addProblem(report, problem); report.refused = true;
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
    if (problem) { addProblem(report, problem); continue; }
    batch.push({ line: row.line, address: canonicalAddress(row.value)!, variables: row.variables });
    if (batch.length >= size) await flush();
  }
  await flush();
  return report;
}

function check(row: SourceRow): ImportProblem | undefined {
  const value = row.value.trim();
  if (row.problem) return { line: row.line, value, ...row.problem };
  if (value === '') return { line: row.line, value, reason: 'EAddr is empty', kind: 'empty_address' };
  if (!canonicalAddress(value)) return { line: row.line, value, reason: 'not a valid email address', kind: 'invalid_address' };
  const long = Object.entries(row.variables).find(([, v]) => v.length > MAX_VALUE);
  if (long) return { line: row.line, value, reason: `${long[0]} is longer than ${MAX_VALUE} characters`, kind: 'value_too_long' };
  return undefined;
}

// ---- files ----

async function readHead(path: string, label: string): Promise<Buffer> {
  let fh;
  try {
    fh = await open(path, 'r');
  } catch (e) {
    throw new MtaError('MTA_ERR_INVALID', `cannot read ${label}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, 'file');
  }
  try {
    const buf = Buffer.alloc(HEAD_BYTES);
    const { bytesRead } = await fh.read(buf, 0, HEAD_BYTES, 0);
    return buf.subarray(0, bytesRead);
  } finally {
    await fh.close();
  }
}

/** Records of a delimited file, decoded and read line by line, each with the line it starts on. */
async function* records(path: string, encoding: Encoding, reader: CsvReaderOptions): AsyncGenerator<CsvRecord> {
  const file = createReadStream(path);
  const decoded = file.pipe(iconv.decodeStream(encoding, { stripBOM: true }));
  try {
    yield* csvRecords(createInterface({ input: decoded, crlfDelay: Infinity }), reader);
  } finally {
    // The header is read with a loop that stops after one record: close the file then too.
    file.destroy();
    (decoded as unknown as { destroy(): void }).destroy();
  }
}

export interface FileImportOptions extends ImportOptions {
  encoding?: EncodingOption;
  /** how messages name the file (default: its path); an upload is "the uploaded file", never its temporary path */
  label?: string;
}

/** Imports a CSV or TXT file into `list`. */
export async function importFile(store: ListStoreApi, list: string, path: string, opts: FileImportOptions = {}): Promise<ImportReport> {
  if (!(await store.getList(list))) throw new MtaError('MTA_ERR_NOT_FOUND', `no list named ${list}`);
  const label = opts.label ?? path;
  const head = await readHead(path, label);
  const { encoding, note } = await chooseEncoding(path, opts.encoding ?? 'auto', label);
  const firstLine = iconv.decode(head, encoding).split(/\r?\n/, 1)[0] ?? '';
  const ext = extname(path).toLowerCase();
  const delimiter = ext === '.txt' || ext === '.tsv' || (ext !== '.csv' && firstLine.includes('\t') && !firstLine.includes(',')) ? '\t' : ',';

  // The first record decides: a header naming EAddr, or (one column holding an address) a bare list of addresses.
  let header: Header | undefined;
  let headerless = false;
  const reader: CsvReaderOptions = { delimiter, maxQuoted: MAX_VALUE };
  for await (const r of records(path, encoding, reader)) {
    if (r.problem) throw new MtaError('MTA_ERR_INVALID', `the header row (line ${r.line}) is malformed: ${r.problem.reason}`, 'file');
    header = parseHeader(r.cells);
    if (!header && r.cells.length === 1 && canonicalAddress(r.cells[0]!)) { header = { eaddr: 0, names: ['EAddr'] }; headerless = true; }
    if (!header) throw missingEAddr(r.cells.map((c) => c.trim()));
    break;
  }
  if (!header) throw new MtaError('MTA_ERR_INVALID', `${label} is empty: expected a header row naming EAddr and one row per recipient`, 'file');
  const h = header;
  const columns = h.names.filter((n, i) => i !== h.eaddr && n !== '');
  // A trailing empty header cell (a line ending in the delimiter) makes that last field optional.
  const needed = h.names.at(-1) === '' ? h.names.length - 1 : h.names.length;

  async function* rows(): AsyncIterable<SourceRow> {
    let first = true;
    for await (const r of records(path, encoding, { ...reader, expected: h.names.length })) {
      if (first && !headerless) { first = false; continue; }
      first = false;
      // An exported cell that looked like a formula carries a leading ' (util/csv-cells.ts): taken away here.
      const cells = r.cells.map(unescapeCell);
      const variables = variableMap();
      h.names.forEach((n, i) => { if (i !== h.eaddr && n !== '') variables[n] = (cells[i] ?? '').trim(); });
      const extra = r.cells.slice(h.names.length).some((c) => c.trim() !== '');
      const problem: SourceRow['problem'] = r.problem
        ?? (extra || r.cells.length < needed ? { reason: `${r.cells.length} fields, but the header names ${h.names.length} columns`, kind: 'field_count' } : undefined);
      yield { line: r.line, value: cells[h.eaddr] ?? '', variables, ...(problem ? { problem } : {}) };
    }
  }
  const report = await importRows(store, list, columns, rows, opts);
  report.encoding = encoding;
  report.encoding_note = note;
  return report;
}

// ---- JSON rows (the API) ----

/** Imports `[{EAddr, UserName, ...}]`; a row's "line" is its 1-based position. */
export async function importJsonRows(store: ListStoreApi, list: string, input: readonly Record<string, unknown>[], opts: ImportOptions = {}): Promise<ImportReport> {
  const columns: string[] = [];
  const rows: SourceRow[] = input.map((obj, i) => {
    let value = '';
    let problem: SourceRow['problem'];
    const variables = variableMap();
    for (const [k, v] of Object.entries(obj)) {
      const name = columnName(k);
      const text = v === null || v === undefined ? '' : typeof v === 'object' ? JSON.stringify(v) : String(v);
      if (name === 'EAddr') { value = text; continue; }
      if (name === '' || name.length > 64) { problem = { reason: `"${k}" is not a usable variable name`, kind: 'bad_field' }; continue; }
      variables[name] = text.trim();
      if (!columns.includes(name)) columns.push(name);
    }
    if (!Object.keys(obj).some((k) => columnName(k) === 'EAddr')) problem ??= { reason: 'no EAddr field', kind: 'empty_address' };
    return { line: i + 1, value, variables, ...(problem ? { problem } : {}) };
  });
  // Rows without a value for a column get '' (as a short file row would).
  for (const r of rows) for (const c of columns) if (!Object.hasOwn(r.variables, c)) r.variables[c] = '';
  async function* source(): AsyncIterable<SourceRow> { yield* rows; }
  return importRows(store, list, columns, source, opts);
}
