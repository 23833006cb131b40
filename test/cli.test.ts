// The mta CLI as users type it: domains, senders, suppression, queue; errors are one
// line on stderr with a non-zero exit, and bad input changes nothing.
import t from 'tap';
import { writeFileSync, rmSync, chmodSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { tempDir } from './helpers/daemon.js';
import { runMta } from './helpers/run.js';

const dir = tempDir('mta-cli-');
const cfg = join(dir, 'mta.toml');
writeFileSync(cfg, `hostname = "mta.test"\ndata_dir = "${join(dir, 'data')}"\n[[smtp.listen]]\naddress = "127.0.0.1:0"\ntls = "none"\n`);
t.teardown(() => rmSync(dir, { recursive: true, force: true }));
const mta = (args: string, stdin?: string): ReturnType<typeof runMta> => runMta([...args.split(' '), '--config', cfg], stdin);

t.test('domain add prints the records; list/show with --json', async (t) => {
  const r = await mta('domain add Example.COM --dkim ed25519 --selector s1');
  t.equal(r.code, 0, r.err);
  t.match(r.out, /s1\._domainkey\.example\.com\.\s+3600\s+IN\s+TXT\s+"v=DKIM1; k=ed25519; p=/);
  t.match(r.out, /_mta\.example\.com\.\s+3600\s+IN\s+TXT\s+"mta-verification=[0-9a-f]{32}"/);
  const rsa = await mta('domain add rsa.example.net');
  t.equal(rsa.code, 0, rsa.err);
  t.match(rsa.out, /k=rsa; p=MII/, 'RSA-2048 by default');
  t.match(rsa.out, /\( "v=DKIM1; k=rsa; p=[^"]{200,255}" "[^"]+" \)/, 'long TXT split into 255-byte strings');
  const dup = await mta('domain add example.com');
  t.equal(dup.code, 1); t.match(dup.err, /^mta: domain example\.com exists already \(MTA_ERR_EXISTS\)\n$/);
  const bad = await mta('domain add not_a_domain');
  t.equal(bad.code, 1); t.match(bad.err, /not a valid domain name/);
  const badAlg = await mta('domain add x.example.com --dkim dsa');
  t.not(badAlg.code, 0); t.match(badAlg.err, /dsa.*invalid|Allowed choices/i);
  const list = await mta('domain list --json');
  const rows = JSON.parse(list.out) as { domain: string; status: string }[];
  t.same(rows.map((x) => x.domain), ['example.com', 'rsa.example.net']);
  const show = await mta('domain show example.com --json');
  t.equal((JSON.parse(show.out) as { dkim_selector: string }).dkim_selector, 's1');
  t.notMatch(show.out, /PRIVATE KEY/, 'private key never printed');
});

t.test('sender add/list/passwd/remove', async (t) => {
  // A reply-to is verified through a link to the public endpoint: without one, refused, nothing added.
  const noBase = await mta('sender add App@Example.com --type batch --reply-to help@example.com --password-stdin', 'a good password\n');
  t.equal(noBase.code, 1); t.match(noBase.err, /public\.base_url is not set.*\(MTA_ERR_STATE\)/);
  const r = await mta('sender add App@Example.com --type batch --password-stdin', 'a good password\n');
  t.equal(r.code, 0, r.err);
  t.match(r.out, /added app@example\.com \(batch, SMTP enabled\)/);
  const noDomain = await mta('sender add a@unknown.test', undefined);
  t.equal(noDomain.code, 1); t.match(noDomain.err, /unknown\.test is not a sending domain/);
  const short = await mta('sender add b@example.com --password-stdin', 'short');
  t.equal(short.code, 1); t.match(short.err, /at least 8 characters/);
  const badType = await mta('sender add c@example.com --type bulk');
  t.not(badType.code, 0);
  const list = JSON.parse((await mta('sender list --json')).out) as { address: string; type: string; reply_to: string | null; reply_to_state: string; smtp: string }[];
  t.same(list, [{ ...list[0]!, address: 'app@example.com', type: 'batch', reply_to: null, reply_to_state: 'none', smtp: 'enabled' }]);
  t.equal(list.length, 1, 'refused adds changed nothing');
  t.equal((await mta('sender passwd app@example.com', 'another good one')).code, 0);
  t.equal((await mta('sender passwd nobody@example.com', 'another good one')).code, 1);
  const rmDomain = await mta('domain remove example.com');
  t.equal(rmDomain.code, 1); t.match(rmDomain.err, /still has 1 sender address/);
  t.equal((await mta('sender remove app@example.com')).code, 0);
  t.equal((await mta('domain remove example.com')).code, 0);
});

t.test('suppression add/list/remove', async (t) => {
  t.equal((await mta('suppression add Gone@Dest.test --reason unknown-user')).code, 0);
  const again = await mta('suppression add gone@dest.test');
  t.match(again.out, /already suppressed/);
  const bad = await mta('suppression add not-an-address');
  t.equal(bad.code, 1);
  const list = JSON.parse((await mta('suppression list --json')).out) as { address: string; reason: string; source: string }[];
  t.same(list.map((x) => [x.address, x.reason, x.source]), [['gone@dest.test', 'unknown-user', 'manual']]);
  t.match((await mta('suppression list')).out, /ADDRESS\s+SCOPE\s+SOURCE\s+REASON\s+ADDED\ngone@dest\.test\s+\(all\)\s+manual/);
  t.equal((await mta('suppression remove gone@dest.test')).code, 0);
  const gone = await mta('suppression remove gone@dest.test');
  t.equal(gone.code, 1); t.match(gone.err, /not on the suppression list/);
});

t.test('queue list/show validate their input', async (t) => {
  t.match((await mta('queue list')).out, /the queue is empty/);
  t.same(JSON.parse((await mta('queue list --json')).out), { items: [], total: 0, truncated: false });
  const st = await mta('queue list --state nonsense');
  t.equal(st.code, 1); t.match(st.err, /--state must be one of/);
  const id = await mta('queue show ../../etc/passwd');
  t.equal(id.code, 1); t.match(id.err, /is not a queue id/);
  const none = await mta('queue show 01M8337DMG00AB2ATA');
  t.equal(none.code, 1); t.match(none.err, /no message/);
});

t.test('a data dir that is not writable is a clear error', async (t) => {
  if (process.getuid?.() === 0) {
    // root ignores permissions: use a path under a regular file instead
    const f = join(dir, 'file');
    writeFileSync(f, 'x');
    writeFileSync(join(dir, 'ro.toml'), `data_dir = "${join(f, 'data')}"\n[[smtp.listen]]\naddress = "127.0.0.1:0"\ntls = "none"\n`);
  } else {
    mkdirSync(join(dir, 'ro'));
    chmodSync(join(dir, 'ro'), 0o500);
    writeFileSync(join(dir, 'ro.toml'), `data_dir = "${join(dir, 'ro', 'data')}"\n[[smtp.listen]]\naddress = "127.0.0.1:0"\ntls = "none"\n`);
  }
  const r = await runMta(['domain', 'list', '--config', join(dir, 'ro.toml')]);
  t.equal(r.code, 1);
  t.match(r.err, /data_dir .* (cannot be created|is not writable|is not a directory).*MTA_ERR_DATA_DIR/);
});

t.test('--help reads like a manual', async (t) => {
  const r = await runMta(['sender', 'add', '--help']);
  t.equal(r.code, 0);
  t.match(r.out, /--type <type>\s+trigger \(transactional, sent first\) or batch/);
  t.match(r.out, /--password-stdin/);
  t.match(r.out, /--config <file>/);
});

t.test('usage errors at any depth: one `mta:` line, the hint, exit 1', async (t) => {
  for (const args of [['domain', 'add'], ['sender', 'add', 'x@example.com', '--type'], ['list', 'show', 'l', '--no-such-flag'], ['nonsense']]) {
    const r = await runMta(args);
    t.equal(r.code, 1, `${args.join(' ')}: exit 1`);
    t.match(r.err, /^mta: (missing required argument|option .* argument missing|unknown option|unknown command)/, `${args.join(' ')}: ${r.err.split('\n')[0]}`);
    t.notMatch(r.err, /^error:/m, 'no bare commander prefix');
    t.match(r.err, /\(run with --help for usage\)/);
  }
});

t.test('output into a pipe whose reader has gone (mta ... | head) ends quietly, exit 0', async (t) => {
  const { spawnSync } = await import('node:child_process');
  // `| true`: the reader exits before mta (a Node start-up later) writes anything, so every
  // write meets a closed pipe. Before the fix: an unhandled EPIPE stack trace and exit 1.
  const bin = join(process.cwd(), 'bin', 'mta');
  const r = spawnSync('bash', ['-c', `"${process.execPath}" "${bin}" --help | true; echo "status=\${PIPESTATUS[0]}" >&2`], { encoding: 'utf8' });
  t.notMatch(r.stderr, /EPIPE|Unhandled/, 'no stack trace');
  t.match(r.stderr, /status=0\n$/, 'exit 0');
});
