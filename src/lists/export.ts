/**
 * lists/export — a recipient list as CSV: `EAddr` and then the list's variable columns
 * (in the order they were first imported), one row per member in address order. Reads
 * page by page, so a large list never sits in memory; the output imports back as is.
 */
import { stringify } from 'csv-stringify/sync';
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
  await put(out, stringify([['EAddr', ...columns]]));
  let n = 0;
  for await (const page of lists.allMembers(name)) {
    await put(out, stringify(page.map((m) => [m.address, ...columns.map((c) => m.variables[c] ?? '')])));
    n += page.length;
  }
  return n;
}
