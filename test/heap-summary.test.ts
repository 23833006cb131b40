// bench/heap-summary on real snapshots of a worker thread's heap (a small isolate: the test
// runner's own heap takes a minute to snapshot): a known number of objects of a class of
// its own, held by an array and by a Map, must show up as one group with that count, their
// retainers, and as growth against a snapshot taken before they were made.
import t from 'tap';
import { Worker } from 'node:worker_threads';
import { once } from 'node:events';
import { text } from 'node:stream/consumers';
import { summarise, compare, formatSummary, type HeapSnapshot } from '../bench/heap-summary.js';

const WORKER = `
const { parentPort } = require('node:worker_threads');
class HeapSummaryMarker { constructor(n, label) { this.n = n; this.label = label; } }
const kept = [];
parentPort.on('message', () => {
  kept.push(Array.from({ length: 3000 }, (_, i) => new HeapSummaryMarker(i, 'a' + i)));
  const holder = { byKey: new Map() };
  for (let i = 0; i < 2000; i++) holder.byKey.set(i, new HeapSummaryMarker(i, 'm' + i));
  kept.push(holder);
  parentPort.postMessage('made');
});
parentPort.postMessage('ready');
`;

async function snapshot(w: Worker): Promise<HeapSnapshot> {
  return JSON.parse(await text(await w.getHeapSnapshot())) as HeapSnapshot;
}

t.test('groups by constructor, counts, sizes and retainers; compare shows the growth', async (t) => {
  const w = new Worker(WORKER, { eval: true });
  t.teardown(() => w.terminate());
  await once(w, 'message');
  const before = summarise(await snapshot(w));
  t.notOk(before.groups.some((g) => g.name === 'HeapSummaryMarker'), 'no marker before they are made');

  w.postMessage('make');
  await once(w, 'message');
  const after = summarise(await snapshot(w));

  const g = after.groups.find((x) => x.name === 'HeapSummaryMarker');
  t.ok(g, 'the marker class is a group');
  t.equal(g!.count, 5000, 'every instance counted once');
  t.ok(g!.bytes >= 5000 * 16, `self sizes add up (${g!.bytes} bytes)`);
  t.equal(g!.retainers[0]!.by, 'Array[]', 'the array holds most of them (element references)');
  t.equal(g!.retainers[0]!.count, 3000);
  t.ok(after.bytes >= after.groups.reduce((a, x) => a + x.bytes, 0) - 1 && after.bytes > 0, 'the total is the sum of the groups');
  t.ok(after.groups.every((x, i) => i === 0 || after.groups[i - 1]!.bytes >= x.bytes), 'largest group first');

  const grew = compare(before, after).find((c) => c.name === 'HeapSummaryMarker');
  t.equal(grew?.countDelta, 5000, 'all of them are growth');
  t.equal(grew?.bytesDelta, g!.bytes);
  const gone = compare(after, before).find((c) => c.name === 'HeapSummaryMarker');
  t.same([gone?.count, gone?.countDelta], [0, -5000], 'a group only the base has shows as a loss');

  t.match(formatSummary(after, 1000), /\| HeapSummaryMarker \| 5000 \| /, 'the table has a row for it');
});
