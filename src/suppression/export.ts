/**
 * suppression/export — the invalid-address list as CSV (address, scope, source, reason,
 * created_at in ISO 8601 UTC), for `mta suppression export` and the admin API. Filters are
 * the list's: a keyword in the address and a time range on when the entry was added.
 * Reads page by page on (address, scope), so a large list never sits in memory at once.
 * Cells that a spreadsheet would run as a formula are escaped (util/csv-cells.ts).
 */
import { csvRows } from '../util/csv-cells.js';
import type { SuppressionFilter, SuppressionRecord, SuppressionStore } from '../spool/types-suppression.js';
import { MtaError } from '../util/errors.js';
import { parseTime } from '../util/time.js';

const PAGE = 5000;
export const CSV_COLUMNS = ['address', 'scope', 'source', 'reason', 'created_at'] as const;

export interface SuppressionQueryInput { search?: unknown; since?: unknown; until?: unknown }

/** Checks a keyword / time-range filter (one precise error). */
export function suppressionFilter(input: SuppressionQueryInput): SuppressionFilter {
  const f: SuppressionFilter = {};
  if (input.search !== undefined) {
    if (typeof input.search !== 'string' || input.search.length > 320) throw new MtaError('MTA_ERR_INVALID', 'search must be text of at most 320 characters', 'search');
    if (input.search !== '') f.search = input.search;
  }
  if (input.since !== undefined) f.since = parseTime(input.since, 'since');
  if (input.until !== undefined) f.until = parseTime(input.until, 'until', { endOfDay: true });
  if (f.since !== undefined && f.until !== undefined && f.since > f.until) throw new MtaError('MTA_ERR_INVALID', 'since is after until', 'since');
  return f;
}

/** Every matching entry, in (address, scope) order. */
export async function* allSuppressions(store: Pick<SuppressionStore, 'listSuppressions'>, filter: SuppressionFilter): AsyncIterable<SuppressionRecord[]> {
  let after: { address: string; scope: string } | undefined;
  for (;;) {
    const page = await store.listSuppressions({ ...filter, limit: PAGE, ...(after ? { after: after.address, afterScope: after.scope } : {}) });
    if (page.length > 0) yield page;
    if (page.length < PAGE) return;
    const last = page[page.length - 1]!;
    after = { address: last.address, scope: last.scope };
  }
}

/** Writes the CSV (with a header line) to `out`; returns how many entries it wrote. */
export async function writeSuppressionCsv(store: Pick<SuppressionStore, 'listSuppressions'>, filter: SuppressionFilter, out: { write(s: string): unknown }): Promise<number> {
  out.write(csvRows([[...CSV_COLUMNS]]));
  let n = 0;
  for await (const page of allSuppressions(store, filter)) {
    out.write(csvRows(page.map((r) => [r.address, r.scope, r.source, r.reason, new Date(r.createdAt).toISOString()])));
    n += page.length;
  }
  return n;
}
