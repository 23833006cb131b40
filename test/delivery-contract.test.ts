// The scheduler ↔ delivery contract (src/scheduler/contract.ts): delivery hands back what
// happened (reply, classification, attempt details, feedback), the scheduler alone turns it
// into outcomes with every time (scheduler/outcomes.ts) and records them (scheduler/recorder.ts).
import t from 'tap';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import pino from 'pino';
import { recipientResult, type AttemptContext } from '../src/delivery/outcome.js';
import { outcomeOf } from '../src/scheduler/outcomes.js';
import { OutcomeRecorder } from '../src/scheduler/recorder.js';
import type { DeliveryJob, DeliveryResult } from '../src/scheduler/contract.js';
import { retryAt } from '../src/util/backoff.js';
import { compileConfig, loadConfig } from '../src/config/config.js';
import { SourceShaping } from '../src/delivery/source-shaping.js';
import { Router } from '../src/delivery/router.js';
import { Destination } from '../src/scheduler/destination.js';
import { sourceToml } from './helpers/egress.js';
import { newQueueId, type QueueId, type RecipientId } from '../src/util/ids.js';
import type { QueueEntry } from '../src/spool/types-queue.js';
import { openTestStore } from './helpers/store.js';
import { tempDir } from './helpers/daemon.js';

const MIN = 60_000;
const T0 = Date.parse('2026-12-04T00:00:00Z');
const policy = { retryScheduleMs: [MIN, 10 * MIN], retryJitter: 0, maxQueueLifetimeMs: 60 * MIN };
const ctx = (at: number): AttemptContext => ({ at, mx: 'mx.example.net', ip: '192.0.2.1', tls: true, durationMs: 5 });

function entry(over: Partial<QueueEntry> = {}): QueueEntry {
  return {
    recipientId: 7 as RecipientId, queueId: '0'.repeat(18) as QueueId, sender: 'app@example.com', rcpt: 'Bob@Example.net', domain: 'example.net',
    state: 'sending', attempts: 0, nextAttemptAt: T0, lastReply: null, receivedAt: T0, size: 100, lane: 'trigger', cursor: 'c1', ...over,
  };
}

t.test('delivery reports no time; the scheduler maps each reply to its outcome', async (t) => {
  const r = recipientResult(entry(), '451 4.3.0 try later', ctx(T0 + MIN));
  t.same(Object.keys(r).sort(), ['at', 'attempted', 'cls', 'detail', 'entry', 'reply'], 'a result carries what happened, nothing about when next');
  t.notOk('next_attempt_at' in r.detail);
  t.match(r.detail, { attempt: 1, mx: 'mx.example.net', ip: '192.0.2.1', tls: true, duration_ms: 5, category: 'receiver_temporary', enhanced: '4.3.0' });

  const ok = outcomeOf(recipientResult(entry(), '250 2.0.0 ok', ctx(T0 + MIN)), policy);
  t.equal(ok.kind, 'delivered');
  t.equal(ok.nextAttemptAt, undefined);

  const deferred = outcomeOf(r, policy);
  t.equal(deferred.kind, 'deferred');
  t.equal(deferred.nextAttemptAt, T0 + 2 * MIN, 'first failure: the first step after the attempt');
  t.equal(deferred.detail['next_attempt_at'], T0 + 2 * MIN);
  const second = outcomeOf(recipientResult(entry({ attempts: 1 }), '451 4.3.0 try later', ctx(T0 + 3 * MIN)), policy);
  t.equal(second.nextAttemptAt, T0 + 13 * MIN, 'second failure: the second step');

  const failed = outcomeOf(recipientResult(entry(), '550 5.1.1 user unknown', ctx(T0 + MIN)), policy);
  t.equal(failed.kind, 'failed');
  t.same(failed.suppress, { address: 'bob@example.net', reason: '550 5.1.1 user unknown' });
  const bounceOfBounce = outcomeOf(recipientResult(entry({ sender: '' }), '550 5.1.1 user unknown', ctx(T0 + MIN)), policy);
  t.equal(bounceOfBounce.kind, 'failed');
  t.equal(bounceOfBounce.suppress, undefined, 'mail from the null sender never suppresses');
});

