// Sending-domain DNS checks (src/dns/) against the in-process DNS server: one scenario per
// check state, SPF evaluated by mailauth through our client (includes, lookup limit), and
// the records we propose, written as zone-file lines, parsed back and served: they verify.
// Every DnsClient here points at a test server on 127.0.0.1; nothing leaves loopback.
import t from 'tap';
import { DnsClient } from '../src/dns/client.js';
import { generateDkimKey } from '../src/accounts/domains.js';
import { recordsFor, zoneLines as accountsZoneLines } from '../src/accounts/domains.js';
import { checkDomain, checkHost, dkimPublished, overallStatus, type CheckContext, type DomainCheckResult } from '../src/dns/checker.js';
import { recordsToPublish, spfProposal, zoneLines, type PublishRecord } from '../src/dns/records.js';
import type { DomainCheckName, DomainCheckRecord, DomainRecord } from '../src/spool/types-domains.js';
import { startDnsServer, type TestDnsServer, type ZoneEntry } from './helpers/dns-server.js';

const HOST = 'mta.sender.test';
const IP = '192.0.2.10';
const IP6 = '2001:db8::10';
const PTR4 = '10.2.0.192.in-addr.arpa';
const PTR6 = `0.1.0.0.${'0.0.0.0.'.repeat(5)}8.b.d.0.1.0.0.2.ip6.arpa`;
const MX = 'mx.sender.test';
const PUBLIC = 'public.sender.test';

const rsa = generateDkimKey('rsa');
const ed = generateDkimKey('ed25519');
const otherRsa = generateDkimKey('rsa');

function domain(name: string, alg: 'rsa' | 'ed25519' = 'rsa'): DomainRecord {
  const key = alg === 'rsa' ? rsa : ed;
  return {
    name, dkimSelector: 'mta1', dkimAlgorithm: alg, dkimPrivateKey: key.privateKeyPem, dkimPublicKey: key.publicKeyDns,
    ownershipToken: `token-${name}`, status: 'unverified', createdAt: 0,
  };
}

/** A TXT value as it travels: 255-byte character-strings. */
const split = (v: string): string[] => v.match(/.{1,255}/g) ?? [''];

/** Everything a domain needs to be verified, with DMARC, MX, tracking, PTR all ok. */
function goodZone(d: DomainRecord): Record<string, ZoneEntry> {
  return {
    [`_mta.${d.name}`]: { TXT: [`mta-verification=${d.ownershipToken}`, 'some-other-site-verification=x'] },
    [d.name]: { TXT: [`v=spf1 ip4:${IP} -all`, 'google-site-verification=abc'], MX: [{ preference: 10, exchange: MX }] },
    [`mta1._domainkey.${d.name}`]: { TXT: [split(`v=DKIM1; k=${d.dkimAlgorithm}; p=${d.dkimPublicKey}`)] },
    [`_dmarc.${d.name}`]: { TXT: ['v=DMARC1; p=none; rua=mailto:dmarc@sender.test'] },
    [`track.${d.name}`]: { CNAME: PUBLIC },
    [HOST]: { A: [IP] },
    [PTR4]: { PTR: [HOST] },
  };
}

interface World { server: TestDnsServer; ctx: CheckContext; d: DomainRecord; check(): Promise<DomainCheckResult> }

/** A DNS server with the good zone changed by `edit`, and a context asking only it. */
async function world(tt: { teardown(fn: () => unknown): void }, edit: (z: Record<string, ZoneEntry>, d: DomainRecord) => void = () => {}, opts: Partial<CheckContext> & { d?: DomainRecord; dnsTimeoutMs?: number } = {}): Promise<World> {
  const d = opts.d ?? domain('good.test');
  const zone = goodZone(d);
  edit(zone, d);
  const server = await startDnsServer(zone);
  tt.teardown(() => server.close());
  const ctx: CheckContext = {
    // Long enough that a loaded machine never turns an answer into a timeout; the timeout tests set their own.
    dns: new DnsClient({ servers: [server.server], timeoutMs: opts.dnsTimeoutMs ?? 5000, tries: 1 }),
    hostname: HOST, sendingIps: [IP], ownershipRecord: '_mta', mxHost: MX,
    trackingHost: 'track', publicHost: PUBLIC, now: () => 1_000, ...opts,
  };
  delete (ctx as { dnsTimeoutMs?: number }).dnsTimeoutMs;
  return { server, ctx, d, check: () => checkDomain(d, ctx) };
}

