// intake: while a message waits for its commit (the group commit's fsync, ~5 ms under load), intake
// holds the message and little else. The DATA stream stays with the SMTP session until it is
// answered, so nothing of the parse may hang from it: four piped streams, their pipes' closures
// and the parsed header nodes were ~9 KB per 2 KB message, kept long enough to be promoted
// (bench/RESULTS.md, 2026-12-05 23:10).
import t from 'tap';
import { Readable } from 'node:stream';
import { Session } from 'node:inspector';
import { receiveMessage, type IntakeEnvelope, type IntakeLimits } from '../src/intake/intake.js';
import type { MessageStore } from '../src/spool/types-queue.js';

const CRLF = '\r\n';
const MESSAGE = Buffer.from(['From: a@example.com', 'To: b@example.com', 'Subject: retention', '',
  ...Array.from({ length: 32 }, () => 'The quick brown fox jumps over the lazy dog again and again.'), ''].join(CRLF));
const ENV: IntakeEnvelope = {
  sender: 'a@example.com', recipients: ['b@example.com'], authUser: 'a@example.com', clientIp: '127.0.0.1',
  clientHostname: null, helo: 'client.example', protocol: 'ESMTPA', lane: 'trigger',
};
const LIMITS: IntakeLimits = { maxMessageSize: 10_000_000, maxHeaderSize: 65_536, hostname: 'mta.example' };

type Receive = (source: Readable, spool: MessageStore) => Promise<unknown>;

/** JS heap held per message while `receive` waits for its commit, with its DATA stream kept as an SMTP session keeps it. */
async function heldPerMessage(receive: Receive): Promise<number> {
  const session = new Session();
  session.connect();
  const gc = (): Promise<void> => new Promise((resolve) => session.post('HeapProfiler.collectGarbage', () => resolve()));
  let release!: () => void;
  const held = new Promise<void>((resolve) => { release = resolve; });
  let waiting = 0;
  const spool = { commitIncoming: async () => { waiting++; await held; } } as unknown as MessageStore;
  const N = 500;
  const sources: Readable[] = [];
  try {
    await gc();
    const before = process.memoryUsage().heapUsed;
    const results: Promise<unknown>[] = [];
    for (let i = 0; i < N; i++) {
      const s = new Readable({ read() { /* pushed below */ } });
      sources.push(s);
      results.push(receive(s, spool));
      s.push(Buffer.from(MESSAGE));
      s.push(null);
    }
    while (waiting < N) await new Promise((r) => setImmediate(r));
    await gc();
    const perMessage = (process.memoryUsage().heapUsed - before) / N;
    release();
    await Promise.all(results);
    return perMessage;
  } finally {
    session.disconnect();
  }
}

/** The least any intake holds: the chunks and the message's fields, committed. */
const bare: Receive = (source, spool) => new Promise((resolve) => {
  const chunks: Buffer[] = [];
  source.on('data', (c: Buffer) => chunks.push(c));
  source.once('end', () => resolve(spool.commitIncoming({ id: 'q', sender: ENV.sender, recipients: ENV.recipients, chunks } as never)));
});

t.test('a message waiting for its commit holds not much more than the message', async (t) => {
  const floor = await heldPerMessage(bare);
  let ok = 0;
  const intake = await heldPerMessage(async (source, spool) => { if ((await receiveMessage(source, ENV, LIMITS, spool)).ok) ok++; });
  t.equal(ok, 500, 'every message committed');
  // Bytes in Buffers are outside the JS heap: what is measured is objects, the parse's and the commit's.
  // Above the bare reader: ~1.8 KB now (the message's fields and the commit's promises), 8.6 KB with the piped streams.
  t.ok(intake - floor < 1.5 * MESSAGE.length, `${Math.round(intake)} bytes held per ${MESSAGE.length}-byte message waiting for its commit, ${Math.round(floor)} by a bare reader`);
});
