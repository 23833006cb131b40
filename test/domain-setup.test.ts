// Domain set-up as users meet it: `mta domain dns --zone` output loaded into a real DNS
// server, `mta domain check` turning a domain verified, a verified-only daemon refusing
// then accepting mail, re-checks that emit domain events, DKIM rotation, and `mta doctor`.
import t from 'tap';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startDaemon, tempDir, PASSWORD, type TestDaemon } from './helpers/daemon.js';
import { startDnsServer, type TestDnsServer, type ZoneEntry } from './helpers/dns-server.js';
import { runMta } from './helpers/run.js';
import { RawSmtp } from './helpers/smtp-client.js';
import { freePort } from './helpers/sink.js';

let dns: TestDnsServer;
let d: TestDaemon;
const dir = tempDir('mta-domain-');
let cfg: string;

t.before(async () => {
  dns = await startDnsServer({
    'mta.test': { A: ['127.0.0.1'] },
    '1.0.0.127.in-addr.arpa': { PTR: ['mta.test'] },
  });
  d = await startDaemon(`[delivery]\nenabled = false\nsending_ips = ["127.0.0.1"]\n[dns]\nservers = ["${dns.server}"]\n[domains]\nrequire_verified = true\ndmarc_rua = "mailto:dmarc@example.com"\n`);
  cfg = d.configPath;
});
t.teardown(async () => { await d.stop(); await dns.close(); rmSync(dir, { recursive: true, force: true }); });

const mta = (args: string): ReturnType<typeof runMta> => runMta([...args.split(' '), '--config', cfg]);

/** Loads the zone lines we print (name ttl IN type value) into the test DNS server. */
function loadZone(text: string): void {
  const zone = new Map<string, ZoneEntry>();
  for (const line of text.split('\n')) {
    const m = /^(\S+)\s+\d+\s+IN\s+(TXT|MX|CNAME|A)\s+(.+)$/.exec(line.trim());
    if (!m) continue;
    const name = m[1]!.replace(/\.$/, '');
    const e = zone.get(name) ?? {};
    const value = m[3]!;
    if (m[2] === 'TXT') (e.TXT ??= []).push([...value.matchAll(/"((?:[^"\\]|\\.)*)"/g)].map((x) => x[1]!.replace(/\\(.)/g, '$1')));
    if (m[2] === 'MX') { const [pref, host] = value.split(/\s+/); (e.MX ??= []).push({ preference: Number(pref), exchange: host!.replace(/\.$/, '') }); }
    if (m[2] === 'CNAME') e.CNAME = value.replace(/\.$/, '');
    zone.set(name, e);
  }
  for (const [name, e] of zone) dns.set(name, e);
}

async function mailFrom(): Promise<string> {
  const c = await RawSmtp.connect(d.port);
  await c.greet(); await c.ehlo();
  await c.authPlain('app@example.com', PASSWORD);
  const r = await c.cmd('MAIL FROM:<app@example.com>');
  await c.quit();
  return r.text;
}

t.test('an unpublished domain fails its checks and cannot send', async (t) => {
  const r = await mta('domain check example.com');
  t.equal(r.code, 1, 'exit 1 when not verified');
  t.match(r.out, /ownership\s+missing/);
  t.match(r.out, /dkim\s+missing/);
  t.match(r.out, /example\.com: unverified/);
  t.match(await mailFrom(), /^553 5\.7\.1 Domain not verified: example\.com: ownership missing, spf missing, dkim missing/);
});

