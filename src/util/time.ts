/**
 * time — the one parser for dates and times typed by people or sent to the API. Every
 * time is UTC unless the text names a zone. Errors name the field and the expected form.
 * Also the calendar of the configured `timezone` (IANA name, through Intl: no tz database
 * of our own): the day statistics, quotas and reputation count on.
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

/** The machine's zone, the default of `timezone`. */
export function systemTimeZone(): string { return Intl.DateTimeFormat().resolvedOptions().timeZone || 'UTC'; }

/** Whether Intl knows this IANA zone name ("Asia/Shanghai", "UTC"). */
export function isTimeZone(name: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: name });
    return name.trim() !== '';
  } catch {
    return false;
  }
}

const formats = new Map<string, Intl.DateTimeFormat>();
function wallClock(ms: number, tz: string): { y: number; mo: number; d: number; h: number; mi: number; s: number } {
  let f = formats.get(tz);
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', { timeZone: tz, hourCycle: 'h23', year: 'numeric', month: 'numeric', day: 'numeric', hour: 'numeric', minute: 'numeric', second: 'numeric' });
    formats.set(tz, f);
  }
  const p = Object.fromEntries(f.formatToParts(ms).map((x) => [x.type, x.value]));
  return { y: Number(p['year']), mo: Number(p['month']), d: Number(p['day']), h: Number(p['hour']), mi: Number(p['minute']), s: Number(p['second']) };
}

/** The calendar day 'YYYY-MM-DD' of a time in zone `tz` (a Beijing day runs 16:00-16:00 UTC). */
export function dayIn(ms: number, tz = 'UTC'): string {
  if (tz === 'UTC') return utcDay(ms);
  const w = wallClock(ms, tz);
  return `${String(w.y).padStart(4, '0')}-${String(w.mo).padStart(2, '0')}-${String(w.d).padStart(2, '0')}`;
}

/** How far the zone's wall clock is ahead of UTC at that time (ms). */
function offsetAt(ms: number, tz: string): number {
  const w = wallClock(ms, tz);
  return Date.UTC(w.y, w.mo - 1, w.d, w.h, w.mi, w.s) - Math.floor(ms / 1000) * 1000;
}

/** The first moment of a day 'YYYY-MM-DD' in zone `tz` (ms). */
export function dayStartIn(day: string, tz = 'UTC'): number {
  const midnight = dayStart(day);
  if (midnight === undefined) throw new RangeError(`not a day: ${day}`);
  if (tz === 'UTC') return midnight;
  // Twice: the offset at the first guess can differ from the one at local midnight (DST).
  const guess = midnight - offsetAt(midnight, tz);
  return midnight - offsetAt(guess, tz);
}

/** The start of the day after the one `ms` falls on, in zone `tz`. */
export function nextDayStartIn(ms: number, tz = 'UTC'): number {
  const today = dayIn(ms, tz);
  return dayStartIn(utcDay(dayStart(today)! + DAY_MS), tz);
}

/** The day before a day 'YYYY-MM-DD' (calendar arithmetic, no zone needed). */
export function dayBefore(day: string): string { return utcDay(dayStart(day)! - DAY_MS); }

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
