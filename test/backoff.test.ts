// The one retry formula (src/util/backoff.ts) and its two users: delivery outcomes and the
// webhook dispatcher compute the same times from the same schedule, jitter and lifetime.
import t from 'tap';
import { backoffStep, retryAt, type Backoff } from '../src/util/backoff.js';
import { recipientResult } from '../src/delivery/outcome.js';
import { outcomeOf } from '../src/scheduler/outcomes.js';
import { afterFailure } from '../src/events/dispatcher.js';
import type { QueueEntry } from '../src/spool/types-queue.js';
import type { QueueId, RecipientId } from '../src/util/ids.js';

const MIN = 60_000;
const B: Backoff = { scheduleMs: [1 * MIN, 5 * MIN, 30 * MIN], jitter: 0.5, lifetimeMs: 24 * 60 * MIN };
const T0 = Date.parse('2026-12-01T00:00:00Z');

t.test('each failure waits its step; the last step repeats', async (t) => {
  t.same([1, 2, 3, 4, 9].map((a) => backoffStep(a, B)), [MIN, 5 * MIN, 30 * MIN, 30 * MIN, 30 * MIN]);
  t.equal(backoffStep(0, B), MIN, 'a count below 1 is the first step');
  t.throws(() => backoffStep(1, { scheduleMs: [] }), /empty schedule/);
  const now = T0 + 10 * MIN;
  t.equal(retryAt(2, now, T0, B, () => 0), now + 5 * MIN, 'no jitter drawn: the step itself');
});

t.test('jitter only lengthens a wait, by at most its fraction', async (t) => {
  const now = T0 + MIN;
  t.equal(retryAt(3, now, T0, B, () => 1), now + 45 * MIN);
  t.equal(retryAt(3, now, T0, B, () => 0.5), now + Math.round(30 * MIN * 1.25));
  for (let i = 0; i < 200; i++) {
    const at = retryAt(2, now, T0, B)!;
    if (at < now + 5 * MIN || at > now + 7.5 * MIN) { t.fail(`retry at +${at - now} ms is outside [5, 7.5] minutes`); return; }
  }
  t.pass('200 random draws within [step, step × 1.5]');
});

t.test('the lifetime: the last try is placed at its end, after it nothing', async (t) => {
  const end = T0 + B.lifetimeMs;
  t.equal(retryAt(7, end - MIN, T0, B, () => 0), end, 'a step past the end is cut to the end');
  t.equal(retryAt(7, end, T0, B, () => 0), undefined);
  t.equal(retryAt(1, end + 1, T0, B, () => 0), undefined);
});

t.test('delivery outcomes and webhook retries use the same formula', async (t) => {
  const entry: QueueEntry = {
    recipientId: 1 as RecipientId, queueId: '0'.repeat(18) as QueueId, sender: 'a@example.com', rcpt: 'b@example.net', domain: 'example.net',
    state: 'sending', attempts: 1, nextAttemptAt: T0, lastReply: null, receivedAt: T0, size: 100, lane: 'trigger', cursor: 'c1',
  };
  const now = T0 + 20 * MIN;
  const ctx = { at: now, mx: null, ip: null, tls: null, durationMs: 1 };
  const random = (): number => 0.25;
  const policy = { retryScheduleMs: B.scheduleMs, retryJitter: B.jitter, maxQueueLifetimeMs: B.lifetimeMs };
  const mail = outcomeOf(recipientResult(entry, '451 4.3.0 try later', ctx), policy, { random });
  t.equal(mail.kind, 'deferred');
  t.equal(mail.kind === 'deferred' ? mail.nextAttemptAt : undefined, retryAt(2, now, T0, B, random), 'second attempt of the mail: step 2');
  const webhooks = { retryScheduleMs: [...B.scheduleMs], retryJitter: B.jitter, maxAgeMs: B.lifetimeMs };
  const hook = afterFailure(2, now, T0, webhooks, random);
  t.same(hook, { state: 'failed', nextAttemptAt: retryAt(2, now, T0, B, random) });
  t.same(afterFailure(2, T0 + B.lifetimeMs, T0, webhooks), { state: 'dead' });
  const late = { ...ctx, at: T0 + B.lifetimeMs };
  t.equal(outcomeOf(recipientResult(entry, '451 4.3.0 try later', late), policy).kind, 'expired');
});
