// Egress selection without traffic: which pool a job's rule names, the weighted spread over
// 1,000 draws, node ownership, warm-up caps on a real SQLite spool with an injected clock
// (the next day's cap is larger; a restart keeps the day's count), the configuration checks
// and the start-up check that every source address is on this machine.
import t from 'tap';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { compileConfig, ConfigError, type Config } from '../src/config/config.js';
import { EgressSelector, checkSourceAddresses, pickWeighted, type EgressJob } from '../src/delivery/egress.js';
import { openTestStore } from './helpers/store.js';
import { createLogger } from '../src/util/log.js';
import { isMtaError } from '../src/util/errors.js';
import { startDaemon, tempDir } from './helpers/daemon.js';
import { sourceToml } from './helpers/egress.js';
import { SourceShaping } from '../src/delivery/source-shaping.js';
import { Router } from '../src/delivery/router.js';
import { Destination } from '../src/scheduler/destination.js';

const dir = tempDir('mta-egress-');
t.teardown(() => rmSync(dir, { recursive: true, force: true }));
const log = createLogger('silent');

/** A seeded generator (mulberry32): the spread test draws the same numbers on every run. */
function seeded(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let x = Math.imul(a ^ (a >>> 15), 1 | a);
    x = (x + Math.imul(x ^ (x >>> 7), 61 | x)) ^ x;
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
}

const EGRESS = `
[node]
id = "a"
[egress]
default_pool = "batch"
${sourceToml('s2', 2)}${sourceToml('s3', 3)}${sourceToml('s4', 4)}${sourceToml('other', 9, 'node = "b"\n')}[[egress.pool]]
name = "trigger"
sources = [{ source = "s2" }]
[[egress.pool]]
name = "batch"
sources = [{ source = "s2", weight = 1 }, { source = "s3", weight = 2 }, { source = "s4", weight = 1 }, { source = "other", weight = 50 }]
[[egress.pool]]
name = "campaign"
sources = [{ source = "s4" }]
[[egress.pool]]
name = "v4"
sources = [{ source = "s3" }]
[[egress.rule]]
pool = "trigger"
lanes = ["trigger"]
[[egress.rule]]
pool = "campaign"
tasks = ["T1"]
[[egress.rule]]
pool = "v4"
destinations = ["gmail.test"]
sending_domains = ["example.com"]
`;

function config(extra = EGRESS): Config {
  return compileConfig(`hostname = "mta.test"\ndata_dir = "${join(dir, 'data')}"\n[[smtp.listen]]\naddress = "127.0.0.1:0"\ntls = "none"\n${extra}`, 'test.toml');
}

function job(o: Partial<EgressJob> = {}): EgressJob {
  return { sender: 'app@example.com', lane: 'batch', domain: 'dest.test', recipients: [1], ...o };
}

async function draws(sel: EgressSelector, j: EgressJob, n: number, provider = 'dest.test'): Promise<Map<string, number>> {
  const seen = new Map<string, number>();
  for (let i = 0; i < n; i++) {
    const p = await sel.choose(j, provider);
    const k = p.kind === 'source' ? p.source.name : p.kind;
    seen.set(k, (seen.get(k) ?? 0) + 1);
  }
  return seen;
}

t.test('weights spread 1,000 draws in proportion; another node\'s source is never drawn', async (t) => {
  const store = openTestStore(join(dir, 'spread'));
  t.teardown(() => store.close());
  // Evenly spaced draws over [0, 1): the mapping from a draw to a source is exactly proportional.
  let i = 0;
  const sel = new EgressSelector(config(), store, log, Date.now, () => (i++ + 0.5) / 1000);
  await sel.start();
  t.teardown(() => sel.close());
  const seen = await draws(sel, job(), 1000);
  // Weights 1:2:1 among this node's sources ("other" belongs to node b, weight 50 or not).
  t.same(Object.fromEntries(seen), { s2: 250, s3: 500, s4: 250 });
  // Pseudo-random draws (seeded, so every run draws the same): two equal weights each get
  // 500 ± 10% (50 is 3.2 standard deviations of a fair split of 1,000).
  const rnd = seeded(7);
  const counts = new Map<string, number>();
  for (let k = 0; k < 1000; k++) { const e = pickWeighted([{ n: 'x', weight: 5 }, { n: 'y', weight: 5 }], rnd)!; counts.set(e.n, (counts.get(e.n) ?? 0) + 1); }
  for (const n of ['x', 'y']) t.ok(Math.abs((counts.get(n) ?? 0) - 500) <= 50, `${n}: ${counts.get(n)} of 1000 (500 ± 10%)`);
  t.equal(pickWeighted([], rnd), undefined, 'an empty pool draws nothing');
});

