/**
 * config — loads the TOML file once, validates it against config/schema.ts and compiles
 * it into `Config`: every default filled in, every size and duration a number, every IP
 * list parsed. Nothing else in the program reads TOML or parses units.
 *
 * Errors name the key path and, where it can be found, the file line:
 *   mta.toml:12: smtp.max_message_size: must be a size such as "25MB" ...
 */
import { readFileSync, existsSync } from 'node:fs';
import { hostname as osHostname } from 'node:os';
import { resolve } from 'node:path';
import { parse as parseToml, TomlError } from 'smol-toml';
import { configSchema, LISTEN_RE, type ConfigFile } from './schema.js';
import { parseDuration, parseSize } from '../util/units.js';
import { IpSet } from '../util/ipset.js';
import { MtaError } from '../util/errors.js';

export type TlsMode = 'starttls' | 'implicit' | 'none';
export interface ListenAddress { host: string; port: number }
export interface Listener extends ListenAddress { tls: TlsMode; text: string }

export interface Config {
  source: string;                 // file path, or "(development defaults)"
  hostname: string;
  dataDir: string;
  logLevel: ConfigFile['log']['level'];
  smtp: {
    listen: Listener[];
    allowInsecureAuth: boolean;
    maxMessageSize: number;
    maxRecipients: number;
    maxHeaderSize: number;
    allowedIps: IpSet;
    maxConnections: number;
    maxConnectionsPerIp: number;
    authFailureLimit: number;
    authFailureWindowMs: number;
    authCooldownMs: number;
    sessionDeadlineMs: number;
    idleTimeoutMs: number;
    tls: { cert?: string; key?: string; minVersion: 'TLSv1.2' | 'TLSv1.3' };
  };
  spool: { commitWindowMs: number; maxCommitBatch: number; writerThread: boolean };
  delivery: {
    enabled: boolean;
    port: number;
    maxConnections: number;
    maxConnectionsPerDomain: number;
    maxMessagesPerConnection: number;
    retryScheduleMs: number[];
    maxQueueLifetimeMs: number;
    sendDsn: boolean;
    maxRecipientsPerTransaction: number;
    readySetSize: number;
    /** worker threads that DKIM-sign messages up to 1 MiB; 0: sign on the event loop */
    dkimThreads: number;
    retryJitter: number;
    connectTimeoutMs: number;
    socketTimeoutMs: number;
    idleTimeoutMs: number;
    shutdownTimeoutMs: number;
    slowdownMs: number;
    unreachableBackoffMs: number;
    requireTls: boolean;
    /** public IPs mail leaves from (SPF proposal and evaluation, PTR checks); empty: hostname's addresses */
    sendingIps: string[];
    shaping: Shaping[];
  };
  routes: Route[];
  dns: { servers: string[] };
  domains: {
    requireVerified: boolean;
    dkimAlgorithm: 'rsa' | 'ed25519';
    dkimSelector?: string;
    ownershipRecord: string;
    checkSchedule: string;
    dmarcRua?: string;
    trackingHost?: string;
    /** the host that receives bounces and replies (the MX to publish); default: hostname */
    mxHost: string;
    /** VERP bounces and mailto unsubscribes go to <bounceSubdomain>.<domain> (its MX is this server) */
    bounceSubdomain: string;
  };
  /** allowedIps: IP protection for the whole admin API (empty: off); metricsPublic: /metrics without the token */
  admin: ListenAddress & { token: string; allowedIps: IpSet; metricsPublic: boolean };
  public: ListenAddress & { baseUrl?: string };
  /** the inbound SMTP listener for bounces and mailto unsubscribes (empty: off) */
  inbound: { listen: ListenAddress[]; maxMessageSize: number };
  /** async notifications: POSTs in flight at once, per-request timeout, retries until maxAgeMs */
  webhooks: { concurrency: number; timeoutMs: number; maxAgeMs: number; retryScheduleMs: number[]; retryJitter: number };
  /** send details (finished messages, events, webhook logs) and daily statistics are purged on purgeSchedule */
  retention: { detailsMs: number; statisticsMs: number; purgeSchedule: string };
  /** batch tasks: a task expands more members only while fewer than `window` of its recipients wait; `chunkSize` members per commit */
  tasks: { window: number; chunkSize: number };
  /** autoCreate: an unknown tag on a message creates it instead of refusing the message */
  tags: { autoCreate: boolean };
  /** maxUploadSize: bytes of one list file uploaded to the admin API (multipart) */
  lists: { maxUploadSize: number };
  /** maxBodySize: bytes of HTML (and of text) per template; maxRenderedSize: bytes of one filled message's parts; requireApproval: only approved templates send */
  templates: { maxBodySize: number; maxRenderedSize: number; requireApproval: boolean };
  /** null = unlimited; monthly defaults to daily × 30 (quota/limits.ts resolves per domain) */
  quota: QuotaConfig;
  /** enabled: per-domain reputation levels cap the daily volume; schedule: cron of the evaluation */
  reputation: { enabled: boolean; schedule: string };
}

