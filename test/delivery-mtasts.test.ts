// MTA-STS (RFC 8461) when delivering, on loopback: the in-process DNS server publishes the
// _mta-sts TXT records, a node:https server signed by a test CA (trusted via
// delivery.mta_sts.ca_file) serves the policies, and sink MX hosts speak with and without
// STARTTLS and with certificates from the test CA or self-signed ones.
import t from 'tap';
import https from 'node:https';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { startWorld, type World } from './helpers/delivery.js';
import { freePort } from './helpers/sink.js';
import { makeCa, makeCert, makeLeaf } from './helpers/tls.js';
import { MtaStsPolicies, mxMatches } from '../src/delivery/mta-sts.js';
import { DnsClient } from '../src/dns/client.js';
import { Daemon } from '../src/daemon/daemon.js';
import { compileConfig } from '../src/config/config.js';
import { createLogger } from '../src/util/log.js';
import { metrics } from '../src/metrics/metrics.js';
import type { QueueId } from '../src/util/ids.js';
import { runMta } from './helpers/run.js';

const dir = mkdtempSync(join(tmpdir(), 'mtasts-'));
const ca = makeCa(dir);
const DOMAINS = ['ok', 'nomatch', 'plain', 'badcert', 'testing', 'redirect', 'html', 'big', 'cache', 'wrongname', 'refresh', 'restart', 'sweep'].map((d) => `${d}.test`);
const policyCert = makeLeaf(dir, ca, 'policies', DOMAINS.map((d) => `mta-sts.${d}`));
const mxCert = makeLeaf(dir, ca, 'mx', DOMAINS.filter((d) => d !== 'wrongname.test').map((d) => `mx.${d}`));
const selfSigned = makeCert(dir, 'mx.badcert.test');

const policy = (mode: string, mx: string[], maxAge = 86400): string => `version: STSv1\r\nmode: ${mode}\r\n${mx.map((m) => `mx: ${m}\r\n`).join('')}max_age: ${maxAge}\r\n`;
/** per policy host: what the server answers (status, content type, body, extra headers) */
const answers = new Map<string, { status: number; type: string; body: string; headers?: Record<string, string> }>();
const fetched: string[] = [];

let world: World;
let httpsPort: number;
let server: https.Server;

t.before(async () => {
  httpsPort = await freePort();
  server = https.createServer({ key: readFileSync(policyCert.key), cert: readFileSync(policyCert.cert) }, (req, res) => {
    const host = String(req.headers.host ?? '').replace(/:\d+$/, '');
    fetched.push(host);
    const a = answers.get(host);
    if (!a || req.url !== '/.well-known/mta-sts.txt') { res.writeHead(404).end(); return; }
    res.writeHead(a.status, { 'content-type': a.type, ...a.headers }).end(a.body);
  });
  await new Promise<void>((r) => server.listen(httpsPort, '127.0.0.1', r));
  world = await startWorld(`[delivery.mta_sts]\nca_file = "${ca.cert}"\nhttps_port = ${httpsPort}\n`);
  const serve = (domain: string, body: string, id = '20260101'): void => {
    world.dns.set(`_mta-sts.${domain}`, { TXT: [`v=STSv1; id=${id}`] });
    world.dns.set(`mta-sts.${domain}`, { A: ['127.0.0.1'] });
    answers.set(`mta-sts.${domain}`, { status: 200, type: 'text/plain', body });
  };
  const tls = { key: mxCert.key, cert: mxCert.cert };
  await world.addDomain('ok.test', 11, { tls });
  serve('ok.test', policy('enforce', ['mx.ok.test']));
  await world.addDomain('nomatch.test', 12, { tls });
  serve('nomatch.test', policy('enforce', ['mx.elsewhere.test', '*.other.test']));
  await world.addDomain('plain.test', 13);
  serve('plain.test', policy('enforce', ['*.plain.test']));
  await world.addDomain('badcert.test', 14, { tls: selfSigned });
  serve('badcert.test', policy('enforce', ['mx.badcert.test']));
  // A certificate from the trusted CA, but for other names than this MX.
  await world.addDomain('wrongname.test', 16, { tls });
  serve('wrongname.test', policy('enforce', ['mx.wrongname.test']));
  await world.addDomain('testing.test', 15);
  serve('testing.test', policy('testing', ['mx.elsewhere.test']));
});