t.test('rules pick the pool: trigger lane, batch task, sending domain with destination, else the default', async (t) => {
  const store = openTestStore(join(dir, 'rules'));
  t.teardown(() => store.close());
  const sel = new EgressSelector(config(), store, log);
  await sel.start();
  t.teardown(() => sel.close());
  t.same([...(await draws(sel, job({ lane: 'trigger' }), 50)).keys()], ['s2'], 'trigger mail leaves from the trigger pool only');
  t.same([...(await draws(sel, job({ taskId: 'T1' }), 50)).keys()], ['s4'], 'task T1 leaves from its pool only');
  t.same([...(await draws(sel, job({ domain: 'gmail.test' }), 50)).keys()], ['s3'], 'gmail.test from example.com: the IPv4 pool');
  t.equal(sel.poolFor(job({ domain: 'gmail.test', sender: 'x@other.test' }))!.name, 'batch', 'the rule needs its sending domain too');
  t.equal(sel.poolFor(job({ taskId: 'T2' }))!.name, 'batch', 'another task: the default pool');
  const none = new EgressSelector(config(''), store, log);
  t.same(await none.choose(job(), 'dest.test'), { kind: 'none' }, 'no egress config: the kernel picks, as before');
});

t.test('warm-up: N per provider on day 1 from the capped source, the rest from the others; tomorrow factor × N', async (t) => {
  const store = openTestStore(join(dir, 'warm'));
  t.teardown(() => store.close());
  const toml = `
[egress]
default_pool = "main"
${sourceToml('new', 2, 'warmup_start = 5\nwarmup_factor = 2\nwarmup_from = "2026-03-01"\n')}${sourceToml('old', 3)}[[egress.pool]]
name = "main"
sources = [{ source = "new", weight = 1000 }, { source = "old", weight = 1 }]
[[egress.pool]]
name = "only-new"
sources = [{ source = "new" }]
[[egress.rule]]
pool = "only-new"
destinations = ["solo.test"]
`;
  let now = Date.parse('2026-03-01T10:00:00Z');
  const clock = (): number => now;
  const sel = new EgressSelector(config(toml), store, log, clock, seeded(3));
  await sel.start();
  let seen = await draws(sel, job(), 20, 'gmail');
  t.equal(seen.get('new'), 5, 'day 1: the warm-up cap of 5 for gmail');
  t.equal(seen.get('old'), 15, 'the rest leaves from the other source of the pool');
  t.equal((await draws(sel, job({ domain: 'yahoo.test' }), 3, 'yahoo')).get('new'), 3, 'another provider has its own cap');
  sel.refund('new', 'yahoo', 1);
  t.equal((await draws(sel, job({ domain: 'yahoo.test' }), 1, 'yahoo')).get('new'), 1, 'a refunded recipient (no connection) frees its place under the cap');
  // A pool whose only source is capped defers to the next UTC day, it does not fail.
  t.equal((await draws(sel, job({ domain: 'solo.test' }), 5, 'solo')).get('new'), 5);
  const capped = await sel.choose(job({ domain: 'solo.test' }), 'solo');
  t.equal(capped.kind, 'capped');
  if (capped.kind === 'capped') {
    t.equal(new Date(capped.until).toISOString(), '2026-03-02T00:00:00.000Z', 'deferred until the next day');
    t.match(capped.reply, /^451 4\.7\.0 .*warm-up cap.*solo/);
  }
  // A restart the same day keeps the count (the counters reach the spool at close).
  await sel.close();
  const again = new EgressSelector(config(toml), store, log, clock, seeded(4));
  await again.start();
  t.equal((await again.choose(job({ domain: 'solo.test' }), 'solo')).kind, 'capped', 'still capped after a restart');
  const st = await again.status();
  const s = st.sources.find((x) => x.name === 'new')!;
  t.match(s, { warmup_day: 1, cap: 5, sent: 13 });
  t.match(s.providers.find((p) => p.provider === 'gmail'), { sent: 5, cap: 5 });
  // Day 2: the cap doubles.
  now += 86_400_000;
  seen = await draws(again, job({ domain: 'solo.test' }), 12, 'solo');
  t.equal(seen.get('new'), 10, 'day 2: cap 10');
  t.equal(seen.get('capped'), 2);
  t.match((await again.status()).sources.find((x) => x.name === 'new'), { warmup_day: 2, cap: 10, sent: 10 });
  await again.close();
});