t.test('expiry against the queue lifetime, and a not-before time within it', async (t) => {
  const late = outcomeOf(recipientResult(entry({ attempts: 4 }), '451 4.3.0 try later', ctx(T0 + 60 * MIN)), policy);
  t.equal(late.kind, 'expired');
  t.equal(late.detail['lifetime_ms'], 60 * MIN);
  const last = outcomeOf(recipientResult(entry({ attempts: 4 }), '451 4.3.0 try later', ctx(T0 + 55 * MIN)), policy);
  t.equal(last.nextAttemptAt, T0 + 60 * MIN, 'the last try is placed at the end of the lifetime');

  // Held mail (destination remembered unreachable): not an attempt, not before the memory ends, never past the lifetime.
  const held = recipientResult(entry({ attempts: 2 }), '427 4.4.1 unreachable', ctx(T0 + MIN), false);
  t.equal(held.detail['attempt'], 2, 'not counted as an attempt');
  t.equal(outcomeOf(held, policy).nextAttemptAt, retryAt(2, T0 + MIN, T0, { scheduleMs: policy.retryScheduleMs, jitter: 0, lifetimeMs: policy.maxQueueLifetimeMs }));
  t.equal(outcomeOf(held, policy, { notBefore: T0 + 30 * MIN }).nextAttemptAt, T0 + 30 * MIN);
  t.equal(outcomeOf(held, policy, { notBefore: T0 + 90 * MIN }).nextAttemptAt, T0 + 60 * MIN);
  t.equal(outcomeOf(held, policy, { notBefore: T0 }).nextAttemptAt, T0 + 11 * MIN, 'a past not-before changes nothing');
});

t.test('the recorder writes the outcomes of a result to the store and settles the job once', async (t) => {
  const dir = tempDir('mta-contract-');
  const store = openTestStore(join(dir, 'data'));
  // Closed before its files are removed.
  t.teardown(async () => { await store.close(); rmSync(dir, { recursive: true, force: true }); });
  const id = newQueueId();
  const now = Date.now();
  await store.commitIncoming({
    id, receivedAt: now, sender: 'app@example.com', authUser: null, clientIp: null, helo: null, messageId: '<c@x>', subject: 's',
    size: 10, lane: 'trigger', tag: null, chunks: [Buffer.from('Subject: s\r\n\r\nhi\r\n')], recipients: ['a@dest.test', 'b@dest.test'],
  });
  // Due from its commit on, which may come a few milliseconds after `now`.
  const rows = await store.claimDue({ now: Date.now() + 60_000, limit: 10 });
  t.equal(rows.length, 2);
  const job: DeliveryJob = { queueId: id, domain: 'dest.test', lane: 'trigger', sender: 'app@example.com', size: 10, receivedAt: now, recipients: rows };
  const config = { ...loadConfig({ discover: false }) };
  config.delivery = { ...config.delivery, retryScheduleMs: [10 * MIN], retryJitter: 0, sendDsn: false };
  const settled: DeliveryJob[] = [];
  const recorder = new OutcomeRecorder(() => config, store, pino({ level: 'silent' }), (j) => settled.push(j));
  const at = Date.now();
  const [a, b] = rows as [QueueEntry, QueueEntry];
  const result: DeliveryResult = {
    job, headers: () => Promise.resolve('Subject: s\r\n'),
    recipients: [recipientResult(a, '250 2.0.0 ok', ctx(at)), recipientResult(b, '451 4.3.0 later', ctx(at))],
  };
  await recorder.record(result, at + 20 * MIN);
  t.same(settled, [job], 'settled once');
  const byRcpt = new Map((await store.listQueue({ domain: 'dest.test' })).map((r) => [r.rcpt, r]));
  t.equal(byRcpt.get('a@dest.test')?.state, 'delivered');
  t.equal(byRcpt.get('b@dest.test')?.state, 'deferred');
  t.equal(byRcpt.get('b@dest.test')?.nextAttemptAt, at + 20 * MIN, 'the scheduler\'s not-before, past the 10-minute step');
  t.equal(byRcpt.get('b@dest.test')?.attempts, 1);
});

