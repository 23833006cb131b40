// The stub DNS client and the MX resolver, against the in-process DNS server on 127.0.0.1
// (test/helpers/dns-server.ts). Nothing here leaves loopback.
import t from 'tap';
import dgram from 'node:dgram';
import dnsPacket from 'dns-packet';
import { DnsClient, DnsError, parseServer } from '../src/dns/client.js';
import { MxResolver, type MxResult } from '../src/dns/mx.js';
import { mailauthResolver, startDnsServer, type TestDnsServer, type ZoneEntry } from './helpers/dns-server.js';

const server = await startDnsServer({
  'host.test': { A: ['192.0.2.1', '192.0.2.2'], AAAA: ['2001:db8::1'], ttl: 120 },
  'txt.test': { TXT: [['v=spf1 ip4:192.0.2.0/24 ', '-all'], 'second record', 'grüße'], ttl: 30 },
  'mx.test': { MX: [{ preference: 10, exchange: 'MX1.Host.Test.' }, { preference: 0, exchange: '.' }], ttl: 600 },
  '1.2.0.192.in-addr.arpa': { PTR: ['host.test'], ttl: 900 },
  'alias.test': { CNAME: 'host.test', ttl: 50 },
  'empty.test': { TXT: ['only text'] },
  'big.test': { A: ['192.0.2.9'], truncate: true, ttl: 77 },
  'silent.test': { A: ['192.0.2.1'], drop: true },
  'broken.test': { rcode: 'SERVFAIL' },
});
t.teardown(() => server.close());

const client = (...servers: TestDnsServer[]): DnsClient =>
  new DnsClient({ servers: servers.map((s) => s.server), timeoutMs: 5000, tries: 1 });
const count = (s: TestDnsServer, name: string, type?: string): number =>
  s.queries.filter((q) => q.name.toLowerCase() === name && (!type || q.type === type)).length;

t.test('parseServer accepts the configured forms', async (t) => {
  t.match(parseServer('192.0.2.53'), { host: '192.0.2.53', port: 53, family: 4 });
  t.match(parseServer('192.0.2.53:5353'), { host: '192.0.2.53', port: 5353, family: 4 });
  t.match(parseServer('[::1]:5300'), { host: '::1', port: 5300, family: 6 });
  t.match(parseServer('::1'), { host: '::1', port: 53, family: 6 });
  t.match(parseServer('2001:db8::53'), { host: '2001:db8::53', port: 53, family: 6 });
  t.throws(() => parseServer('dns.example'), { code: 'E_DNS_FORMAT' });
  t.throws(() => parseServer('192.0.2.53:99999'), { code: 'E_DNS_FORMAT' });
});

t.test('A, AAAA, PTR answers with their TTLs', async (t) => {
  const c = client(server);
  const a = await c.query('host.test', 'A');
  t.same(a, {
    rcode: 'NOERROR', ttl: 120,
    records: [{ name: 'host.test', type: 'A', ttl: 120, data: '192.0.2.1' }, { name: 'host.test', type: 'A', ttl: 120, data: '192.0.2.2' }],
  });
  const aaaa = await c.query('HOST.test.', 'AAAA');
  t.same(aaaa.records.map((r) => r.data), ['2001:db8::1'], 'matching is case-insensitive, trailing dot allowed');
  const ptr = await c.query('1.2.0.192.in-addr.arpa', 'PTR');
  t.same(ptr.records, [{ name: '1.2.0.192.in-addr.arpa', type: 'PTR', ttl: 900, data: 'host.test' }]);
  t.equal(ptr.ttl, 900);
  t.equal(count(server, 'host.test', 'A'), 1);
  t.ok(server.queries.every((q) => q.transport === 'udp'), 'UDP unless truncated');
  c.close();
});

t.test('TXT keeps character-strings apart and decodes UTF-8', async (t) => {
  const ans = await client(server).query('txt.test', 'TXT');
  t.equal(ans.ttl, 30);
  t.same(ans.records.map((r) => r.data), [['v=spf1 ip4:192.0.2.0/24 ', '-all'], ['second record'], ['grüße']]);
});

t.test('MX: exchange lower-cased without the dot, null MX as ""', async (t) => {
  const ans = await client(server).query('mx.test', 'MX');
  t.same(ans.records.map((r) => r.data), [{ preference: 10, exchange: 'mx1.host.test' }, { preference: 0, exchange: '' }]);
  t.equal(ans.ttl, 600);
});