export interface QuotaLimits { daily: number | null; monthly: number | null }
export interface QuotaConfig extends QuotaLimits { domains: Map<string, Partial<QuotaLimits>> }

export interface Shaping {
  name: string;
  domains: string[];
  mxSuffixes: string[];
  maxConnections?: number;
  maxMessagesPerConnection?: number;
  maxMessagesPerSecond?: number;
  requireTls?: boolean;
}

export interface Route {
  domains: string[];
  host: string;
  port: number;
  tls: TlsMode;
  requireTls: boolean;
  auth?: { user: string; pass: string };
}

export const DEFAULT_CONFIG_PATH = '/etc/mta/mta.toml';
export const DEV_SOURCE = '(development defaults)';

/** What `npm start` runs with when no file is given: loopback only, no TLS, data in ./data. */
export const DEVELOPMENT_TOML = `
hostname = "localhost"
data_dir = "./data"
[[smtp.listen]]
address = "127.0.0.1:2587"
tls = "none"
[smtp]
allow_insecure_auth = true
[domains]
require_verified = false
[admin]
listen = "127.0.0.1:8025"
[public]
listen = "127.0.0.1:8080"
base_url = "http://127.0.0.1:8080"
`;

export interface ConfigProblem { path: string; line?: number; message: string }

export class ConfigError extends MtaError {
  constructor(readonly file: string, readonly problems: ConfigProblem[]) {
    super('MTA_ERR_CONFIG', problems.map((p) => formatProblem(file, p)).join('\n'));
  }
}

export function formatProblem(file: string, p: ConfigProblem): string {
  return `${file}${p.line ? `:${p.line}` : ''}: ${p.path ? `${p.path}: ` : ''}${p.message}`;
}

/**
 * Finds the line where a key path is set: the key's own line inside its [table] (or
 * [[array]] entry), or the table header when the key is absent. Best effort; TOML
 * parsers do not report positions for valid documents.
 */
export function locateKey(text: string, path: readonly (string | number)[]): number | undefined {
  const lines = text.split(/\r?\n/);
  const keys = path.filter((p): p is string => typeof p === 'string');
  if (keys.length === 0) return undefined;
  const indexInArray = path.find((p): p is number => typeof p === 'number');
  for (let depth = keys.length; depth >= 1; depth--) {
    const table = keys.slice(0, depth - 1).join('.');
    const key = keys[depth - 1]!;
    let current = '';
    let arrayCount = -1;
    for (let i = 0; i < lines.length; i++) {
      const line = lines[i]!.trim();
      const header = /^\[\[?\s*([^\]]+?)\s*\]\]?/.exec(line);
      if (header) {
        current = header[1]!;
        if (line.startsWith('[[') && current === table) arrayCount++;
        continue;
      }
      const inArray = indexInArray === undefined || arrayCount === -1 || arrayCount === indexInArray;
      const m = /^("?)([A-Za-z0-9_-]+)\1\s*=/.exec(line);
      if (m && m[2] === key && current === table && inArray) return i + 1;
      const dotted = /^([A-Za-z0-9_.-]+)\s*=/.exec(line);
      if (dotted && [current, dotted[1]].filter(Boolean).join('.') === [table, key].filter(Boolean).join('.')) return i + 1;
    }
    if (depth === keys.length) {
      // The key is not in the file (a default, or a cross-key rule): point at its table.
      const h = lines.findIndex((l) => new RegExp(`^\\s*\\[\\[?\\s*${keys.slice(0, -1).join('\\.')}\\s*\\]`).test(l));
      if (keys.length > 1 && h >= 0) return h + 1;
    }
  }
  return undefined;
}

function parseListen(text: string): ListenAddress {
  const m = LISTEN_RE.exec(text)!;
  return { host: m[1] ?? m[2]!, port: Number(m[3]) };
}

