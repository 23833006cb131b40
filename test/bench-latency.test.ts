// bench/smtp-load.ts's accept-latency figures (issue 23): the percentile is the nearest rank,
// "after the first second" leaves out exactly the messages accepted before it, and the
// timeline puts each message in the window of its accept, counted from the first accept.
import t from 'tap';
import { boundedTimeline, latencyTimeline, percentile, steadyLatencies } from '../bench/smtp-load.js';

// accepted at 100, 350, 600, 1100, 1200 and 1650 ms; the first two slow (a warm-up)
const run = { latencies: Float64Array.from([40, 30, 9, 8, 12, 7]), acceptedAt: Float64Array.from([100, 350, 600, 1100, 1200, 1650]) };

t.test('percentile: nearest rank', async (t) => {
  t.equal(percentile(Float64Array.from([5, 1, 4, 2, 3]), 50), 3);
  t.equal(percentile(Float64Array.from([5, 1, 4, 2, 3]), 99), 5);
  t.equal(percentile(Float64Array.from([5, 1, 4, 2, 3]), 0), 1);
  t.ok(Number.isNaN(percentile(new Float64Array(0), 99)), 'no values: NaN, printed as "-"');
});

t.test('steadyLatencies: the messages accepted at least skipMs after the first', async (t) => {
  t.same([...steadyLatencies(run, 1000)], [8, 12, 7]);
  t.same([...steadyLatencies(run, 0)], [...run.latencies]);
});

t.test('latencyTimeline: windows from the first accept, each with its count and p99', async (t) => {
  t.same(latencyTimeline(run, 500), [
    { count: 2, p99: 40 }, // 100 and 350 ms: 0-499 ms after the first
    { count: 1, p99: 9 }, // 600 ms
    { count: 2, p99: 12 }, // 1100 and 1200 ms
    { count: 1, p99: 7 }, // 1650 ms
  ]);
  const gap = latencyTimeline({ latencies: Float64Array.from([3, 4]), acceptedAt: Float64Array.from([0, 1200]) }, 500);
  t.equal(gap.length, 3);
  t.same(gap[1], { count: 0, p99: NaN }, 'a window with no accept is kept, empty, so the windows stay in step with time');
  t.same(latencyTimeline({ latencies: new Float64Array(0), acceptedAt: new Float64Array(0) }, 500), [], 'no accepts: no windows');
});

t.test('boundedTimeline: wider windows for a long run, about maxWindows of them', async (t) => {
  const at = Float64Array.from({ length: 100 }, (_, i) => i * 100); // one accept every 100 ms for 10 s
  const lat = Float64Array.from({ length: 100 }, (_, i) => i);
  const short = boundedTimeline({ latencies: lat, acceptedAt: at }, 500, 20);
  t.equal(short.windowMs, 500);
  t.equal(short.windows.length, 20);
  const long = boundedTimeline({ latencies: lat, acceptedAt: at }, 500, 8);
  t.equal(long.windowMs, 1500, '20 half-second windows into at most 8: 1.5 s each');
  t.equal(long.windows.length, 7);
  t.same(long.windows[0], { count: 15, p99: 14 });
});