t.test('CNAME inside the answer is followed; the answer TTL covers the chain', async (t) => {
  const c = client(server);
  const ans = await c.query('alias.test', 'A');
  t.same(ans.records.map((r) => [r.name, r.data]), [['host.test', '192.0.2.1'], ['host.test', '192.0.2.2']]);
  t.equal(ans.ttl, 50, 'the CNAME (50) expires before the A records (120)');
  const cname = await c.query('alias.test', 'CNAME');
  t.same(cname.records.map((r) => r.data), ['host.test']);
  const none = await c.query('alias.test', 'MX');
  t.same([none.rcode, none.records], ['NOERROR', []], 'CNAME to a name without MX is NODATA');
});

t.test('NXDOMAIN and NODATA are told apart, both with the SOA negative TTL', async (t) => {
  const c = client(server);
  const nx = await c.query('nowhere.test', 'A');
  t.same(nx, { rcode: 'NXDOMAIN', records: [], ttl: 60 });
  const nodata = await c.query('empty.test', 'A');
  t.same(nodata, { rcode: 'NOERROR', records: [], ttl: 60 });
});

t.test('a truncated UDP reply is asked again over TCP', async (t) => {
  const before = server.queries.length;
  const ans = await client(server).query('big.test', 'A');
  t.same(ans.records.map((r) => r.data), ['192.0.2.9']);
  t.equal(ans.ttl, 77);
  t.same(server.queries.slice(before).map((q) => q.transport), ['udp', 'tcp']);
});

t.test('no answer: E_DNS_TIMEOUT after `tries` rounds', async (t) => {
  const before = count(server, 'silent.test');
  const c = new DnsClient({ servers: [server.server], timeoutMs: 100, tries: 2 });
  const err = await c.query('silent.test', 'A').catch((e: unknown) => e);
  t.ok(err instanceof DnsError);
  t.equal((err as DnsError).code, 'E_DNS_TIMEOUT');
  t.equal(count(server, 'silent.test') - before, 2, 'asked once per round');
});

t.test('several servers: a silent or failing first server is passed over', async (t) => {
  const first = await startDnsServer({ 'host.test': { drop: true }, 'other.test': { rcode: 'REFUSED' } });
  t.teardown(() => first.close());
  // The timeout is what the silent first server costs; the second must answer within it.
  const c = new DnsClient({ servers: [first.server, server.server], timeoutMs: 1000, tries: 2 });
  const ans = await c.query('host.test', 'A');
  t.same(ans.records.map((r) => r.data), ['192.0.2.1', '192.0.2.2']);
  t.equal(count(first, 'host.test'), 1, 'first server tried once, then the second answered');

  server.set('other.test', { A: ['192.0.2.77'] });
  t.teardown(() => server.remove('other.test'));
  const other = await c.query('other.test', 'A');
  t.same(other.records.map((r) => r.data), ['192.0.2.77'], 'REFUSED from the first, answer from the second');
});

t.test('SERVFAIL from every server is returned as an answer, each asked once', async (t) => {
  const before = count(server, 'broken.test');
  const c = new DnsClient({ servers: [server.server], timeoutMs: 5000, tries: 3 });
  const ans = await c.query('broken.test', 'MX');
  t.same(ans, { rcode: 'SERVFAIL', records: [], ttl: 60 });
  t.equal(count(server, 'broken.test') - before, 1);
});

t.test('nobody listening: E_DNS_NETWORK', async (t) => {
  const probe = dgram.createSocket('udp4');
  await new Promise<void>((res) => probe.bind(0, '127.0.0.1', () => res()));
  const port = probe.address().port;
  await new Promise<void>((res) => probe.close(() => res()));
  const c = new DnsClient({ servers: [`127.0.0.1:${port}`], timeoutMs: 1000, tries: 1 });
  const err = await c.query('host.test', 'A').catch((e: unknown) => e);
  t.ok(err instanceof DnsError);
  t.equal((err as DnsError).code, 'E_DNS_NETWORK');
});

