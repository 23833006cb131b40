// A message is read and DKIM-signed while its connection opens (issue 23): the first message
// to a destination not connected lately (a login code to a domain seen an hour ago) waits for
// the slower of the two, not for both in turn. Seen from outside: the receiver holds its
// greeting until the spool has been read for the message, which never happens when reading
// waits for the connection. Mail taken in intake's own commit comes with its bytes and is not
// read at all (test/fresh-handoff.test.ts), so here the scheduler claims it from the spool, as
// it does mail that waited (a retry, a restart, a full ready set).
import t from 'tap';
import { startWorld, type World } from './helpers/delivery.js';
import type { QueueId } from '../src/util/ids.js';

t.test('the message is read and signed while the receiver has not greeted yet', async (t) => {
  const w: World = await startWorld();
  t.teardown(() => w.stop());
  const store = w.daemon.daemon.store;
  store.handFresh(undefined);
  const read = new Set<string>();
  const real = store.readBody.bind(store);
  store.readBody = (id: QueueId) => { read.add(id); return real(id); };
  t.teardown(() => { store.readBody = real; });
  let greet!: () => void;
  const greeted = new Promise<void>((r) => { greet = r; });
  let waiting = 0;
  const sink = await w.addDomain('early.test', 63, { greeting: () => { waiting++; return greeted; } });
  const id = await w.submit('user@early.test', { subject: 'login code' });
  await w.waitFor('a connection waiting for its greeting', () => waiting > 0);
  await w.waitFor('the message read while the greeting is held', () => read.has(id));
  t.equal(sink.messages.length, 0, 'nothing was sent before the greeting');
  greet();
  await w.waitFor('delivered', async () => (await w.message(id)).recipients.every((r) => r.state === 'delivered'));
  t.equal(sink.messages.length, 1, 'the receiver got the message once');
  t.match(sink.messages[0]!.raw.toString(), /^DKIM-Signature: .*d=example\.com/m, 'signed while the connection opened');
  t.equal(waiting, 1, 'over one connection');
});

t.test('a message read for a connection that fails is still delivered on the retry', async (t) => {
  const w: World = await startWorld();
  t.teardown(() => w.stop());
  let tries = 0;
  // The first connection is refused at its greeting (after the spool was read for it); the retry is greeted.
  const sink = await w.addDomain('late.test', 64, { greeting: () => (++tries === 1 ? Promise.reject(Object.assign(new Error('4.3.2 not now'), { responseCode: 421 })) : Promise.resolve()) });
  const id = await w.submit('user@late.test');
  await w.waitFor('delivered', async () => (await w.message(id)).recipients.every((r) => r.state === 'delivered'), 30_000);
  t.equal(sink.messages.length, 1, 'delivered once');
  t.match(sink.messages[0]!.raw.toString(), /^DKIM-Signature: /m, 'signed');
});
