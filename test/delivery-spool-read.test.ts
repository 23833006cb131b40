// The spool failing to give a message's bytes during delivery (PostgreSQL restarting: seen in
// test/pg-cluster-restart.test.ts) costs an attempt, never the message and never its signature:
//   - while signing: the message is not sent unsigned (a read failure is not a bad key); it goes
//     out signed at the next try;
//   - mid-DATA: the session is dropped (the server is still reading data, so an RSET on it
//     would wait for socket_timeout, 10 minutes here), the recipient is deferred and delivered
//     at the next try.
// The store is the real one; its readBody fails once, after the first chunk. Each world holds
// one message, so reads are counted per world. Mail taken in intake's own commit comes with its
// bytes and is not read for its first try (test/fresh-handoff.test.ts), so here the scheduler
// claims it from the spool, as it does mail that waited (a retry, a restart, a full ready set).
import t, { type Test } from 'tap';
import { startWorld, type World } from './helpers/delivery.js';
import type { QueueId } from '../src/util/ids.js';

/** Makes the `failOn`-th read of a message body in `w` (1-based) fail after its first chunk. */
function failRead(t: Test, w: World, failOn: number): () => number {
  const store = w.daemon.daemon.store;
  const real = store.readBody.bind(store);
  let reads = 0;
  store.readBody = (id: QueueId): AsyncIterable<Buffer> => {
    if (++reads !== failOn) return real(id);
    return (async function* () {
      for await (const chunk of real(id)) { yield chunk; break; }
      throw new Error('test: the spool connection was lost');
    })();
  };
  t.teardown(() => { store.readBody = real; });
  return () => reads;
}

async function deliveredOnce(t: Test, failOn: number, body: string): Promise<void> {
  const w = await startWorld('socket_timeout = "10m"\n');
  t.teardown(() => w.stop());
  const sink = await w.addDomain('read.test', 31);
  w.daemon.daemon.store.handFresh(undefined);
  const reads = failRead(t, w, failOn);
  const id = await w.submit('a@read.test', { subject: 'read me', body });
  const m = await w.waitFor('delivered', async () => { const x = await w.message(id); return x.recipients[0]!.state === 'delivered' && x; }, 60_000);
  t.ok(reads() > failOn, `the body was read again after the failed read (${reads()} reads)`);
  t.equal(sink.messages.length, 1, 'one message at the sink');
  t.match(sink.messages[0]!.raw.toString('latin1'), /^DKIM-Signature: /m, 'DKIM-signed');
  t.ok(sink.messages[0]!.raw.toString('latin1').endsWith(body), 'whole');
  t.ok(m.events.some((e) => e.type === 'deferred' || e.type === 'requeued'), `the failed try is on record (${m.events.map((e) => e.type).join(', ')})`);
}

t.test('a read failure while signing: the message is not sent unsigned; it goes out signed at the next try', (t) => deliveredOnce(t, 1, 'short\r\n'));

// Over 64 KiB the body is not kept from signing: the wire reads it from the spool again (the second read).
t.test('a read failure mid-DATA: the session is dropped, the recipient deferred and delivered at the next try', (t) =>
  deliveredOnce(t, 2, `${'x'.repeat(998)}\r\n`.repeat(100)));
