// The one wake/refill/timer loop (src/util/wake-loop.ts) shared by the scheduler, the webhook
// dispatcher and the task expander: wakes coalesce, a wake during a pass (or while the next
// delay is asked) runs one more pass, passes never overlap, the timer and onError re-run it,
// and stop() waits for the pass in progress and ends everything.
import t from 'tap';
import { WakeLoop, type WakeLoopOptions } from '../src/util/wake-loop.js';

/** Polls `cond` with a generous limit (no fixed sleeps decide a result). */
async function until(cond: () => boolean, what: string, limitMs = 10_000): Promise<void> {
  const end = Date.now() + limitMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 2));
  }
}
/** Lets every queued immediate and microtask run. */
async function settle(): Promise<void> {
  for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r));
}

function gate(): { wait: Promise<void>; open: () => void } {
  let open!: () => void;
  const wait = new Promise<void>((r) => { open = r; });
  return { wait, open };
}

/** A loop counting its passes and how many ran at once; no timer unless `nextDelay` says so. */
function counting(opts: Partial<WakeLoopOptions> & { during?: () => Promise<void> } = {}) {
  const c = { passes: 0, running: 0, maxRunning: 0, errors: [] as unknown[] };
  const loop = new WakeLoop({
    pass: async () => {
      c.passes++; c.running++; c.maxRunning = Math.max(c.maxRunning, c.running);
      try { await opts.during?.(); } finally { c.running--; }
    },
    nextDelay: opts.nextDelay ?? (() => undefined),
    onError: opts.onError ?? ((e) => { c.errors.push(e); return 5; }),
  });
  return { c, loop };
}

t.test('wakes before the next turn coalesce into one pass', async (t) => {
  const { c, loop } = counting();
  loop.start();
  for (let i = 0; i < 100; i++) loop.wake();
  await until(() => c.passes === 1 && !loop.busy, 'the pass');
  await settle();
  t.equal(c.passes, 1);
  await loop.stop();
});

t.test('wakes during a pass run exactly one more pass after it, never beside it', async (t) => {
  let g = gate();
  const { c, loop } = counting({ during: () => g.wait });
  loop.start();
  await until(() => c.running === 1, 'the first pass');
  for (let i = 0; i < 10; i++) loop.wake();
  const first = g; g = gate(); first.open();
  await until(() => c.passes === 2, 'the second pass');
  g.open();
  await until(() => !loop.busy, 'the passes to end');
  await settle();
  t.equal(c.passes, 2);
  t.equal(c.maxRunning, 1, 'never two passes at once');
  await loop.stop();
});

t.test('a wake while the next delay is asked is not lost', async (t) => {
  let asked = gate();
  let asking = false;
  const { c, loop } = counting({ nextDelay: async () => { asking = true; await asked.wait; asking = false; return undefined; } });
  loop.start();
  await until(() => asking, 'the next delay to be asked');
  loop.wake();
  const first = asked; asked = gate(); first.open();
  await until(() => c.passes === 2, 'the pass the wake asked for');
  asked.open();
  await loop.stop();
  t.equal(c.passes, 2);
});

t.test('the timer runs the next pass after nextDelay; a pass that throws is retried after onError', async (t) => {
  const timed = counting({ nextDelay: () => 10 });
  timed.loop.start();
  await until(() => timed.c.passes >= 3, 'three timed passes');
  await timed.loop.stop();
  t.pass('passes repeat on the timer alone');

  let fail = 2;
  const errors: unknown[] = [];
  const flaky = new WakeLoop({
    pass: async () => { if (fail > 0) { fail--; throw new Error('store busy'); } },
    nextDelay: () => undefined,
    onError: (e) => { errors.push(e); return 5; },
  });
  flaky.start();
  await until(() => fail === 0 && !flaky.busy, 'the retries');
  t.same(errors.map((e) => (e as Error).message), ['store busy', 'store busy']);
  await flaky.stop();
});

t.test('stop waits for the pass in progress; afterwards wakes and timers do nothing', async (t) => {
  const g = gate();
  let delays = 0;
  const { c, loop } = counting({ during: () => g.wait, nextDelay: () => { delays++; return 1; } });
  loop.start();
  await until(() => c.running === 1, 'the pass');
  let stopped = false;
  const stopping = loop.stop().then(() => { stopped = true; });
  await settle();
  t.equal(stopped, false, 'stop waits while the pass runs');
  g.open();
  await stopping;
  t.equal(delays, 0, 'no next delay asked, no timer armed after stop');
  loop.wake();
  await settle();
  t.equal(c.passes, 1);
  t.equal(loop.busy, false);
});
