/**
 * tracking/report — the engagement of a batch task's mail: opens, unique opens, clicks and
 * unique clicks with their rates, human, machine and scanner apart, and clicks per link;
 * and the human opens and clicks of every day in a range (the console's Overview).
 * Rates are unique recipients over the task's delivered recipients (every copy of a task
 * with --tracking is tracked, so that is the right base). Shared by the API and the CLI.
 *
 * Must never: mix the classes: the human figures are the engagement; machine opens and
 * scanner clicks are shown beside them, not added to them.
 */
import type { Store } from '../spool/types.js';
import { dayRange } from '../stats/stats.js';
import { dayStartIn, eachDay, nextDayStartIn } from '../util/time.js';
import type { HitClass, TrackingCounts } from '../spool/types-tracking.js';
import type { Tasks } from '../tasks/tasks.js';

export interface ClassFigures {
  opens: number; unique_opens: number; open_rate: number | null;
  clicks: number; unique_clicks: number; click_rate: number | null;
}

export interface TaskTrackingView {
  task_id: string;
  tracking: boolean;
  delivered: number;
  human: ClassFigures;
  machine: ClassFigures;
  scanner: ClassFigures;
  links: { link: number; url: string; class: HitClass; clicks: number; unique_clicks: number }[];
}

/** A share as a fraction with 4 decimals; null when its base is zero (nothing delivered). */
export function rate(n: number, of: number): number | null {
  return of > 0 ? Math.round((n / of) * 10_000) / 10_000 : null;
}

function figures(c: TrackingCounts, delivered: number): ClassFigures {
  return {
    opens: c.opens, unique_opens: c.uniqueOpens, open_rate: rate(c.uniqueOpens, delivered),
    clicks: c.clicks, unique_clicks: c.uniqueClicks, click_rate: rate(c.uniqueClicks, delivered),
  };
}

export async function taskTracking(store: Pick<Store, 'trackingCountsOfTask'>, tasks: Pick<Tasks, 'get'>, id: string): Promise<TaskTrackingView> {
  const task = await tasks.get(id);
  const { counts, links } = await store.trackingCountsOfTask(task.id);
  return {
    task_id: task.id, tracking: task.tracking, delivered: task.delivered,
    human: figures(counts.human, task.delivered), machine: figures(counts.machine, task.delivered), scanner: figures(counts.scanner, task.delivered),
    links: links.map((l) => ({ link: l.link, url: l.url, class: l.class, clicks: l.clicks, unique_clicks: l.uniqueClicks })),
  };
}

export interface DayEngagement { day: string; opens: number; unique_opens: number; clicks: number; unique_clicks: number }

/**
 * People's opens and clicks (the human class) per day of `timeZone`, counted on the day of
 * the hit (not of the mail: a message opened a week later counts then), over the days
 * `dayRange` accepts; `unique_*`: distinct recipients that day.
 */
export async function dailyEngagement(store: Pick<Store, 'trackingCountsBetween'>, timeZone: string, input: { from?: unknown; to?: unknown }, now = Date.now()):
  Promise<{ time_zone: string; from: string; to: string; rows: DayEngagement[]; total: Omit<DayEngagement, 'day'> }> {
  const { from, to } = dayRange(input, now, timeZone);
  const rows: DayEngagement[] = [];
  for (const day of eachDay(from, to)) {
    const start = dayStartIn(day, timeZone);
    const c = (await store.trackingCountsBetween(start, nextDayStartIn(start, timeZone))).human;
    rows.push({ day, opens: c.opens, unique_opens: c.uniqueOpens, clicks: c.clicks, unique_clicks: c.uniqueClicks });
  }
  const sum = (k: 'opens' | 'clicks'): number => rows.reduce((n, r) => n + r[k], 0);
  // Unique over the range is not the sum of the days' (a recipient may open on two days): asked for once.
  const all = (await store.trackingCountsBetween(dayStartIn(from, timeZone), nextDayStartIn(dayStartIn(to, timeZone), timeZone))).human;
  return { time_zone: timeZone, from, to, rows, total: { opens: sum('opens'), unique_opens: all.uniqueOpens, clicks: sum('clicks'), unique_clicks: all.uniqueClicks } };
}
