// The DATA phase's writes (issue 23): a message held in memory and the "\r\n.\r\n" nodemailer
// writes after it leave the socket in one write (delivery/transport.ts coalesceData), so the
// message costs one syscall instead of two, and that write is not held for a later phase of
// the event loop (a login code's data would wait for everything else the turn does). The writes are counted at the socket's own
// _write/_writev, which is where each syscall starts. A body in memory over the socket's
// 16 KB buffer pauses the pipe at once, and must not wait for the turn's end either; a body
// read from the spool in chunks must still flow: the receiver here checks every byte.
import t from 'tap';
import { createServer, type Server, type Socket } from 'node:net';
import { once } from 'node:events';
import { Readable } from 'node:stream';
import { SmtpSession } from '../src/delivery/transport.js';

interface Receiver { server: Server; port: number; messages: Buffer[] }

/** A plain receiver with PIPELINING: it keeps each message's data, dots unstuffed. */
async function receiver(): Promise<Receiver> {
  const r: Receiver = { server: createServer(), port: 0, messages: [] };
  r.server.on('connection', (s: Socket) => {
    let buf = Buffer.alloc(0);
    let inData = false;
    s.write('220 rx.test ESMTP\r\n');
    s.on('data', (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      for (;;) {
        if (inData) {
          const end = buf.indexOf('\r\n.\r\n');
          if (end < 0) return;
          r.messages.push(Buffer.from(buf.subarray(0, end + 2).toString('latin1').replace(/^\.\./gm, '.'), 'latin1'));
          buf = buf.subarray(end + 5);
          inData = false;
          s.write('250 2.0.0 Ok: queued\r\n');
          continue;
        }
        const i = buf.indexOf('\r\n');
        if (i < 0) return;
        const verb = buf.subarray(0, 4).toString('latin1').toUpperCase();
        buf = buf.subarray(i + 2);
        if (verb === 'DATA') inData = true;
        s.write(verb === 'EHLO' ? '250-rx.test\r\n250-PIPELINING\r\n250 8BITMIME\r\n'
          : verb === 'DATA' ? '354 go on\r\n' : verb === 'QUIT' ? '221 2.0.0 Bye\r\n' : '250 2.0.0 Ok\r\n');
      }
    });
    s.on('error', () => undefined);
  });
  r.server.listen(0, '127.0.0.1');
  await once(r.server, 'listening');
  r.port = (r.server.address() as { port: number }).port;
  return r;
}

/** Counts the socket writes a session makes from now on. */
function countWrites(session: SmtpSession): { n: number } {
  const socket = (session as unknown as { conn: { _socket: Socket & { _write: Function; _writev: Function } } }).conn._socket;
  const count = { n: 0 };
  for (const m of ['_write', '_writev'] as const) {
    const real = socket[m].bind(socket);
    socket[m] = (...args: unknown[]) => { count.n++; return real(...args); };
  }
  return count;
}

const message = (lines: number): Buffer => Buffer.from(
  'From: a@example.com\r\nTo: b@example.net\r\nSubject: t\r\n\r\n' + Array.from({ length: lines }, (_, i) => `${i % 7 === 0 ? '.' : ''}line ${i} ${'x'.repeat(60)}`).join('\r\n') + '\r\n', 'latin1');

t.test('a message in memory goes out in one write after the envelope; a chunked one larger than the socket buffer flows whole', async (t) => {
  const rx = await receiver();
  t.teardown(() => rx.server.close());
  const session = await SmtpSession.open({ address: '127.0.0.1', port: rx.port, hostName: 'rx.test', tls: 'none', requireTls: false },
    { ehloName: 'mta.test', connectTimeoutMs: 5000, socketTimeoutMs: 5000 });
  t.teardown(() => session.close());

  const small = message(30);
  const writes = countWrites(session);
  const body = Readable.from(small, { objectMode: false });
  // This listener runs before the session's own (added in send), so its setImmediate comes first:
  // the data must be written by then, not left corked for the session's setImmediate.
  let byImmediate = -1;
  body.once('resume', () => setImmediate(() => { byImmediate = writes.n; }));
  const r1 = await session.send({ from: 'a@example.com', to: ['b@example.net'], size: small.length }, body);
  t.match(r1.replies.get('b@example.net'), /^250 /, 'accepted');
  // One for MAIL, RCPT and DATA (nodemailer corks them), one for the message and its ".".
  t.equal(writes.n, 2, 'two socket writes: the envelope, then the message with its terminator');
  t.equal(byImmediate, 2, 'the data was written as soon as the terminator was in, before the turn\'s setImmediate');
  t.ok(rx.messages[0]?.equals(small), 'the receiver has the message byte for byte');

  // 40 KB in memory (kept bodies go up to 64 KB): over the socket's 16 KB buffer, so the pipe
  // pauses at once. The data must not wait for the turn's setImmediate then either.
  const mid = message(600);
  t.ok(mid.length > 32 * 1024 && mid.length < 64 * 1024, 'the middle message is between 32 and 64 KB');
  const midBody = Readable.from(mid, { objectMode: false });
  let midByImmediate = -1;
  const before = writes.n;
  midBody.once('resume', () => setImmediate(() => { midByImmediate = writes.n - before; }));
  const r3 = await session.send({ from: 'a@example.com', to: ['b@example.net'], size: mid.length }, midBody);
  t.match(r3.replies.get('b@example.net'), /^250 /, 'the 40 KB message is accepted');
  t.ok(midByImmediate >= 2, `its data was being written before the turn's setImmediate (writes by then: ${midByImmediate})`);
  t.ok(rx.messages[1]?.equals(mid), 'and arrives byte for byte');

  // 1 MB in 64 KB chunks, as readBody yields a large message: over the socket's 16 KB buffer,
  // so the pipe pauses while the socket is corked and must go on once it is uncorked.
  const big = message(15_000);
  t.ok(big.length > 1_000_000, 'the large message is over 1 MB');
  const chunks = async function* (): AsyncGenerator<Buffer> { for (let i = 0; i < big.length; i += 64 * 1024) yield big.subarray(i, i + 64 * 1024); };
  const r2 = await session.send({ from: 'a@example.com', to: ['b@example.net'], size: big.length }, Readable.from(chunks(), { objectMode: false }));
  t.match(r2.replies.get('b@example.net'), /^250 /, 'the large message is accepted');
  t.ok(rx.messages[2]?.equals(big), 'and arrives byte for byte');
});
