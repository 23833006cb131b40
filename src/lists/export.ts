/**
 * lists/export — a recipient list as CSV: `EAddr` and then the list's variable columns
 * (in the order they were first imported), one row per member in address order. Reads
 * page by page, so a large list never sits in memory; the output imports back as is.
 * Cells a spreadsheet would run as a formula get a leading `'` (util/csv-cells.ts), which
 * the importer takes away again. Variables are read with Object.hasOwn: a column named
 * `constructor` or `toString` is a column, not an inherited method.
 */
import { csvRows } from '../util/csv-cells.js';
import { Lists, type ListStoreApi } from './lists.js';

/** Writes the CSV (with a header line) to `out`; returns how many members it wrote. */
export interface CsvOut { write(s: string): unknown; once?(event: 'drain', cb: () => void): unknown }

/** Writes, waiting for 'drain' when a stream asks to (a pipe to a slow reader). */
async function put(out: CsvOut, s: string): Promise<void> {
  if (out.write(s) === false && out.once) await new Promise<void>((resolve) => { out.once!('drain', resolve); });
}

export async function writeListCsv(store: ListStoreApi, name: string, out: CsvOut): Promise<number> {
  const lists = new Lists(store);
  const list = await lists.get(name);
  const columns = list.columns;
  await put(out, csvRows([['EAddr', ...columns]]));
  let n = 0;
  for await (const page of lists.allMembers(name)) {
    await put(out, csvRows(page.map((m) => [m.address, ...columns.map((c) => (Object.hasOwn(m.variables, c) ? m.variables[c]! : ''))])));
    n += page.length;
  }
  return n;
}