t.test('the recorder reads the message\'s headers only for a DSN it sends', async (t) => {
  const dir = tempDir('mta-contract-dsn-');
  const store = openTestStore(join(dir, 'data'));
  t.teardown(async () => { await store.close(); rmSync(dir, { recursive: true, force: true }); });
  const config = { ...loadConfig({ discover: false }) };
  config.delivery = { ...config.delivery, sendDsn: true };
  const recorder = new OutcomeRecorder(() => config, store, pino({ level: 'silent' }), () => {});
  // Reading them can cost a spool read (and, through the message cache, a DKIM signature) for mail that is not sent.
  const read: string[] = [];
  for (const c of [{ name: 'plain', taskId: undefined, dsn: true }, { name: 'task', taskId: 'task-1', dsn: false }]) {
    const id = newQueueId();
    await store.commitIncoming({
      id, receivedAt: Date.now(), sender: 'app@example.com', authUser: null, clientIp: null, helo: null, messageId: `<${c.name}@x>`, subject: 's',
      size: 10, lane: 'batch', tag: null, chunks: [Buffer.from('Subject: s\r\n\r\nhi\r\n')], recipients: [`${c.name}@gone.test`],
    });
    // The first message's DSN is due too: only this message's row makes the job.
    const rows = (await store.claimDue({ now: Date.now() + 60_000, limit: 10 })).filter((r) => r.queueId === id);
    const job: DeliveryJob = { queueId: id, domain: 'gone.test', lane: 'batch', sender: 'app@example.com', size: 10, receivedAt: Date.now(), recipients: rows, taskId: c.taskId };
    await recorder.record({ job, headers: () => { read.push(c.name); return Promise.resolve('Subject: s\r\n'); }, recipients: [recipientResult(rows[0]!, '550 5.1.1 user unknown', ctx(Date.now()))] });
    t.equal((await store.listQueue({ domain: 'gone.test' })).find((r) => r.rcpt === `${c.name}@gone.test`)?.state, 'failed', `${c.name}: failed`);
  }
  t.same(read, ['plain'], 'read for the plain message\'s DSN, not for the task message, which gets none');
});

t.test('per-source session counts are delivery\'s own, per destination and source', async (t) => {
  const dir = tempDir('mta-contract-shaping-');
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const cfg = compileConfig(`hostname = "mta.test"\ndata_dir = "${join(dir, 'data')}"\n[[smtp.listen]]\naddress = "127.0.0.1:0"\ntls = "none"\n` +
    '[delivery]\n[[delivery.shaping]]\nname = "new-ip"\ndomains = ["a.test", "b.test"]\negress = ["p"]\nmax_connections = 1\n' +
    `[egress]\ndefault_pool = "p"\n${sourceToml('s1', 2)}[[egress.pool]]\nname = "p"\nsources = [{ source = "s1" }]\n`, 'test.toml');
  const store = openTestStore(join(dir, 'data'));
  t.teardown(() => store.close());
  const ss = new SourceShaping(new Router(cfg, { resolve: async () => ({ ok: false, permanent: false, reply: 'unused' }) } as never), store, store.nodeId, pino({ level: 'silent' }));
  const a = new Destination('a.test');
  const b = new Destination('b.test');
  t.notOk(ss.full(a, [], undefined)('s1'));
  ss.countSession(a, 's1', 1);
  t.ok(ss.full(a, [], undefined)('s1'), 'one session from s1 to a.test: at its limit of 1');
  t.notOk(ss.full(b, [], undefined)('s1'), 'another destination has its own count');
  t.notOk(ss.full(a, [], 's1')('s1'), 'the caller\'s own session is not counted');
  ss.countSession(a, 's1', -1);
  t.notOk(ss.full(a, [], undefined)('s1'), 'given up: below the limit again');
  t.notOk('countSourceSession' in a || 'sourceSessions' in a, 'the scheduler\'s destination keeps no delivery session counts');
});
