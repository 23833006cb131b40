// DANE (RFC 7672) when delivering, on loopback: a second in-process DNS server stands in for
// the DNSSEC-validating resolver (dns.dnssec_resolver) and sets AD on the TLSA answers it
// "validated"; the world's DNS server holds the MX and address records; sink MX hosts
// present self-signed (DANE-EE) or CA-issued (DANE-TA) certificates.
import t from 'tap';
import { createHash, X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startWorld, type World } from './helpers/delivery.js';
import { startDnsServer, type TestDnsServer } from './helpers/dns-server.js';
import { makeCa, makeCert, makeLeaf } from './helpers/tls.js';
import { daneVerify, usableTlsa, type TlsaRecord } from '../src/delivery/dane.js';
import { applyMtaSts } from '../src/delivery/mta-sts.js';
import { metrics } from '../src/metrics/metrics.js';
import { compileConfig, ConfigError } from '../src/config/config.js';
import type { DetailedPeerCertificate } from 'node:tls';
import type { QueueId } from '../src/util/ids.js';

const dir = mkdtempSync(join(tmpdir(), 'dane-'));
const ee = makeCert(dir, 'mx.ee.test');
const other = makeCert(dir, 'mx.other.test');
const ca = makeCa(dir);
const taLeaf = makeLeaf(dir, ca, 'ta', ['mx.ta.test', 'mx.taname.test.invalid']);
// The TA host presents its chain: leaf, then the CA (RFC 7672 §3.1.2 asks servers to).
const taChain = { key: taLeaf.key, cert: join(dir, 'ta-chain.crt') };
writeFileSync(taChain.cert, readFileSync(taLeaf.cert, 'utf8') + readFileSync(ca.cert, 'utf8'));

const der = (pem: string): Buffer => new X509Certificate(readFileSync(pem)).raw;
const spki = (pem: string): Buffer => new X509Certificate(readFileSync(pem)).publicKey.export({ type: 'spki', format: 'der' });
const sha256 = (b: Buffer): Buffer => createHash('sha256').update(b).digest();
const sha512 = (b: Buffer): Buffer => createHash('sha512').update(b).digest();
const tlsa = (usage: number, selector: number, matchingType: number, certificate: Buffer): { usage: number; selector: number; matchingType: number; certificate: Buffer } => ({ usage, selector, matchingType, certificate });

let world: World;
let validator: TestDnsServer;

/** The validator vouches for the domain's MX RRset and its MX host's address (RFC 7672 §2.2), as world.addDomain publishes them. */
function secured(domain: string, n: number, parts: { mx?: boolean; address?: boolean } = {}): void {
  validator.set(domain, { ad: parts.mx ?? true, MX: [{ preference: 10, exchange: `mx.${domain}` }] });
  validator.set(`mx.${domain}`, { ad: parts.address ?? true, A: [`127.0.0.${n}`] });
}