/** Parses and validates TOML text; throws ConfigError listing every problem. */
export function compileConfig(text: string, source: string, baseDir = process.cwd()): Config {
  let raw: unknown;
  try {
    raw = parseToml(text);
  } catch (e) {
    if (e instanceof TomlError) {
      throw new ConfigError(source, [{ path: '', line: e.line, message: `TOML syntax: ${e.message.split('\n')[0]}` }]);
    }
    throw e;
  }
  const parsed = configSchema.safeParse(raw);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((iss) => {
      let path = iss.path.map((p) => (typeof p === 'number' ? `[${p}]` : String(p))).join('.').replace(/\.\[/g, '[');
      let message = iss.message;
      if (iss.code === 'unrecognized_keys') {
        path = [path, ...iss.keys].filter(Boolean).join('.');
        message = `unknown key${iss.keys.length > 1 ? 's' : ''} (${iss.keys.join(', ')})`;
        const line = locateKey(text, [...(iss.path as (string | number)[]), iss.keys[0]!]);
        return { path, message, ...(line ? { line } : {}) };
      }
      const line = locateKey(text, iss.path as (string | number)[]);
      return { path, message, ...(line ? { line } : {}) };
    });
    throw new ConfigError(source, problems);
  }
  const c = parsed.data;
  const token = c.admin.token_file ? readSecretFile(resolve(baseDir, c.admin.token_file), source, 'admin.token_file') : c.admin.token;
  return {
    source,
    hostname: c.hostname ?? osHostname(),
    dataDir: resolve(baseDir, c.data_dir),
    logLevel: c.log.level,
    smtp: {
      listen: c.smtp.listen.map((l) => ({ ...parseListen(l.address), tls: l.tls, text: l.address })),
      allowInsecureAuth: c.smtp.allow_insecure_auth,
      maxMessageSize: parseSize(c.smtp.max_message_size)!,
      maxRecipients: c.smtp.max_recipients,
      maxHeaderSize: parseSize(c.smtp.max_header_size)!,
      allowedIps: IpSet.parse(c.smtp.allowed_ips),
      maxConnections: c.smtp.max_connections,
      maxConnectionsPerIp: c.smtp.max_connections_per_ip,
      authFailureLimit: c.smtp.auth_failure_limit,
      authFailureWindowMs: parseDuration(c.smtp.auth_failure_window)!,
      authCooldownMs: parseDuration(c.smtp.auth_cooldown)!,
      sessionDeadlineMs: parseDuration(c.smtp.session_deadline)!,
      idleTimeoutMs: parseDuration(c.smtp.idle_timeout)!,
      tls: {
        ...(c.smtp.tls.cert ? { cert: resolve(baseDir, c.smtp.tls.cert) } : {}),
        ...(c.smtp.tls.key ? { key: resolve(baseDir, c.smtp.tls.key) } : {}),
        minVersion: c.smtp.tls.min_version,
      },
    },
    spool: { commitWindowMs: parseDuration(c.spool.commit_window)!, maxCommitBatch: c.spool.max_commit_batch, writerThread: c.spool.writer_thread },
    delivery: {
      port: c.delivery.port,
      maxConnections: c.delivery.max_connections,
      maxConnectionsPerDomain: c.delivery.max_connections_per_domain,
      maxMessagesPerConnection: c.delivery.max_messages_per_connection,
      retryScheduleMs: c.delivery.retry_schedule.map((d) => parseDuration(d)!),
      maxQueueLifetimeMs: parseDuration(c.delivery.max_queue_lifetime)!,
      sendDsn: c.delivery.send_dsn,
      enabled: c.delivery.enabled,
      maxRecipientsPerTransaction: c.delivery.max_recipients_per_transaction,
      readySetSize: c.delivery.ready_set_size,
      dkimThreads: c.delivery.dkim_threads,
      retryJitter: c.delivery.retry_jitter,
      connectTimeoutMs: parseDuration(c.delivery.connect_timeout)!,
      socketTimeoutMs: parseDuration(c.delivery.socket_timeout)!,
      idleTimeoutMs: parseDuration(c.delivery.idle_timeout)!,
      shutdownTimeoutMs: parseDuration(c.delivery.shutdown_timeout)!,
      slowdownMs: parseDuration(c.delivery.slowdown)!,
      unreachableBackoffMs: parseDuration(c.delivery.unreachable_backoff)!,
      requireTls: c.delivery.require_tls,
      sendingIps: c.delivery.sending_ips,
      shaping: c.delivery.shaping.map((s) => ({
        name: s.name, domains: s.domains.map((d) => d.toLowerCase()),
        mxSuffixes: s.mx_suffixes.map((x) => (x.startsWith('.') ? x : `.${x}`).toLowerCase()),
        ...(s.max_connections !== undefined ? { maxConnections: s.max_connections } : {}),
        ...(s.max_messages_per_connection !== undefined ? { maxMessagesPerConnection: s.max_messages_per_connection } : {}),
        ...(s.max_messages_per_second !== undefined ? { maxMessagesPerSecond: s.max_messages_per_second } : {}),
        ...(s.require_tls !== undefined ? { requireTls: s.require_tls } : {}),
      })),
    },
    routes: c.route.map((r, i) => compileRoute(r, i, source, baseDir)),
    dns: { servers: c.dns.servers },
    domains: {
      requireVerified: c.domains.require_verified,
      dkimAlgorithm: c.domains.dkim_algorithm,
      ...(c.domains.dkim_selector ? { dkimSelector: c.domains.dkim_selector } : {}),
      ownershipRecord: c.domains.ownership_record,
      checkSchedule: c.domains.check_schedule,
      ...(c.domains.dmarc_rua ? { dmarcRua: c.domains.dmarc_rua } : {}),
      ...(c.domains.tracking_host ? { trackingHost: c.domains.tracking_host } : {}),
      mxHost: c.domains.mx_host ?? c.hostname ?? osHostname(),
      bounceSubdomain: c.domains.bounce_subdomain.toLowerCase(),
    },
    admin: { ...parseListen(c.admin.listen), token, allowedIps: IpSet.parse(c.admin.allowed_ips), metricsPublic: c.admin.metrics_public },
    public: { ...parseListen(c.public.listen), ...(c.public.base_url ? { baseUrl: c.public.base_url } : {}) },
    inbound: { listen: c.inbound.listen.map(parseListen), maxMessageSize: parseSize(c.inbound.max_message_size)! },
    webhooks: {
      concurrency: c.webhooks.concurrency, timeoutMs: parseDuration(c.webhooks.timeout)!, maxAgeMs: parseDuration(c.webhooks.max_age)!,
      retryScheduleMs: c.webhooks.retry_schedule.map((d) => parseDuration(d)!), retryJitter: c.webhooks.retry_jitter,
    },
    tasks: { window: c.tasks.window, chunkSize: c.tasks.chunk_size },
    retention: {
      detailsMs: parseDuration(c.retention.details)!, statisticsMs: parseDuration(c.retention.statistics)!,
      purgeSchedule: c.retention.purge_schedule,
    },
    tags: { autoCreate: c.tags.auto_create },
    lists: { maxUploadSize: parseSize(c.lists.max_upload_size)! },
    templates: { maxBodySize: parseSize(c.templates.max_body_size)!, maxRenderedSize: parseSize(c.templates.max_rendered_size)!, requireApproval: c.templates.require_approval },
    quota: compileQuota(c.quota),
    reputation: { enabled: c.reputation.enabled, schedule: c.reputation.schedule },
  };
}

