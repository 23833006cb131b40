/**
 * mta stats — daily sending statistics (requests, delivered, failed, invalid addresses,
 * deferred, expired; delivery rate and invalid rate), per day or grouped by sender domain,
 * sender or tag, over at most 31 days. Thin: stats/stats.ts does the work, for the API too.
 *
 *   DAY         REQUESTS  DELIVERED  FAILED  INVALID  DEFERRED  EXPIRED  DELIVERY_RATE  INVALID_RATE
 *   2026-03-02  47        32         15      0        3         0        68.09%         0.00%
 *   TOTAL       47        32         15      0        3         0        68.09%         0.00%
 *
 * `--by rcpt-domain`: one row per day and recipient domain, with the delivery latency's
 * median and p95 (bucket upper bounds, "<=5s") and the failures per category.
 *
 * `--tracking`: opens and clicks instead (stats/tracking-stats.ts; the table: stats-tracking.ts),
 * people and machines apart, also per task (`--task`, `--by task`), with the most clicked links.
 */
import { Command } from 'commander';
import { withContext } from '../context.js';
import { print, printJson, table } from '../output.js';
import { StatsService, REPORT_GROUPS, type ComplaintReportRow } from '../../stats/stats.js';
import type { RcptReportRow, RcptStatsReport } from '../../stats/rcpt-stats.js';
import { formatDuration } from '../../util/units.js';
import { MtaError } from '../../util/errors.js';
import { TRACKING_GROUPS, trackingStats } from '../../stats/tracking-stats.js';
import { printTrackingStats } from './stats-tracking.js';

function percent(r: number): string { return `${(r * 100).toFixed(2)}%`; }
function latency(ms: number | null): string { return ms === null ? '-' : `<=${formatDuration(ms)}`; }

const RCPT_COLUMNS = ['day', 'key', 'requests', 'delivered', 'deferred', 'failed', 'invalid', 'expired', 'delivery_rate', 'latency_median_ms', 'latency_p95_ms', 'failed_by_category'];

function rcptTable(r: RcptStatsReport): string {
  const shown = (x: RcptReportRow): Record<string, unknown> => ({
    ...x, delivery_rate: percent(x.delivery_rate), latency_median_ms: latency(x.latency_median_ms), latency_p95_ms: latency(x.latency_p95_ms),
    failed_by_category: Object.entries(x.failed_by_category).map(([c, n]) => `${c}=${n}`).join(' ') || '-',
  });
  return table([...r.rows.map(shown), shown(r.total)], RCPT_COLUMNS,
    ['DAY', 'RCPT_DOMAIN', 'REQUESTS', 'DELIVERED', 'DEFERRED', 'FAILED', 'INVALID', 'EXPIRED', 'DELIVERY_RATE', 'LATENCY_P50', 'LATENCY_P95', 'FAILED_BY_CATEGORY']);
}

const COLUMNS = ['key', 'requests', 'delivered', 'failed', 'invalid', 'deferred', 'expired', 'cancelled', 'complaints', 'late_bounces', 'delivery_rate', 'invalid_rate', 'complaint_rate'];

export function statsCommand(): Command {
  return new Command('stats').description('sending statistics per day (of the configured timezone), domain, sender, tag or recipient domain; with --tracking, opens and clicks per day, domain, sender, tag or task; at most 31 days at once')
    .option('--from <date>', 'first day, YYYY-MM-DD (default: --to)')
    .option('--to <date>', 'last day, YYYY-MM-DD (default: today)')
    .option('--domain <domain>', 'only mail from this sender domain')
    .option('--sender <address>', 'only mail from this sender address')
    .option('--tag <tag>', 'only mail with this tag')
    .option('--by <group>', `one row per ${REPORT_GROUPS.join(' | ')} (rcpt-domain: per day and recipient domain, with latency); with --tracking: ${TRACKING_GROUPS.join(' | ')}`, 'day')
    .option('--tracking', 'opens and clicks (raw, unique, rates), people and machines apart, and the most clicked links')
    .option('--task <id>', 'with --tracking: only the mail of this batch task')
    .option('--links <n>', 'with --tracking: how many of the most clicked links to list (default 10, 0: none)')
    .option('--json', 'JSON output')
    .addHelpText('after', `
Counts are by the day each message was received (the configured timezone), at most 31 days.
With --tracking, per group: delivered recipients; opens and clicks (every hit), unique opens
and clicks (recipients); open rate = unique opens / delivered, click rate = unique clicks /
delivered, click-to-open = unique clicks / unique opens. "human" and "machine" (privacy
proxies such as Apple Mail Privacy Protection or Gmail's image proxy, security gateways
following links) are counted apart. --json adds "trend", every day of the range, for charts.`)
    .action(async (o: { from?: string; to?: string; domain?: string; sender?: string; tag?: string; by: string; tracking?: boolean; task?: string; links?: string; json?: boolean }, c: Command) =>
      withContext(c, async ({ store, config }) => {
        if (o.tracking) {
          const r = await trackingStats(store, o, config.timeZone);
          return o.json ? printJson(r) : printTrackingStats(r);
        }
        for (const f of ['task', 'links'] as const) if (o[f] !== undefined) throw new MtaError('MTA_ERR_INVALID', `--${f} needs --tracking`, f);
        const r = await new StatsService(store, config.timeZone).query(o);
        if (o.json) return printJson(r);
        if (r.by === 'rcpt-domain') {
          print(r.rows.length === 0 ? `no mail from ${r.from} to ${r.to}` : rcptTable(r));
          return print(`(days of ${r.time_zone}, the configured timezone; latency: receipt to delivery, upper bound of its histogram bucket)`);
        }
        const shown = (x: ComplaintReportRow): Record<string, unknown> => ({
          ...x, delivery_rate: percent(x.delivery_rate), invalid_rate: percent(x.invalid_rate), complaint_rate: percent(x.complaint_rate),
        });
        const rows = [...r.rows.map(shown), shown(r.total)];
        print(r.rows.length === 0 ? `no mail from ${r.from} to ${r.to}` : table(rows, COLUMNS,
          [r.by.toUpperCase(), 'REQUESTS', 'DELIVERED', 'FAILED', 'INVALID', 'DEFERRED', 'EXPIRED', 'CANCELLED', 'COMPLAINTS', 'LATE_BOUNCES', 'DELIVERY_RATE', 'INVALID_RATE', 'COMPLAINT_RATE']));
        print(`(days of ${r.time_zone}, the configured timezone)`);
      }));
}
