/**
 * config/checks — what `mta config check` verifies beyond the schema, so that it refuses
 * what `mta start` would refuse: the TLS certificate and key must load, and every file the
 * service reads must be readable by the user it runs as (when root checks, the owner of
 * the data dir: certbot's 0700 /etc/letsencrypt/live is the classic). Warnings (exit 0)
 * for a token file other users can read, for an admin listener other machines can reach
 * (it speaks plain HTTP), and for placeholder values left from mta.example.toml
 * (`mta.example.com`, `https://track.example.com`).
 *
 * Must never: change a file or a permission; a check that cannot decide stays silent.
 */
import { readFileSync, realpathSync, statSync } from 'node:fs';
import { dirname } from 'node:path';
import { createSecureContext } from 'node:tls';
import { X509Certificate } from 'node:crypto';
import { parse as parseToml } from 'smol-toml';
import { authWarnings, type Config } from './config.js';
import type { ConfigProblem } from './problems.js';
import { describeFile, describeUser, octal } from '../util/files.js';

interface Who { uid: number; gids: number[] }

/** The service's user when root runs the check on a data dir that belongs to someone else. */
function serviceUser(dataDir: string): Who | undefined {
  if (process.getuid?.() !== 0) return undefined;
  let st;
  try { st = statSync(dataDir); } catch { return undefined; }
  if (st.uid === 0) return undefined;
  const gids = [st.gid];
  try {
    const name = readFileSync('/etc/passwd', 'utf8').split('\n').map((l) => l.split(':')).find((f) => f[2] === String(st.uid));
    if (name?.[3]) gids.push(Number(name[3]));
    for (const g of readFileSync('/etc/group', 'utf8').split('\n').map((l) => l.split(':'))) {
      if (name && g[3]?.split(',').includes(name[0]!)) gids.push(Number(g[2]));
    }
  } catch { /* the data dir's group alone */ }
  return { uid: st.uid, gids };
}

function allowed(path: string, who: Who, bit: 4 | 1): boolean {
  const st = statSync(path);
  const shift = st.uid === who.uid ? 6 : who.gids.includes(st.gid) ? 3 : 0;
  return ((st.mode >> shift) & bit) !== 0;
}

/** The path (after symlinks) that `who` cannot reach or read, or undefined when it can. */
function unreadableBy(path: string, who: Who): string | undefined {
  let real: string;
  try { real = realpathSync(path); } catch { return undefined; }
  const dirs: string[] = [];
  for (let d = dirname(real); d !== dirname(d); d = dirname(d)) dirs.unshift(d);
  for (const d of dirs) if (!allowed(d, who, 1)) return d;
  return allowed(real, who, 4) ? undefined : real;
}

function readable(path: string, key: string, who: Who | undefined, problems: ConfigProblem[]): boolean {
  try {
    readFileSync(path);
  } catch (e) {
    problems.push({ path: key, message: `cannot read ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}` });
    return false;
  }
  const blocked = who ? unreadableBy(path, who) : undefined;
  if (who && blocked) {
    problems.push({ path: key, message: `${path} is not readable by ${describeUser(who.uid)}, the data dir's owner the service runs as: ${blocked} is ${describeFile(blocked)}` });
    return false;
  }
  return true;
}

/** A certificate and key pair (SMTP's, the admin listener's): each readable, and together a usable TLS context. */
function tlsPairProblems(pair: { cert: string; key: string; minVersion?: 'TLSv1.2' | 'TLSv1.3' }, paths: { cert: string; key: string; pair: string },
  who: Who | undefined, problems: ConfigProblem[]): void {
  const ok = readable(pair.cert, paths.cert, who, problems);
  if (!readable(pair.key, paths.key, who, problems) || !ok) return;
  try {
    createSecureContext({ cert: readFileSync(pair.cert), key: readFileSync(pair.key), ...(pair.minVersion ? { minVersion: pair.minVersion } : {}) });
  } catch (e) {
    problems.push({ path: paths.pair, message: `the certificate or key cannot be used: ${(e as Error).message}` });
  }
}

