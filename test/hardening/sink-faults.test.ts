// Faults: receiving MX hosts that hang up mid-DATA, stall forever (before the greeting or
// after the final dot), or answer with bytes that are not SMTP. Each attempt is bounded
// by the configured timeouts (connect/greeting 3 s, socket 3 s), the recipient defers and
// is retried (never fails), no row stays in 'sending', and once the domain's MX points to
// a good host everything is delivered with one final event each.
import t from 'tap';
import type { ChildDaemon } from '../helpers/child.js';
import { startFaultySink, type FaultMode, type FaultySink } from '../helpers/faulty-sink.js';
import { spoolCounts, startFaultWorld, stopChild, submitOne, until, type FaultWorld } from '../helpers/fault-world.js';
import type { QueueId } from '../../src/util/ids.js';

const MODES: FaultMode[] = ['drop-mid-data', 'stall-after-data', 'stall-greeting', 'garbage-reply', 'garbage-greeting'];

let w: FaultWorld;
let d: ChildDaemon | undefined;
const faulty = new Map<FaultMode, FaultySink>();
t.before(async () => {
  w = await startFaultWorld({ delivery: ['connect_timeout = "3s"', 'socket_timeout = "3s"'] });
  for (const [i, mode] of MODES.entries()) {
    const host = `127.0.0.${30 + i}`;
    w.dns.set(`${mode}.test`, { MX: [{ preference: 10, exchange: `mx.${mode}.test` }], ttl: 1 });
    w.dns.set(`mx.${mode}.test`, { A: [host], ttl: 1 });
    faulty.set(mode, await startFaultySink(host, w.port, mode));
  }
  d = await w.start();
});
t.teardown(async () => {
  if (d) await stopChild(d);
  for (const f of faulty.values()) await f.close();
  await w.close();
});

const rcptOf = async (id: string): Promise<{ state: string; lastReply: string | null; attempts: number }> =>
  w.inspect(async (s) => (await s.getMessage(id as QueueId))!.recipients[0]!);

t.test('misbehaving MX hosts: bounded, deferred, retried, then delivered', async (t) => {
  const ids = new Map<FaultMode, string>();
  for (const mode of MODES) {
    const r = await submitOne(d!.port, [`x@${mode}.test`], { subject: mode });
    t.equal(r.code, 250, `x@${mode}.test accepted`);
    ids.set(mode, r.acked!.queueId);
  }
  // Two real attempts each: the first is bounded (else no second), and it was retried.
  for (const mode of MODES) {
    const x = await until(`two attempts for ${mode}`, async () => { const x = await rcptOf(ids.get(mode)!); return (x.attempts >= 2 || !['queued', 'sending', 'deferred'].includes(x.state)) && x; }, 60_000, 100);
    t.ok(x.attempts >= 2, `${mode}: ${x.attempts} attempts`);
    t.not(x.state, 'failed', `${mode}: not failed`);
    // A temporary reply of our own making when the host's answer was not SMTP, and never
    // the host's control bytes (the reply goes to logs, events and webhooks).
    t.match(x.lastReply, /^4\d\d 4\.\d{1,3}\.\d{1,3} [^\x00-\x1f\x7f]*$/, `${mode}: a temporary reply: ${x.lastReply}`);
    t.ok(faulty.get(mode)!.connections >= 2, `${mode}: the host saw ${faulty.get(mode)!.connections} connections`);
  }
  t.equal(d!.proc.exitCode, null, 'the daemon is still running');

  // The hosts are fixed: the MX now points at the good sink.
  for (const mode of MODES) w.dns.set(`mx.${mode}.test`, { A: ['127.0.0.2'], ttl: 1 });
  await until('every recipient to be final', async () => Object.keys((await spoolCounts(w.dataDir)).waiting).length === 0, 60_000, 200).catch(() => undefined);
  const c = await spoolCounts(w.dataDir);
  t.same(c.waiting, {}, 'nothing waiting, nothing stuck in sending');
  for (const mode of MODES) {
    t.equal((await rcptOf(ids.get(mode)!)).state, 'delivered', `${mode}: delivered`);
    t.ok(w.sink.messages.some((m) => m.to.includes(`x@${mode}.test`)), `${mode}: at the good sink`);
  }
  t.equal(c.badFinal.length, 0, 'one final event each');
  t.equal(await stopChild(d!), 0, 'clean exit');
  d = undefined;
});
