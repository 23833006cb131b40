// Faults: the webhook endpoint is down (503s, then requests that hang past the timeout)
// while mail is delivered, and the daemon is restarted (SIGTERM with POSTs in flight, then
// kill -9) while it is still down. The events wait durably in the outbox, are retried on
// the (short) retry schedule, none is given up, and once the endpoint is back every final
// event arrives at least once.
import t from 'tap';
import type { ChildDaemon } from '../helpers/child.js';
import { audit, settled, spoolCounts, startFaultWorld, startLoad, stopChild, until, type Acked, type FaultWorld } from '../helpers/fault-world.js';
import { openTestStore } from '../helpers/store.js';
import type { OutboxFigures } from '../../src/spool/types-audit.js';

let w: FaultWorld;
let d: ChildDaemon | undefined;
let mode: 'fail' | 'hang' | 'ok' = 'fail';
t.before(async () => {
  w = await startFaultWorld({ webhooks: ['retry_schedule = ["200ms", "400ms"]', 'timeout = "1s"', 'max_age = "1h"'] });
  w.rx.on(w.hookPath, () => (mode === 'fail' ? 503 : mode === 'hang' ? 'hang' : 200));
});
t.teardown(async () => { if (d) await stopChild(d); await w.close(); });

/** Outbox rows, POST attempts so far (a failing endpoint's other events wait for its next retry), rows given up. */
async function outbox(): Promise<OutboxFigures> {
  const store = openTestStore(w.dataDir);
  try { return await store.auditOutbox(); } finally { await store.close(); }
}

async function send(port: number, prefix: string, n: number): Promise<Acked[]> {
  const load = startLoad(port, { prefix, clients: 2, perClient: n });
  await load.done;
  return load.acked;
}

t.test('webhook endpoint down, daemon restarted meanwhile: every event arrives afterwards', async (t) => {
  const acked: Acked[] = [];
  d = await w.start();
  acked.push(...await send(d.port, 'w1', 5));
  await until('delivery, an event for each recipient, and several refused POSTs', async () => {
    const c = await spoolCounts(w.dataDir);
    const o = await outbox();
    return Object.keys(c.waiting).length === 0 && o.rows >= acked.flatMap((a) => a.rcpts).length && o.attempts >= 3;
  }, 60_000, 100).catch(async (e: unknown) => { t.comment(JSON.stringify({ c: await spoolCounts(w.dataDir), o: await outbox(), acked: acked.length, rx: w.rx.requests.length })); throw e; });
  t.equal(w.rx.acked(w.hookPath).length, 0, 'nothing acknowledged while the endpoint is down');

  // Requests that hang: SIGTERM with POSTs in flight.
  mode = 'hang';
  await until('a POST in flight', async () => w.rx.requests.some((r) => r.status === 'hang'), 30_000);
  t.equal(await stopChild(d), 0, 'SIGTERM with webhook requests in flight: clean exit');

  // Down again (503) across a restart, with new mail, then kill -9.
  mode = 'fail';
  d = await w.start();
  acked.push(...await send(d.port, 'w2', 5));
  const before = w.rx.requests.length;
  await until('retries after the restart', async () => w.rx.requests.length >= before + 5, 30_000);
  d.proc.kill('SIGKILL');
  await d.exited;
  t.equal(w.rx.acked(w.hookPath).length, 0, 'still nothing acknowledged');
  t.equal((await outbox()).dead, 0, 'no event given up');

  // The endpoint is back.
  mode = 'ok';
  d = await w.start();
  await until('the outbox to drain', async () => settled(await spoolCounts(w.dataDir)) && (await audit(w, acked, 1)).webhookMissing === 0, 60_000, 100).catch(() => undefined);
  const row = await audit(w, acked, 1);
  t.ok(row.acknowledged > 0, `${row.acknowledged} recipients`);
  t.equal(row.lost, 0, 'all mail delivered');
  t.equal(row.badFinal, 0, 'one final event each');
  t.equal(row.webhookMissing, 0, `every final event arrived (${row.webhookEvents} distinct events)${row.webhookMissing ? `; missing ${row.missingList.slice(0, 5).join(', ')}` : ''}`);
  t.equal((await spoolCounts(w.dataDir)).outboxOpen, 0, 'the outbox is empty');
  t.equal((await outbox()).dead, 0, 'none given up');
  const ids = w.rx.acked(w.hookPath).map((r) => r.headers['x-mta-delivery']);
  t.comment(`${ids.length} acknowledged POSTs for ${new Set(ids).size} outbox rows`);
  t.equal(await stopChild(d), 0, 'clean exit');
  d = undefined;
});
