/**
 * config — loads the TOML file once, validates it against config/schema.ts and compiles
 * it into `Config`: every default filled in, every size and duration a number, every IP
 * list parsed. Nothing else in the program reads TOML or parses units.
 *
 * Errors name the key path and, where it can be found, the file line:
 *   mta.toml:12: smtp.max_message_size: must be a size such as "25MB" ...
 *
 * A little over the ~400 lines the house allows: most of it is the `Config` type, one
 * commented field per key, which is the reference the rest of the program reads.
 */
import { readFileSync, existsSync } from 'node:fs';
import { hostname as osHostname } from 'node:os';
import { resolve } from 'node:path';
import { parse as parseToml, TomlError } from 'smol-toml';
import { configSchema, LISTEN_RE, type ConfigFile } from './schema.js';
import { parseDuration, parseSize } from '../util/units.js';
import { systemTimeZone } from '../util/time.js';
import { IpSet } from '../util/ipset.js';
import { MtaError } from '../util/errors.js';
import { compileEgress, expandEgress, type EgressConfig } from './egress.js';

export type { EgressConfig, EgressPool, EgressRule, EgressSource } from './egress.js';
import { runningDaemons } from './runtime.js';
import { issueProblems, type ConfigProblem } from './problems.js';

export { locateKey, type ConfigProblem } from './problems.js';

export type TlsMode = 'starttls' | 'implicit' | 'none';
export interface ListenAddress { host: string; port: number }
export interface Listener extends ListenAddress { tls: TlsMode; text: string }

export interface OurMtaSts { enabled: boolean; mode: 'testing' | 'enforce' | 'none'; maxAgeS: number; mx: string[]; tlsRptRua?: string }

export interface Config {
  source: string;                 // file path, or "(development defaults)"
  hostname: string;
  dataDir: string;
  /** IANA zone whose calendar days statistics, quotas and reputation count on */
  timeZone: string;
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
    /** PROXY protocol on the submission listeners, believed from `proxyTrusted` only */
    proxyProtocol: boolean;
    proxyTrusted: IpSet;
    tls: { cert?: string; key?: string; minVersion: 'TLSv1.2' | 'TLSv1.3' };
  };
  spool: { commitWindowMs: number; maxCommitBatch: number; writerThread: boolean };
  /** `nodeId`: the name claims carry in the spool; undefined: the data dir's node-id file */
  storage: {
    nodeId: string | undefined;
    backend: 'sqlite' | 'postgres';
    /** with backend "postgres": the server's URL (from postgres_url or postgres_url_file) and the pool's size */
    postgres?: { url: string; urlFile?: string; poolSize: number; lockTimeoutMs?: number };
  };
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
    /** a batch job waits at most this long while trigger jobs are being worked on (delivery/precedence.ts); 0: never */
    triggerPrecedenceMs: number;
    shutdownTimeoutMs: number;
    slowdownMs: number;
    unreachableBackoffMs: number;
    requireTls: boolean;
    /** public IPs mail leaves from (SPF proposal and evaluation, PTR checks); empty: hostname's addresses */
    sendingIps: string[];
    shaping: Shaping[];
    /** development sink: all mail is kept as .eml files in this directory, nothing is sent (delivery/dev-sink.ts) */
    sink?: string;
    /** MTA-STS (delivery/mta-sts.ts): caFile is an extra trusted CA (PEM); httpsPort is 443 except in tests */
    mtaSts: { enabled: boolean; caFile?: string; httpsPort: number };
    /** DANE (delivery/dane.ts): needs dns.dnssecResolver */
    dane: { enabled: boolean };
    /** TLS reports (delivery/tls-rpt*.ts) */
    tlsRpt: { enabled: boolean; from?: string; organization: string; sendWindowMs: number };
  };
  routes: Route[];
  /** where mail leaves from (delivery/egress.ts); no sources: the kernel picks the address, as before */
  egress: EgressConfig;
  /** this node's id: a source with a `node` is used by that node only */
  node: { id: string };
  dns: { servers: string[]; dnssecResolver?: string };
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
    /** our MTA-STS policy for the bounce domains (public/mta-sts-policy.ts); mx: mxHost unless configured */
    mtaSts: OurMtaSts;
  };
  /**
   * allowedIps: IP protection for the whole admin API (empty: off); metricsPublic: /metrics without the token;
   * token: '' means the generated one (admin/token.ts); hosts: further Host names it answers to (admin/browser.ts)
   */
  admin: ListenAddress & { token: string; /** where the token was read from (config/checks.ts looks at its mode) */ tokenFile?: string; allowedIps: IpSet; metricsPublic: boolean; hosts: string[]; sessionIdleMs: number; sessionLifetimeMs: number; /** per client address per minute */ signInAttempts: number;
    /** HTTPS: the certificate (chain) and key files; absent, the listener speaks plain HTTP */ tls?: { cert: string; key: string } };
  public: ListenAddress & { baseUrl?: string };
  /** the inbound SMTP listener for bounces and mailto unsubscribes (empty: off) */
  inbound: { listen: ListenAddress[]; maxMessageSize: number };
  /**
   * async notifications: POSTs in flight at once, per-request timeout, retries until maxAgeMs;
   * allowPrivate / allowedPrivateIps: receivers on non-public addresses (events/target.ts)
   */
  webhooks: { concurrency: number; timeoutMs: number; maxAgeMs: number; retryScheduleMs: number[]; retryJitter: number; allowPrivate: boolean; allowedPrivateIps: IpSet };
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
  /** reply-to verification: a link works linkValidityMs; at most maxPerSender / maxPerAddress mails per rolling hour */
  replyTo: { linkValidityMs: number; maxPerSender: number; maxPerAddress: number };
  /** textLinks: rewrite links of text/plain parts too; keyOverlapMs: a replaced key keeps verifying this long; domains: per sending domain, what is tracked when a message does not say */
  tracking: { textLinks: boolean; keyOverlapMs: number; /** JSON rules replacing the shipped ones (tracking/rules-data.ts) */ rulesFile?: string;
    /** every hit emits an open/click webhook, not only the recipient's first */ webhookEveryHit: boolean;
    /** hits keep truncated IPs (IPv4 /24, IPv6 /48) */ privacy: boolean; domains: Map<string, { opens: boolean; clicks: boolean }> };
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
  /** egress source names (pools expanded): the entry applies to mail leaving from these only, its limits per source */
  egressSources?: string[];
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