/** 0 means unlimited; an absent monthly is daily × 30 (SPEC §2), per domain as well. */
function compileQuota(q: ConfigFile['quota']): QuotaConfig {
  const lim = (n: number | undefined): number | null | undefined => (n === undefined ? undefined : n === 0 ? null : n);
  const daily = lim(q.daily) ?? null;
  const monthly = q.monthly === undefined ? (daily === null ? null : daily * 30) : lim(q.monthly) ?? null;
  const domains = new Map<string, Partial<QuotaLimits>>();
  for (const d of q.domain) {
    const dd = lim(d.daily);
    const dm = d.monthly !== undefined ? lim(d.monthly) : dd === undefined ? undefined : dd === null ? null : dd * 30;
    domains.set(d.name.toLowerCase(), { ...(dd !== undefined ? { daily: dd } : {}), ...(dm !== undefined ? { monthly: dm } : {}) });
  }
  return { daily, monthly, domains };
}

function compileRoute(r: ConfigFile['route'][number], i: number, source: string, baseDir: string): Route {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^\s:]+))(?::(\d{1,5}))?$/.exec(r.host)!;
  const port = m[3] ? Number(m[3]) : r.tls === 'implicit' ? 465 : 587;
  let auth: Route['auth'];
  if (r.username) {
    const pass = r.password_file ? readSecretFile(resolve(baseDir, r.password_file), source, `route[${i}].password_file`) : r.password ?? '';
    auth = { user: r.username, pass };
  }
  return {
    domains: r.domains.map((d) => d.toLowerCase()), host: m[1] ?? m[2]!, port, tls: r.tls, requireTls: r.require_tls,
    ...(auth ? { auth } : {}),
  };
}

function readSecretFile(path: string, source: string, key: string): string {
  try {
    return readFileSync(path, 'utf8').trim();
  } catch (e) {
    throw new ConfigError(source, [{ path: key, message: `cannot read ${path}: ${(e as Error).message}` }]);
  }
}


export interface ConfigChoice { path?: string | undefined }

/**
 * Resolves which file to use: --config, then $MTA_CONFIG, then /etc/mta/mta.toml; when
 * none was named and the default file does not exist, the development defaults.
 */
export function loadConfig(choice: ConfigChoice = {}): Config {
  const named = choice.path || process.env['MTA_CONFIG'] || undefined;
  const path = named ?? DEFAULT_CONFIG_PATH;
  if (!named && !existsSync(path)) return compileConfig(DEVELOPMENT_TOML, DEV_SOURCE);
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new MtaError('MTA_ERR_CONFIG_READ', `${path}: cannot read the configuration file: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  return compileConfig(text, path, process.cwd());
}