t.test('replies with the wrong id or question are ignored; the query is well-formed', async (t) => {
  const fake = dgram.createSocket('udp4');
  await new Promise<void>((res) => fake.bind(0, '127.0.0.1', () => res()));
  t.teardown(() => new Promise<void>((res) => fake.close(() => res())));
  let seen: dnsPacket.DecodedPacket | undefined;
  fake.on('message', (msg, rinfo) => {
    const q = dnsPacket.decode(msg);
    seen = q;
    const reply = (id: number, name: string, data: string): Buffer => dnsPacket.encode({
      type: 'response', id, flags: dnsPacket.RECURSION_DESIRED | dnsPacket.RECURSION_AVAILABLE,
      questions: [{ type: 'A', name, class: 'IN' }], answers: [{ type: 'A', name, ttl: 10, data }],
    });
    fake.send(reply((q.id! + 1) & 0xffff, 'spoof.test', '198.51.100.1'), rinfo.port, rinfo.address);
    fake.send(reply(q.id!, 'other.test', '198.51.100.2'), rinfo.port, rinfo.address);
    fake.send(Buffer.from('garbage'), rinfo.port, rinfo.address);
    fake.send(reply(q.id!, 'spoof.test', '198.51.100.3'), rinfo.port, rinfo.address);
  });
  const c = new DnsClient({ servers: [`127.0.0.1:${fake.address().port}`], timeoutMs: 1000, tries: 1 });
  const ans = await c.query('spoof.test', 'A');
  t.same(ans.records.map((r) => r.data), ['198.51.100.3']);
  t.ok(seen!.flag_rd, 'recursion desired');
  const opt = seen!.additionals?.find((a) => a.type === 'OPT') as dnsPacket.OptAnswer | undefined;
  t.equal(opt?.udpPayloadSize, 1232, 'EDNS0 with a 1232-byte UDP size');
});

t.test('no socket or timer outlives an answer', async (t) => {
  const active = (): number => process.getActiveResourcesInfo().filter((r) => r === 'UDPWrap' || r === 'TCPSocketWrap').length;
  const settle = async (): Promise<void> => { for (let i = 0; i < 3; i++) await new Promise((res) => setImmediate(res)); };
  await settle(); // the previous test's sockets finish closing
  const before = active();
  const c = client(server);
  await c.query('host.test', 'A');
  await c.query('big.test', 'A');
  await c.query('nowhere.test', 'A');
  await settle();
  t.equal(active(), before);
});

t.test('mailauthResolver answers like dns.promises.resolve', async (t) => {
  const resolve = mailauthResolver(server);
  t.same(await resolve('txt.test', 'TXT'), [['v=spf1 ip4:192.0.2.0/24 ', '-all'], ['second record'], ['grüße']]);
  t.same(await resolve('mx.test', 'MX'), [{ exchange: 'mx1.host.test', priority: 10 }, { exchange: '', priority: 0 }]);
  t.same(await resolve('host.test', 'A'), ['192.0.2.1', '192.0.2.2']);
  await t.rejects(resolve('nowhere.test', 'TXT'), { code: 'ENOTFOUND' });
  await t.rejects(resolve('empty.test', 'MX'), { code: 'ENODATA' });
  await t.rejects(resolve('broken.test', 'TXT'), { code: 'ESERVFAIL' });
});

// ---- MxResolver --------------------------------------------------------------------------

interface MxOpts { now?: () => number; random?: () => number; maxEntries?: number; timeoutMs?: number }

/** A DNS server with `zone` and an MxResolver asking only it; both gone after the test. */
async function mxSetup(t: { teardown(fn: () => unknown): void }, zone: Record<string, ZoneEntry>, opts: MxOpts = {}) {
  const s = await startDnsServer(zone);
  t.teardown(() => s.close());
  const dns = new DnsClient({ servers: [s.server], timeoutMs: opts.timeoutMs ?? 5000, tries: 1 });
  return { s, mx: new MxResolver(dns, opts) };
}

const names = (r: MxResult): string[] => (r.ok ? r.hosts.map((h) => h.name) : []);

t.test('MX hosts in preference order with IPv4 first', async (t) => {
  const { mx } = await mxSetup(t, {
    'dom.test': { MX: [{ preference: 20, exchange: 'mx2.dom.test' }, { preference: 10, exchange: 'mx1.dom.test' }, { preference: 30, exchange: '192.0.2.30' }] },
    'mx1.dom.test': { A: ['192.0.2.11'], AAAA: ['2001:db8::11'] },
    'mx2.dom.test': { AAAA: ['2001:db8::12'] },
  });
  const r = await mx.resolve('dom.test');
  t.same(r, {
    ok: true,
    hosts: [
      { name: 'mx1.dom.test', preference: 10, addresses: ['192.0.2.11', '2001:db8::11'], implicit: false },
      { name: 'mx2.dom.test', preference: 20, addresses: ['2001:db8::12'], implicit: false },
      { name: '192.0.2.30', preference: 30, addresses: ['192.0.2.30'], implicit: false },
    ],
  });
});