t.test('replies count as deferrals and blocks per source and provider', async (t) => {
  const store = openTestStore(join(dir, 'replies'));
  t.teardown(() => store.close());
  const sel = new EgressSelector(config(), store, log);
  await sel.start();
  sel.recordReply('s3', 'gmail', '421 4.7.0 try later');
  sel.recordReply('s3', 'gmail', '550 5.7.1 blocked');
  sel.recordReply('s3', 'gmail', '250 ok');
  await sel.close();
  const rows = await store.egressCounts(new Date().toISOString().slice(0, 10));
  t.match(rows, [{ source: 's3', provider: 'gmail', deferred: 1, blocked: 1 }]);
});

t.test('max_connections: a source with its sessions in use is skipped; all in use: busy', async (t) => {
  const store = openTestStore(join(dir, 'busy'));
  t.teardown(() => store.close());
  const toml = `[egress]\ndefault_pool = "p"\n${sourceToml('a', 2, 'max_connections = 2\n')}${sourceToml('b', 3, 'max_connections = 1\n')}` +
    '[[egress.pool]]\nname = "p"\nsources = [{ source = "a" }, { source = "b" }]\n';
  const sel = new EgressSelector(config(toml), store, log);
  const inUse = new Map([['a', 2], ['b', 0]]);
  sel.inUse = (n) => inUse.get(n) ?? 0;
  t.same([...(await draws(sel, job(), 20)).keys()], ['b'], 'a is at its 2 connections');
  t.same([...(await draws(sel, job(), 20, 'dest.test')).keys()], ['b']);
  t.equal((await sel.choose(job(), 'dest.test', 'a')).kind, 'source', 'the caller\'s own session of a does not count against it');
  inUse.set('b', 1);
  t.same(await sel.choose(job(), 'dest.test'), { kind: 'busy', pool: 'p' });
  t.same(await sel.choose(job(), 'dest.test', undefined, () => false), { kind: 'busy', pool: 'p' });
  inUse.set('a', 0);
  t.equal((await sel.choose(job(), 'dest.test', undefined, (n) => n === 'a')).kind, 'busy', 'a shaping limit (full) skips a source too');
  const claimed: string[] = [];
  inUse.set('b', 0);
  const p = await sel.choose(job(), 'dest.test', undefined, () => false, (n) => claimed.push(n));
  t.same(claimed, [p.kind === 'source' ? p.source.name : '?'], 'the pick is claimed at once');
  await sel.close();
});