t.test('publishing the zone lines makes it verified, and mail is accepted', async (t) => {
  const z = await mta('domain dns example.com --zone');
  t.equal(z.code, 0, z.err);
  t.match(z.out, /_dmarc\.example\.com\.\s+\d+\s+IN\s+TXT\s+"v=DMARC1; p=none; rua=mailto:dmarc@example\.com"/);
  t.match(z.out, /example\.com\.\s+\d+\s+IN\s+TXT\s+"v=spf1 ip4:127\.0\.0\.1/);
  loadZone(z.out);
  const r = await mta('domain check example.com --json');
  t.equal(r.code, 0, r.out + r.err);
  const res = JSON.parse(r.out) as { status: string; checks: { name: string; status: string }[] };
  t.equal(res.status, 'verified');
  for (const name of ['ownership', 'spf', 'dkim', 'dmarc', 'mx', 'ptr', 'hostname']) {
    t.equal(res.checks.find((c) => c.name === name)?.status, 'ok', `${name} ok`);
  }
  const list = JSON.parse((await mta('domain list --json')).out) as { domain: string; status: string }[];
  t.equal(list[0]!.status, 'verified');
  t.match(await mailFrom(), /^250 /);
});

t.test('the scheduled re-check records domain.dns_error when a verified domain breaks, domain.verified when fixed', async (t) => {
  const store = d.daemon.store;
  const dom = (await store.getDomain('example.com'))!;
  const key = `${dom.dkimSelector}._domainkey.example.com`;
  dns.remove(key);
  await d.daemon.verifier!.checkAll();
  t.equal((await store.getDomain('example.com'))!.status, 'unverified');
  t.match(await mailFrom(), /^553 5\.7\.1 Domain not verified: example\.com: dkim missing/);
  dns.set(key, { TXT: [`v=DKIM1; k=ed25519; p=${dom.dkimPublicKey}`] });
  await d.daemon.verifier!.checkAll();
  t.equal((await store.getDomain('example.com'))!.status, 'verified');
  const ev = await store.listDomainEvents({ domain: 'example.com' });
  t.same(ev.map((e) => e.type), ['domain.verified', 'domain.dns_error', 'domain.verified']);
  t.match(ev[1]!.detail, { failing: [{ check: 'dkim', status: 'missing' }] });
});

t.test('dkim-rotate keeps the old key until the new record is published', async (t) => {
  const store = d.daemon.store;
  const old = (await store.getDomain('example.com'))!.dkimSelector;
  const r = await mta('domain dkim-rotate example.com --selector next1');
  t.equal(r.code, 0, r.err);
  t.match(r.out, /next1\._domainkey\.example\.com\.\s+\d+\s+IN\s+TXT/);
  await d.daemon.verifier!.checkAll();
  t.equal((await store.getDomain('example.com'))!.dkimSelector, old, 'still the old key while the new record is absent');
  loadZone(r.out);
  const c = await mta('domain check example.com');
  t.equal(c.code, 0, c.out);
  t.match(c.out, new RegExp(`remove the old record ${old}\\._domainkey\\.example\\.com`));
  const now = (await store.getDomain('example.com'))!;
  t.equal(now.dkimSelector, 'next1');
  t.equal(now.nextDkim, null);
  t.equal(now.status, 'verified');
  t.ok((await store.listDomainEvents({ domain: 'example.com' })).some((e) => e.type === 'domain.dkim_rotated'));
});

t.test('mta doctor: a checklist with fixes, exit 1 when port 25 is blocked', async (t) => {
  const closed = await freePort();
  const r = await mta(`doctor --probe 127.0.0.1:${closed}`);
  t.equal(r.code, 1, r.out + r.err);
  t.match(r.out, /\[ ok \] configuration/);
  t.match(r.out, /\[ ok \] daemon: running/);
  t.match(r.out, /\[ ok \] PTR \(reverse DNS\)/);
  t.match(r.out, /\[FAIL\] outbound port 25: cannot reach 127\.0\.0\.1:\d+/);
  t.match(r.out, /fix: many VPS providers block outgoing port 25.*smarthost/);
  t.match(r.out, /\[ ok \] domain example\.com: verified/);
  const j = await mta(`doctor --probe 127.0.0.1:${closed} --json`);
  const items = (JSON.parse(j.out) as { ok: boolean; items: { check: string; verdict: string }[] });
  t.equal(items.ok, false);
  t.equal(items.items.find((i) => i.check === 'outbound port 25')?.verdict, 'fail');
});

t.test('a bad check_schedule is a configuration error with its key', async (t) => {
  const bad = join(dir, 'bad.toml');
  writeFileSync(bad, '[domains]\ncheck_schedule = "every hour"\n');
  const r = await runMta(['config', 'check', '--config', bad]);
  t.equal(r.code, 78);
  t.match(r.err, /bad\.toml:2: domains\.check_schedule: must be a cron expression/);
});