t.test('equal preferences are shuffled on every call, cached or not', async (t) => {
  let rnd = 0.999;
  const { s, mx } = await mxSetup(t, {
    'eq.test': { MX: [{ preference: 10, exchange: 'c.eq.test' }, { preference: 10, exchange: 'a.eq.test' }, { preference: 10, exchange: 'b.eq.test' }, { preference: 5, exchange: 'first.eq.test' }] },
    'a.eq.test': { A: ['192.0.2.1'] }, 'b.eq.test': { A: ['192.0.2.2'] }, 'c.eq.test': { A: ['192.0.2.3'] }, 'first.eq.test': { A: ['192.0.2.4'] },
  }, { random: () => rnd });
  t.same(names(await mx.resolve('eq.test')), ['first.eq.test', 'a.eq.test', 'b.eq.test', 'c.eq.test'], 'random≈1 swaps nothing');
  const asked = s.queries.length;
  rnd = 0;
  t.same(names(await mx.resolve('eq.test')), ['first.eq.test', 'b.eq.test', 'c.eq.test', 'a.eq.test'], 'random=0 rotates the run');
  rnd = 0.5;
  t.same(names(await mx.resolve('eq.test')), ['first.eq.test', 'a.eq.test', 'c.eq.test', 'b.eq.test']);
  t.equal(s.queries.length, asked, 'the later calls came from the cache');
});

t.test('no MX: the domain itself is the implicit MX', async (t) => {
  const { mx } = await mxSetup(t, { 'plain.test': { A: ['192.0.2.5'], AAAA: ['2001:db8::5'] } });
  t.same(await mx.resolve('plain.test'), { ok: true, hosts: [{ name: 'plain.test', preference: 0, addresses: ['192.0.2.5', '2001:db8::5'], implicit: true }] });
});

t.test('permanent failures: null MX 526, NXDOMAIN 524, nothing at all 526', async (t) => {
  const { mx } = await mxSetup(t, {
    'null.test': { MX: [{ preference: 0, exchange: '.' }], A: ['192.0.2.1'] },
    'bare.test': { TXT: ['v=spf1 -all'] },
  });
  t.same(await mx.resolve('null.test'), { ok: false, permanent: true, code: 526, enhanced: '5.1.10',
    reply: '526 5.1.10 No data by dns resolve: null.test publishes a null MX (RFC 7505) and accepts no mail' });
  t.same(await mx.resolve('gone.test'), { ok: false, permanent: true, code: 524, enhanced: '5.1.2',
    reply: '524 5.1.2 Host not found by dns resolve: gone.test' });
  t.same(await mx.resolve('bare.test'), { ok: false, permanent: true, code: 526, enhanced: '5.1.2',
    reply: '526 5.1.2 No data by dns resolve: bare.test has no MX and no address records' });
});

t.test('temporary failures: SERVFAIL and timeout give 423', async (t) => {
  const { mx } = await mxSetup(t, { 'sf.test': { rcode: 'SERVFAIL' }, 'quiet.test': { drop: true } }, { timeoutMs: 1000 });
  const sf = await mx.resolve('sf.test');
  t.match(sf, { ok: false, permanent: false, code: 423, enhanced: '4.4.3', reply: /^423 4\.4\.3 Dns resolve error: sf\.test: SERVFAIL/ });
  const quiet = await mx.resolve('quiet.test');
  t.match(quiet, { ok: false, permanent: false, code: 423, reply: /^423 4\.4\.3 Dns resolve error: quiet\.test: E_DNS_TIMEOUT/ });
});

t.test('MX targets that do not resolve', async (t) => {
  const { mx } = await mxSetup(t, {
    'lost.test': { MX: [{ preference: 10, exchange: 'mx1.lost.test' }, { preference: 20, exchange: 'mx2.lost.test' }] },
    'mx2.lost.test': { TXT: ['no address here'] },
    'flaky.test': { MX: [{ preference: 10, exchange: 'mx1.flaky.test' }, { preference: 20, exchange: 'mx2.flaky.test' }] },
    'mx2.flaky.test': { rcode: 'SERVFAIL' },
    'half.test': { MX: [{ preference: 10, exchange: 'dead.half.test' }, { preference: 20, exchange: 'live.half.test' }] },
    'live.half.test': { A: ['192.0.2.20'] },
  });
  t.same(await mx.resolve('lost.test'), { ok: false, permanent: true, code: 526, enhanced: '5.1.2',
    reply: '526 5.1.2 No data by dns resolve: no address for MX hosts mx1.lost.test, mx2.lost.test' });
  t.match(await mx.resolve('flaky.test'), { ok: false, permanent: false, code: 423, enhanced: '4.4.3',
    reply: /^423 4\.4\.3 Dns resolve error: flaky\.test: MX host mx2\.flaky\.test: SERVFAIL/ });
  t.same(await mx.resolve('half.test'), { ok: true, hosts: [{ name: 'live.half.test', preference: 20, addresses: ['192.0.2.20'], implicit: false }] },
    'a dead host is skipped when another resolves');
});

