// The one service life cycle (src/util/lifecycle.ts): checked transitions with a named
// error, and the ServiceSet the daemon composes its services with (stop order, a service
// whose start failed still stopped, an aborted start-up stopping everything past errors).
import t from 'tap';
import { Lifecycle, ServiceSet, type StopOptions } from '../src/util/lifecycle.js';
import { MtaError } from '../src/util/errors.js';

t.test('a service goes idle → running → stopping → stopped, and nowhere else', async (t) => {
  const lines: unknown[] = [];
  const life = new Lifecycle('scheduler', { debug: (obj: unknown) => { lines.push(obj); } });
  t.equal(life.state, 'idle');
  life.to('running');
  t.equal(life.running, true);
  const wrong = (() => { try { life.to('stopped'); return undefined; } catch (e) { return e; } })();
  t.ok(wrong instanceof MtaError && wrong.code === 'MTA_ERR_STATE', 'a skipped step is MTA_ERR_STATE');
  t.equal((wrong as Error).message, 'scheduler cannot go from running to stopped');
  life.to('stopping');
  life.to('stopped');
  t.throws(() => life.to('running'), /scheduler cannot go from stopped to running/, 'a stopped service does not start again');
  t.same(lines, [
    { service: 'scheduler', from: 'idle', to: 'running' },
    { service: 'scheduler', from: 'running', to: 'stopping' },
    { service: 'scheduler', from: 'stopping', to: 'stopped' },
  ], 'each transition logged');
  const never = new Lifecycle('expander');
  never.to('stopped');
  t.equal(never.state, 'stopped', 'a service never started may stop');
  const again = new Lifecycle('task expander', undefined, { restartable: true });
  again.to('running'); again.to('stopping'); again.to('stopped'); again.to('running');
  t.equal(again.state, 'running', 'a restartable service starts again after a stop');
  t.throws(() => again.to('stopped'), /task expander cannot go from running to stopped/, 'and still never skips a step');
});

type Name = 'front' | 'work' | 'events';
function recorder() {
  const calls: string[] = [];
  const svc = (name: string, fail?: { start?: boolean; stop?: boolean }) => ({
    start: async () => { calls.push(`start ${name}`); if (fail?.start) throw new Error(`${name} cannot start`); },
    stop: async (o?: StopOptions) => { calls.push(`stop ${name}${o?.abort ? ' (abort)' : ''}`); if (fail?.stop) throw new Error(`${name} cannot stop`); },
  });
  return { calls, svc };
}

t.test('services stop in the named order, each once', async (t) => {
  const { calls, svc } = recorder();
  const set = new ServiceSet<Name>(['front', 'work', 'events']);
  await set.start('events', svc('events'));
  await set.start('work', svc('work'));
  await set.start('front', svc('front'));
  await set.stopAll();
  await set.stopAll();
  t.same(calls, ['start events', 'start work', 'start front', 'stop front', 'stop work', 'stop events']);
  t.throws(() => set.track('other' as Name, svc('other')), /no place in the stop order/);
});

t.test('a failed start-up stops every service, the failed one too, past errors', async (t) => {
  const { calls, svc } = recorder();
  const set = new ServiceSet<Name>(['front', 'work', 'events']);
  await set.start('events', svc('events', { stop: true }));
  await set.start('work', svc('work'));
  await t.rejects(set.start('front', svc('front', { start: true })), /front cannot start/);
  const errors: string[] = [];
  await set.stopAll({ abort: true, onError: (name, e) => errors.push(`${name}: ${(e as Error).message}`) });
  t.same(calls.slice(3), ['stop front (abort)', 'stop work (abort)', 'stop events (abort)']);
  t.same(errors, ['events: events cannot stop']);
});

t.test('a normal stop does not hide an error', async (t) => {
  const { svc } = recorder();
  const set = new ServiceSet<Name>(['front', 'work']);
  await set.start('front', svc('front', { stop: true }));
  await set.start('work', svc('work'));
  await t.rejects(set.stopAll(), /front cannot stop/);
});
