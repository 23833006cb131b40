// `mta doctor` as a new operator meets it (issue 15.12): the port-25 probe resolves with
// `[dns] servers` and names a DNS failure as DNS (not a blocked port); a plaintext listener
// on the network, AUTH in clear text, an admin listener on the network, an empty admin token,
// a self-signed certificate and mail deferred for days are each flagged with a fix, and never
// end in "all good".
import t from 'tap';
import { execFileSync } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir } from './helpers/daemon.js';
import { startDnsServer, type TestDnsServer } from './helpers/dns-server.js';
import { runMta } from './helpers/run.js';
import { freePort } from './helpers/sink.js';
import { openTestStore } from './helpers/store.js';
import { newQueueId } from '../src/util/ids.js';
import { compileConfig } from '../src/config/config.js';
import { postureItems } from '../src/cli/doctor-checks.js';

interface Item { check: string; verdict: string; detail: string; fix?: string }

let dns: TestDnsServer;
const dir = tempDir('mta-doctor-');
const cfg = join(dir, 'mta.toml');
const DAY = 86_400_000;

t.before(async () => {
  dns = await startDnsServer({ 'probe.test': { A: ['127.0.0.1'] }, 'mta.test': { A: ['127.0.0.1'] } });
  const cert = join(dir, 'self.crt');
  const key = join(dir, 'self.key');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '365', '-subj', '/CN=mta.test',
    '-addext', 'subjectAltName=DNS:mta.test'], { stdio: 'ignore' });
  writeFileSync(cfg, [
    'hostname = "mta.test"', `data_dir = "${join(dir, 'data')}"`, '[log]', 'level = "silent"',
    '[[smtp.listen]]', 'address = "0.0.0.0:0"', 'tls = "none"',
    '[[smtp.listen]]', 'address = "127.0.0.1:0"', 'tls = "starttls"',
    '[smtp]', 'allow_insecure_auth = true', '[smtp.tls]', `cert = "${cert}"`, `key = "${key}"`,
    '[admin]', 'listen = "127.0.0.1:1"', '[dns]', `servers = ["${dns.server}"]`, '',
  ].join('\n'));
  // A recipient deferred for two days, as a stuck queue looks.
  const store = openTestStore(join(dir, 'data'));
  const id = newQueueId(Date.now() - 2 * DAY);
  const body = Buffer.from('Subject: x\r\n\r\nx\r\n');
  await store.commitIncoming({
    id, receivedAt: Date.now() - 2 * DAY, sender: 'app@example.com', authUser: 'app@example.com', clientIp: null, helo: null, messageId: `<${id}@x>`,
    subject: 'x', size: body.length, lane: 'batch', tag: null, chunks: [body], recipients: ['x@slow.test'],
  });
  const [r] = await store.claimDue({ now: Date.now(), limit: 1 });
  await store.recordOutcomes([{ recipientId: r!.recipientId, queueId: id, kind: 'deferred', at: Date.now(), nextAttemptAt: Date.now() + DAY, reply: '421 4.7.0 try again later', attempted: true, detail: {} }]);
  await store.close();
});
t.teardown(async () => { await dns.close(); rmSync(dir, { recursive: true, force: true }); });

async function doctor(probe: string, opts: { text?: boolean } = {}): Promise<{ code: number | null; items: Item[]; text: string }> {
  const j = await runMta(['doctor', '--probe', probe, '--json', '--config', cfg]);
  const r = opts.text ? await runMta(['doctor', '--probe', probe, '--config', cfg]) : j;
  return { code: r.code, items: (JSON.parse(j.out) as { items: Item[] }).items, text: r.out };
}
const item = (items: Item[], check: string): Item | undefined => items.find((i) => i.check === check);

t.test('a probe name the configured resolver cannot find is a DNS failure, not a blocked port', async (t) => {
  const r = await doctor('mx.missing.test:25');
  const p = item(r.items, 'outbound port 25')!;
  t.equal(p.verdict, 'fail');
  t.match(p.detail, `DNS: [dns] servers ${dns.server} finds no address for mx.missing.test (NXDOMAIN)`);
  t.match(p.fix, /this is DNS, not port 25/);
  t.notMatch(p.fix, /VPS/, 'the VPS provider is not blamed');
});

t.test('a probe the configured resolver finds but that does not answer is a blocked port', async (t) => {
  const closed = await freePort();
  const r = await doctor(`probe.test:${closed}`);
  const p = item(r.items, 'outbound port 25')!;
  t.equal(p.verdict, 'fail');
  t.match(p.detail, `cannot reach probe.test:${closed} (127.0.0.1)`, 'resolved through [dns] servers (the system resolver does not know probe.test)');
  t.match(p.fix, /VPS providers block outgoing port 25/);
});

t.test('plaintext listener, insecure AUTH, no admin token, self-signed certificate and old deferred mail are flagged', async (t) => {
  const r = await doctor('127.0.0.1:1', { text: true });
  t.equal(r.code, 1);
  t.match(item(r.items, 'plaintext listener 0.0.0.0:0'), { verdict: 'fail', detail: /unencrypted/, fix: /starttls/ });
  t.match(item(r.items, 'insecure AUTH'), { verdict: 'fail', detail: /allow_insecure_auth = true.*0\.0\.0\.0:0 is plaintext on the network/, fix: /allow_insecure_auth = false/ });
  t.match(item(r.items, 'admin token'), { verdict: 'warn', detail: /admin\.token is empty: whoever reaches 127\.0\.0\.1:1 controls the server/, fix: /openssl rand/ });
  t.match(item(r.items, 'TLS certificate'), { verdict: 'fail', detail: /self-signed/, fix: /certificate from a CA/ });
  t.match(item(r.items, 'queue'), { verdict: 'fail', detail: /1 recipient deferred for over an hour \(oldest 2 days, .*slow\.test 1\); last reply: 421 4\.7\.0 try again later/, fix: /mta queue show/ });
  t.match(r.text, /\[FAIL\] plaintext listener 0\.0\.0\.0:0/);
  t.notOk(r.items.some((i) => i.check.startsWith('admin listener')), 'an admin listener on loopback is not flagged');
  t.match(r.text, /\n\d+ problems found, \d+ warnings?\n$/);
  t.notMatch(r.text, /all good/);
});

t.test('an admin listener other machines reach is a failure with the SSH tunnel as its fix', async (t) => {
  const posture = (listen: string): Item[] => postureItems(compileConfig(`hostname = "mta.test"\ndata_dir = "${join(dir, 'data')}"\n[[smtp.listen]]\naddress = "127.0.0.1:0"\ntls = "none"\n[admin]\nlisten = "${listen}"\ntoken = "x"\n`, 'test.toml'));
  t.match(item(posture('0.0.0.0:8025'), 'admin listener 0.0.0.0:8025'), { verdict: 'fail', detail: /plain HTTP.*unencrypted/, fix: /ssh -L 8025:127\.0\.0\.1:8025 HOST/ });
  t.notOk(posture('127.0.0.1:8025').some((i) => i.check.startsWith('admin listener')));
  t.notOk(posture('[::1]:8025').some((i) => i.check.startsWith('admin listener')));
});