t.test('cache: hits, TTL expiry on an injected clock, clamps', async (t) => {
  let now = 1_000_000;
  const { s, mx } = await mxSetup(t, {
    'ttl.test': { MX: [{ preference: 10, exchange: 'mx.ttl.test' }], ttl: 30 },
    'mx.ttl.test': { A: ['192.0.2.1'], ttl: 100 },
    'short.test': { A: ['192.0.2.2'], ttl: 1 },
  }, { now: () => now });
  const ok = await mx.resolve('ttl.test');
  t.ok(ok.ok);
  const asked = s.queries.length;
  t.same(await mx.resolve('ttl.test'), ok, 'second resolve is a cache hit');
  t.equal(s.queries.length, asked, 'no new queries');
  now += 29_000;
  await mx.resolve('ttl.test');
  t.equal(s.queries.length, asked, 'still cached at 29 s (MX TTL 30 is the minimum)');
  now += 2_000;
  await mx.resolve('ttl.test');
  t.equal(count(s, 'ttl.test', 'MX'), 2, 'asked again after 30 s');

  await mx.resolve('short.test');
  const n = count(s, 'short.test', 'MX');
  now += 4_000;
  await mx.resolve('short.test');
  t.equal(count(s, 'short.test', 'MX'), n, 'a 1 s TTL is held for the 5 s minimum');
  now += 2_000;
  await mx.resolve('short.test');
  t.equal(count(s, 'short.test', 'MX'), n + 1);
});

t.test('cache: negative answers for the SOA TTL, temporary failures for 5 s', async (t) => {
  let now = 0;
  const { s, mx } = await mxSetup(t, { 'later.test': { rcode: 'SERVFAIL' } }, { now: () => now });
  t.match(await mx.resolve('new.test'), { code: 524 });
  s.set('new.test', { A: ['192.0.2.8'] });
  now += 59_000;
  t.match(await mx.resolve('new.test'), { code: 524 }, 'NXDOMAIN remembered for the SOA minimum (60 s)');
  now += 2_000;
  t.match(await mx.resolve('new.test'), { ok: true });

  t.match(await mx.resolve('later.test'), { code: 423 });
  s.set('later.test', { A: ['192.0.2.9'] });
  now += 4_000;
  t.match(await mx.resolve('later.test'), { code: 423 }, 'temporary failure held briefly');
  now += 2_000;
  t.match(await mx.resolve('later.test'), { ok: true, hosts: [{ addresses: ['192.0.2.9'] }] });
});

t.test('cache is bounded: the oldest entry goes first', async (t) => {
  const { s, mx } = await mxSetup(t, { 'a.test': { A: ['192.0.2.1'] }, 'b.test': { A: ['192.0.2.2'] }, 'c.test': { A: ['192.0.2.3'] } }, { maxEntries: 2 });
  for (const d of ['a.test', 'b.test', 'c.test', 'c.test', 'b.test', 'a.test']) await mx.resolve(d);
  t.same(['a.test', 'b.test', 'c.test'].map((d) => count(s, d, 'MX')), [2, 1, 1]);
});

t.test('concurrent resolves share one lookup', async (t) => {
  const { s, mx } = await mxSetup(t, { 'busy.test': { MX: [{ preference: 1, exchange: 'mx.busy.test' }] }, 'mx.busy.test': { A: ['192.0.2.1'] } });
  const all = await Promise.all(Array.from({ length: 8 }, () => mx.resolve('busy.test')));
  t.ok(all.every((r) => r.ok && r.hosts[0]!.addresses[0] === '192.0.2.1'));
  t.equal(count(s, 'busy.test', 'MX'), 1);
  t.equal(count(s, 'mx.busy.test', 'A'), 1);
});

t.test('address literals need no DNS', async (t) => {
  const { s, mx } = await mxSetup(t, {});
  t.same(await mx.resolve('[127.0.0.1]'), { ok: true, hosts: [{ name: '[127.0.0.1]', preference: 0, addresses: ['127.0.0.1'], implicit: true }] });
  t.same(await mx.resolve('[IPv6:::1]'), { ok: true, hosts: [{ name: '[ipv6:::1]', preference: 0, addresses: ['::1'], implicit: true }] });
  t.match(await mx.resolve('[not-an-ip]'), { ok: false, permanent: true, code: 524 });
  t.equal(s.queries.length, 0);
});
