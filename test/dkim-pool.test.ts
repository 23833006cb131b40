// DKIM signing on worker threads (src/delivery/dkim-pool.ts): signatures made on a thread
// verify with mailauth and are byte-for-byte those of the in-thread signer, failures are
// DkimErrors with the same text, a dead thread is replaced, close() leaves a usable pool,
// idle threads never keep a process alive, and MessageCache uses the pool only for
// messages it may hold in memory (up to THREAD_SIGN_MAX).
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, rmSync, writeFileSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Worker } from 'node:worker_threads';
import pino from 'pino';
import { dkimVerify } from 'mailauth/lib/dkim/verify.js';
import { DkimPool } from '../src/delivery/dkim-pool.js';
import { LaneQueue, TRIGGER_RUN } from '../src/delivery/lane-queue.js';
import { dkimSignature, DkimError, type DkimKey } from '../src/delivery/dkim.js';
import { MessageCache, THREAD_SIGN_MAX, wireBody } from '../src/delivery/message.js';
import { NOW, keyFor, resolverFor } from './helpers/dkim-keys.js';
import type { Store } from '../src/spool/types.js';
import type { QueueId } from '../src/util/ids.js';
import type { Lane } from '../src/spool/types-queue.js';

const KEYS = { rsa: keyFor('rsa'), ed25519: keyFor('ed25519') };


async function verdict(signed: Buffer, txt: string, now = NOW): Promise<string> {
  const res = await dkimVerify(signed, { resolver: resolverFor(txt), curTime: now });
  if (res.results.length !== 1) return `${res.results.length} signatures`;
  const r = res.results[0] as unknown as { status: { result: string; comment?: string } };
  return r.status.result === 'pass' ? 'pass' : `${r.status.result}: ${r.status.comment ?? ''}`;
}

function message(n: number, lines = 200): Buffer {
  return Buffer.from([
    'Received: from app (app.internal [10.0.0.5]) by mta.example.com (mta) with ESMTPSA',
    'From: "App" <app@example.com>',
    'To: someone@example.org',
    `Subject:   Receipt   ${n}`,
    'Date: Mon, 23 Nov 2026 02:10:35 +0000',
    `Message-ID: <${n}@mta.example.com>`,
    'MIME-Version: 1.0',
    'Content-Type: text/plain; charset=utf-8',
    '',
    ...Array.from({ length: lines }, (_, i) => `line ${i} of message ${n}, trailing blanks \t `),
    '',
  ].join('\r\n'));
}
const MESSAGE = message(0);

async function rejection(p: Promise<unknown>): Promise<unknown> {
  return p.then(() => undefined, (e: unknown) => e);
}

type PoolInside = { slots: ({ worker: Worker } | undefined)[] };

for (const algorithm of ['rsa', 'ed25519'] as const) {
  t.test(`${algorithm}: a pool signature verifies and equals the in-thread one`, async (t) => {
    const pool = new DkimPool(1);
    t.teardown(() => pool.close());
    const { key, txt } = KEYS[algorithm];
    const sig = await pool.sign(MESSAGE, key, 'batch', NOW);
    t.match(sig, /^DKIM-Signature: v=1; a=/);
    t.equal(await verdict(Buffer.concat([Buffer.from(sig), MESSAGE]), txt), 'pass', 'mailauth verifies');
    // RSA PKCS#1 v1.5 and ed25519 are deterministic: same input, same bytes.
    t.equal(sig, await dkimSignature([MESSAGE], key, { now: NOW }), 'identical to dkimSignature on the event loop');
    t.match(await pool.sign(MESSAGE, key, 'trigger'), /; t=\d+;/, 'now defaults to the current time');
    t.equal(await pool.sign(MESSAGE, key, 'trigger', NOW), sig, 'a trigger request (signed on the thread itself) gives the same bytes');
  });
}

