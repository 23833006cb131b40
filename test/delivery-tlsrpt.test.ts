// TLS reporting (RFC 8460) on loopback: DANE policies (a second in-process DNS server as the
// validating resolver) give sessions to count, one that passes and one that fails; the
// reports go to a mailto rua (a sink MX) and an https rua (a node:https server signed by a
// test CA), are parsed back and checked against the RFC 8460 schema, and go out once.
import t from 'tap';
import https from 'node:https';
import { createHash, X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import pino from 'pino';
import { dkimVerify } from 'mailauth/lib/dkim/verify.js';
import { startWorld, type World } from './helpers/delivery.js';
import { startDnsServer, mailauthResolver, type TestDnsServer } from './helpers/dns-server.js';
import { freePort } from './helpers/sink.js';
import { makeCa, makeCert, makeLeaf } from './helpers/tls.js';
import { TlsRptReporter, parseRua } from '../src/delivery/tls-rpt-send.js';
import { buildReport, noPolicyFound, resultType, stsFetchResult, stsPolicy, TlsRptTally } from '../src/delivery/tls-rpt.js';
import { countSession, tlsRequiredReply } from '../src/delivery/tls-policy.js';
import { DnsClient } from '../src/dns/client.js';
import { MxResolver } from '../src/dns/mx.js';
import type { QueueId } from '../src/util/ids.js';

const dir = mkdtempSync(join(tmpdir(), 'tlsrpt-'));
const ee = makeCert(dir, 'mx.ee.test');
const other = makeCert(dir, 'mx.other.test');
const ca = makeCa(dir);
const ruaCert = makeLeaf(dir, ca, 'rua', ['rua.test']);
const spkiHash = (pem: string): Buffer => createHash('sha256').update(new X509Certificate(readFileSync(pem)).publicKey.export({ type: 'spki', format: 'der' })).digest();
const tlsa = (data: Buffer): { usage: number; selector: number; matchingType: number; certificate: Buffer } => ({ usage: 3, selector: 1, matchingType: 1, certificate: data });

let world: World;
let validator: TestDnsServer;
let server: https.Server;
let httpsPort: number;
const posts: { type: string; body: Buffer; path: string }[] = [];

t.before(async () => {
  httpsPort = await freePort();
  server = https.createServer({ key: readFileSync(ruaCert.key), cert: readFileSync(ruaCert.cert) }, (req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => { posts.push({ type: String(req.headers['content-type']), body: Buffer.concat(chunks), path: req.url ?? '' }); res.writeHead(201).end(); });
  });
  await new Promise<void>((r) => server.listen(httpsPort, '127.0.0.1', r));
  validator = await startDnsServer({});
  world = await startWorld(
    `[delivery.mta_sts]\nca_file = "${ca.cert}"\n[delivery.dane]\nenabled = true\n[delivery.tls_rpt]\nenabled = true\nfrom = "tls-reports@example.com"\norganization = "mta test"\nsend_window = "10m"\n`,
    { extraToml: `dnssec_resolver = "${validator.server}"\n` },
  );
  await world.addDomain('ee.test', 41, { tls: ee });
  validator.set('_25._tcp.mx.ee.test', { ad: true, TLSA: [tlsa(spkiHash(ee.cert))] });
  // The validator vouches for the MX RRsets and the MX addresses too (RFC 7672 §2.2).
  for (const [domain, n] of [['ee.test', 41], ['mismatch.test', 42]] as const) {
    validator.set(domain, { ad: true, MX: [{ preference: 10, exchange: `mx.${domain}` }] });
    validator.set(`mx.${domain}`, { ad: true, A: [`127.0.0.${n}`] });
  }
  await world.addDomain('mismatch.test', 42, { tls: ee });
  validator.set('_25._tcp.mx.mismatch.test', { ad: true, TLSA: [tlsa(spkiHash(other.cert))] });
  await world.addDomain('reports.test', 43);
  world.dns.set('rua.test', { A: ['127.0.0.1'] });
  world.dns.set('_smtp._tls.ee.test', { TXT: [`v=TLSRPTv1; rua=mailto:tlsrpt@reports.test,https://rua.test:${httpsPort}/v1/report`] });
  // Reports about mismatch.test go to mismatch.test itself, whose TLSA records its MX fails.
  world.dns.set('_smtp._tls.mismatch.test', { TXT: ['v=TLSRPTv1;rua=mailto:tlsrpt@mismatch.test'] });
});

t.teardown(async () => {
  await world?.stop();
  await validator?.close();
  await new Promise<void>((r) => server.close(() => r()));
});

const attempts = (id: QueueId, n: number): Promise<unknown> => world.waitFor(`${n} attempts of ${id}`, async () => (await world.message(id)).recipients[0]!.attempts >= n);

