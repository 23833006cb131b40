// Faults: the DNS the daemon resolves through is down, slow, answers SERVFAIL, or sends
// malformed, lying or huge answers. Mail to such domains defers (423 4.4.3), never fails,
// the daemon never crashes or hangs, and everything is delivered once DNS answers again.
import t from 'tap';
import dnsPacket from 'dns-packet';
import { randomBytes } from 'node:crypto';
import type { ChildDaemon } from '../helpers/child.js';
import { spoolCounts, startFaultWorld, stopChild, submitOne, until, type FaultWorld } from '../helpers/fault-world.js';
import type { QueueId } from '../../src/util/ids.js';

let w: FaultWorld;
let d: ChildDaemon | undefined;
t.before(async () => {
  w = await startFaultWorld();
  d = await w.start();
});
t.teardown(async () => { if (d) await stopChild(d); await w.close(); });

const good = (domain: string): void => w.dns.set(domain, { MX: [{ preference: 10, exchange: 'mx.ok.test' }] });
const rcptOf = async (id: string): Promise<{ state: string; lastReply: string | null; attempts: number }> =>
  w.inspect(async (s) => (await s.getMessage(id as QueueId))!.recipients[0]!);

/** A well-formed reply header and question for `q`, to be made wrong by the caller. */
const emptyReply = (q: dnsPacket.DecodedPacket, flags = 0): Buffer =>
  dnsPacket.encode({ type: 'response', id: q.id ?? 0, flags: dnsPacket.AUTHORITATIVE_ANSWER | flags, questions: q.questions ?? [] });
const framed = (b: Buffer): Buffer => { const len = Buffer.alloc(2); len.writeUInt16BE(b.length); return Buffer.concat([len, b]); };

const faults: Record<string, Parameters<FaultWorld['dns']['set']>[1]> = {
  // Slower than the client's timeout (2 s per try).
  'slow.test': { MX: [{ preference: 10, exchange: 'mx.ok.test' }], delayMs: 5000 },
  'servfail.test': { rcode: 'SERVFAIL' },
  // The right id, then noise.
  'garbage.test': { raw: (q) => Buffer.concat([emptyReply(q).subarray(0, 2), randomBytes(48)]) },
  // Claims 65535 answers and carries none.
  'liar.test': { raw: (q) => { const b = emptyReply(q); b.writeUInt16BE(0xffff, 6); return b; } },
  // One answer whose owner name is a compression pointer to itself.
  'loop.test': {
    raw: (q) => {
      const b = emptyReply(q);
      const at = b.length;
      const rr = Buffer.from([0xc0 | (at >> 8), at & 0xff, 0, 15, 0, 1, 0, 0, 0, 60, 0, 4, 0, 10, 0xc0 | (at >> 8), at & 0xff]);
      const out = Buffer.concat([b, rr]);
      out.writeUInt16BE(1, 6);
      return out;
    },
  },
  // Truncated over UDP; over TCP a length prefix of 65535, 20 bytes, and a hang-up.
  'tcpliar.test': { raw: (q, tr) => (tr === 'udp' ? emptyReply(q, dnsPacket.TRUNCATED_RESPONSE) : { bytes: Buffer.concat([Buffer.from([0xff, 0xff]), emptyReply(q).subarray(0, 20)]), end: true }) },
  // A TCP answer of exactly 0 bytes after the prefix.
  'empty.test': { raw: (q, tr) => (tr === 'udp' ? emptyReply(q, dnsPacket.TRUNCATED_RESPONSE) : framed(Buffer.alloc(0))) },
};

t.test('the DNS server down: deferred with 423, delivered once it is back (no restart)', async (t) => {
  await w.dns.down();
  const r = await submitOne(d!.port, ['while-down@ok.test']);
  t.equal(r.code, 250, 'intake does not need DNS');
  const id = r.acked!.queueId;
  const first = await until('a deferral', async () => { const x = await rcptOf(id); return x.state === 'deferred' && x; }, 30_000);
  t.match(first.lastReply, /^423 4\.4\.3 Dns resolve error/, 'deferred with 423 4.4.3');
  await w.dns.up();
  const done = await until('delivery', async () => { const x = await rcptOf(id); return ['delivered', 'failed', 'expired'].includes(x.state) && x; }, 30_000);
  t.equal(done.state, 'delivered', 'delivered after DNS came back');
  t.equal(d!.proc.exitCode, null, 'still running');
});

t.test('slow, SERVFAIL, malformed, lying and truncated answers defer; huge answers are handled', async (t) => {
  for (const [name, entry] of Object.entries(faults)) w.dns.set(name, entry);
  // 200 MX records under long names (~16 KB, over TCP after a truncated UDP answer); only
  // the most preferred one has an address.
  const long = 'x'.repeat(60);
  w.dns.set('huge.test', { truncate: true, MX: Array.from({ length: 200 }, (_, i) => ({ preference: 10 + i, exchange: i === 0 ? 'mx.ok.test' : `${long}.${long}.mx${i}.huge.test` })) });
  const ids = new Map<string, string>();
  for (const name of [...Object.keys(faults), 'huge.test']) {
    const r = await submitOne(d!.port, [`x@${name}`]);
    t.equal(r.code, 250, `x@${name} accepted`);
    ids.set(name, r.acked!.queueId);
  }
  for (const name of Object.keys(faults)) {
    const x = await until(`a deferral for ${name}`, async () => { const x = await rcptOf(ids.get(name)!); return x.state !== 'queued' && x.state !== 'sending' && x; }, 60_000);
    t.equal(x.state, 'deferred', `${name}: deferred, not failed`);
    t.match(x.lastReply, /^423 4\.4\.3 Dns resolve error/, `${name}: ${x.lastReply}`);
  }
  const huge = await until('the huge answer', async () => { const x = await rcptOf(ids.get('huge.test')!); return x.state !== 'queued' && x.state !== 'sending' && x; }, 60_000);
  t.equal(huge.state, 'delivered', 'huge MX answer: delivered through its most preferred host');
  t.equal(d!.proc.exitCode, null, 'the daemon is still running');

  for (const name of Object.keys(faults)) good(name);
  await until('every deferred recipient to be delivered', async () => Object.keys((await spoolCounts(w.dataDir)).waiting).length === 0, 60_000, 200).catch(() => undefined);
  for (const name of Object.keys(faults)) t.equal((await rcptOf(ids.get(name)!)).state, 'delivered', `${name}: delivered once DNS answers`);
  const c = await spoolCounts(w.dataDir);
  t.equal(c.badFinal.length, 0, 'one final event each');
  t.equal(await stopChild(d!), 0, 'clean exit');
  d = undefined;
});