t.test('a thread signs while libuv\'s pool is held by other work', async (t) => {
  const pool = new DkimPool(1);
  t.teardown(() => pool.close());
  const { key, txt } = KEYS.rsa;
  await pool.sign(MESSAGE, key, 'batch', NOW); // the thread is up (starting it reads its modules through the pool)
  // Every thread of libuv's pool (4; the tests leave UV_THREADPOOL_SIZE alone) waits in open()
  // for a writer of this FIFO: what slow file reads or a burst of scrypt logins do to the pool.
  const dir = mkdtempSync(join(tmpdir(), 'dkim-fifo-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const fifo = join(dir, 'hold');
  t.equal(spawnSync('mkfifo', [fifo]).status, 0, 'mkfifo');
  const held = Array.from({ length: 4 }, () => open(fifo, 'r'));
  let released = false;
  held.forEach((h) => void h.then(() => { released = true; }, () => undefined));
  const batch = await Promise.all(Array.from({ length: 6 }, (_, i) => pool.sign(message(10 + i), key, 'batch', NOW)));
  const trigger = await pool.sign(message(2), key, 'trigger', NOW);
  t.notOk(released, 'the pool was held the whole time');
  t.equal(await verdict(Buffer.concat([Buffer.from(trigger), message(2)]), txt), 'pass', 'the trigger signature verifies');
  t.equal(await verdict(Buffer.concat([Buffer.from(batch[5]!), message(15)]), txt), 'pass', 'the batch signatures verify');
  closeSync(openSync(fifo, 'w')); // lets the four open() calls return
  for (const h of await Promise.all(held)) await h.close();
});

t.test('signing failures are DkimErrors with the in-thread message text', async (t) => {
  const pool = new DkimPool(1);
  t.teardown(() => pool.close());
  const cases: { what: string; msg: Buffer; key: DkimKey; re: RegExp }[] = [
    { what: 'ed25519 key used as rsa', msg: MESSAGE, key: { ...KEYS.ed25519.key, algorithm: 'rsa' }, re: /Invalid key type/ },
    { what: 'unreadable key', msg: MESSAGE, key: { ...KEYS.rsa.key, privateKeyPem: 'not a key' }, re: /DKIM signing failed/ },
    { what: 'no From', msg: Buffer.from('Subject: x\r\n\r\nbody\r\n'), key: KEYS.rsa.key, re: /no From/ },
    { what: 'no selector', msg: MESSAGE, key: { ...KEYS.rsa.key, selector: '' }, re: /selector/ },
  ];
  for (const c of cases) {
    const e = await rejection(pool.sign(c.msg, c.key, 'batch', NOW));
    t.ok(e instanceof DkimError && e.code === 'E_DKIM_SIGN', `${c.what}: a DkimError`);
    t.match((e as Error).message, c.re, `${c.what}: says why`);
    const local = await rejection(dkimSignature([c.msg], c.key, { now: NOW }));
    t.equal((e as Error).message, (local as Error).message, `${c.what}: same text as on the event loop`);
  }
  t.equal(await verdict(Buffer.concat([Buffer.from(await pool.sign(MESSAGE, KEYS.rsa.key, 'batch', NOW)), MESSAGE]), KEYS.rsa.txt), 'pass', 'the thread still signs after failures');
});

t.test('200 concurrent signatures over 2 threads all verify', async (t) => {
  const pool = new DkimPool(2);
  t.teardown(() => pool.close());
  const jobs = Array.from({ length: 200 }, (_, i) => {
    const algorithm = i % 2 === 0 ? 'rsa' : 'ed25519';
    const msg = message(i, 20 + (i % 50));
    return { msg, txt: KEYS[algorithm].txt, sig: pool.sign(msg, KEYS[algorithm].key, 'batch', NOW) };
  });
  t.equal(pool.running, 2, 'both threads started under load');
  const verdicts = await Promise.all(jobs.map(async (j) => verdict(Buffer.concat([Buffer.from(await j.sig), j.msg]), j.txt)));
  t.same(verdicts.filter((v) => v !== 'pass'), [], 'every signature verifies');
});

t.test('a thread that dies fails its own requests and is replaced on next use', async (t) => {
  const pool = new DkimPool(1);
  t.teardown(() => pool.close());
  const inFlight = rejection(pool.sign(MESSAGE, KEYS.rsa.key, 'batch', NOW));
  await (pool as unknown as PoolInside).slots[0]!.worker.terminate();
  const e = await inFlight;
  t.ok(e instanceof DkimError && e.code === 'E_DKIM_SIGN', 'a DkimError');
  t.match((e as Error).message, /DKIM signing thread exited/);
  t.equal(pool.running, 0, 'the dead thread left its slot');
  t.equal(await verdict(Buffer.concat([Buffer.from(await pool.sign(MESSAGE, KEYS.rsa.key, 'batch', NOW)), MESSAGE]), KEYS.rsa.txt), 'pass', 'a new thread signs');
});

t.test('close() rejects what is in flight; the pool stays usable and starts threads again', async (t) => {
  const pool = new DkimPool(2);
  const inFlight = rejection(pool.sign(MESSAGE, KEYS.rsa.key, 'batch', NOW));
  await pool.close();
  const e = await inFlight;
  t.ok(e instanceof DkimError, 'in-flight request rejects with a DkimError');
  t.match((e as Error).message, /closed/);
  t.equal(pool.running, 0, 'no thread left');
  const sig = await pool.sign(MESSAGE, KEYS.ed25519.key, 'batch', NOW);
  t.equal(await verdict(Buffer.concat([Buffer.from(sig), MESSAGE]), KEYS.ed25519.txt), 'pass', 'sign() after close() works');
  t.equal(pool.running, 1);
  await pool.close();
  await pool.close();
  t.pass('close() twice is harmless');
  t.throws(() => new DkimPool(0), RangeError, 'a pool has at least one thread');
});

/** Submits jobs in order and records the order their signatures come back in. */
function completions(pool: DkimPool, jobs: { name: string; lane: Lane }[]): { order: string[]; all: Promise<unknown> } {
  const order: string[] = [];
  const all = Promise.all(jobs.map((j, i) => pool.sign(message(i), KEYS.rsa.key, j.lane, NOW).then(() => { order.push(j.name); })));
  return { order, all };
}

t.test('a trigger job submitted behind queued batch jobs is signed before them', async (t) => {
  const pool = new DkimPool(1);
  t.teardown(() => pool.close());
  const N = 12;
  const jobs = [...Array.from({ length: N }, (_, i) => ({ name: `batch ${i}`, lane: 'batch' as const })), { name: 'trigger', lane: 'trigger' as const }];
  const { order, all } = completions(pool, jobs);
  await all;
  const before = order.indexOf('trigger');
  // The thread signs one request at a time, and takes every request that has reached it into
  // its queue before it chooses the next: the batch job it started before the trigger arrived
  // may come back first, no other.
  t.ok(before <= 1, `the trigger came back ${before + 1}th of ${N + 1}: ${order.join(', ')}`);
  t.ok(order.slice(0, before).every((n) => n === 'batch 0'), 'the batch job before it, if any, is the first one submitted');
});

t.test('the signing queue takes trigger first, and batch again after TRIGGER_RUN triggers in a row', async (t) => {
  const q = new LaneQueue<string>();
  t.equal(q.take(), undefined, 'empty');
  q.push('batch', 'b1');
  q.push('batch', 'b2');
  for (let i = 0; i < TRIGGER_RUN + 2; i++) q.push('trigger', `t${i}`);
  t.equal(q.size, TRIGGER_RUN + 4);
  const taken: string[] = [];
  for (let x = q.take(); x !== undefined; x = q.take()) taken.push(x);
  const triggers = Array.from({ length: TRIGGER_RUN + 2 }, (_, i) => `t${i}`);
  t.same(taken, [...triggers.slice(0, TRIGGER_RUN), 'b1', ...triggers.slice(TRIGGER_RUN), 'b2'],
    'a batch item after TRIGGER_RUN triggers; the run starts again after it, so a steady trigger flow never starves batch');
  q.push('batch', 'b3');
  q.push('trigger', 't');
  t.same([q.take(), q.take()], ['t', 'b3'], 'triggers taken with no batch waiting do not count toward the run');
});

t.test('close() rejects every request, also those the thread has not started', async (t) => {
  const pool = new DkimPool(1);
  const jobs = Array.from({ length: 8 }, (_, i) => rejection(pool.sign(message(i), KEYS.rsa.key, i % 2 ? 'trigger' : 'batch', NOW)));
  await pool.close();
  const errors = await Promise.all(jobs);
  t.ok(errors.every((e) => e instanceof DkimError && /closed/.test(e.message)), 'every request rejects with a DkimError');
});

t.test('threads never keep a process alive, yet a pending signature is awaited', async (t) => {
  const poolUrl = new URL('../src/delivery/dkim-pool.js', import.meta.url).href;
  // No close(): the process must exit by itself once its only work (the signature) is done.
  const script = `
    import { generateKeyPairSync } from 'node:crypto';
    import { DkimPool } from ${JSON.stringify(poolUrl)};
    const { privateKey } = generateKeyPairSync('ed25519');
    const pem = privateKey.export({ type: 'pkcs8', format: 'pem' });
    const pool = new DkimPool(2);
    const sig = await pool.sign(Buffer.from('From: a@example.com\\r\\n\\r\\nhi\\r\\n'), { domain: 'example.com', selector: 's', algorithm: 'ed25519', privateKeyPem: pem }, 'trigger');
    console.log(sig.slice(0, 15));
  `;
  // A file, not -e: workers inherit execArgv, and --input-type would break their loading.
  const dir = mkdtempSync(join(tmpdir(), 'mta-dkim-pool-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'sign-once.mjs');
  writeFileSync(file, script);
  const started = Date.now();
  const r = spawnSync(process.execPath, [file], { encoding: 'utf8', timeout: 30_000 });
  t.equal(r.status, 0, `exits on its own with 0 (stderr: ${r.stderr.trim()})`);
  t.equal(r.stdout.trim(), 'DKIM-Signature:', 'the signature arrived before exit');
  t.ok(Date.now() - started < 20_000, 'promptly');
});

// MessageCache over a fake spool: one message, read in spool-sized chunks.
function fakeStore(raw: Buffer, key: DkimKey, chunk = 64 * 1024): Store {
  return {
    async *readBody() { for (let i = 0; i < raw.length; i += chunk) yield raw.subarray(i, i + chunk); },
    async getDomain(name: string) {
      return name === key.domain ? { name, dkimSelector: key.selector, dkimAlgorithm: key.algorithm, dkimPrivateKey: key.privateKeyPem } : undefined;
    },
  } as unknown as Store;
}

class CountingPool extends DkimPool {
  calls = 0;
  lanes: Lane[] = [];
  override sign(message: Buffer, key: DkimKey, lane: Lane, now?: Date): Promise<string> { this.calls++; this.lanes.push(lane); return super.sign(message, key, lane, now); }
}

type Info = Awaited<ReturnType<MessageCache['get']>>;

/** wireBody's chunks as the transport gets them (each one a socket write). */
async function wireChunks(store: Store, id: QueueId, info: Info, added = ''): Promise<Buffer[]> {
  const parts: Buffer[] = [];
  for await (const b of wireBody(store, id, info, added)) parts.push(b as Buffer);
  return parts;
}

async function wire(store: Store, id: QueueId, info: Info): Promise<Buffer> { return Buffer.concat(await wireChunks(store, id, info)); }

t.test('MessageCache signs small messages on the pool, large ones on the event loop', async (t) => {
  const pool = new CountingPool(1);
  t.teardown(() => pool.close());
  const log = pino({ level: 'silent' });
  const id = 'Q1' as QueueId;
  const { key, txt } = KEYS.rsa;

  const small = message(1);
  const s1 = fakeStore(small, key);
  const i1 = await new MessageCache(s1, log, 8, pool).get(id, 'trigger');
  t.equal(pool.calls, 1, 'a one-chunk message goes to the pool');
  t.same(pool.lanes, ['trigger'], 'with its job\'s lane');
  t.ok(i1.body?.equals(small), 'and its bytes stay cached (one chunk ≤ KEEP_BODY_MAX)');
  t.equal(await verdict(await wire(s1, id, i1), txt, new Date()), 'pass', 'the wire bytes verify');

  const mid = message(2, 4000); // a few spool chunks, under THREAD_SIGN_MAX
  const s2 = fakeStore(mid, key);
  const i2 = await new MessageCache(s2, log, 8, pool).get(id, 'batch');
  t.equal(pool.calls, 2, 'a multi-chunk message within the bound goes to the pool');
  t.equal(i2.body, undefined, 'and is not kept');
  t.equal(await verdict(await wire(s2, id, i2), txt, new Date()), 'pass', 'and verifies');

  const big = message(3, Math.ceil(THREAD_SIGN_MAX / 40));
  t.ok(big.length > THREAD_SIGN_MAX, 'the big message is over the bound');
  const s3 = fakeStore(big, key);
  const i3 = await new MessageCache(s3, log, 8, pool).get(id, 'batch');
  t.equal(pool.calls, 2, 'a message over THREAD_SIGN_MAX is not sent to the pool');
  t.equal(await verdict(await wire(s3, id, i3), txt, new Date()), 'pass', 'and its streamed signature verifies');

  const bad = fakeStore(small, { ...KEYS.ed25519.key, algorithm: 'rsa' });
  const i4 = await new MessageCache(bad, log, 8, pool).get(id, 'batch');
  t.equal(i4.signature, null, 'a signing failure sends unsigned');
  t.match(i4.signError, /Invalid key type/, 'with the reason');
  const i5 = await new MessageCache(bad, log, 8).get(id, 'batch');
  t.equal(i4.signError, i5.signError, 'the same reason as without a pool');

  const failing = {
    ...fakeStore(small, key),
    async *readBody() { yield small.subarray(0, 300); yield small.subarray(300, 600); throw new Error('spool read failed'); },
  } as unknown as Store;
  const before = pool.calls;
  // Not a signing failure: sent unsigned, the message would stay unsigned in the cache for its
  // other recipients; the load fails instead and the delivery is tried again (delivery-spool-read.test.ts).
  await t.rejects(new MessageCache(failing, log, 8, pool).get(id, 'batch'), /^spool read failed$/, 'a spool read error fails the load, it is not sent unsigned');
  await t.rejects(new MessageCache(failing, log, 8).get(id, 'batch'), /^spool read failed$/, 'as without a pool');
  t.equal(pool.calls, before, 'and nothing partial went to the pool');
});

t.test('wireBody: a message held in memory is one chunk (one socket write); a streamed one keeps its spool chunks', async (t) => {
  const pool = new DkimPool(1);
  t.teardown(() => pool.close());
  const log = pino({ level: 'silent' });
  const id = 'Q1' as QueueId;
  const { key, txt } = KEYS.rsa;
  const added = 'X-Mta-Reference: r1\r\n';
  const chunks = (store: Store, info: Info): Promise<Buffer[]> => wireChunks(store, id, info, added);

  const small = message(1);
  const s1 = fakeStore(small, key);
  const i1 = await new MessageCache(s1, log, 8, pool).get(id, 'trigger');
  const one = await chunks(s1, i1);
  t.equal(one.length, 1, 'held in memory: one chunk');
  t.ok(one[0]!.equals(Buffer.concat([Buffer.from(i1.signature! + added, 'latin1'), small])), 'the signature, the added lines, then the message');
  t.equal(await verdict(one[0]!, txt, new Date()), 'pass', 'and it verifies');

  const mid = message(2, 4000);
  const s2 = fakeStore(mid, key, 16 * 1024);
  const i2 = await new MessageCache(s2, log, 8, pool).get(id, 'batch');
  const many = await chunks(s2, i2);
  t.equal(many.length, 1 + Math.ceil(mid.length / (16 * 1024)), 'streamed: the head, then each spool chunk');
  t.ok(many[0]!.equals(Buffer.from(i2.signature! + added, 'latin1')), 'the head is the signature and the added lines');
  t.equal(await verdict(Buffer.concat(many), txt, new Date()), 'pass', 'and it verifies');

  const unsigned = { ...i1, signature: null };
  const bare = await chunks(s1, unsigned);
  t.equal(bare.length, 1, 'unsigned and held: still one chunk');
  t.ok(bare[0]!.equals(Buffer.concat([Buffer.from(added, 'latin1'), small])), 'the added lines, then the message');
});