t.before(async () => {
  validator = await startDnsServer({});
  world = await startWorld('[delivery.dane]\nenabled = true\n', { extraToml: `dnssec_resolver = "${validator.server}"\n` });
  await world.addDomain('ee.test', 21, { tls: ee });
  secured('ee.test', 21);
  validator.set('_25._tcp.mx.ee.test', { ad: true, TLSA: [tlsa(3, 1, 1, sha256(spki(ee.cert)))] });
  await world.addDomain('mismatch.test', 22, { tls: ee });
  secured('mismatch.test', 22);
  validator.set('_25._tcp.mx.mismatch.test', { ad: true, TLSA: [tlsa(3, 1, 1, sha256(spki(other.cert)))] });
  await world.addDomain('bogus.test', 23, { tls: ee });
  secured('bogus.test', 23);
  validator.set('_25._tcp.mx.bogus.test', { rcode: 'SERVFAIL' });
  // Records that do not match, but not validated: DANE does not apply, opportunistic TLS as before.
  await world.addDomain('insecure.test', 24, { tls: ee });
  secured('insecure.test', 24);
  validator.set('_25._tcp.mx.insecure.test', { TLSA: [tlsa(3, 1, 1, sha256(spki(other.cert)))] });
  await world.addDomain('ta.test', 25, { tls: taChain });
  secured('ta.test', 25);
  validator.set('_25._tcp.mx.ta.test', { ad: true, TLSA: [tlsa(2, 0, 1, sha256(der(ca.cert)))] });
  // A CA-issued certificate for other names: DANE-TA checks the name.
  await world.addDomain('taname.test', 26, { tls: taChain });
  secured('taname.test', 26);
  validator.set('_25._tcp.mx.taname.test', { ad: true, TLSA: [tlsa(2, 0, 1, sha256(der(ca.cert)))] });
  // Only unusable records (PKIX-EE): TLS still required, not authenticated.
  await world.addDomain('unusable.test', 27, { tls: ee });
  secured('unusable.test', 27);
  validator.set('_25._tcp.mx.unusable.test', { ad: true, TLSA: [tlsa(1, 1, 1, sha256(spki(other.cert)))] });
  await world.addDomain('unusableplain.test', 28);
  secured('unusableplain.test', 28);
  validator.set('_25._tcp.mx.unusableplain.test', { ad: true, TLSA: [tlsa(1, 1, 1, sha256(spki(other.cert)))] });
  // TLSA records that would refuse the host, but the MX RRset or the host's address is not validated: no DANE.
  await world.addDomain('insecuremx.test', 30, { tls: ee });
  secured('insecuremx.test', 30, { mx: false });
  validator.set('_25._tcp.mx.insecuremx.test', { ad: true, TLSA: [tlsa(3, 1, 1, sha256(spki(other.cert)))] });
  await world.addDomain('insecureaddr.test', 31, { tls: ee });
  secured('insecureaddr.test', 31, { address: false });
  validator.set('_25._tcp.mx.insecureaddr.test', { ad: true, TLSA: [tlsa(3, 1, 1, sha256(spki(other.cert)))] });
  // A bogus MX RRset (the validator's SERVFAIL): the mail waits.
  await world.addDomain('bogusmx.test', 32, { tls: ee });
  validator.set('bogusmx.test', { rcode: 'SERVFAIL' });
  // No answer at all from the validator: a failed lookup.
  await world.addDomain('silent.test', 29, { tls: ee });
  secured('silent.test', 29);
  validator.set('_25._tcp.mx.silent.test', { drop: true });
});

t.teardown(async () => {
  await world?.stop();
  await validator?.close();
});

async function attempt(id: QueueId): Promise<{ type: string; detail: Record<string, unknown>; reply: string }> {
  return world.waitFor(`an attempt for ${id}`, async () => {
    const m = await world.message(id);
    const e = m.events.find((x) => x.type === 'delivered' || x.type === 'deferred' || x.type === 'failed');
    return e ? { type: e.type, detail: e.detail, reply: String(m.recipients[0]!.lastReply ?? '') } : undefined;
  });
}
const sink = (n: number): World['sinks'][number] => world.sinks.find((s) => s.host === `127.0.0.${n}`)!;

t.test('DANE-EE: a self-signed certificate matching the TLSA record gets the mail over TLS', async (t) => {
  const a = await attempt(await world.submit('a@ee.test'));
  t.equal(a.type, 'delivered', a.reply);
  t.same([a.detail['tls'], a.detail['tls_policy'], a.detail['tls_mode'], a.detail['tls_required'], a.detail['cert_check']], [true, 'dane', 'dane', true, 'dane-ee']);
  t.equal(sink(21).messages[0]?.secure, true);
});

t.test('DANE-EE: a certificate matching no record defers, nothing is sent', async (t) => {
  const a = await attempt(await world.submit('a@mismatch.test'));
  t.equal(a.type, 'deferred');
  t.match(a.reply, /^421 4\.7\.10 TLS with a certificate matching its TLSA records is required by DANE \(_25\._tcp\.mx\.mismatch\.test\), but mx\.mismatch\.test\[127\.0\.0\.22\] failed it: .*no TLSA record of _25\._tcp\.mx\.mismatch\.test matches/);
  t.same([a.detail['tls_policy'], a.detail['cert_check']], ['dane', 'dane-ee']);
  t.equal(sink(22).messages.length, 0);
});