t.test('configuration: unknown source or pool names, duplicates and a missing default pool are precise errors', async (t) => {
  const problem = (toml: string): string => { try { config(toml); return ''; } catch (e) { if (e instanceof ConfigError) return e.message; throw e; } };
  const src = '[[egress.source]]\nname = "a"\naddress = "127.0.0.2"\nhelo = "a.mta.test"\n';
  t.match(problem(`[egress]\ndefault_pool = "p"\n${src}[[egress.pool]]\nname = "p"\nsources = [{ source = "zz" }]\n`), /egress\.pool\[0\]\.sources\[0\]\.source: no egress source named "zz"/);
  t.match(problem(`[egress]\ndefault_pool = "nope"\n${src}`), /egress\.default_pool: no egress pool named "nope"/);
  t.match(problem(`${src}[[egress.pool]]\nname = "p"\nsources = [{ source = "a" }]\n`), /egress\.default_pool: sources are defined, so a default_pool is required/);
  t.match(problem(`[egress]\ndefault_pool = "p"\n${src}${src}[[egress.pool]]\nname = "p"\nsources = [{ source = "a" }]\n`), /source "a" is defined twice/);
  t.match(problem(`[egress]\ndefault_pool = "p"\n${src.replace('127.0.0.2', 'eth0')}[[egress.pool]]\nname = "p"\nsources = [{ source = "a" }]\n`), /address: must be an IPv4 or IPv6 address/);
  t.match(problem(`[delivery]\n[[delivery.shaping]]\nname = "x"\ndomains = ["a.test"]\negress = ["nope"]\n`), /delivery\.shaping\[0\]\.egress\[0\]: no egress source or pool named "nope"/);
  t.match(problem(`[egress]\ndefault_pool = "p"\n${src}warmup_start = 10\n[[egress.pool]]\nname = "p"\nsources = [{ source = "a" }]\n`), /warmup_from: warmup_start and warmup_from go together/);
});

t.test('a source whose address is not on this machine is a start-up error naming it', async (t) => {
  await t.resolves(checkSourceAddresses([{ name: 'lo3', address: '127.0.0.3', helo: 'x.test' }]), 'a loopback address binds');
  const err = await checkSourceAddresses([{ name: 'lo3', address: '127.0.0.3', helo: 'x.test' }, { name: 'doc', address: '192.0.2.1', helo: 'y.test' }])
    .then(() => undefined, (e: unknown) => e);
  t.ok(isMtaError(err) && err.code === 'MTA_ERR_EGRESS_ADDRESS', 'MTA_ERR_EGRESS_ADDRESS');
  t.match((err as Error).message, /egress source "doc": address 192\.0\.2\.1 cannot be used on this machine \(EADDRNOTAVAIL\)/);
  // The daemon refuses to start with it; a source of another node is not checked here.
  const toml = '[delivery]\nport = 2525\n[dns]\nservers = ["127.0.0.1:1"]\n[egress]\ndefault_pool = "p"\n' +
    '[[egress.source]]\nname = "doc"\naddress = "192.0.2.1"\nhelo = "y.test"\n[[egress.pool]]\nname = "p"\nsources = [{ source = "doc" }]\n';
  const started = await startDaemon(toml).then((d) => d, (e: unknown) => e);
  if (!(started instanceof Error)) await (started as { stop(): Promise<void> }).stop();
  t.match(started, { code: 'MTA_ERR_EGRESS_ADDRESS', message: /egress source "doc": address 192\.0\.2\.1/ });
  const elsewhere = await startDaemon(toml.replace('helo = "y.test"', 'helo = "y.test"\nnode = "other-node"'));
  t.ok(elsewhere, 'another node\'s source is not bound here');
  await elsewhere.stop();
});

t.test('a reload takes new pools and rules, but new source addresses only at the next restart', async (t) => {
  const base = `[egress]\ndefault_pool = "p"\n${sourceToml('a', 2)}${sourceToml('b', 3)}[[egress.pool]]\nname = "p"\nsources = [{ source = "a" }]\n`;
  const d = await startDaemon(base);
  t.teardown(() => d.stop());
  const text = readFileSync(d.configPath, 'utf8');
  writeFileSync(d.configPath, text.replace('sources = [{ source = "a" }]', 'sources = [{ source = "a" }, { source = "b", weight = 3 }]'));
  t.equal(d.daemon.reload(), undefined);
  t.same(d.daemon.config.egress.pools[0]!.sources, [{ source: 'a', weight: 1 }, { source: 'b', weight: 3 }], 'the pool change applies');
  const before = d.daemon.config.egress;
  writeFileSync(d.configPath, readFileSync(d.configPath, 'utf8').replace('127.0.0.3', '192.0.2.1'));
  t.equal(d.daemon.reload(), undefined, 'not refused: it is logged and waits for a restart');
  t.equal(d.daemon.config.egress, before, 'an address change is not applied by a reload (it was never bound)');
  t.equal(d.daemon.config.egress.sources[1]!.address, '127.0.0.3');
});

