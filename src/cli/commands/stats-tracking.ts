/**
 * The table `mta stats --tracking` prints (stats/tracking-stats.ts computes it; `--json`
 * prints the report itself, with the per-day `trend` a chart draws). Two lines per group,
 * people and machines, never added together:
 *
 *   DAY         CLASS    DELIVERED  OPENS  UNIQUE_OPENS  OPEN_RATE  CLICKS  UNIQUE_CLICKS  CLICK_RATE  CLICK_TO_OPEN
 *   2026-03-02  human    4          3      2             50.00%     4       2              50.00%      100.00%
 *   2026-03-02  machine  4          1      1             25.00%     1       1              25.00%      100.00%
 *
 * then the most clicked URLs (clicks and unique clicks of people, then of machines).
 */
import { print, table } from '../output.js';
import type { Engagement, TrackingReportRow, TrackingStatsReport } from '../../stats/tracking-stats.js';

const pct = (r: number | null): string => (r === null ? '-' : `${(r * 100).toFixed(2)}%`);

const COLUMNS = ['key', 'class', 'delivered', 'opens', 'unique_opens', 'open_rate', 'clicks', 'unique_clicks', 'click_rate', 'click_to_open_rate'];

function lines(r: TrackingReportRow, none: string): Record<string, unknown>[] {
  const line = (cls: 'human' | 'machine', e: Engagement): Record<string, unknown> => ({
    key: r.key === '' ? none : r.key, class: cls, delivered: r.delivered, ...e,
    open_rate: pct(e.open_rate), click_rate: pct(e.click_rate), click_to_open_rate: pct(e.click_to_open_rate),
  });
  return [line('human', r.human), line('machine', r.machine)];
}

export function printTrackingStats(r: TrackingStatsReport): void {
  if (r.total.delivered === 0 && r.total.human.opens + r.total.human.clicks + r.total.machine.opens + r.total.machine.clicks === 0) {
    print(`no delivered mail and no opens or clicks from ${r.from} to ${r.to}`);
  } else {
    const none = r.by === 'task' ? '(no task)' : r.by === 'tag' ? '(no tag)' : '-';
    print(table([...r.rows, r.total].flatMap((x) => lines(x, none)), COLUMNS,
      [r.by.toUpperCase(), 'CLASS', 'DELIVERED', 'OPENS', 'UNIQUE_OPENS', 'OPEN_RATE', 'CLICKS', 'UNIQUE_CLICKS', 'CLICK_RATE', 'CLICK_TO_OPEN']));
  }
  if (r.links.length > 0) {
    print('\nMost clicked links:');
    print(table(r.links.map((l) => ({ url: l.url, hc: l.human.clicks, hu: l.human.unique_clicks, mc: l.machine.clicks, mu: l.machine.unique_clicks })),
      ['hc', 'hu', 'mc', 'mu', 'url'], ['HUMAN_CLICKS', 'HUMAN_UNIQUE', 'MACHINE_CLICKS', 'MACHINE_UNIQUE', 'URL']));
  }
  print(`(mail received on days of ${r.time_zone}, the configured timezone; machine: privacy proxies, prefetchers and link scanners; rates over delivered recipients, --json adds the per-day trend)`);
}
