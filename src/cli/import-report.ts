/**
 * cli/import-report — an import report (lists/import-report.ts) as text: the counts, then the
 * first problem rows as an aligned table and a count of the rest by kind.
 */
import type { ProblemLog } from '../lists/import-report.js';
import type { ImportReport } from '../lists/import.js';
import type { SuppressionImportReport } from '../suppression/import.js';
import { MAX_PROBLEMS } from '../lists/import-report.js';
import { table } from './output.js';
import { MtaError } from '../util/errors.js';

/** `label  value` lines, the labels padded to one width. */
export function countLines(counts: [string, string | number][]): string[] {
  const w = Math.max(...counts.map(([k]) => k.length));
  return counts.map(([k, v]) => `  ${k.padEnd(w)}  ${v}`);
}

/** The problem rows as an aligned table (the first `max`), and a line for the rest. */
export function problemTable(log: ProblemLog, max = 20): string[] {
  if (!log.errors.length) return [];
  const rows = log.errors.slice(0, max).map((e) => ({ line: String(e.line), value: JSON.stringify(e.value), reason: e.reason }));
  const lines = ['', table(rows, ['line', 'value', 'reason'])];
  if (log.invalid > rows.length) {
    const kinds = Object.entries(log.problem_counts).map(([k, n]) => `${k} ${n}`).join(', ');
    lines.push(`... and ${log.invalid - rows.length} more (by kind: ${kinds}; --json lists the first ${Math.min(log.invalid, MAX_PROBLEMS)})`);
  }
  return lines;
}

/** A list import's report (not for a refused one: the refusal is the command's error). */
export function formatListReport(r: ImportReport, max = 20): string {
  const lines = [`list ${r.list}: ${r.rows} rows read`];
  if (r.encoding) lines.push(`  encoding ${r.encoding} (${r.encoding_note ?? ''})`);
  lines.push(...countLines([['imported', r.imported], ['updated', r.updated], ['duplicates', r.duplicates], ['invalid', r.invalid],
    ...(r.variables.length ? [['variables', r.variables.join(', ')] as [string, string]] : [])]));
  lines.push(...problemTable(r, max));
  return lines.join('\n');
}

/** A suppression import's report. */
export function formatSuppressionReport(r: SuppressionImportReport, max = 20): string {
  const lines = [`suppression list: ${r.rows} rows read`];
  if (r.encoding) lines.push(`  encoding ${r.encoding} (${r.encoding_note ?? ''})`);
  lines.push(...countLines([['added', r.added], ['already', r.already], ['invalid', r.invalid]]));
  lines.push(...problemTable(r, max));
  return lines.join('\n');
}

/**
 * The command's exit: a refused (--strict) import is one error (printed once, on stderr), and
 * an import that dropped rows exits non-zero too, so a script cannot mistake it for a clean one.
 */
export function importOutcome(report: Pick<ImportReport, 'errors' | 'invalid' | 'rows'> & { refused?: boolean }, what: string): void {
  const e = report.errors[0];
  if (report.refused && e) throw new MtaError('MTA_ERR_INVALID', `import refused (--strict): line ${e.line}: ${JSON.stringify(e.value)}: ${e.reason}; nothing was imported`);
  if (report.invalid > 0) throw new MtaError('MTA_ERR_IMPORT_PARTIAL', `${report.invalid} of ${report.rows} ${what} were not imported (listed above)`);
}
