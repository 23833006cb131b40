// intake: what a DATA stream that goes wrong gets. Every refusal is read to the end of the data
// (the client must finish before it is answered), commits nothing, and says why; an error the
// stream emits after its end changes nothing and crashes nothing.
import t from 'tap';
import { Readable } from 'node:stream';
import { receiveMessage, type IntakeEnvelope, type IntakeLimits, type IntakeResult } from '../src/intake/intake.js';
import type { MessageStore } from '../src/spool/types-queue.js';

const ENV: IntakeEnvelope = {
  sender: 'a@example.com', recipients: ['b@example.com'], authUser: 'a@example.com', clientIp: '127.0.0.1',
  clientHostname: null, helo: 'client.example', protocol: 'ESMTPA', lane: 'trigger',
};
const LIMITS: IntakeLimits = { maxMessageSize: 10_000, maxHeaderSize: 200, hostname: 'mta.example' };
const HEAD = 'From: a@example.com\r\nTo: b@example.com\r\nSubject: x\r\n\r\n';

function spool(): MessageStore & { commits: number } {
  const s = { commits: 0, commitIncoming: async () => { s.commits++; } };
  return s as unknown as MessageStore & { commits: number };
}

/** Feeds `chunks` one turn of the loop apart, then ends (or fails with `error`); counts what was read. */
async function receive(chunks: string[], opts: { error?: Error; limits?: IntakeLimits } = {}): Promise<{ r: IntakeResult; read: number; ended: boolean; commits: number }> {
  const store = spool();
  const source = new Readable({ read() { /* pushed below */ } });
  let read = 0;
  let ended = false;
  source.on('data', () => { read++; });
  source.on('end', () => { ended = true; });
  const result = receiveMessage(source, ENV, opts.limits ?? LIMITS, store);
  for (const c of chunks) { source.push(Buffer.from(c, 'latin1')); await new Promise((r) => setImmediate(r)); }
  if (opts.error) source.destroy(opts.error); else source.push(null);
  const r = await result;
  return { r, read, ended, commits: store.commits };
}

t.test('a stream that fails mid-DATA: refused as unparseable, nothing committed', async (t) => {
  const { r, commits } = await receive([HEAD, 'line one\r\n'], { error: new Error('connection reset') });
  t.match(r, { ok: false, reason: 'bad-mime', detail: /connection reset/ });
  t.equal(commits, 0);
});

t.test('a bare LF in the first chunk: every later chunk is still read, nothing committed', async (t) => {
  const { r, read, ended, commits } = await receive([`${HEAD}bad\nline\r\n`, 'more\r\n', 'and more\r\n']);
  t.match(r, { ok: false, reason: 'bare-lf' });
  t.equal(read, 3, 'all three chunks read');
  t.ok(ended, 'to the end of the data');
  t.equal(commits, 0);
});

t.test('a header block over the limit, across chunks: refused, read to the end, nothing committed', async (t) => {
  const { r, read, ended, commits } = await receive(['From: a@example.com\r\n', `X-Big: ${'y'.repeat(150)}\r\n`, `X-More: ${'z'.repeat(150)}\r\n\r\n`, 'body\r\n']);
  t.match(r, { ok: false, reason: 'header-too-big', detail: 'Header block exceeds 200 bytes' });
  t.equal(read, 4);
  t.ok(ended);
  t.equal(commits, 0);
});

t.test('over the size limit: refused, the rest read and dropped', async (t) => {
  const { r, read, commits } = await receive([HEAD, 'x'.repeat(900) + '\r\n', 'y'.repeat(900) + '\r\n'], { limits: { ...LIMITS, maxMessageSize: 1000 } });
  t.match(r, { ok: false, reason: 'too-big' });
  t.equal(read, 3);
  t.equal(commits, 0);
});

t.test('an error after the end of the data: the message is committed, nothing throws', async (t) => {
  const store = spool();
  const source = new Readable({ read() { /* pushed below */ } });
  const result = receiveMessage(source, ENV, LIMITS, store);
  source.push(Buffer.from(`${HEAD}body\r\n`));
  source.push(null);
  await new Promise((r) => source.once('end', r));
  source.emit('error', new Error('late'));
  t.match(await result, { ok: true });
  t.equal(store.commits, 1);
});
