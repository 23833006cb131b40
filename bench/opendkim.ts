/**
 * bench/opendkim — OpenDKIM (Debian's package) as a signing milter for the Postfix
 * comparison row "postfix + opendkim": the same work as ours (RSA-2048, relaxed/relaxed,
 * rsa-sha256) done the way a Postfix operator does it. A private instance: its own key
 * (opendkim-genkey -b 2048), its own config file in the run's temp dir, a loopback TCP
 * socket, in the foreground as our child. The system's /etc/opendkim.conf is never used
 * and no system instance is started.
 *
 * The package is installed when missing and we are root; otherwise the row is skipped
 * with the reason, and the rest of the bench runs.
 */
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { waitPort } from './mta.js';
import { stopChild } from './util.js';
import { join } from 'node:path';

const have = (cmd: string): boolean => spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;

/** Installs Debian's opendkim and opendkim-tools when missing; returns why it cannot, or undefined when it is there. */
export function ensureOpendkimPackage(log: (s: string) => void): string | undefined {
  if (have('opendkim') && have('opendkim-genkey')) return undefined;
  if (process.getuid?.() !== 0) return 'opendkim is not installed and installing it needs root: run "apt-get install -y opendkim opendkim-tools" first';
  log('installing Debian packages opendkim, opendkim-tools ...');
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  try {
    execFileSync('apt-get', ['install', '-y', '--no-install-recommends', 'opendkim', 'opendkim-tools'], { env, stdio: 'ignore' });
  } catch (e) {
    return `apt-get install opendkim opendkim-tools failed: ${(e as Error).message.split('\n')[0]}`;
  }
  return have('opendkim') && have('opendkim-genkey') ? undefined : 'apt-get install opendkim opendkim-tools did not provide opendkim and opendkim-genkey';
}

export interface Opendkim {
  /** the milter address for Postfix's smtpd_milters */
  milter: string;
  pid: number;
  /** the DNS TXT value of the public key (v=DKIM1; k=rsa; p=...) */
  txt: string;
  stop(): Promise<void>;
}

/** Signs mail From `domain` with a fresh RSA-2048 key under `selector`, listening on 127.0.0.1:port. */
export async function startOpendkim(dir: string, port: number, domain: string, selector: string): Promise<Opendkim> {
  mkdirSync(dir, { recursive: true });
  const gen = spawnSync('opendkim-genkey', ['-b', '2048', '-d', domain, '-s', selector, '-D', dir], { encoding: 'utf8' });
  if (gen.status !== 0) throw new Error(`opendkim-genkey failed: ${gen.stderr}`);
  const keyFile = join(dir, `${selector}.private`);
  chmodSync(keyFile, 0o600); // opendkim refuses a key others can read
  // The .txt is a zone-file line with the value split into quoted strings.
  const txt = [...readFileSync(join(dir, `${selector}.txt`), 'utf8').matchAll(/"([^"]*)"/g)].map((m) => m[1]).join('');
  const conf = join(dir, 'opendkim.conf');
  writeFileSync(conf, [
    'Syslog no',
    'Background no',
    'Mode s',
    `Domain ${domain}`,
    `Selector ${selector}`,
    `KeyFile ${keyFile}`,
    // The key lives below /tmp, which others may write; the file itself is 0600 and ours.
    'RequireSafeKeys false',
    'Canonicalization relaxed/relaxed',
    'SignatureAlgorithm rsa-sha256',
    `Socket inet:${port}@127.0.0.1`,
    `PidFile ${join(dir, 'opendkim.pid')}`,
    // The load generator connects from loopback: an internal host, whose mail is signed.
    'InternalHosts 127.0.0.0/8',
    '',
  ].join('\n'));
  const proc: ChildProcess = spawn('opendkim', ['-f', '-x', conf], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  proc.stderr!.setEncoding('utf8');
  proc.stderr!.on('data', (d: string) => { stderr += d; });
  try {
    await waitPort(port, 10_000, () => proc.exitCode === null);
  } catch (e) {
    proc.kill('SIGKILL');
    throw new Error(`opendkim did not start: ${(e as Error).message}: ${stderr.trim()}`);
  }
  return {
    milter: `inet:127.0.0.1:${port}`, pid: proc.pid!, txt,
    stop: stopChild(proc, 5000),
  };
}