t.teardown(async () => {
  await world?.stop();
  await new Promise<void>((r) => server.close(() => r()));
});

async function attempt(id: QueueId): Promise<{ type: string; detail: Record<string, unknown>; reply: string }> {
  return world.waitFor(`an attempt for ${id}`, async () => {
    const m = await world.message(id);
    const e = m.events.find((x) => x.type === 'delivered' || x.type === 'deferred' || x.type === 'failed');
    return e ? { type: e.type, detail: e.detail, reply: String(e.detail['reply'] ?? m.recipients[0]!.lastReply ?? '') } : undefined;
  });
}

t.test('enforce: a listed MX with a certificate from the trusted CA gets the mail, verified', async (t) => {
  const a = await attempt(await world.submit('a@ok.test'));
  t.equal(a.type, 'delivered');
  t.equal(a.detail['mta_sts'], 'enforce');
  t.equal(a.detail['mta_sts_id'], '20260101');
  t.equal(a.detail['tls_verified'], true);
  t.equal(world.sinks.find((s) => s.host === '127.0.0.11')!.messages[0]?.secure, true);
});

t.test('enforce: no listed MX defers (never fails) with a reply naming the policy', async (t) => {
  const id = await world.submit('a@nomatch.test');
  const a = await attempt(id);
  t.equal(a.type, 'deferred');
  const m = await world.message(id);
  t.match(m.recipients[0]!.lastReply, /^451 4\.7\.5 MTA-STS policy of nomatch\.test \(id 20260101, mode enforce/);
  t.match(m.recipients[0]!.lastReply, /mx\.nomatch\.test/);
  t.equal(world.sinks.find((s) => s.host === '127.0.0.12')!.messages.length, 0);
});

for (const [domain, n, why] of [['plain.test', 13, 'no STARTTLS'], ['badcert.test', 14, 'a self-signed certificate'], ['wrongname.test', 16, 'a certificate for other names']] as const) {
  t.test(`enforce: a listed MX with ${why} is not used in plain text; the mail waits`, async (t) => {
    const id = await world.submit(`a@${domain}`);
    const a = await attempt(id);
    t.equal(a.type, 'deferred');
    const m = await world.message(id);
    t.match(m.recipients[0]!.lastReply, new RegExp(`^4\\d\\d 4\\.7\\.10 verified TLS is required by the MTA-STS policy of ${domain.replace('.', '\\.')}`));
    t.equal(world.sinks.find((s) => s.host === `127.0.0.${n}`)!.messages.length, 0);
  });
}

t.test('testing: delivers as before and records what enforce would have done', async (t) => {
  const a = await attempt(await world.submit('a@testing.test'));
  t.equal(a.type, 'delivered');
  t.equal(a.detail['mta_sts'], 'testing');
  t.equal(a.detail['mta_sts_result'], 'would_defer: MX not in the policy');
});

t.test('metrics count the decisions by mode and result', async (t) => {
  const values = (await metrics.mtaSts.get()).values;
  const count = (mode: string, result: string): number => values.find((v) => v.labels['mode'] === mode && v.labels['result'] === result)?.value ?? 0;
  t.ok(count('enforce', 'ok') >= 1);
  t.ok(count('enforce', 'no_matching_mx') >= 1);
  t.ok(count('enforce', 'tls_failed') >= 3, 'plain, self-signed and wrong-name hosts');
  t.ok(count('testing', 'would_defer') >= 1);
});

function policies(now: () => number, enabled = true): MtaStsPolicies {
  const config = { delivery: { mtaSts: { enabled, caFile: ca.cert, httpsPort } } } as unknown as ConstructorParameters<typeof MtaStsPolicies>[0];
  return new MtaStsPolicies(config, new DnsClient({ servers: [world.dns.server] }), world.daemon.daemon.store, pino({ level: 'silent' }), now);
}

t.test('redirects, other content types and oversize policies are refused', async (t) => {
  const p = policies(Date.now);
  for (const d of ['redirect.test', 'html.test', 'big.test']) world.dns.set(`mta-sts.${d}`, { A: ['127.0.0.1'] });
  answers.set('mta-sts.redirect.test', { status: 301, type: 'text/plain', body: '', headers: { location: 'https://mta-sts.ok.test/.well-known/mta-sts.txt' } });
  answers.set('mta-sts.html.test', { status: 200, type: 'text/html', body: policy('enforce', ['mx.html.test']) });
  answers.set('mta-sts.big.test', { status: 200, type: 'text/plain', body: policy('enforce', ['mx.big.test']) + `${'x'.repeat(70 * 1024)}\r\n` });
  await t.rejects(p.fetchPolicy('redirect.test'), /HTTP 301 \(redirect to .*not followed\)/);
  await t.rejects(p.fetchPolicy('html.test'), /content type "text\/html"/);
  await t.rejects(p.fetchPolicy('big.test'), /larger than 65536 bytes/);
  t.match(await p.fetchPolicy('ok.test'), /mode: enforce/);
  // The policy server's certificate must be valid for mta-sts.<domain>.
  world.dns.set('mta-sts.unnamed.test', { A: ['127.0.0.1'] });
  answers.set('mta-sts.unnamed.test', { status: 200, type: 'text/plain', body: policy('enforce', ['mx.unnamed.test']) });
  await t.rejects(p.fetchPolicy('unnamed.test'), /mta-sts\.unnamed\.test/);
  // A refused policy is no policy: the domain gets mail as before, its sessions reported (TLS-RPT) as a fetch error.
  world.dns.set('_mta-sts.html.test', { TXT: ['v=STSv1; id=1'] });
  t.match(await p.decide('html.test'), { mode: 'none', failed: { result: 'sts-policy-fetch-error', report: { domain: 'html.test' } } });
  // A certificate not valid for the policy host, and a policy text that does not parse, are reported as such.
  world.dns.set('_mta-sts.unnamed.test', { TXT: ['v=STSv1; id=1'] });
  t.match(await p.decide('unnamed.test'), { mode: 'none', failed: { result: 'sts-webpki-invalid' } });
  answers.set('mta-sts.big.test', { status: 200, type: 'text/plain', body: 'version: STSv9\r\nmode: enforce\r\nmx: mx.big.test\r\nmax_age: 86400\r\n' });
  world.dns.set('_mta-sts.big.test', { TXT: ['v=STSv1; id=1'] });
  t.match(await p.decide('big.test'), { mode: 'none', failed: { result: 'sts-policy-invalid' } });
});

t.test('a failed fetch keeps the cached policy until max_age; the spool keeps it across a restart', async (t) => {
  let now = Date.now();
  const p = policies(() => now);
  world.dns.set('_mta-sts.cache.test', { TXT: ['v=STSv1; id=one'] });
  world.dns.set('mta-sts.cache.test', { A: ['127.0.0.1'] });
  answers.set('mta-sts.cache.test', { status: 200, type: 'text/plain', body: policy('enforce', ['mx.cache.test'], 3600) });
  const first = await p.decide('cache.test');
  t.equal(first.mode, 'enforce');
  // A new id, but the policy server fails: the known policy stays.
  now += 10 * 60_000;
  world.dns.set('_mta-sts.cache.test', { TXT: ['v=STSv1; id=two'] });
  answers.set('mta-sts.cache.test', { status: 500, type: 'text/plain', body: 'down' });
  const kept = await p.decide('cache.test');
  t.equal(kept.mode === 'enforce' && kept.id, 'one');
  // The failure is not retried on every connection: not again within five minutes.
  const tries = fetched.filter((h) => h === 'mta-sts.cache.test').length;
  now += 60_000;
  t.equal((await p.decide('cache.test')).mode, 'enforce');
  t.equal(fetched.filter((h) => h === 'mta-sts.cache.test').length, tries, 'no new fetch a minute later');
  // A new instance (a restart) reads it from the spool, even with the TXT record gone.
  world.dns.remove('_mta-sts.cache.test');
  const restarted = await policies(() => now).decide('cache.test');
  t.equal(restarted.mode === 'enforce' && restarted.id, 'one');
  t.equal(restarted.mode === 'enforce' && restarted.allows('mx.cache.test'), true);
  t.equal(restarted.mode === 'enforce' && restarted.allows('mx.evil.test'), false);
  // Once max_age has run out, it no longer applies.
  now += 3600_000;
  t.same(await policies(() => now).decide('cache.test'), { mode: 'none' });
  // A working server with the new id replaces it.
  world.dns.set('_mta-sts.cache.test', { TXT: ['v=STSv1; id=three'] });
  answers.set('mta-sts.cache.test', { status: 200, type: 'text/plain', body: policy('testing', ['mx.cache.test'], 3600) });
  const renewed = await policies(() => now).decide('cache.test');
  t.equal(renewed.mode === 'testing' && renewed.id, 'three');
  t.equal((await world.daemon.daemon.store.mtaStsPolicy('cache.test'))?.id, 'three');
});

t.test('mx patterns: exact names, and a wildcard for one leftmost label only', async (t) => {
  t.ok(mxMatches('MX.Example.Test.', ['mx.example.test']));
  t.ok(mxMatches('mx1.example.test', ['*.example.test']));
  t.notOk(mxMatches('a.mx1.example.test', ['*.example.test']), 'the wildcard is one label');
  t.notOk(mxMatches('example.test', ['*.example.test']));
  t.notOk(mxMatches('mx.example.test.evil', ['mx.example.test']));
});

t.test('a policy nearing its end is fetched again (same id); enabled = false ignores policies', async (t) => {
  let now = Date.now();
  world.dns.set('_mta-sts.refresh.test', { TXT: ['v=STSv1; id=same'] });
  world.dns.set('mta-sts.refresh.test', { A: ['127.0.0.1'] });
  answers.set('mta-sts.refresh.test', { status: 200, type: 'text/plain', body: policy('enforce', ['mx.refresh.test'], 3600) });
  const p = policies(() => now);
  t.equal((await p.decide('refresh.test')).mode, 'enforce');
  const before = fetched.filter((h) => h === 'mta-sts.refresh.test').length;
  now += 10 * 60_000; // five sixths of its life left, same id: no fetch
  await p.decide('refresh.test');
  t.equal(fetched.filter((h) => h === 'mta-sts.refresh.test').length, before);
  now += 25 * 60_000; // less than half left: fetched again, and the new max_age counts from now
  await p.decide('refresh.test');
  t.equal(fetched.filter((h) => h === 'mta-sts.refresh.test').length, before + 1);
  t.equal((await world.daemon.daemon.store.mtaStsPolicy('refresh.test'))?.expiresAt, now + 3600_000);
  t.same(await policies(() => now, false).decide('refresh.test'), { mode: 'none' });
});

t.test('mta queue show: each attempt names the TLS policy, its mode and the certificate check', async (t) => {
  const show = async (id: QueueId): Promise<string> => {
    const r = await runMta(['queue', 'show', id, '--config', world.daemon.configPath]);
    t.equal(r.code, 0, r.err);
    return r.out;
  };
  const delivered = await world.submit('b@ok.test');
  t.equal((await attempt(delivered)).type, 'delivered');
  t.match(await show(delivered), /delivered\s+b@ok\.test\s+mx\.ok\.test\[127\.0\.0\.11\] 250 .*tls=true.* tls_policy=mta-sts tls_mode=enforce tls_required=true cert_check=pki mta_sts=enforce mta_sts_id=20260101/);
  // Not connected (the certificate failed): the attempt still says which policy refused the host.
  const waiting = await world.submit('b@badcert.test');
  t.equal((await attempt(waiting)).type, 'deferred');
  t.match(await show(waiting), /deferred\s+b@badcert\.test\s+mx\.badcert\.test\[127\.0\.0\.14\] 4\d\d 4\.7\.10 .* tls_policy=mta-sts tls_mode=enforce tls_required=true cert_check=pki/);
  const plain = await world.submit('b@testing.test');
  t.equal((await attempt(plain)).type, 'delivered');
  t.match(await show(plain), /tls_policy=mta-sts tls_mode=testing tls_required=false cert_check=none mta_sts=testing/);
});

t.test('the background sweep renews policies nearing their end and follows a changed id without any mail; a failed fetch keeps the cached one', async (t) => {
  let now = Date.now();
  const fetches = (): number => fetched.filter((h) => h === 'mta-sts.sweep.test').length;
  const counted = async (result: string): Promise<number> => (await metrics.mtaStsFetches.get()).values.find((v) => v.labels['result'] === result)?.value ?? 0;
  const stored = (): ReturnType<typeof world.daemon.daemon.store.mtaStsPolicy> => world.daemon.daemon.store.mtaStsPolicy('sweep.test');
  world.dns.set('_mta-sts.sweep.test', { TXT: ['v=STSv1; id=s1'] });
  world.dns.set('mta-sts.sweep.test', { A: ['127.0.0.1'] });
  answers.set('mta-sts.sweep.test', { status: 200, type: 'text/plain', body: policy('enforce', ['mx.sweep.test'], 3600) });
  t.equal((await policies(() => now).decide('sweep.test')).mode, 'enforce');
  const first = fetches();
  // A restarted daemon, 35 minutes on, no mail for the domain: the sweep finds it in the spool and renews it.
  now += 35 * 60_000;
  const p = policies(() => now);
  const renewed = await counted('renewed');
  t.ok(await p.sweep() >= 1);
  t.equal(fetches(), first + 1);
  t.equal((await stored())?.expiresAt, now + 3600_000);
  t.equal(await counted('renewed'), renewed + 1);
  // A new TXT id: the sweep fetches the new policy.
  now += 10 * 60_000;
  world.dns.set('_mta-sts.sweep.test', { TXT: ['v=STSv1; id=s2'] });
  answers.set('mta-sts.sweep.test', { status: 200, type: 'text/plain', body: policy('testing', ['mx.sweep.test'], 3600) });
  const changed = await counted('changed');
  await p.sweep();
  t.same([(await stored())?.id, (await stored())?.mode], ['s2', 'testing']);
  t.equal(await counted('changed'), changed + 1);
  // Another id, but the policy server fails: the cached policy stays, in memory and in the spool.
  now += 10 * 60_000;
  world.dns.set('_mta-sts.sweep.test', { TXT: ['v=STSv1; id=s3'] });
  answers.set('mta-sts.sweep.test', { status: 503, type: 'text/plain', body: 'down' });
  const kept = await counted('failed_kept');
  const tries = fetches();
  await p.sweep();
  t.equal(fetches(), tries + 1, 'the fetch was tried');
  t.equal((await stored())?.id, 's2');
  const d = await p.decide('sweep.test');
  t.equal(d.mode === 'testing' && d.id, 's2');
  t.equal(await counted('failed_kept'), kept + 1);
  // start() runs the sweep on a timer: the server back, the next run takes the new policy.
  now += 10 * 60_000;
  answers.set('mta-sts.sweep.test', { status: 200, type: 'text/plain', body: policy('enforce', ['mx.sweep.test'], 3600) });
  p.start(50);
  t.teardown(() => p.stop());
  await world.waitFor('the timed sweep to fetch id s3', async () => (await stored())?.id === 's3');
  t.equal((await stored())?.mode, 'enforce');
});

// Last: it stops the world's daemon and runs another one on the same data dir.
t.test('a restarted daemon keeps enforcing the policy from the spool, with the TXT record and policy server gone', async (t) => {
  const sink = await world.addDomain('restart.test', 17, { tls: { key: mxCert.key, cert: mxCert.cert } });
  world.dns.set('_mta-sts.restart.test', { TXT: ['v=STSv1; id=r1'] });
  world.dns.set('mta-sts.restart.test', { A: ['127.0.0.1'] });
  answers.set('mta-sts.restart.test', { status: 200, type: 'text/plain', body: policy('enforce', ['mx.other.test']) });
  const id = await world.submit('a@restart.test');
  const first = await attempt(id);
  t.equal(first.type, 'deferred');
  await world.daemon.daemon.stop();
  world.dns.remove('_mta-sts.restart.test');
  answers.set('mta-sts.restart.test', { status: 500, type: 'text/plain', body: 'down' });
  const path = world.daemon.configPath;
  const again = new Daemon({ configPath: path, config: compileConfig(readFileSync(path, 'utf8'), path), logger: createLogger('silent') });
  await again.start();
  try {
    const r = await world.waitFor('a second attempt after the restart', async () => {
      const m = await again.store.getMessage(id);
      return m && m.recipients[0]!.attempts >= 2 ? m.recipients[0]! : undefined;
    });
    t.notOk(['delivered', 'failed', 'expired'].includes(r.state), `still waiting (${r.state})`);
    t.match(r.lastReply, /^451 4\.7\.5 MTA-STS policy of restart\.test \(id r1, mode enforce/);
    t.equal(sink.messages.length, 0, 'nothing went to the MX the policy does not list');
  } finally {
    await again.stop();
  }
});
