/**
 * util/csv-cells — CSV cells safe to open in a spreadsheet, and back.
 *
 * A cell starting with `=`, `+`, `-`, `@`, a tab or a CR is a formula to Excel, LibreOffice
 * and Google Sheets (CSV injection): an exported address or variable such as
 * `=HYPERLINK(...)` would run when the export is opened. OWASP's rule: such a cell gets a
 * single quote in front. To keep exports importable unchanged, a cell that already starts
 * with quotes before one of those characters gets one more, and `unescapeCell` (used by the
 * importers) takes exactly one away: the two are inverse for every string.
 *
 * Must never: write a cell a spreadsheet would evaluate.
 */
import { stringify } from 'csv-stringify/sync';

const FORMULA = /^'*[=+\-@\t\r]/;
const ESCAPED = /^'+[=+\-@\t\r]/;

export function escapeCell(v: string): string {
  return FORMULA.test(v) ? `'${v}` : v;
}

export function unescapeCell(v: string): string {
  return ESCAPED.test(v) ? v.slice(1) : v;
}

/** CSV lines for these rows, every cell escaped. */
export function csvRows(rows: readonly (readonly string[])[]): string {
  return stringify(rows.map((r) => r.map(escapeCell)));
}
