// Trigger mail never waits behind batch mail on the wire (SPEC §4, issue 23). When a
// campaign's transactions hold every connection a destination may have (a slow receiver),
// a login code for the same destination gets a connection of its own, within a small
// reserve beyond the limit, and is handed to delivery before the batch mail still queued.
// No timing: the receiver holds the campaign's DATA replies until the test lets them go.
import t from 'tap';
import { startWorld } from './helpers/delivery.js';
import { compileConfig } from '../src/config/config.js';
import { Destination, triggerReserve, type DeliveryJob } from '../src/scheduler/destination.js';
import { newQueueId } from '../src/util/ids.js';
import type { Lane } from '../src/spool/types-queue.js';

const cfg = compileConfig('hostname = "mta.test"\n[[smtp.listen]]\naddress = "127.0.0.1:2525"\ntls = "none"\n[delivery]\nmax_connections = 20\nmax_connections_per_domain = 2\n', 'test.toml').delivery;
const job = (lane: Lane): DeliveryJob => ({ queueId: newQueueId(), domain: 'd.test', lane, sender: 'a@example.com', size: 1, receivedAt: 0, recipients: [] });

t.test('which worker a destination wants: trigger mail gets one of its own when every worker is busy', async (t) => {
  const d = new Destination('d.test');
  for (let i = 0; i < 5; i++) d.push(job('batch'));
  t.equal(d.workerWanted(cfg, 0, 0, false), 'any', 'room within the limit: a worker for waiting batch mail');
  const w1 = d.startWorker('any');
  const w2 = d.startWorker('any');
  t.equal(d.workerWanted(cfg, 0, 2, false), undefined, 'the per-domain limit holds for batch mail');
  t.equal(w1.next()?.lane, 'batch');
  t.equal(w2.next()?.lane, 'batch');
  d.push(job('trigger'));
  t.equal(d.workerWanted(cfg, 0, 2, false), undefined, 'the batch pass never goes beyond the limit');
  t.equal(d.workerWanted(cfg, 0, 2, true), 'trigger', 'the trigger pass: one beyond the limit, for trigger mail only');
  const w3 = d.startWorker('trigger');
  t.equal(d.workerWanted(cfg, 0, 3, true), undefined, 'the waiting trigger job is spoken for by the fresh worker');
  d.push(job('trigger'));
  t.equal(triggerReserve(2), 1);
  t.equal(d.workerWanted(cfg, 0, 3, true), undefined, 'no more than the reserve (a tenth of the limit, at least one)');
  t.equal(w3.next()?.lane, 'trigger', 'the reserve worker takes trigger mail');
  t.equal(w3.next()?.lane, 'trigger');
  t.equal(w3.next(), undefined, 'and never batch mail, which waits for the workers within the limit');
  w3.ended();
  t.equal(d.active, 2);
  t.equal(d.fresh, 0);

  d.push(job('trigger'));
  t.equal(d.workerWanted(cfg, 0, 20, true), 'trigger', 'beyond max_connections too, within its reserve');
  t.equal(d.workerWanted(cfg, 0, 22, true), undefined, 'but not beyond that reserve');
  d.slowUntil = 10;
  t.equal(d.workerWanted(cfg, 0, 2, true), undefined, 'a destination that asked us to slow down keeps its limit');
  d.slowUntil = 0;
  d.unreachableUntil = 10;
  t.equal(d.workerWanted(cfg, 0, 2, true), undefined, 'an unreachable one keeps its single worker');
});