function reporter(now: () => number): TlsRptReporter {
  const dns = new DnsClient({ servers: [world.dns.server] });
  return new TlsRptReporter(world.daemon.daemon.config, world.daemon.daemon.store, dns, new MxResolver(dns), pino({ level: 'silent' }), now);
}

/** The report inside a mail: the gzipped JSON attachment, parsed. */
function attachment(raw: string): Record<string, any> {
  const m = /Content-Type: application\/tlsrpt\+gzip\r\nContent-Transfer-Encoding: base64\r\nContent-Disposition: attachment; filename="([^"]+)"\r\n\r\n([A-Za-z0-9+/=\r\n]+?)\r\n\r\n--/.exec(raw);
  if (!m) throw new Error(`no tlsrpt attachment in ${raw.slice(0, 2000)}`);
  return { file: m[1], json: JSON.parse(gunzipSync(Buffer.from(m[2]!.replace(/\r\n/g, ''), 'base64')).toString('utf8')) };
}

/** The RFC 8460 §4.4 schema: every required field with its type. */
function schemaProblems(r: any): string[] {
  const p: string[] = [];
  const need = (ok: boolean, what: string): void => { if (!ok) p.push(what); };
  need(typeof r['organization-name'] === 'string', 'organization-name');
  need(/^\d{4}-\d\d-\d\dT00:00:00Z$/.test(r['date-range']?.['start-datetime']), 'date-range.start-datetime');
  need(/^\d{4}-\d\d-\d\dT23:59:59Z$/.test(r['date-range']?.['end-datetime']), 'date-range.end-datetime');
  need(typeof r['contact-info'] === 'string', 'contact-info');
  need(typeof r['report-id'] === 'string', 'report-id');
  need(Array.isArray(r.policies) && r.policies.length > 0, 'policies');
  for (const x of r.policies ?? []) {
    need(['tlsa', 'sts', 'no-policy-found'].includes(x.policy?.['policy-type']), 'policy-type');
    need(Array.isArray(x.policy?.['policy-string']), 'policy-string');
    need(typeof x.policy?.['policy-domain'] === 'string', 'policy-domain');
    need(Number.isInteger(x.summary?.['total-successful-session-count']), 'total-successful-session-count');
    need(Number.isInteger(x.summary?.['total-failure-session-count']), 'total-failure-session-count');
    for (const f of x['failure-details'] ?? []) need(typeof f['result-type'] === 'string' && Number.isInteger(f['failed-session-count']), 'failure-details');
  }
  return p;
}

