// The tracking report's sums and rates (stats/tracking-stats.ts `trackingReport`), from rows
// as the store returns them: distinct recipients add up across days and keys, rates are
// null when their base is zero, human and machine never mix, links rank by human unique
// clicks, every day of the range is in the trend.
import t from 'tap';
import { trackingReport } from '../src/stats/tracking-stats.js';
import type { TrackingStatsRows } from '../src/spool/types-tracking.js';

const D1 = '2026-03-01', D2 = '2026-03-02', D3 = '2026-03-03';
const rows: TrackingStatsRows = {
  delivered: [{ day: D1, key: 'spring', delivered: 10 }, { day: D2, key: 'spring', delivered: 5 }, { day: D2, key: '', delivered: 5 }],
  hits: [
    { day: D1, key: 'spring', kind: 'open', human: true, hits: 6, recipients: 4 },
    { day: D1, key: 'spring', kind: 'open', human: false, hits: 3, recipients: 3 },
    { day: D1, key: 'spring', kind: 'click', human: true, hits: 2, recipients: 1 },
    { day: D2, key: 'spring', kind: 'open', human: true, hits: 1, recipients: 1 },
    { day: D2, key: '', kind: 'click', human: false, hits: 2, recipients: 2 },
    // a click on mail of a day with no delivery left (a late hit on purged or failed mail)
    { day: D3, key: 'autumn', kind: 'click', human: true, hits: 1, recipients: 1 },
  ],
  urls: [
    { day: D1, url: 'https://x.example/b', human: true, clicks: 2, recipients: 1 },
    { day: D2, url: 'https://x.example/a', human: false, clicks: 2, recipients: 2 },
    { day: D3, url: 'https://x.example/a', human: true, clicks: 1, recipients: 1 },
    { day: D3, url: 'https://x.example/c', human: true, clicks: 1, recipients: 1 },
  ],
};

t.test('per key: days summed, keys in order, rates over delivered and over unique opens', async (t) => {
  const r = trackingReport(rows, [D1, D2, D3], 'tag', 10);
  t.same(r.rows.map((x) => x.key), ['', 'autumn', 'spring']);
  const spring = r.rows[2]!;
  t.same(spring, {
    key: 'spring', delivered: 15,
    human: { opens: 7, unique_opens: 5, clicks: 2, unique_clicks: 1, open_rate: 0.3333, click_rate: 0.0667, click_to_open_rate: 0.2 },
    machine: { opens: 3, unique_opens: 3, clicks: 0, unique_clicks: 0, open_rate: 0.2, click_rate: 0, click_to_open_rate: 0 },
  });
  t.same(r.rows[1]!.human, { opens: 0, unique_opens: 0, clicks: 1, unique_clicks: 1, open_rate: null, click_rate: null, click_to_open_rate: null },
    'no deliveries, no opens: no rates');
  t.same(r.rows[0]!.machine.click_to_open_rate, null, 'machine clicks without machine opens: no click-to-open');
  t.same([r.total.delivered, r.total.human.unique_opens, r.total.human.unique_clicks, r.total.machine.unique_clicks], [20, 5, 2, 2]);
});

t.test('per day: every day of the range, in order, and the trend alike', async (t) => {
  const r = trackingReport(rows, [D1, D2, D3, '2026-03-04'], 'day', 10);
  t.same(r.rows.map((x) => [x.key, x.delivered, x.human.opens, x.machine.clicks]), [[D1, 10, 6, 0], [D2, 10, 1, 2], [D3, 0, 0, 0], ['2026-03-04', 0, 0, 0]]);
  t.same(r.trend, r.rows);
  t.same(trackingReport(rows, [D1, D2, D3], 'tag', 10).trend.map((x) => x.key), [D1, D2, D3], 'the trend is per day whatever the grouping');
});

t.test('links: by human unique clicks, then human clicks, then machine clicks; a limit', async (t) => {
  const r = trackingReport(rows, [D1, D2, D3], 'day', 10);
  t.same(r.links.map((l) => [l.url, l.human.clicks, l.human.unique_clicks, l.machine.clicks, l.machine.unique_clicks]), [
    ['https://x.example/b', 2, 1, 0, 0], ['https://x.example/a', 1, 1, 2, 2], ['https://x.example/c', 1, 1, 0, 0],
  ]);
  t.same(trackingReport(rows, [D1], 'day', 1).links.map((l) => l.url), ['https://x.example/b']);
  t.same(trackingReport(rows, [D1], 'day', 0).links, []);
});
