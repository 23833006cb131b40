/**
 * tracking/report — the engagement of a batch task's mail: opens, unique opens, clicks and
 * unique clicks with their rates, human, machine and scanner apart, and clicks per link.
 * Rates are unique recipients over the task's delivered recipients (every copy of a task
 * with --tracking is tracked, so that is the right base). Shared by the API and the CLI.
 *
 * Must never: mix the classes: the human figures are the engagement; machine opens and
 * scanner clicks are shown beside them, not added to them.
 */
import type { Store } from '../spool/types.js';
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
