// Delivery → scheduler feedback (src/scheduler/destination.ts): delivery reports what it
// learnt about a destination without times; the destination turns it into limits with the
// scheduler's configured spans, and they lapse at those ends.
import t from 'tap';
import { Destination, nodeShare, type DeliveryJob } from '../src/scheduler/destination.js';
import { loadConfig } from '../src/config/config.js';

const cfg = { ...loadConfig({ discover: false }).delivery, slowdownMs: 90_000, unreachableBackoffMs: 300_000, maxConnectionsPerDomain: 7 };
const NOW = Date.parse('2026-12-04T12:00:00Z');

/** A job of `lane` to example.net, with no recipients (the destination only counts and hands out jobs). */
const job = (n: number, lane: 'batch' | 'trigger' = 'batch'): DeliveryJob =>
  ({ queueId: `q${n}` as never, domain: 'example.net', lane, sender: 's@example.com', size: 1, receivedAt: NOW, recipients: [] });

t.test('slow down: one connection until the configured slowdown has passed', async (t) => {
  const d = new Destination('example.net');
  t.equal(d.connectionLimit(cfg, NOW), 7);
  d.apply({ kind: 'slow-down' }, cfg, NOW);
  t.equal(d.slowUntil, NOW + 90_000);
  t.equal(d.connectionLimit(cfg, NOW + 89_999), 1);
  t.equal(d.connectionLimit(cfg, NOW + 90_000), 7, 'the configured limit again once it lapsed');
});

t.test('unreachable: remembered with its reply for the configured backoff', async (t) => {
  const d = new Destination('example.net');
  d.apply({ kind: 'unreachable', reply: '427 4.4.1 Connect to UNREACHABLE host: mx.example.net' }, cfg, NOW);
  t.equal(d.unreachableReply, '427 4.4.1 Connect to UNREACHABLE host: mx.example.net');
  t.equal(d.isUnreachable(NOW + 299_999), true);
  t.equal(d.isUnreachable(NOW + 300_000), false);
});

t.test('the planned route\'s shaping entry sets the connection limits', async (t) => {
  const d = new Destination('example.net');
  d.apply({ kind: 'shaping', shaping: { name: 'big', domains: ['example.net'], mxSuffixes: [], maxConnections: 2, maxMessagesPerConnection: 3 } }, cfg, NOW);
  t.equal(d.connectionLimit(cfg, NOW), 2);
  t.equal(d.messagesPerConnection(cfg), 3);
  d.apply({ kind: 'shaping', shaping: undefined }, cfg, NOW);
  t.equal(d.connectionLimit(cfg, NOW), 7);
});

t.test('in a cluster a node starts workers for its share of the limit, rounded up; alone, for all of it', async (t) => {
  const started = (nodes: number): number => {
    const d = new Destination('example.net');
    for (let n = 0; n < 20; n++) d.push(job(n));
    let workers = 0;
    while (d.workerWanted(cfg, NOW, workers, false, nodes) === 'any') { d.startWorker('any'); workers++; }
    return workers;
  };
  t.equal(started(1), 7, 'one node: the whole limit');
  t.equal(started(3), 3, 'three nodes: 7 / 3, rounded up');
  t.equal(started(7), 1, 'seven: one each');
  t.equal(started(20), 1, 'more nodes than connections: still one, the slots keep the cluster within the limit');
  t.same([nodeShare(10, 3), nodeShare(10, 1), nodeShare(2, 3), nodeShare(10, 0)], [4, 10, 1, 10]);
});

t.test('when the share shrinks (a node joined), the workers beyond it take trigger mail only, then end', async (t) => {
  const d = new Destination('example.net');
  for (let n = 0; n < 20; n++) d.push(job(n));
  const workers: ReturnType<Destination['startWorker']>[] = [];
  while (d.workerWanted(cfg, NOW, workers.length, false, 1) === 'any') workers.push(d.startWorker('any'));
  t.equal(workers.length, 7);
  for (const w of workers) t.ok(w.next(), 'each takes a job');
  t.equal(d.workerWanted(cfg, NOW, workers.length, false, 3), undefined, 'three nodes now: no new worker');
  d.push(job(100, 'trigger'));
  t.equal(workers[6]!.next()?.lane, 'trigger', 'a worker beyond the share still takes trigger mail');
  t.equal(workers[6]!.next(), undefined, 'but no batch mail: it ends');
  workers[6]!.ended();
  for (const w of workers.slice(3, 6)) { t.equal(w.next(), undefined); w.ended(); }
  t.equal(d.active, 3, 'the share is left');
  for (const w of workers.slice(0, 3)) t.equal(w.next()?.lane, 'batch', 'the workers within the share go on');
});

t.test('a trigger-reserve worker beyond the limit does not make a batch worker end', async (t) => {
  const d = new Destination('example.net');
  for (let n = 0; n < 20; n++) d.push(job(n));
  const workers: ReturnType<Destination['startWorker']>[] = [];
  while (d.workerWanted(cfg, NOW, workers.length, true, 1) === 'any') workers.push(d.startWorker('any'));
  for (const w of workers) t.ok(w.next(), 'each takes a job');
  d.push(job(100, 'trigger'));
  t.equal(d.workerWanted(cfg, NOW, workers.length, true, 1), 'trigger', 'the limit is full: a trigger worker of the reserve');
  const reserve = d.startWorker('trigger');
  t.equal(reserve.next()?.lane, 'trigger');
  for (const w of workers) t.equal(w.next()?.lane, 'batch', 'every batch worker within the limit goes on');
  reserve.ended();
  const narrowed = d.startWorker('any');
  narrowed.narrow();
  t.equal(narrowed.next(), undefined, 'a worker narrowed to the reserve takes no batch mail');
  t.equal(workers[0]!.next()?.lane, 'batch', 'and does not count against the batch workers either');
  narrowed.ended();
});