const get = (r: DomainCheckResult | DomainCheckRecord[], name: DomainCheckName): DomainCheckRecord => {
  const c = (Array.isArray(r) ? r : r.checks).find((x) => x.name === name);
  if (!c) throw new Error(`no ${name} check`);
  return c;
};
const statuses = (r: DomainCheckResult): Record<string, string> => Object.fromEntries(r.checks.map((c) => [c.name, c.status]));

t.test('everything published: verified, every check ok', async (t) => {
  const w = await world(t);
  const r = await w.check();
  t.same(statuses(r), { ownership: 'ok', spf: 'ok', dkim: 'ok', dmarc: 'ok', mx: 'ok', tracking: 'ok', hostname: 'ok', ptr: 'ok' });
  t.equal(r.status, 'verified');
  t.same(r.problems, []);
  t.ok(r.checks.every((c) => c.domain === 'good.test' && c.checkedAt === 1_000));
  t.match(get(r, 'dkim').found, /^v=DKIM1; k=rsa; p=MII/, 'the split TXT strings are joined');
  t.match(get(r, 'dmarc'), { found: /p=none/, detail: /policy p=none/ });
  t.match(get(r, 'ptr'), { expected: `${IP} → ${HOST}`, found: `${IP} → ${HOST}` });
});

t.test('ed25519 key, two sending IPs (v4 and v6), SPF through a:hostname', async (t) => {
  const d = domain('ed.test', 'ed25519');
  const w = await world(t, (z) => {
    z[d.name]!.TXT = [`v=spf1 a:${HOST} -all`];
    z[HOST] = { A: [IP], AAAA: [IP6] };
    z[PTR6] = { PTR: [`${HOST}.`] };
  }, { d, sendingIps: [IP, '2001:DB8:0::10'] });
  const r = await w.check();
  t.equal(r.status, 'verified', r.problems.join('\n'));
  t.match(get(r, 'ptr').detail, /forward-confirmed for 192\.0\.2\.10, 2001:db8::10/);
});

t.test('no sending_ips configured: the hostname\'s addresses are evaluated', async (t) => {
  const w = await world(t, () => {}, { sendingIps: [] });
  const r = await w.check();
  t.equal(r.status, 'verified', r.problems.join('\n'));
  t.equal(get(r, 'spf').status, 'ok');
  t.equal(get(r, 'ptr').status, 'ok');
});

t.test('each record missing', async (t) => {
  const cases: [DomainCheckName, (z: Record<string, ZoneEntry>, d: DomainRecord) => void, boolean, RegExp][] = [
    ['ownership', (z, d) => { delete z[`_mta.${d.name}`]; }, false, /publish TXT _mta\.good\.test/],
    ['spf', (z, d) => { z[d.name]!.TXT = ['unrelated']; }, false, /no SPF record/],
    ['dkim', (z, d) => { delete z[`mta1._domainkey.${d.name}`]; }, false, /publish the record from `mta domain dns`/],
    ['dmarc', (z, d) => { delete z[`_dmarc.${d.name}`]; }, true, /p=none/],
    ['mx', (z, d) => { delete z[d.name]!.MX; }, true, /bounces and replies/],
    ['tracking', (z, d) => { delete z[`track.${d.name}`]; }, true, /CNAME track\.good\.test → public\.sender\.test/],
  ];
  for (const [name, edit, verified, detail] of cases) {
    const r = await (await world(t, edit)).check();
    t.equal(get(r, name).status, 'missing', name);
    t.match(get(r, name).detail, detail, name);
    t.equal(r.status, verified ? 'verified' : 'unverified', `${name}: ${verified ? 'informational' : 'required'}`);
    t.match(r.problems, [new RegExp(`^${name}: missing: `)], `${name} is a problem`);
    t.equal(r.checks.filter((c) => c.status !== 'ok').length, 1, `${name}: nothing else affected`);
  }
  t.match(get(await (await world(t, (z, d) => { delete z[`_dmarc.${d.name}`]; }, { dmarcRua: 'mailto:agg@sender.test' })).check(), 'dmarc'),
    { expected: 'v=DMARC1; p=none; rua=mailto:agg@sender.test' });
});

