/**
 * suppression/import — addresses onto the suppression list from CSV: `mta suppression
 * import FILE` and the API. The first row is a header when it names an `address` column
 * (the export's own format: address, scope, source, reason, created_at; only address is
 * needed, source and created_at are ignored); otherwise every line is one address.
 *
 * Read as list import reads (lists/csv-records.ts, lists/encoding.ts for files): a malformed
 * row is reported at its own line and the rest goes on; every problem row is counted by
 * kind and the first ones kept (lists/import-report.ts). Cells escaped by the export
 * (util/csv-cells.ts) are unescaped. An address already suppressed in that scope counts as
 * `already`, not as a problem.
 *
 * Must never: drop a row without reporting it, or stop at the first bad one.
 */
import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';
import { Readable } from 'node:stream';
import iconv from 'iconv-lite';
import type { Store } from '../spool/types.js';
import { csvRecords } from '../lists/csv-records.js';
import { chooseEncoding, type Encoding, type EncodingOption } from '../lists/encoding.js';
import { addProblem, emptyProblemLog, type ProblemKind, type ProblemLog } from '../lists/import-report.js';
import { unescapeCell } from '../util/csv-cells.js';
import { isMtaError, MtaError } from '../util/errors.js';
import { Suppression } from './suppression.js';

const MAX_REASON = 500;
const DEFAULT_REASON = 'imported by operator';

export interface SuppressionImportReport extends ProblemLog {
  /** data rows read (header excluded) */
  rows: number;
  added: number;
  /** already on the list in that scope */
  already: number;
  encoding?: Encoding;
  encoding_note?: string;
}

interface Columns { address: number; scope: number; reason: number; width: number }

function headerOf(cells: readonly string[]): Columns | undefined {
  const names = cells.map((c) => c.replace(/^\uFEFF/, '').trim().toLowerCase());
  const address = names.indexOf('address');
  return address < 0 ? undefined : { address, scope: names.indexOf('scope'), reason: names.indexOf('reason'), width: names.length };
}

/** Imports the records of `lines` (CSV, line breaks removed). */
export async function importSuppressionLines(store: Store, lines: AsyncIterable<string>): Promise<SuppressionImportReport> {
  const report: SuppressionImportReport = { rows: 0, added: 0, already: 0, ...emptyProblemLog() };
  const service = new Suppression(store);
  const reader = { delimiter: ',', maxQuoted: MAX_REASON * 2 };
  let cols: Columns | undefined;
  let first = true;
  const problem = (line: number, value: string, kind: ProblemKind, reason: string): void => addProblem(report, { line, value, kind, reason });
  for await (const r of csvRecords(lines, reader)) {
    const cells = r.cells.map(unescapeCell);
    if (first) {
      first = false;
      cols = r.problem ? undefined : headerOf(cells);
      if (cols) continue;
    }
    report.rows++;
    const c = cols ?? { address: 0, scope: -1, reason: -1, width: 1 };
    const value = (cells[c.address] ?? '').trim();
    if (r.problem) { problem(r.line, value, r.problem.kind, r.problem.reason); continue; }
    if (cells.length !== c.width) { problem(r.line, value, 'field_count', `${cells.length} fields, but ${cols ? `the header names ${c.width} columns` : 'a line without a header holds one address'}`); continue; }
    if (value === '') { problem(r.line, value, 'empty_address', 'address is empty'); continue; }
    const reason = c.reason >= 0 ? (cells[c.reason] ?? '').trim() : '';
    if (reason.length > MAX_REASON) { problem(r.line, value, 'value_too_long', `reason is longer than ${MAX_REASON} characters`); continue; }
    const scope = c.scope >= 0 ? (cells[c.scope] ?? '').trim() : '';
    try {
      // The export writes the every-sender scope as an empty cell.
      const res = await service.add(value, { reason: reason || DEFAULT_REASON, scope: scope === '' || scope === '(all)' ? undefined : scope, source: 'manual' });
      if (res.added) report.added++; else report.already++;
    } catch (e) {
      if (!isMtaError(e) || e.code !== 'MTA_ERR_INVALID') throw e;
      problem(r.line, value, e.field === 'scope' ? 'bad_field' : 'invalid_address', e.message);
    }
  }
  return report;
}

/** A CSV file; `label` names it in messages. */
export async function importSuppressionFile(store: Store, path: string, opts: { encoding?: EncodingOption; label?: string } = {}): Promise<SuppressionImportReport> {
  const label = opts.label ?? path;
  const { encoding, note } = await chooseEncoding(path, opts.encoding ?? 'auto', label).catch((e: unknown) => {
    const code = (e as NodeJS.ErrnoException).code;
    if (code) throw new MtaError('MTA_ERR_INVALID', `cannot read ${label}: ${code}`, 'file');
    throw e;
  });
  const file = createReadStream(path);
  const decoded = file.pipe(iconv.decodeStream(encoding, { stripBOM: true }));
  try {
    const report = await importSuppressionLines(store, createInterface({ input: decoded, crlfDelay: Infinity }));
    return { ...report, encoding, encoding_note: note };
  } finally {
    file.destroy();
  }
}

/** CSV text (the API's body), which must be UTF-8 already. */
export function importSuppressionText(store: Store, text: string): Promise<SuppressionImportReport> {
  return importSuppressionLines(store, createInterface({ input: Readable.from([text]), crlfDelay: Infinity }));
}