/** Problems `mta start` would stop at. */
export function configProblems(config: Config): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  const who = serviceUser(config.dataDir);
  const { cert, key, minVersion } = config.smtp.tls;
  if (config.smtp.listen.some((l) => l.tls !== 'none') && cert && key) {
    tlsPairProblems({ cert, key, minVersion }, { cert: 'smtp.tls.cert', key: 'smtp.tls.key', pair: 'smtp.tls' }, who, problems);
  }
  if (config.admin.tls) tlsPairProblems(config.admin.tls, { cert: 'admin.tls_cert', key: 'admin.tls_key', pair: 'admin.tls_cert' }, who, problems);
  if (config.admin.tokenFile) readable(config.admin.tokenFile, 'admin.token_file', who, problems);
  if (config.storage.postgres?.urlFile) readable(config.storage.postgres.urlFile, 'storage.postgres_url_file', who, problems);
  const ca = config.delivery.mtaSts.caFile;
  if (ca && readable(ca, 'delivery.mta_sts.ca_file', who, problems)) {
    try { new X509Certificate(readFileSync(ca)); } catch (e) { problems.push({ path: 'delivery.mta_sts.ca_file', message: `no CA certificate in ${ca}: ${(e as Error).message}` }); }
  }
  return problems;
}

const PLACEHOLDER = /(^|[^a-z0-9-])example\.(com|net|org)\b/i;

function placeholders(value: unknown, path: string, out: string[]): void {
  if (typeof value === 'string') {
    if (PLACEHOLDER.test(value)) out.push(`${path} = "${value}" looks like a placeholder left from mta.example.toml`);
  } else if (Array.isArray(value)) {
    value.forEach((v, i) => placeholders(v, `${path}[${i}]`, out));
  } else if (value && typeof value === 'object') {
    for (const [k, v] of Object.entries(value)) placeholders(v, path ? `${path}.${k}` : k, out);
  }
}

/** A warning when a file holding a secret is readable by others than the service. */
function secretFileWarning(config: Config, key: string, file: string | undefined, what: string, out: string[]): void {
  if (!file) return;
  try {
    const st = statSync(file);
    const gids = serviceUser(config.dataDir)?.gids ?? [process.getgid?.() ?? -1];
    if (st.mode & 0o004) out.push(`${key} ${file} is mode ${octal(st.mode)}: every local user can read ${what}; chmod 0600 (or 0640 with the service's group)`);
    else if (st.mode & 0o040 && !gids.includes(st.gid)) out.push(`${key} ${file} is mode ${octal(st.mode)}: group ${st.gid}, not the service's, can read ${what}`);
  } catch { /* unreadable: a problem, reported by configProblems */ }
}

/** Whether only this machine can reach a listener on `host` (the loopback addresses). */
export function loopbackHost(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host);
}

/**
 * Without admin.tls_cert the admin listener speaks plain HTTP: on another address its bearer
 * token, the console's passwords and session cookies cross the network in clear text. Not
 * refused, since a private network or a TLS proxy may be the operator's choice.
 */
function adminListenWarning(config: Config, out: string[]): void {
  const { host, port } = config.admin;
  if (loopbackHost(host) || config.admin.tls) return;
  const where = host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
  out.push(`admin.listen = "${where}" is reachable from other machines, and the admin API and web console speak plain HTTP (the token, passwords and session cookies in clear text); keep it on 127.0.0.1 and reach it through an SSH tunnel (ssh -L ${port}:127.0.0.1:${port} HOST), or give it admin.tls_cert and admin.tls_key`);
}

/** Things worth fixing that do not stop the daemon. `text`: the file, for placeholders. */
export function configWarnings(config: Config, text: string | undefined): string[] {
  const out: string[] = [];
  secretFileWarning(config, 'admin.token_file', config.admin.tokenFile, 'the admin token', out);
  secretFileWarning(config, 'storage.postgres_url_file', config.storage.postgres?.urlFile, 'the PostgreSQL password', out);
  for (const w of authWarnings(config)) out.push(`${w.path}: ${w.message}`);
  adminListenWarning(config, out);
  if (text !== undefined) {
    try { placeholders(parseToml(text), '', out); } catch { /* invalid TOML is a problem, reported elsewhere */ }
  }
  return out;
}