t.test('each record mismatching', async (t) => {
  const cases: [DomainCheckName, (z: Record<string, ZoneEntry>, d: DomainRecord) => void, RegExp, RegExp | string | null][] = [
    ['ownership', (z, d) => { z[`_mta.${d.name}`] = { TXT: ['mta-verification=someone-else'] }; }, /not this domain's/, 'mta-verification=someone-else'],
    ['spf', (z, d) => { z[d.name]!.TXT = ['v=spf1 ip4:198.51.100.1 -all']; }, /SPF gives fail for 192\.0\.2\.10/, 'v=spf1 ip4:198.51.100.1 -all'],
    ['dkim', (z, d) => { z[`mta1._domainkey.${d.name}`] = { TXT: [split(`v=DKIM1; k=rsa; p=${otherRsa.publicKeyDns}`)] }; }, /the published key is not this server's; publish the record from `mta domain dns`|not this server's: publish the record/, /p=MII/],
    ['dmarc', (z, d) => { z[`_dmarc.${d.name}`] = { TXT: ['v=DMARC1; p=monitor'] }; }, /invalid DMARC record.*p=monitor/, 'v=DMARC1; p=monitor'],
    ['mx', (z, d) => { z[d.name]!.MX = [{ preference: 5, exchange: 'aspmx.mailhost.test' }]; }, /does not include mx\.sender\.test/, '5 aspmx.mailhost.test'],
    ['tracking', (z, d) => { z[`track.${d.name}`] = { CNAME: 'elsewhere.test' }; }, /points elsewhere/, 'elsewhere.test'],
  ];
  for (const [name, edit, detail, found] of cases) {
    const r = await (await world(t, edit)).check();
    t.match(get(r, name), { status: 'mismatch', detail, found }, name);
    t.equal(r.status, ['ownership', 'spf', 'dkim'].includes(name) ? 'unverified' : 'verified', name);
  }
  const spf = get(await (await world(t, (z, d) => { z[d.name]!.TXT = ['v=spf1 ip4:198.51.100.1 -all']; })).check(), 'spf');
  t.equal(spf.expected, `v=spf1 ip4:198.51.100.1 ip4:${IP} -all`, 'expected is the merged proposal');
  const soft = get(await (await world(t, (z, d) => { z[d.name]!.TXT = ['v=spf1 mx ~all']; z[MX] = { A: ['198.51.100.7'] }; })).check(), 'spf');
  t.match(soft, { status: 'mismatch', detail: /softfail for 192\.0\.2\.10/, expected: `v=spf1 mx ip4:${IP} ~all` });
});

t.test('DNS timeout and SERVFAIL: error with the DNS message, never an exception', async (t) => {
  const w = await world(t, (z, d) => { z[`_mta.${d.name}`]!.drop = true; z[`mta1._domainkey.${d.name}`] = { rcode: 'SERVFAIL' }; }, { dnsTimeoutMs: 1000 });
  const r = await w.check();
  t.match(get(r, 'ownership'), { status: 'error', detail: /E_DNS_TIMEOUT: timeout after 1000 ms/ });
  t.match(get(r, 'dkim'), { status: 'error', detail: /SERVFAIL for TXT mta1\._domainkey\.good\.test/ });
  t.equal(get(r, 'spf').status, 'ok');
  t.equal(r.status, 'unverified');

  const all = await world(t, (z, d) => {
    for (const n of [d.name, `_mta.${d.name}`, `mta1._domainkey.${d.name}`, `_dmarc.${d.name}`, `track.${d.name}`, HOST, PTR4]) z[n] = { drop: true };
  }, { dnsTimeoutMs: 1000 });
  const started = Date.now();
  const dead = await all.check();
  // Seven silent names asked one after another would take at least 7 s.
  t.ok(Date.now() - started < 6000, 'queries run in parallel, each bounded by the client timeout');
  t.same(statuses(dead), { ownership: 'error', spf: 'error', dkim: 'error', dmarc: 'error', mx: 'error', tracking: 'error', hostname: 'error', ptr: 'error' });
  t.ok(dead.checks.every((c) => /timeout/.test(c.detail ?? '')), 'each detail names the timeout');
});

t.test('SPF: an include chain that passes is evaluated, not string-searched', async (t) => {
  const w = await world(t, (z, d) => {
    z[d.name]!.TXT = ['v=spf1 include:_spf.provider.test -all'];
    z['_spf.provider.test'] = { TXT: ['v=spf1 include:_net2.provider.test -all'] };
    z['_net2.provider.test'] = { TXT: ['v=spf1 ip4:192.0.2.0/24 -all'] };
  });
  const r = await w.check();
  t.match(get(r, 'spf'), { status: 'ok', found: 'v=spf1 include:_spf.provider.test -all', expected: 'v=spf1 include:_spf.provider.test -all' });
  t.ok(w.server.queries.some((q) => q.name === '_net2.provider.test' && q.type === 'TXT'), 'the nested include was asked');
  t.equal(r.status, 'verified');
});

t.test('SPF: two records, +all, ?all', async (t) => {
  const two = get(await (await world(t, (z, d) => { z[d.name]!.TXT = ['v=spf1 ip4:198.51.100.0/24 -all', `v=spf1 include:_spf.provider.test ~all`]; })).check(), 'spf');
  t.match(two, { status: 'mismatch', detail: /2 SPF records.*publish one SPF record; merge them/ });
  t.equal(two.expected, `v=spf1 ip4:198.51.100.0/24 include:_spf.provider.test ip4:${IP} -all`, 'one merged record');

  const plus = await (await world(t, (z, d) => { z[d.name]!.TXT = ['v=spf1 mx +all']; })).check();
  t.match(get(plus, 'spf'), { status: 'mismatch', detail: /\+all lets every host.*~all or -all/, expected: `v=spf1 mx ip4:${IP} ~all` });
  t.equal(plus.status, 'unverified');

  const neutral = await (await world(t, (z, d) => { z[d.name]!.TXT = [`v=spf1 ip4:${IP} ?all`]; })).check();
  t.match(get(neutral, 'spf'), { status: 'ok', detail: /\?all/ });
  t.match(neutral.problems, [/^spf: \?all makes mail from any other host "neutral"/]);
});

t.test('SPF over the 10-lookup limit: mailauth reports permerror', async (t) => {
  const includes = (z: Record<string, ZoneEntry>): string => {
    for (let i = 1; i <= 11; i++) z[`l${i}.provider.test`] = { TXT: [`v=spf1 ip4:203.0.113.${i} -all`] };
    return Array.from({ length: 11 }, (_, i) => `include:l${i + 1}.provider.test`).join(' ');
  };
  const r = await (await world(t, (z, d) => { z[d.name]!.TXT = [split(`v=spf1 ${includes(z)} ip4:${IP} -all`)]; })).check();
  t.match(get(r, 'spf'), { status: 'mismatch', detail: /more than 10 DNS lookups \(RFC 7208/ });
  t.equal(r.status, 'unverified');

  // Ten includes are within the limit.
  const ten = await (await world(t, (z, d) => { includes(z); z[d.name]!.TXT = [split(`v=spf1 ${Array.from({ length: 10 }, (_, i) => `include:l${i + 1}.provider.test`).join(' ')} ip4:${IP} -all`)]; })).check();
  t.equal(get(ten, 'spf').status, 'ok');
  t.same(ten.problems, []);

  // Our IP first: our mail passes before the limit is hit, but the record is still broken.
  const early = await (await world(t, (z, d) => { z[d.name]!.TXT = [split(`v=spf1 ip4:${IP} ${includes(z)} -all`)]; })).check();
  t.equal(get(early, 'spf').status, 'ok');
  t.match(early.problems, [/^spf: passes for our IPs, but for other senders the record needs more than 10 DNS lookups/]);
});

t.test('SPF needs a sending IP to evaluate', async (t) => {
  const r = await (await world(t, (z) => { delete z[HOST]; }, { sendingIps: [] })).check();
  t.match(get(r, 'spf'), { status: 'error', detail: /no sending IP known: set delivery\.sending_ips/ });
  t.equal(get(r, 'hostname').status, 'missing');
  t.equal(get(r, 'ptr').status, 'missing');
  const bad = await (await world(t, () => {}, { sendingIps: ['192.0.2.300'] })).check();
  t.match(get(bad, 'spf'), { status: 'error', detail: /sending_ips has "192\.0\.2\.300", which is not an IP address/ });
  t.equal(get(bad, 'ptr').status, 'error');
});

t.test('DKIM: other selector, revoked, wrong k=, ed25519, several strings', async (t) => {
  const other = await (await world(t, (z, d) => {
    z[`old._domainkey.${d.name}`] = z[`mta1._domainkey.${d.name}`]!;
    delete z[`mta1._domainkey.${d.name}`];
  })).check();
  t.match(get(other, 'dkim'), { status: 'missing', detail: /no DKIM key at mta1\._domainkey\.good\.test/ });

  const revoked = get(await (await world(t, (z, d) => { z[`mta1._domainkey.${d.name}`] = { TXT: ['v=DKIM1; k=rsa; p='] }; })).check(), 'dkim');
  t.match(revoked, { status: 'mismatch', detail: /revoked \(empty p=\)/ });

  const d = domain('ed.test', 'ed25519');
  const noK = get(await (await world(t, (z) => { z[`mta1._domainkey.${d.name}`] = { TXT: [`v=DKIM1; p=${d.dkimPublicKey}`] }; }, { d })).check(), 'dkim');
  t.match(noK, { status: 'mismatch', detail: /k=rsa but the key is ed25519/ }, 'k= defaults to rsa');

  const spaced = get(await (await world(t, (z) => { z[`mta1._domainkey.${d.name}`] = { TXT: [['v=DKIM1; k=ed25519; ', `p=${d.dkimPublicKey.slice(0, 20)} `, d.dkimPublicKey.slice(20)]] }; }, { d })).check(), 'dkim');
  t.equal(spaced.status, 'ok', 'strings joined, whitespace inside p= ignored');
});

t.test('DMARC: reject or quarantine while SPF or DKIM fails', async (t) => {
  const both = await (await world(t, (z, d) => {
    z[`_dmarc.${d.name}`] = { TXT: ['v=DMARC1; p=reject'] };
    z[d.name]!.TXT = ['v=spf1 -all'];
    delete z[`mta1._domainkey.${d.name}`];
  })).check();
  t.match(get(both, 'dmarc'), { status: 'mismatch', found: 'v=DMARC1; p=reject', detail: /neither SPF nor DKIM passes: mail would be rejected by receivers/ });

  const one = get(await (await world(t, (z, d) => { z[`_dmarc.${d.name}`] = { TXT: ['v=DMARC1; p=quarantine; pct=50'] }; z[d.name]!.TXT = ['v=spf1 -all']; })).check(), 'dmarc');
  t.match(one, { status: 'mismatch', detail: /p=quarantine while SPF is not ok: mail would be rejected by receivers/ });

  const fine = get(await (await world(t, (z, d) => { z[`_dmarc.${d.name}`] = { TXT: ['v=DMARC1; p=reject; pct=50'] }; })).check(), 'dmarc');
  t.match(fine, { status: 'ok', detail: 'policy p=reject, pct=50' });

  const order = get(await (await world(t, (z, d) => { z[`_dmarc.${d.name}`] = { TXT: ['p=none; v=DMARC1'] }; })).check(), 'dmarc');
  t.match(order, { status: 'mismatch', detail: /v=DMARC1 must be the first tag/ });

  const twice = get(await (await world(t, (z, d) => { z[`_dmarc.${d.name}`] = { TXT: ['v=DMARC1; p=none', 'v=DMARC1; p=reject'] }; })).check(), 'dmarc');
  t.match(twice, { status: 'mismatch', detail: /2 DMARC records/ });

  const sub = domain('news.parent.test');
  const inherited = get(await (await world(t, (z, d) => { delete z[`_dmarc.${d.name}`]; z['_dmarc.parent.test'] = { TXT: ['v=DMARC1; p=none; sp=quarantine'] }; }, { d: sub })).check(), 'dmarc');
  t.match(inherited, { status: 'ok', detail: 'policy p=quarantine (from _dmarc.parent.test)' }, 'a parent\'s record applies, with sp=');
});

t.test('PTR and hostname', async (t) => {
  const noPtr = await (await world(t, (z) => { delete z[PTR4]; })).check();
  t.match(get(noPtr, 'ptr'), { status: 'missing', found: `${IP} → (none)`, detail: /has no PTR/ });
  t.equal(noPtr.status, 'verified', 'PTR is advice, not part of verified');

  const wrongPtr = await (await world(t, (z) => { z[PTR4] = { PTR: ['static-10.isp.test'] }; })).check();
  t.match(get(wrongPtr, 'ptr'), { status: 'mismatch', found: `${IP} → static-10.isp.test`, detail: /does not name mta\.sender\.test/ });

  const unconfirmed = await (await world(t, (z) => { z[HOST] = { A: ['198.51.100.9'] }; })).check();
  t.match(get(unconfirmed, 'ptr'), { status: 'mismatch', detail: /not forward-confirmed: mta\.sender\.test does not resolve to 192\.0\.2\.10/ });
  t.equal(get(unconfirmed, 'hostname').status, 'ok');

  const noA = await world(t, (z) => { z[HOST] = { TXT: ['no address'] }; });
  const host = await checkHost(noA.ctx);
  t.match(get(host, 'hostname'), { status: 'missing', domain: HOST, expected: IP, detail: /has no A\/AAAA record/ });
  t.match(get(host, 'ptr'), { status: 'mismatch', detail: /not forward-confirmed/ });
  t.same(host.map((c) => c.name), ['hostname', 'ptr']);
});

t.test('overallStatus needs ownership, spf and dkim ok', async (t) => {
  const c = (name: DomainCheckName, status: DomainCheckRecord['status']): DomainCheckRecord =>
    ({ domain: 'x.test', name, status, expected: null, found: null, detail: null, checkedAt: 0 });
  t.equal(overallStatus([c('ownership', 'ok'), c('spf', 'ok'), c('dkim', 'ok'), c('dmarc', 'missing'), c('ptr', 'error')]), 'verified');
  t.equal(overallStatus([c('ownership', 'ok'), c('spf', 'ok'), c('dkim', 'error')]), 'unverified');
  t.equal(overallStatus([c('ownership', 'ok'), c('spf', 'ok')]), 'unverified');
});

// ---- records to publish ----------------------------------------------------------------

/** Reads back the zone-file lines zoneLines writes (one record per line, absolute names). */
function parseZoneLines(lines: string[]): Record<string, ZoneEntry> {
  const zone: Record<string, ZoneEntry> = {};
  for (const line of lines) {
    const m = /^(\S+)\.\t(\d+)\tIN\t(TXT|MX|CNAME)\t(.+)$/.exec(line);
    if (!m) throw new Error(`not a zone line: ${line}`);
    const [, owner, , type, rdata] = m as unknown as [string, string, string, string, string];
    const e = (zone[owner] ??= {});
    if (type === 'TXT') {
      const strings = [...rdata.matchAll(/"((?:[^"\\]|\\.)*)"/g)].map((x) => x[1]!.replace(/\\(.)/g, '$1'));
      for (const s of strings) if (Buffer.byteLength(s) > 255) throw new Error(`string over 255 bytes in ${line}`);
      (e.TXT ??= []).push(strings);
    } else if (type === 'MX') {
      const [pref, host] = rdata.split(/\s+/) as [string, string];
      if (!host.endsWith('.')) throw new Error(`relative MX target in ${line}`);
      (e.MX ??= []).push({ preference: Number(pref), exchange: host });
    } else {
      if (!rdata.endsWith('.')) throw new Error(`relative CNAME target in ${line}`);
      e.CNAME = rdata;
    }
  }
  return zone;
}

const hostZone: Record<string, ZoneEntry> = { [HOST]: { A: [IP] }, [PTR4]: { PTR: [HOST] }, [MX]: { A: [IP] } };

t.test('published records, as zone-file lines, verify', async (t) => {
  const d = { ...domain('fresh.test'), nextDkim: { selector: 'mta2', privateKey: ed.privateKeyPem, publicKey: ed.publicKeyDns } };
  const empty = await startDnsServer(hostZone);
  t.teardown(() => empty.close());
  const ctx: CheckContext = {
    dns: new DnsClient({ servers: [empty.server], timeoutMs: 5000, tries: 1 }), hostname: HOST, sendingIps: [IP, IP6],
    ownershipRecord: '_mta', mxHost: MX, dmarcRua: 'mailto:agg@sender.test', trackingHost: 'track', publicHost: PUBLIC,
  };
  const before = await checkDomain(d, ctx);
  t.equal(before.status, 'unverified');

  const recs = await recordsToPublish(d, ctx);
  t.same(recs.map((r) => [r.purpose, r.type, r.host]), [
    ['ownership', 'TXT', '_mta.fresh.test'], ['spf', 'TXT', 'fresh.test'], ['dkim', 'TXT', 'mta1._domainkey.fresh.test'],
    ['dkim', 'TXT', 'mta2._domainkey.fresh.test'], ['dmarc', 'TXT', '_dmarc.fresh.test'], ['mx', 'MX', 'fresh.test'],
    ['tracking', 'CNAME', 'track.fresh.test'],
  ]);
  t.equal(recs[1]!.value, `v=spf1 ip4:${IP} ip6:${IP6} ~all`);
  t.equal(recs[4]!.value, 'v=DMARC1; p=none; rua=mailto:agg@sender.test');
  t.match(recs[3]!, { value: `v=DKIM1; k=ed25519; p=${ed.publicKeyDns}`, note: /rotation/ });
  const lines = zoneLines(recs);
  t.match(lines[2], /^mta1\._domainkey\.fresh\.test\.\t3600\tIN\tTXT\t\( "v=DKIM1; k=rsa; p=[^"]{200,}" "[^"]+" \)$/);
  t.equal(lines[5], `fresh.test.\t3600\tIN\tMX\t10 ${MX}.`);
  t.equal(lines[6], `track.fresh.test.\t3600\tIN\tCNAME\t${PUBLIC}.`);

  const served = await startDnsServer({ ...hostZone, [PTR4]: { PTR: [HOST] }, ...parseZoneLines(lines) });
  t.teardown(() => served.close());
  const after = await checkDomain(d, { ...ctx, sendingIps: [IP], dns: new DnsClient({ servers: [served.server], timeoutMs: 5000, tries: 1 }) });
  t.same(statuses(after), { ownership: 'ok', spf: 'ok', dkim: 'ok', dmarc: 'ok', mx: 'ok', tracking: 'ok', hostname: 'ok', ptr: 'ok' });
  t.equal(after.status, 'verified');
  t.ok(await dkimPublished(d.name, 'mta2', ed.publicKeyDns, new DnsClient({ servers: [served.server], timeoutMs: 5000, tries: 1 })), 'the rotation key is visible');
  t.notOk(await dkimPublished(d.name, 'mta2', rsa.publicKeyDns, new DnsClient({ servers: [served.server], timeoutMs: 5000, tries: 1 })));
  t.notOk(await dkimPublished(d.name, 'mta3', ed.publicKeyDns, new DnsClient({ servers: [served.server], timeoutMs: 5000, tries: 1 })));
});

t.test('SPF merge: the existing record keeps its terms, one record, and passes for us', async (t) => {
  const d = domain('merge.test');
  const zone = {
    ...hostZone,
    [d.name]: { TXT: ['v=spf1 include:_spf.provider.test mx +all', 'other=txt'], MX: [{ preference: 10, exchange: 'in.provider.test' }] },
    '_spf.provider.test': { TXT: ['v=spf1 ip4:198.51.100.0/24 -all'] },
    'in.provider.test': { A: ['198.51.100.25'] },
    [`_dmarc.${d.name}`]: { TXT: ['v=DMARC1; p=quarantine; rua=mailto:r@merge.test'] },
  };
  const s1 = await startDnsServer(zone);
  t.teardown(() => s1.close());
  const ctx: CheckContext = { dns: new DnsClient({ servers: [s1.server], timeoutMs: 5000, tries: 1 }), hostname: HOST, sendingIps: [IP], ownershipRecord: '_mta', mxHost: MX };
  const recs = await recordsToPublish(d, ctx);
  const by = (p: string): PublishRecord => recs.find((r) => r.purpose === p)!;
  t.match(by('spf'), { value: `v=spf1 include:_spf.provider.test mx ip4:${IP} ~all`, note: /merged/ });
  t.match(by('dmarc'), { value: 'v=DMARC1; p=quarantine; rua=mailto:r@merge.test', note: /existing valid record: keep it/ });
  t.match(by('mx'), { note: /already receives mail at in\.provider\.test/ });
  t.notOk(recs.some((r) => r.purpose === 'tracking'), 'no tracking host configured');

  // The owner replaces the SPF record and adds the others.
  const served = parseZoneLines(zoneLines(recs.filter((r) => r.purpose !== 'mx')));
  const s2 = await startDnsServer({ ...zone, ...served, [d.name]: { ...zone[d.name], TXT: [...served[d.name]!.TXT!, 'other=txt'] } });
  t.teardown(() => s2.close());
  const r = await checkDomain(d, { ...ctx, dns: new DnsClient({ servers: [s2.server], timeoutMs: 5000, tries: 1 }) });
  t.equal(get(r, 'spf').status, 'ok', get(r, 'spf').detail ?? '');
  t.equal(get(r, 'spf').found, `v=spf1 include:_spf.provider.test mx ip4:${IP} ~all`, 'exactly one SPF record');
  t.equal(r.status, 'verified');
  t.equal(get(r, 'dmarc').status, 'ok');

  const asked = s1.queries.length;
  const offline = await recordsToPublish(d, ctx, { offline: true });
  t.equal(s1.queries.length, asked, 'offline asks nothing');
  t.equal(offline.find((x) => x.purpose === 'spf')!.value, `v=spf1 ip4:${IP} ~all`);
});

t.test('spfProposal', async (t) => {
  t.equal(spfProposal(undefined, [], HOST), `v=spf1 a:${HOST} ~all`);
  t.equal(spfProposal(undefined, [IP, IP6], HOST), `v=spf1 ip4:${IP} ip6:${IP6} ~all`);
  t.equal(spfProposal(`v=spf1 ip4:${IP} -all`, [IP], HOST), `v=spf1 ip4:${IP} -all`, 'nothing to add');
  t.equal(spfProposal('v=spf1 ip4:192.0.2.0/24 -all', [IP], HOST), 'v=spf1 ip4:192.0.2.0/24 -all', 'a range covers it');
  t.equal(spfProposal(`v=spf1 -ip4:${IP} mx -all`, [IP], HOST), `v=spf1 ip4:${IP} mx -all`, 'a term failing us becomes a pass');
  t.equal(spfProposal('v=spf1 mx all', [IP], HOST), `v=spf1 mx ip4:${IP} ~all`, 'a bare all is +all');
  t.equal(spfProposal('v=spf1 mx redirect=_spf.x.test', [IP], HOST), `v=spf1 mx ip4:${IP} redirect=_spf.x.test`, 'before the modifiers');
  t.equal(spfProposal(`v=spf1 A:${HOST.toUpperCase()} ~all`, [], HOST), `v=spf1 A:${HOST.toUpperCase()} ~all`);
});

t.test('accounts/domains keeps recordsFor and zoneLines', async (t) => {
  const d = domain('old.test');
  const recs = recordsFor(d, { ownershipRecord: '_mta', hostname: HOST });
  t.same(recs.map((r) => r.purpose), ['ownership', 'spf', 'dkim', 'dmarc', 'mx']);
  t.equal(recs[1]!.value, `v=spf1 a:${HOST} ~all`);
  t.equal(recs[4]!.value, `10 ${HOST}.`);
  t.same(accountsZoneLines(recs), zoneLines(recs));
  t.equal(zoneLines([{ type: 'TXT', host: 'q.test', value: 'say "hi" \\ bye' }])[0], 'q.test.\t3600\tIN\tTXT\t"say \\"hi\\" \\\\ bye"');
  const long = zoneLines([{ type: 'TXT', host: 'u.test', value: 'é'.repeat(200) }])[0]!;
  t.same(parseZoneLines([long])['u.test']!.TXT, [['é'.repeat(127), 'é'.repeat(73)]], 'split at 255 bytes, never inside a character');
});
