// Our own side of MTA-STS and TLS-RPT: the public listener serves the bounce domains' policy
// for Host mta-sts.<bounce>.<domain> (a real daemon, real HTTP), the text parses as a policy
// our delivery side accepts, and the DNS proposals carry the _mta-sts, mta-sts and _smtp._tls records.
import t from 'tap';
import http from 'node:http';
import { parsePolicy } from 'mailauth/lib/mta-sts.js';
import { startDaemon, type TestDaemon } from './helpers/daemon.js';
import { recordsToPublish, zoneLines } from '../src/dns/records.js';
import { checkContext } from '../src/accounts/verification.js';
import { ourPolicyId, ourPolicyText, policyForHost } from '../src/public/mta-sts-policy.js';
import { compileConfig, ConfigError } from '../src/config/config.js';

let d: TestDaemon;
let pub: number;

t.before(async () => {
  d = await startDaemon(
    '[public]\nlisten = "127.0.0.1:0"\nbase_url = "https://links.example.com"\n[inbound]\nlisten = ["127.0.0.1:0"]\n' +
    '[domains]\nrequire_verified = false\n[domains.mta_sts]\nenabled = true\nmode = "enforce"\nmax_age = "1d"\nmx = ["mx1.example.net", "MX2.example.net"]\ntls_rpt_rua = "mailto:tls@example.com"\n',
    { domains: ['example.com'] },
  );
  pub = d.daemon.publicServer!.port;
});
t.teardown(() => d?.stop());

function get(host: string, path = '/.well-known/mta-sts.txt', method = 'GET'): Promise<{ status: number; type: string; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port: pub, path, method, headers: { host } }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => { body += c; });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, type: String(res.headers['content-type']), body }));
    });
    req.on('error', reject);
    req.end();
  });
}

t.test('the policy is served for mta-sts.<bounce domain> of our domains, as text/plain our delivery side parses', async (t) => {
  const r = await get('mta-sts.bounce.example.com');
  t.equal(r.status, 200);
  t.match(r.type, /^text\/plain/);
  t.equal(r.body, 'version: STSv1\r\nmode: enforce\r\nmx: mx1.example.net\r\nmx: mx2.example.net\r\nmax_age: 86400\r\n');
  const parsed = parsePolicy(r.body) as { mode: string; mx: string[]; maxAge: number };
  t.same([parsed.mode, parsed.mx, parsed.maxAge], ['enforce', ['mx1.example.net', 'mx2.example.net'], 86400]);
  t.equal((await get('MTA-STS.Bounce.Example.com:443')).status, 200, 'host names are case-insensitive, a port is ignored');
  t.equal((await get('mta-sts.bounce.example.com', undefined, 'HEAD')).status, 200);
});

t.test('nothing is served for other hosts, domains that are not ours, or other paths', async (t) => {
  t.equal((await get('mta-sts.bounce.unknown.test')).status, 404);
  t.equal((await get('mta-sts.example.com')).status, 404, 'the bounce domain only, not the domain itself');
  t.equal((await get('links.example.com')).status, 404);
  t.equal((await get('mta-sts.bounce.example.com', '/.well-known/other.txt')).status, 404);
  const off = { domains: { ...d.daemon.config.domains, mtaSts: { ...d.daemon.config.domains.mtaSts, enabled: false } } };
  t.equal(await policyForHost('mta-sts.bounce.example.com', off, d.daemon.store), undefined, 'not when disabled');
});

t.test('the DNS proposals carry the _mta-sts, mta-sts and _smtp._tls records of the bounce domain', async (t) => {
  const dom = (await d.daemon.store.getDomain('example.com'))!;
  const recs = await recordsToPublish(dom, checkContext(d.daemon.config, d.daemon.dns), { offline: true });
  const p = d.daemon.config.domains.mtaSts;
  t.match(recs.filter((r) => r.purpose === 'mta-sts' || r.purpose === 'tls-rpt'), [
    { type: 'TXT', host: '_mta-sts.bounce.example.com', value: `v=STSv1; id=${ourPolicyId(p)}`, purpose: 'mta-sts' },
    { type: 'CNAME', host: 'mta-sts.bounce.example.com', value: 'links.example.com.', purpose: 'mta-sts', note: /certificate for mta-sts\.bounce\.example\.com/ },
    { type: 'TXT', host: '_smtp._tls.bounce.example.com', value: 'v=TLSRPTv1; rua=mailto:tls@example.com', purpose: 'tls-rpt' },
  ]);
  t.match(zoneLines(recs).join('\n'), /^_mta-sts\.bounce\.example\.com\.\t3600\tIN\tTXT\t"v=STSv1; id=[0-9a-f]{20}"$/m);
  // The id follows the policy: another mode, another id.
  t.not(ourPolicyId({ ...p, mode: 'testing' }), ourPolicyId(p));
  t.equal(ourPolicyText({ ...p, mode: 'none' }).split('\r\n')[1], 'mode: none');
  const off = checkContext({ ...d.daemon.config, domains: { ...d.daemon.config.domains, mtaSts: { ...p, enabled: false } } }, d.daemon.dns);
  t.same((await recordsToPublish(dom, off, { offline: true })).filter((r) => r.purpose === 'mta-sts' || r.purpose === 'tls-rpt'), [], 'none when disabled');
});

t.test('config: max_age within RFC 8461 bounds, rua a mailto or https URL, mx host names', async (t) => {
  const base = 'hostname = "mta.example.com"\n[[smtp.listen]]\naddress = "127.0.0.1:2587"\ntls = "none"\n[domains.mta_sts]\nenabled = true\n';
  const problems = (extra: string): string => { try { compileConfig(base + extra, 'x.toml'); } catch (e) { if (e instanceof ConfigError) return e.message; throw e; } return ''; };
  t.match(problems('max_age = "2y"\n'), /domains\.mta_sts\.max_age: must be between 1s and 1 year/);
  t.match(problems('tls_rpt_rua = "http://x.test/r"\n'), /domains\.mta_sts\.tls_rpt_rua: must be "mailto:address" or an https URL/);
  t.match(problems('mx = ["not a host"]\n'), /domains\.mta_sts\.mx\[0\]: must be a host name/);
  t.match(problems('mode = "strict"\n'), /domains\.mta_sts\.mode/);
  t.same(compileConfig(base, 'x.toml').domains.mtaSts, { enabled: true, mode: 'testing', maxAgeS: 604800, mx: ['mta.example.com'] }, 'defaults: testing, 7 days, mx_host');
});
