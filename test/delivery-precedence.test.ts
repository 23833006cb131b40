// Login codes before a campaign (issue 23, delivery/precedence.ts): while a trigger job is
// being worked on, a batch job waits before it starts, for at most
// `delivery.trigger_precedence`. Seen from outside: a receiver that holds a login code's final
// reply holds back the campaign's next message (no connection is even opened for it) until
// the code is done, and with a short bound the campaign goes on regardless.
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

t.test('a campaign\'s next message waits while a login code is being delivered', async (t) => {
  const w: World = await startWorld('trigger_precedence = "1h"\n');
  t.teardown(() => w.stop());
  let release!: () => void;
  const released = new Promise<void>((r) => { release = r; });
  let held = 0;
  await w.addDomain('codes.test', 65, { dataDelayMs: () => { held++; return released; } });
  const news = await w.addDomain('news.test', 66);
  const code = await w.submit('user@codes.test', { subject: 'login code' });
  await w.waitFor('the login code\'s final reply held', () => held > 0);
  const batch = await commitBatch(w, 'member@news.test');
  const precedence = w.daemon.daemon.scheduler!.agent.precedence;
  await w.waitFor('the campaign message waiting for the login code', () => precedence.waiting === 1);
  t.equal(news.connections, 0, 'no connection was opened for it meanwhile');
  release();
  await w.waitFor('both delivered', async () => {
    const ms = await Promise.all([w.message(code), w.message(batch)]);
    return ms.every((m) => m.recipients.every((r) => r.state === 'delivered'));
  });
  t.equal(news.messages.length, 1, 'the campaign message went once the code was done');
});

t.test('with a short bound the campaign goes on while a login code lasts', async (t) => {
  const w: World = await startWorld('trigger_precedence = "100ms"\n');
  t.teardown(() => w.stop());
  let newsArrived!: () => void;
  const arrived = new Promise<void>((r) => { newsArrived = r; });
  // The login code's final reply waits for the campaign message: without the bound, neither would ever finish.
  await w.addDomain('codes.test', 67, { dataDelayMs: () => arrived });
  await w.addDomain('news.test', 68, { data: () => { newsArrived(); return undefined; } });
  const code = await w.submit('user@codes.test', { subject: 'login code' });
  const batch = await commitBatch(w, 'member@news.test');
  await w.waitFor('both delivered', async () => {
    const ms = await Promise.all([w.message(code), w.message(batch)]);
    return ms.every((m) => m.recipients.every((r) => r.state === 'delivered'));
  }, 30_000);
  t.pass('the campaign message was delivered while the login code was held');
});