t.test('a day of sessions is reported the next day: mailto (DKIM-signed) and https, valid RFC 8460 JSON, once', async (t) => {
  const ok = await world.submit('a@ee.test');
  await world.waitFor('delivery to ee.test', async () => (await world.message(ok)).recipients[0]!.state === 'delivered');
  const bad = await world.submit('a@mismatch.test');
  await attempts(bad, 2);
  const today = new Date().toISOString().slice(0, 10);
  // Today's counts reach the spool; the report waits for the day to end.
  t.equal(await world.daemon.daemon.tlsRpt!.run(), 0);
  const pending = await world.daemon.daemon.store.tlsRptPending('9999-12-31', 100);
  t.same(pending.map((p) => p.domain).sort(), ['ee.test', 'mismatch.test']);
  const dayEnd = Date.parse(`${today}T00:00:00Z`) + 86_400_000;
  const r = reporter(() => dayEnd + 600_000);
  t.equal(await reporter(() => dayEnd - 1).run(), 0, 'not before the day is over');
  t.ok(r.sendAt('ee.test', today) >= dayEnd && r.sendAt('ee.test', today) < dayEnd + 600_000, 'a time within the send window');
  t.equal(await r.run(), 2);
  const sink = world.sinks.find((s) => s.host === '127.0.0.43')!;
  // The report about mismatch.test reached its MX although it fails the DANE check: a report is not subject to the policy it reports on.
  const policySink = world.sinks.find((s) => s.host === '127.0.0.42')!;
  t.equal(sink.messages.length, 1);
  t.equal(policySink.messages.length, 1);
  t.same(policySink.messages[0]!.to, ['tlsrpt@mismatch.test']);
  const byDomain = new Map([...sink.messages, ...policySink.messages].map((m) => { const raw = m.raw.toString('utf8'); return [/\r\nTLS-Report-Domain: (\S+)\r\n/.exec(raw)?.[1], { raw, m }]; }));
  const good = byDomain.get('ee.test')!;
  t.match(good.raw, /\r\nContent-Type: multipart\/report; report-type="tlsrpt"; boundary=/);
  t.match(good.raw, /\r\nSubject: Report Domain: ee\.test Submitter: mta test Report-ID: </);
  t.equal(good.m.from, 'tls-reports@example.com');
  const v = await dkimVerify(good.m.raw, { resolver: mailauthResolver(world.dns) });
  t.equal(v.results[0]?.status.result, 'pass', 'DKIM-signed with the from domain\'s key');
  const a = attachment(good.raw);
  t.match(a.file, /^mta test!ee\.test!\d+!\d+\.json\.gz$/);
  t.same(schemaProblems(a.json), []);
  t.equal(a.json['date-range']['start-datetime'], `${today}T00:00:00Z`);
  t.equal(a.json.policies.length, 1);
  t.same(a.json.policies[0].policy, { 'policy-type': 'tlsa', 'policy-string': [`3 1 1 ${spkiHash(ee.cert).toString('hex').toUpperCase()}`], 'policy-domain': 'ee.test', 'mx-host': ['mx.ee.test'] });
  t.ok(a.json.policies[0].summary['total-successful-session-count'] >= 1);
  t.equal(a.json.policies[0].summary['total-failure-session-count'], 0);
  const failed = attachment(byDomain.get('mismatch.test')!.raw).json;
  t.same(schemaProblems(failed), []);
  t.equal(failed.policies[0].summary['total-successful-session-count'], 0);
  const detail = failed.policies[0]['failure-details'][0];
  t.same([detail['result-type'], detail['receiving-mx-hostname'], detail['receiving-ip']], ['validation-failure', 'mx.mismatch.test', '127.0.0.42']);
  t.ok(detail['failed-session-count'] >= 2, 'each failed session counted');
  t.equal(failed.policies[0].summary['total-failure-session-count'], detail['failed-session-count']);
  // The https rua got the same report for ee.test.
  t.equal(posts.length, 1);
  t.equal(posts[0]!.type, 'application/tlsrpt+gzip');
  t.equal(posts[0]!.path, '/v1/report');
  const posted = JSON.parse(gunzipSync(posts[0]!.body).toString('utf8'));
  t.same(schemaProblems(posted), []);
  t.same(posted.policies, a.json.policies);
  // Once per domain and day: neither this node nor another one sends them again.
  t.equal(await r.run(), 0);
  t.equal(await reporter(() => dayEnd + 3 * 3600_000).run(), 0);
  t.equal(sink.messages.length + policySink.messages.length, 2);
  // Two weeks on, the day's counts and report rows are gone.
  t.equal(await reporter(() => dayEnd + 14 * 86_400_000).run(), 0);
  t.same(await world.daemon.daemon.store.tlsRptCounts('ee.test', today), []);
  t.equal(await world.daemon.daemon.store.claimTlsRptReport('ee.test', today, 'x', 1, 0), true, 'the report row went too');
});

t.test('sessions under MTA-STS are tallied as the report counts them: testing mode records what enforce would refuse', async (t) => {
  const report = stsPolicy('s.test', 'testing', ['mx.s.test'], 86400);
  const hop = { address: '192.0.2.1', port: 25, hostName: 'mx.s.test', tls: 'starttls' as const, requireTls: false, report };
  const testing = (allowed: boolean): typeof hop & { mtaSts: { mode: 'testing'; id: string; label: string; allowed: boolean } } => ({ ...hop, mtaSts: { mode: 'testing', id: '1', label: 'x', allowed } });
  const tally = new TlsRptTally(() => Date.parse('2026-03-01T12:00:00Z'));
  countSession(tally, testing(true), true);
  countSession(tally, testing(true), true);
  countSession(tally, testing(false), true);
  countSession(tally, testing(true), false);
  countSession(tally, { ...hop, report: undefined }, true);
  tlsRequiredReply({ ...hop, requireTls: true, mtaSts: { mode: 'enforce', id: '1', label: 'x', allowed: true } }, 's.test', 'self-signed certificate in certificate chain', tally);
  const rows = tally.drain();
  t.same(rows.map((r) => [r.day, r.result, r.mx, r.count]).sort(), [
    ['2026-03-01', 'certificate-not-trusted', 'mx.s.test', 1], ['2026-03-01', 'starttls-not-supported', 'mx.s.test', 1],
    ['2026-03-01', 'success', '', 2], ['2026-03-01', 'validation-failure', 'mx.s.test', 1],
  ]);
  t.equal(tally.size, 0, 'drained once');
  const json = buildReport('2026-03-01', rows, { organization: 'o', contact: 'mailto:a@b.test', reportId: 'r' }) as any;
  t.same(json.policies[0].summary, { 'total-successful-session-count': 2, 'total-failure-session-count': 3 });
  t.equal(json.policies[0].policy['policy-type'], 'sts');
});

