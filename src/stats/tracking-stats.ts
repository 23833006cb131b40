/**
 * stats/tracking-stats — tracking statistics (`mta stats --tracking`, GET
 * /api/v1/stats/tracking): opens, unique opens, clicks and unique clicks with their rates
 * (open rate = unique opens / delivered, click rate = unique clicks / delivered,
 * click-to-open = unique clicks / unique opens), **human and machine apart** (machine: every
 * hit not classed human: privacy proxies and prefetchers fetching the pixel, security
 * gateways following links), one row per day of receipt, sending domain, sender, tag or batch
 * task; a per-day trend of the same figures for charts; and the most clicked URLs.
 *
 * `trackingReport` is pure: the store returns grouped counts (per day and key: raw hits and
 * distinct recipients, spool/types-tracking.ts) and this adds them up and computes the
 * rates. Summing distinct recipients is exact because a recipient belongs to one message,
 * so to one day of receipt and one key.
 *
 * Counted as `mta stats` counts: on the day the message was received (configured
 * timezone), so a day's rates compare that day's mail with its own opens however late they
 * come. `delivered` is every delivered recipient of the group, tracked or not: narrow by tag
 * or task to read the rates of tracked mail alone. Hits and messages go with the details
 * retention (`retention.details`), so older days read as zero here while `mta stats` keeps
 * its counters.
 *
 * Must never: add machine hits to human ones, or count a recipient twice as unique within
 * one class.
 */
import type { DayBounds, TrackingGroup, TrackingStatsRows, TrackingStore } from '../spool/types-tracking.js';
import { MtaError } from '../util/errors.js';
import { parseTaskId } from '../util/ids.js';
import { dayStartIn, eachDay, nextDayStartIn } from '../util/time.js';
import { rate } from '../tracking/report.js';
import { dayRange, domainFilter, optionalText, senderFilter, tagFilter, type StatsQueryInput } from './stats.js';

export const TRACKING_GROUPS: readonly TrackingGroup[] = ['day', 'domain', 'sender', 'tag', 'task'];
/** How many URLs `links` lists unless told. */
export const DEFAULT_LINKS = 10;
const MAX_LINKS = 1000;

/** One audience's figures; rates with 4 decimals, null when their base is zero. */
export interface Engagement {
  opens: number; unique_opens: number; clicks: number; unique_clicks: number;
  open_rate: number | null; click_rate: number | null; click_to_open_rate: number | null;
}

/** One group (or day of the trend, or the total): its delivered recipients and the hits on them. */
export interface TrackingReportRow { key: string; delivered: number; human: Engagement; machine: Engagement }

export interface UrlReportRow { url: string; human: { clicks: number; unique_clicks: number }; machine: { clicks: number; unique_clicks: number } }

export interface TrackingFilter { domain?: string; sender?: string; tag?: string; task?: string }

export interface TrackingStatsReport {
  time_zone: string;
  from: string;
  to: string;
  by: TrackingGroup;
  filter: TrackingFilter;
  rows: TrackingReportRow[];
  total: TrackingReportRow;
  /** every day of the range (key: the day), quiet ones as zeros: the series a chart draws */
  trend: TrackingReportRow[];
  /** the most clicked URLs of the filtered mail, by human unique clicks */
  links: UrlReportRow[];
}

export interface TrackingStatsInput extends StatsQueryInput { task?: unknown; links?: unknown }

interface Tally { delivered: number; human: Counts; machine: Counts }
interface Counts { opens: number; unique_opens: number; clicks: number; unique_clicks: number }

const zeroCounts = (): Counts => ({ opens: 0, unique_opens: 0, clicks: 0, unique_clicks: 0 });
const zeroTally = (): Tally => ({ delivered: 0, human: zeroCounts(), machine: zeroCounts() });

function engagement(c: Counts, delivered: number): Engagement {
  return {
    ...c, open_rate: rate(c.unique_opens, delivered), click_rate: rate(c.unique_clicks, delivered),
    click_to_open_rate: rate(c.unique_clicks, c.unique_opens),
  };
}

function row(key: string, t: Tally): TrackingReportRow {
  return { key, delivered: t.delivered, human: engagement(t.human, t.delivered), machine: engagement(t.machine, t.delivered) };
}

