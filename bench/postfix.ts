/**
 * bench/postfix — what the benchmark needs from Postfix: the Debian package (for smtp-sink
 * and, with --compare postfix, Postfix itself), and a private Postfix instance configured
 * as a plain relay to the sink. The instance lives in a temp dir with its own
 * config_directory and queue_directory and listens on a loopback port; the system's
 * /etc/postfix is never used, and no system instance is started.
 *
 * Postfix writes diagnostics to syslog unless stderr is a terminal; the commands here are
 * run under script(1) so a failure prints its reason.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** Installs Debian's postfix package when smtp-sink or postfix is missing. */
export function ensurePostfixPackage(log: (s: string) => void): void {
  const have = (cmd: string): boolean => spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;
  if (have('smtp-sink') && have('smtp-source') && existsSync('/usr/sbin/postfix')) return;
  if (process.getuid?.() !== 0) throw new Error('smtp-sink is missing and installing postfix needs root: run "apt-get install -y postfix" first');
  log('installing Debian package postfix (smtp-sink, smtp-source, postfix) ...');
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  // "No configuration": the package must not set up or start a system mail server.
  execFileSync('sh', ['-c', 'echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections'], { env, stdio: 'ignore' });
  execFileSync('apt-get', ['update'], { env, stdio: 'ignore' });
  execFileSync('apt-get', ['install', '-y', '--no-install-recommends', 'postfix'], { env, stdio: 'ignore' });
  if (!have('smtp-sink')) throw new Error('apt-get install postfix did not provide smtp-sink');
}

export interface PostfixInstance {
  dir: string;
  port: number;
  /** pids of the master and all its children, now */
  pids(): number[];
  /** messages not yet delivered or bounced (files in its queues) */
  queued(): number;
  stop(): void;
}

const SERVICES = `
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
smtp      unix  -       -       n       -       -       smtp
relay     unix  -       -       n       -       -       smtp
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
`;

function postfixCmd(dir: string, args: string): { ok: boolean; out: string } {
  const r = spawnSync('script', ['-qec', `postfix -c ${join(dir, 'etc')} ${args}`, '/dev/null'], { encoding: 'utf8' });
  return { ok: r.status === 0, out: `${r.stdout ?? ''}${r.stderr ?? ''}`.trim() };
}

/**
 * A Postfix relay on 127.0.0.1:`port` that sends everything to [sinkHost]:sinkPort.
 * Stock settings apart from what a loopback relay needs (no TLS, no local delivery, no DNS
 * for the relay host) and, when `fastRetry`, short backoff times so a benchmark's retries
 * happen within the run (as ours are configured for scenario d). With `milter`, every
 * message passes that milter (OpenDKIM, bench/opendkim.ts) before it is queued; a milter
 * that does not answer makes Postfix refuse with 4xx rather than pass mail unsigned.
 */
export function startPostfix(dir: string, port: number, sinkHost: string, sinkPort: number, opts: { fastRetry?: boolean; milter?: string } = {}): PostfixInstance {
  for (const d of ['etc', 'queue', 'data']) mkdirSync(join(dir, d), { recursive: true });
  chmodSync(dir, 0o755);
  chownSync(join(dir, 'data'), uidOf('postfix'), gidOf('postfix'));
  const main = [
    'compatibility_level = 3.6',
    `queue_directory = ${join(dir, 'queue')}`,
    `data_directory = ${join(dir, 'data')}`,
    'command_directory = /usr/sbin',
    'daemon_directory = /usr/lib/postfix/sbin',
    'shlib_directory = /usr/lib/postfix',
    'meta_directory = /etc/postfix',
    'mail_owner = postfix',
    'setgid_group = postdrop',
    'myhostname = postfix.bench.test',
    'mydomain = bench.test',
    'mydestination =',
    'inet_interfaces = 127.0.0.1',
    'inet_protocols = ipv4',
    'mynetworks = 127.0.0.0/8',
    'smtpd_relay_restrictions = permit_mynetworks, reject',
    `relayhost = [${sinkHost}]:${sinkPort}`,
    'smtp_tls_security_level = none',
    'smtpd_tls_security_level = none',
    'local_transport = error:local delivery is disabled',
    'alias_maps =',
    'alias_database =',
    'biff = no',
    // Big enough for scenario (c): one message to 1,000 recipients.
    'smtpd_recipient_limit = 2000',
    `maillog_file = ${join(dir, 'maillog')}`,
    `maillog_file_prefixes = ${dir}`,
    ...(opts.fastRetry ? ['queue_run_delay = 1s', 'minimal_backoff_time = 2s', 'maximal_backoff_time = 5s'] : []),
    ...(opts.milter ? [`smtpd_milters = ${opts.milter}`, 'non_smtpd_milters = $smtpd_milters', 'milter_default_action = tempfail'] : []),
  ].join('\n');
  writeFileSync(join(dir, 'etc', 'main.cf'), `${main}\n`);
  writeFileSync(join(dir, 'etc', 'master.cf'), `127.0.0.1:${port} inet n - n - - smtpd\n${SERVICES}`);
  const check = postfixCmd(dir, 'check');
  if (!check.ok) throw new Error(`postfix check failed: ${check.out}`);
  const start = postfixCmd(dir, 'start');
  if (!start.ok) throw new Error(`postfix start failed: ${start.out}\n${tail(join(dir, 'maillog'))}`);
  const masterPid = (): number | undefined => {
    try { return Number(readFileSync(join(dir, 'queue', 'pid', 'master.pid'), 'utf8').trim()) || undefined; } catch { return undefined; }
  };
  return {
    dir, port,
    pids: () => {
      const master = masterPid();
      return master ? [master, ...childrenOf(master)] : [];
    },
    queued: () => ['incoming', 'active', 'deferred', 'hold', 'maildrop'].reduce((n, q) => n + countFiles(join(dir, 'queue', q)), 0),
    stop: () => { postfixCmd(dir, 'stop'); },
  };
}

function tail(file: string): string {
  try { return readFileSync(file, 'utf8').split('\n').slice(-10).join('\n'); } catch { return ''; }
}

function idOf(db: string, name: string, field: number): number {
  const line = readFileSync(db, 'utf8').split('\n').find((l) => l.startsWith(`${name}:`));
  if (!line) throw new Error(`no ${name} in ${db} (is the postfix package installed?)`);
  return Number(line.split(':')[field]);
}
const uidOf = (u: string): number => idOf('/etc/passwd', u, 2);
const gidOf = (g: string): number => idOf('/etc/group', g, 2);

/** Direct children of `pid` (Postfix's master forks every daemon itself). */
export function childrenOf(pid: number): number[] {
  const out: number[] = [];
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = readFileSync(`/proc/${d}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === pid) out.push(Number(d));
    } catch { /* gone */ }
  }
  return out;
}

function countFiles(dir: string): number {
  let n = 0;
  let entries: string[];
  try { entries = readdirSync(dir); } catch { return 0; }
  for (const e of entries) {
    const p = join(dir, e);
    try { n += statSync(p).isDirectory() ? countFiles(p) : 1; } catch { /* moved meanwhile */ }
  }
  return n;
}