for (const [domain, n, why, pattern] of [
  ['bogus.test', 23, 'a bogus answer (SERVFAIL from the validator)', /SERVFAIL for TLSA _25\._tcp\.mx\.bogus\.test/],
  ['silent.test', 29, 'no answer from the validator', /TLSA _25\._tcp\.mx\.silent\.test: timeout/],
  ['bogusmx.test', 32, 'a bogus MX RRset', /SERVFAIL for MX bogusmx\.test from the DNSSEC resolver/],
] as const) {
  t.test(`a failed TLSA lookup (${why}) defers; the host is not used`, async (t) => {
    const a = await attempt(await world.submit(`a@${domain}`));
    t.equal(a.type, 'deferred');
    t.match(a.reply, new RegExp(`^451 4\\.7\\.5 DANE: no MX host of ${domain.replace('.', '\\.')} can be used: mx\\.${domain.replace('.', '\\.')}: `));
    t.match(a.reply, pattern);
    t.equal(sink(n).messages.length, 0);
  });
}

t.test('records without AD are ignored: opportunistic TLS as without DANE', async (t) => {
  const a = await attempt(await world.submit('a@insecure.test'));
  t.equal(a.type, 'delivered', a.reply);
  t.same([a.detail['tls_policy'], a.detail['tls_required'], a.detail['cert_check']], ['none', false, 'none']);
  t.ok(validator.queries.some((q) => q.name === '_25._tcp.mx.insecure.test' && q.type === 'TLSA'), 'asked the validating resolver');
  t.notOk(world.dns.queries.some((q) => q.type === 'TLSA'), 'TLSA is never asked of the ordinary resolvers');
});

t.test('an MX RRset or an MX address not validated: the TLSA records are not used (RFC 7672 §2.2)', async (t) => {
  for (const domain of ['insecuremx.test', 'insecureaddr.test']) {
    const a = await attempt(await world.submit(`a@${domain}`));
    t.equal(a.type, 'delivered', `${domain}: ${a.reply}`);
    t.same([a.detail['tls_policy'], a.detail['tls_required'], a.detail['cert_check']], ['none', false, 'none'], domain);
  }
  t.notOk(validator.queries.some((q) => q.name === '_25._tcp.mx.insecuremx.test'), 'no TLSA query behind an insecure MX RRset');
});

t.test('DANE-TA: a chain up to the CA in the record, for the MX name, gets the mail; another name defers', async (t) => {
  const a = await attempt(await world.submit('a@ta.test'));
  t.equal(a.type, 'delivered', a.reply);
  t.equal(a.detail['cert_check'], 'dane-ta');
  const b = await attempt(await world.submit('a@taname.test'));
  t.equal(b.type, 'deferred');
  t.match(b.reply, /failed it: DANE: the certificate is not for mx\.taname\.test/);
  t.equal(sink(26).messages.length, 0);
});

t.test('only unusable records: TLS required without authentication', async (t) => {
  const a = await attempt(await world.submit('a@unusable.test'));
  t.equal(a.type, 'delivered', a.reply);
  t.same([a.detail['tls'], a.detail['tls_policy'], a.detail['tls_required'], a.detail['cert_check']], [true, 'dane', true, 'none']);
  const b = await attempt(await world.submit('a@unusableplain.test'));
  t.equal(b.type, 'deferred');
  t.match(b.reply, /^4\d\d 4\.7\.10 TLS is required by DANE \(_25\._tcp\.mx\.unusableplain\.test\)/);
  t.equal(sink(28).messages.length, 0);
});

t.test('metrics count DANE results', async (t) => {
  const values = (await metrics.dane.get()).values;
  const count = (result: string): number => values.find((v) => v.labels['result'] === result)?.value ?? 0;
  t.ok(count('ok') >= 2, 'EE and TA');
  t.ok(count('encrypted_only') >= 1);
  t.ok(count('tls_failed') >= 3, 'mismatch, wrong TA name, no STARTTLS');
  t.ok(count('lookup_failed') >= 2);
});