t.test('the report row is claimed by one node; a stale unsent claim can be taken over', async (t) => {
  const store = world.daemon.daemon.store;
  t.equal(await store.claimTlsRptReport('claim.test', '2026-01-01', 'node-a', 1000, 0), true);
  t.equal(await store.claimTlsRptReport('claim.test', '2026-01-01', 'node-b', 2000, 500), false, 'held by node-a');
  await store.finishTlsRptReport('claim.test', '2026-01-01', { error: 'rua down' });
  t.equal(await store.claimTlsRptReport('claim.test', '2026-01-01', 'node-b', 5000, 1500), true, 'stale and unsent: taken over');
  await store.finishTlsRptReport('claim.test', '2026-01-01', { sentAt: 6000 });
  t.equal(await store.claimTlsRptReport('claim.test', '2026-01-01', 'node-c', 1e12, 1e12), false, 'sent: never again');
});

t.test('rua records, result types and the STS policy object', async (t) => {
  t.same(parseRua('v=TLSRPTv1; rua=mailto:a@b.test, https://r.test/x ,ftp://no.test'), [{ kind: 'mailto', address: 'a@b.test' }, { kind: 'https', url: new URL('https://r.test/x') }]);
  t.same(parseRua('v=STSv1; rua=mailto:a@b.test'), []);
  t.equal(resultType('Secure connection required but not offered'), 'starttls-not-supported');
  t.equal(resultType('self-signed certificate'), 'certificate-not-trusted');
  t.equal(resultType("Hostname/IP does not match certificate's altnames"), 'certificate-host-mismatch');
  t.equal(resultType('certificate has expired'), 'certificate-expired');
  t.same(JSON.parse(stsPolicy('x.test', 'enforce', ['mx.x.test', '*.y.test'], 86400).policy), {
    'policy-type': 'sts', 'policy-string': ['version: STSv1', 'mode: enforce', 'mx: mx.x.test', 'mx: *.y.test', 'max_age: 86400'], 'policy-domain': 'x.test', 'mx-host': ['mx.x.test', '*.y.test'],
  });
});

t.test('a domain whose announced MTA-STS policy cannot be fetched: delivered as without one, each session reported as sts-policy-fetch-error under no-policy-found', async (t) => {
  await world.addDomain('nofetch.test', 44);
  // The TXT record announces a policy; mta-sts.nofetch.test has an address where nothing answers HTTPS.
  world.dns.set('_mta-sts.nofetch.test', { TXT: ['v=STSv1; id=20260101'] });
  world.dns.set('mta-sts.nofetch.test', { A: ['127.0.0.44'] });
  const id = await world.submit('a@nofetch.test');
  await world.waitFor('delivery to nofetch.test', async () => (await world.message(id)).recipients[0]!.state === 'delivered');
  await world.daemon.daemon.tlsRpt!.run(); // today's tally into the spool
  const today = new Date().toISOString().slice(0, 10);
  const rows = await world.daemon.daemon.store.tlsRptCounts('nofetch.test', today);
  t.same(rows.map((r) => [r.result, r.mx, r.count]), [['sts-policy-fetch-error', 'mx.nofetch.test', 1]], 'the session is a failure of that type');
  const json = buildReport(today, rows, { organization: 'o', contact: 'mailto:a@b.test', reportId: 'r' }) as any;
  t.same(schemaProblems(json), []);
  t.equal(json.policies[0].policy['policy-type'], 'no-policy-found');
  t.equal(json.policies[0].policy['policy-domain'], 'nofetch.test');
  t.same(json.policies[0].summary, { 'total-successful-session-count': 0, 'total-failure-session-count': 1 });
  t.equal(json.policies[0]['failure-details'][0]['result-type'], 'sts-policy-fetch-error');
});

t.test('why a policy fetch failed, as a result type: a refused certificate is sts-webpki-invalid', async (t) => {
  t.equal(stsFetchResult(Object.assign(new Error('self-signed certificate'), { code: 'DEPTH_ZERO_SELF_SIGNED_CERT' })), 'sts-webpki-invalid');
  t.equal(stsFetchResult(Object.assign(new Error('Hostname/IP does not match'), { code: 'ERR_TLS_CERT_ALTNAME_INVALID' })), 'sts-webpki-invalid');
  t.equal(stsFetchResult(Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' })), 'sts-policy-fetch-error');
  t.equal(stsFetchResult(new Error('HTTP 404')), 'sts-policy-fetch-error');
  t.same(JSON.parse(noPolicyFound('x.test').policy), { 'policy-type': 'no-policy-found', 'policy-string': [], 'policy-domain': 'x.test' });
});
