// Configuration: defaults, units, every kind of bad value named with key and line,
// the example file complete against the schema, and `mta config check`.
import t from 'tap';
import { readFileSync, writeFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { parse as parseToml } from 'smol-toml';
import { compileConfig, ConfigError, DEVELOPMENT_TOML } from '../src/config/config.js';
import { configSchema } from '../src/config/schema.js';
import { parseDuration, parseSize } from '../src/util/units.js';
import { IpSet } from '../src/util/ipset.js';
import { tempDir } from './helpers/daemon.js';
import { runMta } from './helpers/run.js';

function problems(toml: string): string {
  try { compileConfig(toml, 'test.toml'); } catch (e) { if (e instanceof ConfigError) return e.message; throw e; }
  return '';
}

t.test('sizes and durations are parsed in one place', async (t) => {
  t.equal(parseSize('25MB'), 25 * 1024 * 1024);
  t.equal(parseSize('512KB'), 512 * 1024);
  t.equal(parseSize(1000), 1000);
  t.equal(parseSize('25XB'), undefined);
  t.equal(parseSize('-1MB'), undefined);
  t.equal(parseDuration('5m'), 300_000);
  t.equal(parseDuration('5d'), 5 * 86_400_000);
  t.equal(parseDuration('1h30m'), 5_400_000);
  t.equal(parseDuration('90'), 90_000);
  t.equal(parseDuration('5x'), undefined);
  t.equal(parseDuration('m5'), undefined);
});

t.test('IP sets: single, CIDR, range, IPv6', async (t) => {
  const s = IpSet.parse(['10.0.0.1', '192.168.0.0/16', '1.2.3.4-1.2.3.9', '2001:db8::/32']);
  t.ok(s.has('10.0.0.1')); t.notOk(s.has('10.0.0.2'));
  t.ok(s.has('192.168.44.5')); t.ok(s.has('1.2.3.9')); t.notOk(s.has('1.2.3.10'));
  t.ok(s.has('2001:db8::1')); t.notOk(s.has('2001:db9::1'));
  t.ok(s.has('::ffff:10.0.0.1'), 'IPv4-mapped IPv6 matches the IPv4 entry');
  t.throws(() => IpSet.parse(['1.2.3.4/40']), /prefix length/);
  t.throws(() => IpSet.parse(['1.2.3.9-1.2.3.4']), /after its last/);
  t.throws(() => IpSet.parse(['not-an-ip']));
});

t.test('defaults fill every key', async (t) => {
  const c = compileConfig('hostname = "mta.example.com"\n[[smtp.listen]]\naddress = "127.0.0.1:2587"\ntls = "none"\n', 'x.toml');
  t.equal(c.smtp.maxMessageSize, 25 * 1024 * 1024);
  t.equal(c.smtp.maxRecipients, 30);
  t.same(c.delivery.retryScheduleMs, [5, 10, 20, 40, 60, 120, 240].map((m) => m * 60_000));
  t.equal(c.delivery.maxQueueLifetimeMs, 5 * 86_400_000);
  t.equal(c.domains.requireVerified, true);
  t.equal(c.admin.port, 8025);
  // A task's chunk is one transaction on the spool's writer, which a message's 250 may wait for (bench/RESULTS.md).
  t.equal(c.tasks.chunkSize, 100);
  t.equal(c.tasks.window, 2000);
});

t.test('development defaults match SPEC §7', async (t) => {
  const c = compileConfig(DEVELOPMENT_TOML, 'dev');
  t.same(c.smtp.listen.map((l) => [l.host, l.port, l.tls]), [['127.0.0.1', 2587, 'none']]);
  t.equal(c.domains.requireVerified, false);
  t.equal(c.admin.host, '127.0.0.1');
  t.match(c.dataDir, /\/data$/);
});

t.test('bad values are named with key path and line', async (t) => {
  t.match(problems('hostname = "a.b"\n[smtp]\nmax_message_size = "25XB"\n[[smtp.listen]]\naddress="127.0.0.1:1"\ntls="none"\n'),
    /test\.toml:3: smtp\.max_message_size: must be a size/);
  t.match(problems('[smtp]\nallowed_ips = ["1.2.3.4/40"]\n[[smtp.listen]]\naddress="127.0.0.1:1"\ntls="none"\n'),
    /test\.toml:2: smtp\.allowed_ips\[0\]: "1\.2\.3\.4\/40": prefix length/);
  t.match(problems('[smtp]\nmax_recipents = 5\n'), /test\.toml:2: smtp\.max_recipents: unknown key/);
  t.match(problems('colour = "blue"\n'), /test\.toml:1: colour: unknown key/);
  t.match(problems('[smtp]\nmax_recipients = "thirty"\n'), /smtp\.max_recipients: .*number/i);
  t.match(problems('[delivery]\nmax_queue_lifetime = "forever"\n'), /test\.toml:2: delivery\.max_queue_lifetime: must be a duration/);
  t.match(problems('[delivery]\ntrigger_precedence = "2h"\n'), /test\.toml:2: delivery\.trigger_precedence: must be at most "1s"/);
  t.match(problems('[delivery]\ntrigger_precedence = "soon"\n'), /test\.toml:2: delivery\.trigger_precedence: must be a duration/);
  t.match(problems('[[smtp.listen]]\naddress = "0.0.0.0:587"\ntls = "starttls"\n'), /smtp\.tls\.cert: a listener uses TLS/);
  t.match(problems('[[smtp.listen]]\naddress = "nowhere"\ntls = "none"\n'), /test\.toml:2: smtp\.listen\[0\]\.address: must be "host:port"/);
  t.match(problems('[smtp\nmax = 1\n'), /test\.toml:1: TOML syntax/);
  t.match(problems('[[smtp.listen]]\naddress = "127.0.0.1:1"\ntls = "maybe"\n'), /smtp\.listen\[0\]\.tls/);
  t.match(problems('[tasks]\nchunk_size = 0\n'), /test\.toml:2: tasks\.chunk_size: .*>=1/);
  t.match(problems('[tasks]\nchunk_size = 2.5\n'), /test\.toml:2: tasks\.chunk_size: .*expected int/);
});

t.test('mta.example.toml is valid and documents every key of the schema', async (t) => {
  const text = readFileSync('mta.example.toml', 'utf8');
  t.doesNotThrow(() => compileConfig(text, 'mta.example.toml'));
  const raw = parseToml(text) as Record<string, unknown>;
  // Commented-out keys count as documented.
  const commented = [...text.matchAll(/^#\s*(?:([a-z_]+)\s*=|\[\[?(?:[a-z_]+\.)*([a-z_]+)\]\]?\s*$)/gm)].map((m) => m[1] ?? m[2]);
  const missing: string[] = [];
  const walk = (shape: Record<string, unknown>, value: Record<string, unknown> | undefined, path: string): void => {
    for (const [key, sub] of Object.entries(shape)) {
      const p = path ? `${path}.${key}` : key;
      const v = value?.[key];
      if (v === undefined && !commented.includes(key)) missing.push(p);
      const inner = unwrap(sub);
      if (inner && v && typeof v === 'object' && !Array.isArray(v)) walk(inner, v as Record<string, unknown>, p);
    }
  };
  const shape = unwrap(configSchema);
  t.ok(shape && Object.keys(shape).length > 5, 'schema shape found');
  walk(shape!, raw, '');
  t.same(missing, [], 'every schema key appears in the example file');
});

// zod wraps objects in defaults/pipes; dig out the object shape if there is one.
function unwrap(s: unknown): Record<string, unknown> | undefined {
  let cur = s as { shape?: Record<string, unknown>; def?: { innerType?: unknown; in?: unknown; schema?: unknown } } | undefined;
  for (let i = 0; i < 6 && cur; i++) {
    if (cur.shape) return cur.shape;
    cur = (cur.def?.innerType ?? cur.def?.in ?? cur.def?.schema) as typeof cur;
  }
  return undefined;
}

t.test('mta config check prints ok or every problem, with exit codes', async (t) => {
  const dir = tempDir();
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const good = join(dir, 'good.toml');
  const bad = join(dir, 'bad.toml');
  writeFileSync(good, `data_dir = "${dir}"\n[[smtp.listen]]\naddress = "127.0.0.1:2587"\ntls = "none"\n`);
  writeFileSync(bad, '[smtp]\nmax_message_size = "25XB"\nbogus = 1\n');
  const run = runMta;
  const ok = await run(['config', 'check', '--config', good]);
  t.equal(ok.code, 0); t.match(ok.out, /^ok/);
  const ko = await run(['config', 'check', '--config', bad]);
  t.equal(ko.code, 78);
  t.match(ko.err, /bad\.toml:2: smtp\.max_message_size/);
  t.match(ko.err, /bad\.toml:3: smtp\.bogus: unknown key/);
  const missing = await run(['config', 'check', '--config', join(dir, 'nope.toml')]);
  t.equal(missing.code, 66); t.match(missing.err, /cannot read the configuration file: ENOENT/);
});
