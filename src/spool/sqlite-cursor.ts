/**
 * spool/sqlite-cursor — the SQLite backend's paging cursors: the row id of the last item
 * seen, as a decimal string. Callers get them from list results and pass them back
 * unchanged; they must never build or read one (another backend makes other strings).
 */
import { MtaError } from '../util/errors.js';

export function rowCursor(id: number): string {
  return String(id);
}

/** The row id inside a cursor; one this backend did not make is MTA_ERR_INVALID on `cursor`. */
export function cursorRow(cursor: string): number {
  if (/^[1-9]\d{0,15}$/.test(cursor)) {
    const n = Number(cursor);
    if (Number.isSafeInteger(n)) return n;
  }
  throw new MtaError('MTA_ERR_INVALID', `${JSON.stringify(cursor)} is not a cursor from an earlier page`, 'cursor');
}