t.test('a login code to a destination whose connections a campaign holds goes first, on a connection of its own', async (t) => {
  const w = await startWorld('max_connections_per_domain = 2\n');
  t.teardown(() => w.stop());
  let release!: () => void;
  const held = new Promise<void>((r) => { release = r; });
  t.teardown(() => release());
  /** subjects in the order their DATA reached the receiver (held or not) */
  const arrived: string[] = [];
  const sink = await w.addDomain('shared.test', 48, {
    dataDelayMs: (msg) => {
      const subject = /^Subject: (\S+)/m.exec(msg.raw.toString('latin1'))?.[1] ?? '?';
      arrived.push(subject);
      return subject.startsWith('batch') ? held : 0;
    },
  });
  const store = w.daemon.daemon.store;
  const commit = (to: string, subject: string, lane: Lane): Promise<void> => {
    const body = Buffer.from(`From: app@example.com\r\nTo: ${to}\r\nSubject: ${subject}\r\nMessage-ID: <${subject}@t>\r\n\r\nhi\r\n`);
    return store.commitIncoming({
      id: newQueueId(), receivedAt: Date.now(), sender: 'app@example.com', authUser: 'app@example.com', clientIp: '127.0.0.1',
      helo: 't', messageId: `<${subject}@t>`, subject, size: body.length, lane, tag: null, chunks: [body], recipients: [to],
    });
  };
  for (let i = 0; i < 6; i++) await commit(`b${i}@shared.test`, `batch-${i}`, 'batch');
  await w.waitFor('the campaign to hold both connections', () => arrived.length === 2 && sink.current === 2);

  await commit('login@shared.test', 'login-code', 'trigger');
  await w.waitFor('the login code at the receiver', () => sink.messages.some((m) => m.to[0] === 'login@shared.test'));
  t.same(arrived.slice(2), ['login-code'], 'handed to delivery before the four batch messages still queued');
  t.equal(sink.messages.length, 1, 'while both batch transactions were still held');
  t.equal(sink.maxConcurrent, 3, 'on one connection beyond the per-domain limit');

  release();
  await w.waitFor('the campaign to finish', () => sink.messages.length === 7, 60_000);
  t.ok(sink.maxConcurrent <= 3, 'the campaign itself never went beyond the limit');
  t.same(arrived.slice(3).sort(), ['batch-2', 'batch-3', 'batch-4', 'batch-5']);
});

// A login code now and then to the same receiver: each starts a worker, which used to take a
// connection slot (a row written) and then give back the slot of the idle session it took (a
// second write), both on the event loop. The worker adopts the idle session's slot instead.
t.test('login codes one after another reuse the idle connection and its slot: no slot written for each', async (t) => {
  const w = await startWorld('max_connections_per_domain = 2\n');
  t.teardown(() => w.stop());
  const sink = await w.addDomain('codes.test', 49);
  const store = w.daemon.daemon.store;
  const pool = w.daemon.daemon.scheduler!.agent.pool;
  const calls = { take: 0, release: 0 };
  const take = store.takeSlot.bind(store);
  const release = store.releaseSlot.bind(store);
  store.takeSlot = (...a) => { calls.take++; return take(...a); };
  store.releaseSlot = (...a) => { calls.release++; return release(...a); };
  t.teardown(() => { store.takeSlot = take; store.releaseSlot = release; });
  for (let i = 1; i <= 3; i++) {
    const body = Buffer.from(`From: app@example.com\r\nTo: login@codes.test\r\nSubject: code-${i}\r\nMessage-ID: <code-${i}@t>\r\n\r\n${i}\r\n`);
    await store.commitIncoming({
      id: newQueueId(), receivedAt: Date.now(), sender: 'app@example.com', authUser: 'app@example.com', clientIp: '127.0.0.1',
      helo: 't', messageId: `<code-${i}@t>`, subject: `code-${i}`, size: body.length, lane: 'trigger', tag: null, chunks: [body], recipients: ['login@codes.test'],
    });
    await w.waitFor(`login code ${i} at the receiver`, () => sink.messages.length === i);
    // The worker has ended and left its connection idle: the next code starts a worker of its own.
    await w.waitFor('its connection idle in the pool', () => pool.idleCount === 1 && w.daemon.daemon.scheduler!.activeConnections === 0);
  }
  t.equal(sink.connections, 1, 'one connection for the three');
  t.equal(calls.take, 1, 'one slot taken, by the first worker');
  t.equal(calls.release, 0, 'and none given back: each worker adopted the idle session\'s');
  t.same((await store.slotsByNode(Date.now())).map((r) => r.slots), [1], 'one slot held, by the idle connection');
});