/**
 * What `npm start` runs with when no file is given: loopback only, no TLS, data in ./data,
 * and mail kept in ./data/sink instead of sent (a laptop has no port 25 and no reputation).
 */
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
[delivery]
sink = "./data/sink"
[admin]
listen = "127.0.0.1:8025"
[public]
listen = "127.0.0.1:8080"
base_url = "http://127.0.0.1:8080"
`;


export class ConfigError extends MtaError {
  constructor(readonly file: string, readonly problems: ConfigProblem[]) {
    super('MTA_ERR_CONFIG', problems.map((p) => formatProblem(file, p)).join('\n'));
  }
}

export function formatProblem(file: string, p: ConfigProblem): string {
  return `${file}${p.line ? `:${p.line}` : ''}: ${p.path ? `${p.path}: ` : ''}${p.message}`;
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
    const problems = issueProblems(parsed.error.issues, text);
    throw new ConfigError(source, problems);
  }
  const c = parsed.data;
  const token = c.admin.token_file ? readSecretFile(resolve(baseDir, c.admin.token_file), source, 'admin.token_file') : c.admin.token;
  return {
    source,
    hostname: c.hostname ?? osHostname(),
    dataDir: resolve(baseDir, c.data_dir),
    timeZone: c.timezone ?? systemTimeZone(),
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
      proxyProtocol: c.smtp.proxy_protocol,
      proxyTrusted: IpSet.parse(c.smtp.proxy_trusted),
      tls: {
        ...(c.smtp.tls.cert ? { cert: resolve(baseDir, c.smtp.tls.cert) } : {}),
        ...(c.smtp.tls.key ? { key: resolve(baseDir, c.smtp.tls.key) } : {}),
        minVersion: c.smtp.tls.min_version,
      },
    },
    spool: { commitWindowMs: parseDuration(c.spool.commit_window)!, maxCommitBatch: c.spool.max_commit_batch, writerThread: c.spool.writer_thread },
    storage: { nodeId: c.storage.node_id, backend: c.storage.backend, ...postgresStorage(c.storage, baseDir, source) },
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
      triggerPrecedenceMs: parseDuration(c.delivery.trigger_precedence)!,
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
        ...(s.egress.length > 0 ? { egressSources: expandEgress(c.egress, s.egress) } : {}),
      })),
      ...(c.delivery.sink ? { sink: resolve(baseDir, c.delivery.sink) } : {}),
      mtaSts: {
        enabled: c.delivery.mta_sts.enabled, httpsPort: c.delivery.mta_sts.https_port,
        ...(c.delivery.mta_sts.ca_file ? { caFile: resolve(baseDir, c.delivery.mta_sts.ca_file) } : {}),
      },
      dane: { enabled: c.delivery.dane.enabled },
      tlsRpt: {
        enabled: c.delivery.tls_rpt.enabled, ...(c.delivery.tls_rpt.from ? { from: c.delivery.tls_rpt.from.toLowerCase() } : {}),
        organization: c.delivery.tls_rpt.organization ?? c.hostname ?? osHostname(), sendWindowMs: parseDuration(c.delivery.tls_rpt.send_window)!,
      },
    },
    routes: c.route.map((r, i) => compileRoute(r, i, source, baseDir)),
    egress: compileEgress(c.egress),
    node: { id: c.node.id ?? c.hostname ?? osHostname() },
    dns: { servers: c.dns.servers, ...(c.dns.dnssec_resolver ? { dnssecResolver: c.dns.dnssec_resolver } : {}) },
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
      mtaSts: {
        enabled: c.domains.mta_sts.enabled, mode: c.domains.mta_sts.mode, maxAgeS: Math.floor(parseDuration(c.domains.mta_sts.max_age)! / 1000),
        mx: c.domains.mta_sts.mx.length > 0 ? c.domains.mta_sts.mx.map((m) => m.toLowerCase()) : [(c.domains.mx_host ?? c.hostname ?? osHostname()).toLowerCase()],
        ...(c.domains.mta_sts.tls_rpt_rua ? { tlsRptRua: c.domains.mta_sts.tls_rpt_rua } : {}),
      },
    },
    admin: { ...parseListen(c.admin.listen), token, ...(c.admin.token_file ? { tokenFile: resolve(baseDir, c.admin.token_file) } : {}), allowedIps: IpSet.parse(c.admin.allowed_ips), metricsPublic: c.admin.metrics_public, hosts: c.admin.hosts,
      sessionIdleMs: parseDuration(c.admin.session_idle_timeout)!, sessionLifetimeMs: parseDuration(c.admin.session_lifetime)!, signInAttempts: c.admin.sign_in_attempts,
      ...(c.admin.tls_cert && c.admin.tls_key ? { tls: { cert: resolve(baseDir, c.admin.tls_cert), key: resolve(baseDir, c.admin.tls_key) } } : {}) },
    public: { ...parseListen(c.public.listen), ...(c.public.base_url ? { baseUrl: c.public.base_url } : {}) },
    inbound: { listen: c.inbound.listen.map(parseListen), maxMessageSize: parseSize(c.inbound.max_message_size)! },
    webhooks: {
      concurrency: c.webhooks.concurrency, timeoutMs: parseDuration(c.webhooks.timeout)!, maxAgeMs: parseDuration(c.webhooks.max_age)!,
      retryScheduleMs: c.webhooks.retry_schedule.map((d) => parseDuration(d)!), retryJitter: c.webhooks.retry_jitter,
      allowPrivate: c.webhooks.allow_private, allowedPrivateIps: IpSet.parse(c.webhooks.allowed_private_ips),
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
    replyTo: { linkValidityMs: parseDuration(c.reply_to.link_validity)!, maxPerSender: c.reply_to.max_per_sender, maxPerAddress: c.reply_to.max_per_address },
    tracking: {
      textLinks: c.tracking.text_links, keyOverlapMs: parseDuration(c.tracking.key_overlap)!,
      ...(c.tracking.rules_file ? { rulesFile: resolve(baseDir, c.tracking.rules_file) } : {}),
      webhookEveryHit: c.tracking.webhook_every_hit, privacy: c.tracking.privacy,
      domains: new Map(c.tracking.domain.map((d) => [d.name.toLowerCase(), { opens: d.track.includes('opens'), clicks: d.track.includes('clicks') }])),
    },
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

/** Pool connections per node unless `pool_size` says otherwise: enough for intake, claims and the API at once. */
export const DEFAULT_PG_POOL_SIZE = 10;

function postgresStorage(s: ConfigFile['storage'], baseDir: string, source: string): Pick<Config['storage'], 'postgres'> {
  if (s.backend !== 'postgres') return {};
  const urlFile = s.postgres_url_file ? resolve(baseDir, s.postgres_url_file) : undefined;
  const url = urlFile ? readSecretFile(urlFile, source, 'storage.postgres_url_file') : s.postgres_url!;
  if (urlFile && !/^postgres(ql)?:\/\/\S+$/.test(url)) {
    throw new ConfigError(source, [{ path: 'storage.postgres_url_file', message: `${urlFile} must hold one URL such as "postgres://mta:secret@db.example.com:5432/mta"` }]);
  }
  // Unset: the pool's own default (spool/pg-pool.ts), so one number says how long a lock is waited for.
  const lock = s.postgres_lock_timeout === undefined ? {} : { lockTimeoutMs: parseDuration(s.postgres_lock_timeout)! };
  return { postgres: { url, ...(urlFile ? { urlFile } : {}), poolSize: s.pool_size ?? DEFAULT_PG_POOL_SIZE, ...lock } };
}

function readSecretFile(path: string, source: string, key: string): string {
  try {
    return readFileSync(path, 'utf8').trim();
  } catch (e) {
    throw new ConfigError(source, [{ path: key, message: `cannot read ${path}: ${(e as Error).message}` }]);
  }
}


/**
 * Settings that are valid but almost certainly a mistake, for `mta config check` and the
 * daemon's start-up log: a listener without TLS where clear-text AUTH is refused
 * (smtp.allow_insecure_auth = false) accepts no mail at all.
 */
export function authWarnings(config: Config): ConfigProblem[] {
  if (config.smtp.allowInsecureAuth) return [];
  return config.smtp.listen.flatMap((l, i) => (l.tls !== 'none' ? [] : [{
    path: `smtp.listen[${i}]`,
    message: `listener ${l.text} has tls = "none" and smtp.allow_insecure_auth is false: AUTH is refused there (538 5.7.11), so no client can submit mail through it; use tls = "starttls" or "implicit", or set allow_insecure_auth = true (local testing only)`,
  }]));
}
/** discover: without a file, use the running daemon's configuration (CLI commands; never `mta start`). */
export interface ConfigChoice { path?: string | undefined; discover?: boolean }

let noticeGiven = false;
/** Said once per command, on stderr: stdout stays the command's own output. */
function notice(text: string): void {
  if (!noticeGiven) process.stderr.write(`mta: ${text}\n`);
  noticeGiven = true;
}

/**
 * Resolves which file to use: --config, then $MTA_CONFIG, then /etc/mta/mta.toml; when
 * none was named and the default file does not exist, the configuration of the one
 * running daemon (config/runtime.ts), else the development defaults, said on stderr.
 */
export function loadConfig(choice: ConfigChoice = {}): Config {
  const named = choice.path || process.env['MTA_CONFIG'] || undefined;
  const path = named ?? DEFAULT_CONFIG_PATH;
  if (!named && !existsSync(path)) {
    if (choice.discover === false) return compileConfig(DEVELOPMENT_TOML, DEV_SOURCE);
    const running = runningDaemons();
    if (running.length > 1) {
      throw new MtaError('MTA_ERR_CONFIG_READ', `no configuration file, and ${running.length} daemons are running (${running.map((r) => `pid ${r.pid}: ${r.config ?? DEV_SOURCE} in ${r.cwd}`).join('; ')}): pass --config FILE`);
    }
    const r = running[0];
    if (!r) {
      const dev = compileConfig(DEVELOPMENT_TOML, DEV_SOURCE);
      notice(`no configuration file (--config, $MTA_CONFIG or ${DEFAULT_CONFIG_PATH}) and no running daemon found: using the development defaults, data in ${dev.dataDir}`);
      return dev;
    }
    notice(`no configuration file given: using the running daemon's (pid ${r.pid}): ${r.config ?? `${DEV_SOURCE}, data in ${r.data_dir}`}`);
    if (r.config === null) return compileConfig(DEVELOPMENT_TOML, DEV_SOURCE, r.cwd);
    return compileConfig(readConfigFile(r.config), r.config, r.cwd);
  }
  return compileConfig(readConfigFile(path), path, process.cwd());
}

function readConfigFile(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (e) {
    throw new MtaError('MTA_ERR_CONFIG_READ', `${path}: cannot read the configuration file: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
}