/** The tally of `key` in `m`, made when absent. */
function at(m: Map<string, Tally>, key: string): Tally {
  let t = m.get(key);
  if (!t) { t = zeroTally(); m.set(key, t); }
  return t;
}

/**
 * The report's rows, total, trend and top URLs from the store's grouped counts. `days`:
 * every day of the range, in order; `links`: how many URLs to list.
 */
export function trackingReport(rows: TrackingStatsRows, days: readonly string[], by: TrackingGroup, links: number):
  Pick<TrackingStatsReport, 'rows' | 'total' | 'trend' | 'links'> {
  const byKey = new Map<string, Tally>();
  const byDay = new Map<string, Tally>(days.map((d) => [d, zeroTally()]));
  const total = zeroTally();
  for (const d of rows.delivered) {
    for (const t of [at(byKey, d.key), at(byDay, d.day), total]) t.delivered += d.delivered;
  }
  for (const h of rows.hits) {
    for (const t of [at(byKey, h.key), at(byDay, h.day), total]) {
      const c = h.human ? t.human : t.machine;
      if (h.kind === 'open') { c.opens += h.hits; c.unique_opens += h.recipients; } else { c.clicks += h.hits; c.unique_clicks += h.recipients; }
    }
  }
  const urls = new Map<string, UrlReportRow>();
  for (const u of rows.urls) {
    let r = urls.get(u.url);
    if (!r) { r = { url: u.url, human: { clicks: 0, unique_clicks: 0 }, machine: { clicks: 0, unique_clicks: 0 } }; urls.set(u.url, r); }
    const c = u.human ? r.human : r.machine;
    c.clicks += u.clicks;
    c.unique_clicks += u.recipients;
  }
  const trend = [...byDay].map(([d, t]) => row(d, t));
  // Per day: every day of the range, as `mta stats` shows them; otherwise the keys that had mail, in order.
  const grouped = by === 'day' ? trend : [...byKey].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([k, t]) => row(k, t));
  const top = [...urls.values()].sort((a, b) => b.human.unique_clicks - a.human.unique_clicks || b.human.clicks - a.human.clicks
    || b.machine.clicks - a.machine.clicks || (a.url < b.url ? -1 : 1)).slice(0, links);
  return { rows: grouped, total: row('TOTAL', total), trend, links: top };
}

function linksLimit(v: unknown): number {
  if (v === undefined) return DEFAULT_LINKS;
  const n = typeof v === 'string' && /^\d+$/.test(v) ? Number(v) : v;
  if (typeof n !== 'number' || !Number.isInteger(n) || n < 0 || n > MAX_LINKS) {
    throw new MtaError('MTA_ERR_INVALID', `links must be a whole number from 0 to ${MAX_LINKS} (got ${JSON.stringify(v)})`, 'links');
  }
  return n;
}

/** Checks the query (one precise error, nothing read), asks the store for its grouped counts, and reports. */
export async function trackingStats(store: Pick<TrackingStore, 'trackingStats'>, input: TrackingStatsInput, timeZone: string, now = Date.now()): Promise<TrackingStatsReport> {
  const { from, to } = dayRange(input, now, timeZone);
  const by = input.by === undefined ? 'day' : input.by;
  if (typeof by !== 'string' || !(TRACKING_GROUPS as readonly string[]).includes(by)) {
    throw new MtaError('MTA_ERR_INVALID', `by must be one of ${TRACKING_GROUPS.join(', ')} for tracking statistics (got ${JSON.stringify(input.by)})`, 'by');
  }
  const filter = {
    domain: domainFilter(input.domain), sender: senderFilter(input.sender), tag: tagFilter(input.tag),
    task: optionalText(input.task, 'task', parseTaskId, 'a task id'),
  };
  const links = linksLimit(input.links);
  const days = eachDay(from, to);
  const bounds: DayBounds[] = days.map((day) => { const start = dayStartIn(day, timeZone); return { day, from: start, to: nextDayStartIn(start, timeZone) }; });
  const rows = await store.trackingStats({ days: bounds, by: by as TrackingGroup, ...filter });
  const f = Object.fromEntries(Object.entries(filter).filter(([, v]) => v !== undefined)) as TrackingFilter;
  return { time_zone: timeZone, from, to, by: by as TrackingGroup, filter: f, ...trackingReport(rows, days, by as TrackingGroup, links) };
}