t.test('a shaping entry naming a source paces and caps each source on its own; other entries shape the destination', async (t) => {
  const toml = `[delivery]\n[[delivery.shaping]]\nname = "whole"\ndomains = ["gmail.test"]\nmax_connections = 7\n` +
    `[[delivery.shaping]]\nname = "new-ip"\ndomains = ["gmail.test"]\negress = ["p"]\nmax_connections = 2\nmax_messages_per_second = 4\n` +
    `[egress]\ndefault_pool = "p"\n${sourceToml('a', 2)}${sourceToml('b', 3)}${sourceToml('c', 4)}` +
    '[[egress.pool]]\nname = "p"\nsources = [{ source = "a" }, { source = "b" }]\n';
  const cfg = config(toml);
  const router = new Router(cfg, { resolve: async () => ({ ok: false, permanent: false, reply: 'unused' }) } as never);
  t.equal(router.shapingFor('gmail.test')!.name, 'whole', 'the destination as a whole');
  t.equal(router.shapingFor('gmail.test', [], 'a')!.name, 'new-ip', 'a member of pool p');
  t.equal(router.shapingFor('gmail.test', [], 'c'), undefined, 'c is not in p');
  const dir = tempDir('mta-egress-shaping-');
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const store = openTestStore(dir);
  t.teardown(() => store.close());
  const ss = new SourceShaping(router, store, store.nodeId, createLogger('silent'));
  const dest = new Destination('gmail.test');
  const hop = (name: string) => ({ address: '127.0.0.9', port: 25, hostName: 'mx.gmail.test', tls: 'none' as const, requireTls: false, source: { name, address: '127.0.0.2', helo: 'x.test' } });
  const now = 1_000_000;
  // 4 per second per source: starts 250 ms apart for a (reserved at once), and b's own beside them.
  t.same((await Promise.all([ss.wait(dest, hop('a'), now), ss.wait(dest, hop('a'), now), ss.wait(dest, hop('a'), now)])).sort((x, y) => x - y), [0, 250, 500]);
  t.equal(await ss.wait(dest, hop('b'), now), 0, 'b is paced on its own');
  t.equal(await ss.wait(dest, hop('c'), now), 0, 'c is not paced by the entry');
  // The caps hold for the cluster: two slots of a to gmail.test, then none (another node's would be refused alike).
  const slots = [await ss.takeSlot(dest, [], 'a'), await ss.takeSlot(dest, [], 'a')];
  t.same(slots.map((s) => s?.slot), [0, 1], "a's two slots");
  t.equal(await ss.takeSlot(dest, [], 'a'), null, 'a third connection from a is refused');
  t.equal(await ss.takeSlot(dest, [], 'c'), undefined, 'c is not capped by the entry');
  await slots[0]!.release();
  t.equal((await ss.takeSlot(dest, [], 'a'))?.slot, 0, 'a slot given back is free again');
  ss.opening(dest, 'a', 1);
  ss.opening(dest, 'a', 1);
  const full = ss.full(dest, [], undefined);
  t.ok(full('a'), 'two connections from a to gmail.test: full');
  t.notOk(full('b'));
  t.notOk(ss.full(dest, [], 'a')('a'), 'the caller\'s own session of a is not counted');
  t.equal(ss.inUse('a', []), 2, 'connections being opened count as in use');
  ss.opening(dest, 'a', -1);
  t.notOk(ss.full(dest, [], undefined)('a'));
});