t.test('usable records: DANE-TA/EE, selector 0/1, matching 0/1/2 with the right digest length', async (t) => {
  const r = (usage: number, selector: number, matchingType: number, data: Buffer): TlsaRecord => ({ usage, selector, matchingType, data });
  t.ok(usableTlsa(r(3, 1, 1, Buffer.alloc(32))));
  t.ok(usableTlsa(r(2, 0, 2, Buffer.alloc(64))));
  t.ok(usableTlsa(r(3, 0, 0, Buffer.alloc(300))));
  t.notOk(usableTlsa(r(0, 0, 1, Buffer.alloc(32))), 'PKIX-TA');
  t.notOk(usableTlsa(r(1, 1, 1, Buffer.alloc(32))), 'PKIX-EE');
  t.notOk(usableTlsa(r(3, 2, 1, Buffer.alloc(32))), 'unknown selector');
  t.notOk(usableTlsa(r(3, 1, 3, Buffer.alloc(32))), 'unknown matching type');
  t.notOk(usableTlsa(r(3, 1, 1, Buffer.alloc(20))), 'a digest of the wrong length');
  // Each selector and matching type against the EE host's certificate.
  const peer = { raw: der(ee.cert) } as DetailedPeerCertificate;
  for (const [selector, matchingType, data] of [[0, 0, der(ee.cert)], [0, 1, sha256(der(ee.cert))], [0, 2, sha512(der(ee.cert))], [1, 0, spki(ee.cert)], [1, 1, sha256(spki(ee.cert))], [1, 2, sha512(spki(ee.cert))]] as const) {
    t.equal(daneVerify(peer, 'mx.ee.test', [r(3, selector, matchingType, data)]), undefined, `3 ${selector} ${matchingType} matches`);
    t.match(daneVerify(peer, 'mx.ee.test', [r(3, selector, matchingType, selector === 0 ? Buffer.from(data).reverse() : sha256(Buffer.from('x')))]) ?? '', /no TLSA record/);
  }
  t.match(daneVerify(undefined, 'mx.ee.test', [r(3, 1, 1, sha256(spki(ee.cert)))]) ?? '', /no certificate/);
});

t.test('DANE wins over MTA-STS: a host with TLSA records is neither marked nor left out by an enforce policy', async (t) => {
  const daneHop = { address: '127.0.0.21', port: 25, hostName: 'mx.ee.test', tls: 'starttls' as const, requireTls: true, dane: { records: [] } };
  const plainHop = { address: '127.0.0.30', port: 25, hostName: 'mx.unlisted.test', tls: 'starttls' as const, requireTls: false };
  const plan = applyMtaSts({ mode: 'enforce', id: '1', allows: () => false, label: 'MTA-STS policy of x.test' }, 'x.test', ['mx.ee.test', 'mx.unlisted.test'], [daneHop, plainHop], undefined, undefined);
  t.ok(plan.ok);
  if (plan.ok) t.same(plan.hops, [daneHop], 'the DANE host only, untouched');
});

t.test('config: DANE needs a DNSSEC resolver given by IP address', async (t) => {
  const base = 'hostname = "mta.example.com"\n[[smtp.listen]]\naddress = "127.0.0.1:2587"\ntls = "none"\n[delivery.dane]\nenabled = true\n';
  const problems = (toml: string): string => { try { compileConfig(toml, 'dane.toml'); } catch (e) { if (e instanceof ConfigError) return e.message; throw e; } return ''; };
  t.match(problems(base), /dns\.dnssec_resolver: delivery\.dane\.enabled needs a DNSSEC-validating resolver/);
  t.match(problems(`${base}[dns]\ndnssec_resolver = "resolver.example.com:53"\n`), /dns\.dnssec_resolver: must be an IP address/);
  for (const ok of ['127.0.0.1', '127.0.0.1:5353', '[::1]:53']) t.equal(problems(`${base}[dns]\ndnssec_resolver = "${ok}"\n`), '', ok);
  t.equal(compileConfig(`${base}[dns]\ndnssec_resolver = "127.0.0.1:5353"\n`, 'dane.toml').dns.dnssecResolver, '127.0.0.1:5353');
});
