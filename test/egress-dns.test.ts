// The DNS checker with egress sources, against the in-process DNS server: SPF must pass for
// every source of the pools a sending domain can use (its rules' pools and the default
// pool), and each source's PTR must name its own HELO name and resolve back (FCrDNS).
// Every DnsClient here points at a test server on 127.0.0.1; nothing leaves loopback.
import t from 'tap';
import { DnsClient } from '../src/dns/client.js';
import { generateDkimKey } from '../src/accounts/domains.js';
import { checkDomain, checkHost } from '../src/dns/checker.js';
import { checkContext } from '../src/accounts/verification.js';
import { compileConfig } from '../src/config/config.js';
import type { DomainCheckRecord, DomainRecord } from '../src/spool/types-domains.js';
import { startDnsServer, type ZoneEntry } from './helpers/dns-server.js';

const A = '192.0.2.21';
const B = '192.0.2.22';
const PTR_A = '21.2.0.192.in-addr.arpa';
const PTR_B = '22.2.0.192.in-addr.arpa';
const key = generateDkimKey('ed25519');

function domain(name: string): DomainRecord {
  return {
    name, dkimSelector: 'mta1', dkimAlgorithm: 'ed25519', dkimPrivateKey: key.privateKeyPem, dkimPublicKey: key.publicKeyDns,
    ownershipToken: `token-${name}`, status: 'unverified', createdAt: 0,
  };
}

// good.test may use pool "p2" (its rule) and "p1" (the default); other.test only "p1".
const config = compileConfig(`hostname = "mta.sender.test"
[[smtp.listen]]
address = "127.0.0.1:0"
tls = "none"
[egress]
default_pool = "p1"
[[egress.source]]
name = "a"
address = "${A}"
helo = "a.sender.test"
[[egress.source]]
name = "b"
address = "${B}"
helo = "b.sender.test"
node = "another-node"
[[egress.pool]]
name = "p1"
sources = [{ source = "a" }]
[[egress.pool]]
name = "p2"
sources = [{ source = "b" }]
[[egress.rule]]
pool = "p2"
sending_domains = ["good.test"]
`, 'test.toml');

function zone(edit: (z: Record<string, ZoneEntry>) => void = () => {}): Record<string, ZoneEntry> {
  const z: Record<string, ZoneEntry> = {
    'good.test': { TXT: [`v=spf1 ip4:${A} ip4:${B} -all`] },
    'other.test': { TXT: [`v=spf1 ip4:${A} -all`] },
    'a.sender.test': { A: [A] },
    'b.sender.test': { A: [B] },
    [PTR_A]: { PTR: ['a.sender.test'] },
    [PTR_B]: { PTR: ['b.sender.test'] },
  };
  edit(z);
  return z;
}

async function check(tt: { teardown(fn: () => unknown): void }, name: string, edit?: (z: Record<string, ZoneEntry>) => void): Promise<Record<string, DomainCheckRecord>> {
  const server = await startDnsServer(zone(edit));
  tt.teardown(() => server.close());
  const ctx = checkContext(config, new DnsClient({ servers: [server.server], timeoutMs: 5000, tries: 1 }));
  const r = await checkDomain(domain(name), ctx);
  return Object.fromEntries(r.checks.map((c) => [c.name, c]));
}

t.test('SPF is evaluated for every source of the pools the domain can use', async (t) => {
  const good = await check(t, 'good.test');
  t.match(good['spf'], { status: 'ok', detail: `pass for ${A}, ${B}` }, 'both pools\' sources (another node\'s too) pass');
  const other = await check(t, 'other.test');
  t.match(other['spf'], { status: 'ok', detail: `pass for ${A}` }, 'other.test can only use the default pool');
  const missingB = await check(t, 'good.test', (z) => { z['good.test'] = { TXT: [`v=spf1 ip4:${A} -all`] }; });
  t.match(missingB['spf'], { status: 'mismatch', detail: new RegExp(`fail for ${B.replace(/\./g, '\\.')}`) });
  t.match(missingB['spf']!.expected, new RegExp(`ip4:${B.replace(/\./g, '\\.')}`), 'the proposal lists the missing source');
});

t.test('each source\'s PTR must name its HELO name and resolve back', async (t) => {
  const good = await check(t, 'good.test');
  t.match(good['ptr'], { status: 'ok', expected: `${A} → a.sender.test, ${B} → b.sender.test` });
  const wrongName = await check(t, 'good.test', (z) => { z[PTR_B] = { PTR: ['mta.sender.test'] }; });
  t.match(wrongName['ptr'], { status: 'mismatch', detail: /the PTR of 192\.0\.2\.22 does not name b\.sender\.test/ });
  const notBack = await check(t, 'good.test', (z) => { z['a.sender.test'] = { A: ['198.51.100.9'] }; });
  t.match(notBack['ptr'], { status: 'mismatch', detail: /not forward-confirmed: a\.sender\.test does not resolve to 192\.0\.2\.21/ });
  // The server-wide check (mta doctor) looks at every source.
  const server = await startDnsServer(zone((z) => { delete z[PTR_A]; }));
  t.teardown(() => server.close());
  const host = await checkHost(checkContext(config, new DnsClient({ servers: [server.server], timeoutMs: 5000, tries: 1 })));
  t.match(host.find((c) => c.name === 'ptr'), { status: 'missing', detail: /192\.0\.2\.21 has no PTR: ask its provider to set it to a\.sender\.test/ });
});
