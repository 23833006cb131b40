/**
 * time — the one parser for dates and times typed by people or sent to the API. Every
 * time is UTC unless the text names a zone. Errors name the field and the expected form.
 *
 *   day:  "2026-03-01"
 *   time: "2026-03-01" (start of the day, or its end for an upper bound),
 *         "2026-03-01 14:30", "2026-03-01T14:30:05Z", "2026-03-01T14:30:05+08:00", or ms since the epoch
 */
import { MtaError } from './errors.js';

export const DAY_MS = 86_400_000;
const DAY_RE = /^(\d{4})-(\d{2})-(\d{2})$/;
const TIME_RE = /^(\d{4}-\d{2}-\d{2})[T ](\d{2}):(\d{2})(?::(\d{2})(\.\d{1,3})?)?(Z|[+-]\d{2}:?\d{2})?$/i;

/** Midnight UTC of a valid 'YYYY-MM-DD', or undefined. */
function dayStart(text: string): number | undefined {
  const m = DAY_RE.exec(text);
  if (!m) return undefined;
  const t = Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3]));
  // Date.UTC rolls 2026-02-30 over to March: a real date reads back the same.
  return new Date(t).toISOString().slice(0, 10) === text ? t : undefined;
}

export function utcDay(ms: number): string { return new Date(ms).toISOString().slice(0, 10); }

/** A calendar day 'YYYY-MM-DD'. */
export function parseDay(v: unknown, field: string): string {
  if (typeof v === 'string' && dayStart(v.trim()) !== undefined) return v.trim();
  throw new MtaError('MTA_ERR_INVALID', `${field} must be a date written YYYY-MM-DD (got ${JSON.stringify(v)})`, field);
}

/** Days from `from` to `to`, both included (1 when equal). */
export function daysBetween(from: string, to: string): number {
  return Math.round((dayStart(to)! - dayStart(from)!) / DAY_MS) + 1;
}

/** Every day from `from` to `to`, both included. */
export function eachDay(from: string, to: string): string[] {
  const out: string[] = [];
  for (let t = dayStart(from)!, end = dayStart(to)!; t <= end; t += DAY_MS) out.push(utcDay(t));
  return out;
}

/** A point in time (ms). A bare date means its start, or with `endOfDay` its last millisecond. */
export function parseTime(v: unknown, field: string, opts: { endOfDay?: boolean } = {}): number {
  if (typeof v === 'number' && Number.isSafeInteger(v) && v >= 0) return v;
  if (typeof v === 'string') {
    const s = v.trim();
    const d = dayStart(s);
    if (d !== undefined) return opts.endOfDay ? d + DAY_MS - 1 : d;
    const m = TIME_RE.exec(s);
    if (m && dayStart(m[1]!) !== undefined && Number(m[2]) < 24 && Number(m[3]) < 60 && Number(m[4] ?? 0) < 60) {
      const zone = !m[6] || m[6].toUpperCase() === 'Z' ? 'Z' : m[6].replace(/^([+-]\d{2})(\d{2})$/, '$1:$2');
      const t = Date.parse(`${m[1]}T${m[2]}:${m[3]}:${m[4] ?? '00'}${m[5] ?? ''}${zone}`);
      if (!Number.isNaN(t)) return t;
    }
  }
  throw new MtaError('MTA_ERR_INVALID', `${field} must be a date (YYYY-MM-DD) or a time (YYYY-MM-DDTHH:MM[:SS][Z|±HH:MM], UTC unless a zone is given); got ${JSON.stringify(v)}`, field);
}
