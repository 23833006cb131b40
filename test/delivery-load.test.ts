// Delivery at volume: connection reuse and the per-domain connection cap with 1,000
// recipients across 10 domains; a bounded ready set with 100,000 deferred recipients.
import t from 'tap';
import { startWorld, type World } from './helpers/delivery.js';
import type { Sink } from './helpers/sink.js';
import { newQueueId } from '../src/util/ids.js';

t.test('1,000 recipients across 10 domains: connections are reused and capped per domain', async (t) => {
  const w: World = await startWorld('max_connections_per_domain = 3\nmax_messages_per_connection = 1000\n');
  t.teardown(() => w.stop());
  const sinks: Sink[] = [];
  for (let i = 0; i < 10; i++) sinks.push(await w.addDomain(`d${i}.test`, 30 + i));
  // One SMTP submission, then 99 committed at once: a burst, so the cap is what limits.
  await w.submit(Array.from({ length: 10 }, (_, i) => `u0@d${i}.test`), { subject: 'bulk 0' });
  const body = Buffer.from('From: app@example.com\r\nTo: undisclosed-recipients:;\r\nSubject: bulk\r\nMessage-ID: <b@t>\r\n\r\nhello\r\n');
  await Promise.all(Array.from({ length: 99 }, (_, k) => w.daemon.daemon.store.commitIncoming({
    id: newQueueId(), receivedAt: Date.now(), sender: 'app@example.com', authUser: 'app@example.com', clientIp: '127.0.0.1',
    helo: 't', messageId: '<b@t>', subject: 'bulk', size: body.length, lane: 'batch', tag: null, chunks: [body],
    recipients: Array.from({ length: 10 }, (_, i) => `u${k + 1}@d${i}.test`),
  })));
  await w.waitFor('all delivered', async () => (await w.daemon.daemon.store.countByState()).delivered === 1000, 60_000);
  const transactions = sinks.reduce((n, s) => n + s.messages.length, 0);
  const connections = sinks.reduce((n, s) => n + s.connections, 0);
  t.equal(transactions, 1000, 'one transaction per message and domain');
  t.ok(connections < transactions, `${connections} connections carried ${transactions} transactions`);
  t.comment(`connections per domain: ${sinks.map((s) => s.connections).join(' ')}`);
  t.ok(sinks.some((s) => s.maxConcurrent > 1), 'domains were served by parallel connections');
  for (const s of sinks) {
    t.ok(s.maxConcurrent <= 3, `${s.host}: at most 3 connections at once (saw ${s.maxConcurrent})`);
    t.equal(s.messages.length, 100);
  }
  t.equal(new Set(sinks.flatMap((s) => s.messages.flatMap((m) => m.to))).size, 1000, 'every recipient exactly once');
});

t.test('100,000 deferred recipients: the ready set stays bounded', async (t) => {
  const w: World = await startWorld('ready_set_size = 2000\nretry_schedule = ["1h"]\n');
  t.teardown(() => w.stop());
  w.dns.set('down.test', { rcode: 'SERVFAIL' });
  const store = w.daemon.daemon.store;
  const rss0 = process.memoryUsage().rss;
  const body = Buffer.from('From: app@example.com\r\nTo: x@down.test\r\nSubject: many\r\n\r\nhello\r\n');
  for (let m = 0; m < 100; m++) {
    await store.commitIncoming({
      id: newQueueId(), receivedAt: Date.now(), sender: 'app@example.com', authUser: 'app@example.com', clientIp: '127.0.0.1',
      helo: 't', messageId: `<m${m}@t>`, subject: 'many', size: body.length, lane: 'batch', tag: null, chunks: [body],
      recipients: Array.from({ length: 1000 }, (_, i) => `r${m}-${i}@down.test`),
    });
  }
  const sched = w.daemon.daemon.scheduler!;
  // The spool shows the last outcomes committed a moment before the scheduler has settled them.
  const counts = await w.waitFor('every recipient deferred and settled', async () => {
    const c = await store.countByState();
    return c.deferred === 100_000 && sched.readyCount === 0 && c;
  }, 240_000);
  t.equal(counts.deferred, 100_000);
  t.ok(sched.readyMax <= 2000, `the ready set never held more than ready_set_size (max ${sched.readyMax})`);
  t.equal(sched.readyCount, 0, 'nothing is held in memory once everything is deferred');
  const rss1 = process.memoryUsage().rss;
  t.comment(`RSS before ${(rss0 / 1048576).toFixed(1)} MB, after 100,000 deferred ${(rss1 / 1048576).toFixed(1)} MB`);
  const next = await store.nextDueAt();
  t.ok(next !== undefined && next > Date.now() + 30 * 60_000, 'next attempt about an hour away');
});

t.test('a full ready set of slow batch mail does not hold back trigger mail', async (t) => {
  const w: World = await startWorld('ready_set_size = 10\nmax_connections_per_domain = 1\n');
  t.teardown(() => w.stop());
  const slow = await w.addDomain('slow.test', 45, { dataDelayMs: 300 });
  const fast = await w.addDomain('fast.test', 46);
  const store = w.daemon.daemon.store;
  const commit = (to: string, lane: 'trigger' | 'batch'): Promise<void> => {
    const body = Buffer.from(`From: app@example.com\r\nTo: ${to}\r\nSubject: ${lane}\r\nMessage-ID: <${to}>\r\n\r\nhi\r\n`);
    return store.commitIncoming({
      id: newQueueId(), receivedAt: Date.now(), sender: 'app@example.com', authUser: 'app@example.com', clientIp: '127.0.0.1',
      helo: 't', messageId: `<${to}>`, subject: lane, size: body.length, lane, tag: null, chunks: [body], recipients: [to],
    });
  };
  await Promise.all(Array.from({ length: 30 }, (_, i) => commit(`b${i}@slow.test`, 'batch')));
  // The ready set is full (10 claimed, none finished) when the login code arrives.
  await w.waitFor('the campaign to start', () => slow.current >= 1 && w.daemon.daemon.scheduler!.readyCount === 10);
  await commit('login@fast.test', 'trigger');
  await w.waitFor('the login code', () => fast.messages.length === 1);
  t.ok(slow.messages.length < 30, `the trigger message went out while the campaign was still running (${slow.messages.length}/30 delivered)`);
  const sched = w.daemon.daemon.scheduler!;
  t.ok(sched.readyMax > 10, `claimed through the trigger reserve beyond ready_set_size (max ${sched.readyMax})`);
  t.ok(sched.readyMax <= 10 + 100, 'and within size + reserve');
  await w.waitFor('the campaign to finish', () => slow.messages.length === 30, 60_000);
});
