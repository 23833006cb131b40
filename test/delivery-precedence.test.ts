// Login codes before a campaign (issue 23, delivery/precedence.ts): while a trigger job is
// being worked on (taken, until its message is on the wire), a batch job waits before it
// starts, both for at most `delivery.trigger_precedence`. Seen from outside: a receiver that
// holds a login code's greeting holds back the campaign's next message (no connection is even
// opened for it) until the code is sent; with a short bound the campaign goes on regardless;
// and a receiver slow to answer the code's DATA does not hold the campaign back at all.
import t from 'tap';
import { startWorld, type World } from './helpers/delivery.js';
import { newQueueId, type QueueId } from '../src/util/ids.js';
import { TriggerPrecedence } from '../src/delivery/precedence.js';

t.test('TriggerPrecedence: batch jobs wait only while a trigger job is in flight, and never past the bound', async (t) => {
  const p = new TriggerPrecedence(60_000);
  t.equal(p.batchMayStart(), undefined, 'no trigger job: a batch job starts at once, without an await');
  const a = p.enter();
  const b = p.enter();
  let started = false;
  const wait = p.batchMayStart()!.then(() => { started = true; });
  t.equal(p.waiting, 1, 'the batch job waits');
  a();
  a(); // done twice counts once
  await Promise.resolve();
  t.notOk(started, 'still waiting: another trigger job is in flight');
  b();
  await wait;
  t.equal(p.waiting, 0, 'the last trigger job done lets it go');
  t.equal(p.batchMayStart(), undefined, 'and the next batch job starts at once');

  const off = new TriggerPrecedence(0);
  off.enter();
  t.equal(off.batchMayStart(), undefined, 'trigger_precedence = 0: batch jobs never wait');

  const bounded = new TriggerPrecedence(20);
  bounded.enter(); // never done
  await bounded.batchMayStart();
  t.equal(bounded.waiting, 0, 'a batch job goes after the bound even while the trigger job lasts');

  const silent = new TriggerPrecedence(20);
  silent.enter(); // a login code whose receiver never greets
  await new Promise<void>((resolve) => {
    const look = (): void => { if (silent.batchMayStart() === undefined) resolve(); else setTimeout(look, 5); };
    look();
  });
  t.pass('a trigger job stops holding batch jobs back after the bound');

  const stopping = new TriggerPrecedence(60_000);
  stopping.enter();
  const held = stopping.batchMayStart()!;
  stopping.release();
  await held;
  t.pass('release() (delivery stopping) lets the waiting batch jobs go');
});

/** A batch-lane message to `to`, committed as a task chunk's would be. */
async function commitBatch(w: World, to: string): Promise<QueueId> {
  const body = Buffer.from('From: app@example.com\r\nTo: member@news.test\r\nSubject: news\r\nMessage-ID: <news@t>\r\n\r\nhello\r\n');
  const id = newQueueId();
  await w.daemon.daemon.store.commitIncoming({
    id, receivedAt: Date.now(), sender: 'app@example.com', authUser: 'app@example.com', clientIp: '127.0.0.1',
    helo: 't', messageId: '<news@t>', subject: 'news', size: body.length, lane: 'batch', tag: null, chunks: [body], recipients: [to],
  });
  return id;
}

/** Both delivered: the login code and the campaign's message. */
async function bothDelivered(w: World, ids: QueueId[]): Promise<void> {
  await w.waitFor('both delivered', async () => {
    const ms = await Promise.all(ids.map((id) => w.message(id)));
    return ms.every((m) => m.recipients.every((r) => r.state === 'delivered'));
  }, 30_000);
}

t.test('a campaign\'s next message waits while a login code is on its way out', async (t) => {
  const w: World = await startWorld();
  // An hour, beyond what the configuration allows (1s), so that no timer decides this test.
  w.daemon.daemon.scheduler!.agent.precedence.reload(3_600_000);
  t.teardown(() => w.stop());
  let greet!: () => void;
  const greeted = new Promise<void>((r) => { greet = r; });
  let connecting = 0;
  await w.addDomain('codes.test', 65, { greeting: () => { connecting++; return greeted; } });
  const news = await w.addDomain('news.test', 66);
  const code = await w.submit('user@codes.test', { subject: 'login code' });
  await w.waitFor('the login code\'s connection waiting for its greeting', () => connecting > 0);
  const batch = await commitBatch(w, 'member@news.test');
  const precedence = w.daemon.daemon.scheduler!.agent.precedence;
  await w.waitFor('the campaign message waiting for the login code', () => precedence.waiting === 1);
  t.equal(news.connections, 0, 'no connection was opened for it meanwhile');
  greet();
  await bothDelivered(w, [code, batch]);
  t.equal(news.messages.length, 1, 'the campaign message went once the code was on the wire');
});

/**
 * The login code's receiver waits (at its greeting, or before its final reply) until the
 * campaign's message has arrived: unless the campaign went on meanwhile, neither ever goes.
 */
const deadlocks = [
  { name: 'a login code no longer holds the campaign back once the bound has passed', bound: 100, hold: 'greeting' as const, n: 67 },
  { name: 'a login code on the wire does not hold the campaign back while its receiver answers', bound: 3_600_000, hold: 'dataDelayMs' as const, n: 69 },
];
for (const c of deadlocks) {
  t.test(c.name, async (t) => {
    const w: World = await startWorld(`trigger_precedence = "${Math.min(c.bound, 1000)}ms"\n`);
    // Beyond the configuration's 1s bound where the case needs it: no timer may decide it.
    w.daemon.daemon.scheduler!.agent.precedence.reload(c.bound);
    t.teardown(() => w.stop());
    let newsArrived!: () => void;
    const arrived = new Promise<void>((r) => { newsArrived = r; });
    await w.addDomain('codes.test', c.n, { [c.hold]: () => arrived });
    await w.addDomain('news.test', c.n + 1, { data: () => { newsArrived(); return undefined; } });
    const code = await w.submit('user@codes.test', { subject: 'login code' });
    const batch = await commitBatch(w, 'member@news.test');
    await bothDelivered(w, [code, batch]);
    t.pass(`the campaign message was delivered while the login code's receiver held its ${c.hold === 'greeting' ? 'greeting' : 'final reply'}`);
  });
}
