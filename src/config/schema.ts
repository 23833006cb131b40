/**
 * config/schema — the TOML file's shape, its defaults, and the checks on every value.
 *
 * The schema describes the file as users write it (snake_case keys, "25MB", "5m");
 * config/compile.ts turns a validated file into the fully-defaulted internal `Config`.
 * Unknown keys are refused (strict objects) so a typo never passes silently.
 */
import { z } from 'zod';
import { parseDuration, parseSize } from '../util/units.js';
import { parseIpEntry } from '../util/ipset.js';
import { validate as validCron } from 'node-cron';
import { isIP } from 'node:net';
import { isTimeZone } from '../util/time.js';
import { NODE_ID_PATTERN } from '../spool/types-leases.js';

const size = z.union([z.string(), z.number().int().nonnegative()]).refine((v) => parseSize(v) !== undefined, {
  message: 'must be a size such as "25MB", "512KB" or a number of bytes',
});
const duration = z.union([z.string(), z.number().nonnegative()]).refine((v) => parseDuration(v) !== undefined, {
  message: 'must be a duration such as "90s", "5m", "4h" or "5d"',
});
const ipEntry = z.string().superRefine((v, ctx) => {
  const r = parseIpEntry(v);
  if (typeof r === 'string') ctx.addIssue({ code: 'custom', message: r });
});
/** "host:port" or "[v6]:port". */
export const LISTEN_RE = /^(?:\[([0-9a-fA-F:.]+)\]|([^\s:[\]]+)):(\d{1,5})$/;
const listenAddress = z.string().refine((v) => {
  const m = LISTEN_RE.exec(v);
  return !!m && Number(m[3]) < 65536; // port 0: any free port (tests)
}, { message: 'must be "host:port", e.g. "0.0.0.0:587" or "[::]:587"' });
const hostAndPort = z.string().refine((v) => /^[^\s:]+(?::\d{1,5})?$/.test(v) || /^\[[0-9a-fA-F:.]+\](?::\d{1,5})?$/.test(v), {
  message: 'must be "ip" or "ip:port"',
});
const hostname = z.string().regex(/^(?=.{1,253}$)[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?)*$/, {
  message: 'must be a host name such as "mta.example.com"',
});

export const listenerSchema = z.strictObject({
  address: listenAddress,
  tls: z.enum(['starttls', 'implicit', 'none']).default('starttls'),
});

const domainPattern = z.string().regex(/^(\*|[a-z0-9.-]+)$/i, { message: 'must be a domain name, or "*" for every domain' });

/** Per-destination traffic shaping, matched by recipient domain or by MX host suffix. */
export const shapingSchema = z.strictObject({
  name: z.string().regex(/^[a-z0-9_-]{1,64}$/i, { message: 'must be a short name such as "gmail"' }),
  domains: z.array(domainPattern).default([]),
  mx_suffixes: z.array(z.string().regex(/^\.?[a-z0-9.-]+$/i, { message: 'must be a host name suffix such as ".google.com"' })).default([]),
  max_connections: z.number().int().min(1).optional(),
  max_messages_per_connection: z.number().int().min(1).optional(),
  max_messages_per_second: z.number().positive().optional(),
  require_tls: z.boolean().optional(),
  // egress sources or pools: the entry governs only mail leaving from them, its limits counted per source
  egress: z.array(z.string().regex(/^[a-z0-9_-]{1,64}$/i, { message: 'must be an egress source or pool name' })).default([]),
}).refine((s) => s.domains.length > 0 || s.mx_suffixes.length > 0, { message: 'needs domains or mx_suffixes to match' });

/** A static route: mail for these domains goes to this host instead of their MX (a smarthost with "*"). */
export const routeSchema = z.strictObject({
  domains: z.array(domainPattern).min(1),
  host: hostAndPort,
  tls: z.enum(['starttls', 'implicit', 'none']).default('starttls'),
  require_tls: z.boolean().default(false),
  username: z.string().min(1).optional(),
  password: z.string().optional(),
  password_file: z.string().optional(),
}).refine((r) => !r.username || r.password !== undefined || r.password_file !== undefined, {
  message: 'username needs password or password_file', path: ['password'],
});

const egressName = z.string().regex(/^[a-z0-9_-]{1,64}$/i, { message: 'must be a short name such as "ip1"' });
const day = z.string().regex(/^\d{4}-\d{2}-\d{2}$/, { message: 'must be a UTC day such as "2026-12-01"' });

/** One local address mail may leave from, with the name its PTR record gives (HELO/EHLO). */
export const egressSourceSchema = z.strictObject({
  name: egressName,
  address: z.string().refine((v) => isIP(v) !== 0, { message: 'must be an IPv4 or IPv6 address of this machine' }),
  helo: hostname,
  node: z.string().min(1).optional(),
  max_connections: z.number().int().min(1).optional(),
  warmup_start: z.number().int().min(1).optional(),
  warmup_factor: z.number().min(1).default(2),
  warmup_from: day.optional(),
}).refine((s) => (s.warmup_start === undefined) === (s.warmup_from === undefined), {
  message: 'warmup_start and warmup_from go together', path: ['warmup_from'],
});

/** Which pool carries a job: every key given must match (domains: sending domain; destinations: recipient domain). */
export const egressRuleSchema = z.strictObject({
  pool: egressName,
  sending_domains: z.array(domainPattern).default([]),
  lanes: z.array(z.enum(['trigger', 'batch'])).default([]),
  tasks: z.array(z.string().min(1)).default([]),
  destinations: z.array(domainPattern).default([]),
});

export const egressSchema = z.strictObject({
  default_pool: egressName.optional(),
  source: z.array(egressSourceSchema).default([]),
  pool: z.array(z.strictObject({
    name: egressName,
    sources: z.array(z.strictObject({ source: egressName, weight: z.number().int().min(1).max(1000).default(1) })).min(1),
  })).default([]),
  rule: z.array(egressRuleSchema).default([]),
}).superRefine((e, ctx) => {
  const sources = new Set<string>();
  e.source.forEach((s, i) => {
    if (sources.has(s.name)) ctx.addIssue({ code: 'custom', path: ['source', i, 'name'], message: `source "${s.name}" is defined twice` });
    sources.add(s.name);
  });
  const pools = new Set<string>();
  e.pool.forEach((p, i) => {
    if (pools.has(p.name)) ctx.addIssue({ code: 'custom', path: ['pool', i, 'name'], message: `pool "${p.name}" is defined twice` });
    pools.add(p.name);
    p.sources.forEach((s, j) => {
      if (!sources.has(s.source)) ctx.addIssue({ code: 'custom', path: ['pool', i, 'sources', j, 'source'], message: `no egress source named "${s.source}"` });
    });
  });
  e.rule.forEach((r, i) => {
    if (!pools.has(r.pool)) ctx.addIssue({ code: 'custom', path: ['rule', i, 'pool'], message: `no egress pool named "${r.pool}"` });
  });
  if (e.default_pool !== undefined && !pools.has(e.default_pool)) ctx.addIssue({ code: 'custom', path: ['default_pool'], message: `no egress pool named "${e.default_pool}"` });
  if (e.source.length > 0 && e.default_pool === undefined) ctx.addIssue({ code: 'custom', path: ['default_pool'], message: 'sources are defined, so a default_pool is required' });
});

export const configSchema = z.strictObject({
  hostname: hostname.optional(),
  data_dir: z.string().min(1).default('/var/lib/mta'),
  // the calendar of statistics days, quota days and the reputation day roll; default: the system's
  timezone: z.string().refine(isTimeZone, { message: 'must be an IANA time zone name such as "Asia/Shanghai" or "UTC"' }).optional(),
  log: z.strictObject({
    level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  }).prefault({}),
  smtp: z.strictObject({
    listen: z.array(listenerSchema).default([
      { address: '0.0.0.0:587', tls: 'starttls' },
      { address: '0.0.0.0:465', tls: 'implicit' },
    ]),
    allow_insecure_auth: z.boolean().default(false),
    max_message_size: size.default('25MB'),
    max_recipients: z.number().int().min(1).max(100_000).default(30),
    max_header_size: size.default('256KB'),
    allowed_ips: z.array(ipEntry).default([]),
    max_connections: z.number().int().min(1).default(1000),
    max_connections_per_ip: z.number().int().min(1).default(20),
    auth_failure_limit: z.number().int().min(1).default(5),
    auth_failure_window: duration.default('10m'),
    auth_cooldown: duration.default('15m'),
    session_deadline: duration.default('10m'),
    idle_timeout: duration.default('2m'),
    // HAProxy's PROXY protocol (v1/v2) from the load balancers in proxy_trusted (submission/proxy-gate.ts)
    proxy_protocol: z.boolean().default(false),
    proxy_trusted: z.array(ipEntry).default([]),
    tls: z.strictObject({
      cert: z.string().min(1).optional(),
      key: z.string().min(1).optional(),
      min_version: z.enum(['TLSv1.2', 'TLSv1.3']).default('TLSv1.2'),
    }).prefault({}),
  }).superRefine((s, ctx) => {
    if (s.proxy_protocol && s.proxy_trusted.length === 0) {
      ctx.addIssue({ code: 'custom', path: ['proxy_trusted'], message: 'proxy_protocol = true needs the load balancers\' addresses here, e.g. ["10.0.0.5/32"]: a header is believed from these only' });
    }
    if (!s.proxy_protocol && s.proxy_trusted.length > 0) {
      ctx.addIssue({ code: 'custom', path: ['proxy_trusted'], message: 'proxy_trusted is for proxy_protocol = true, but proxy_protocol is false: set proxy_protocol = true or remove proxy_trusted' });
    }
  }).prefault({}),
  spool: z.strictObject({
    commit_window: duration.default('0ms'),
    max_commit_batch: z.number().int().min(1).max(10_000).default(256),
    writer_thread: z.boolean().default(true),
  }).prefault({}),
  // the name this node's claims carry in the spool (spool/node-id.ts); default: <data_dir>/node-id
  storage: z.strictObject({
    node_id: z.string().regex(NODE_ID_PATTERN, 'letters, digits, ".", "_" and "-", at most 64, starting with a letter or digit').optional(),
    // sqlite: the embedded spool in data_dir; postgres: shared by every node of a cluster (spool/pg-*.ts)
    backend: z.enum(['sqlite', 'postgres']).default('sqlite'),
    postgres_url: z.string().regex(/^postgres(ql)?:\/\/\S+$/, { message: 'must be a URL such as "postgres://mta@db.example.com:5432/mta"' }).optional(),
    postgres_url_file: z.string().min(1).optional(),
    pool_size: z.number().int().min(1).max(1000).optional(),
    // how long a statement waits for a row another node has locked before the submission gets 451
    postgres_lock_timeout: duration.optional(),
  }).superRefine((s, ctx) => {
    const pgKeys = (['postgres_url', 'postgres_url_file', 'pool_size', 'postgres_lock_timeout'] as const).filter((k) => s[k] !== undefined);
    if (s.backend === 'sqlite') {
      for (const k of pgKeys) ctx.addIssue({ code: 'custom', path: [k], message: `${k} is for backend = "postgres", but backend is "sqlite": set backend = "postgres" or remove ${k}` });
    } else if (s.postgres_url !== undefined && s.postgres_url_file !== undefined) {
      ctx.addIssue({ code: 'custom', path: ['postgres_url_file'], message: 'postgres_url and postgres_url_file are both set: keep one (the file keeps the password out of the config)' });
    } else if (s.postgres_url === undefined && s.postgres_url_file === undefined) {
      ctx.addIssue({ code: 'custom', path: ['backend'], message: 'backend = "postgres" needs postgres_url or postgres_url_file' });
    }
  }).prefault({}),
  delivery: z.strictObject({
    enabled: z.boolean().default(true),
    port: z.number().int().min(1).max(65535).default(25),
    max_connections: z.number().int().min(1).default(200),
    max_connections_per_domain: z.number().int().min(1).default(10),
    max_messages_per_connection: z.number().int().min(1).default(100),
    retry_schedule: z.array(duration).min(1).default(['5m', '10m', '20m', '40m', '1h', '2h', '4h']),
    max_queue_lifetime: duration.default('5d'),
    send_dsn: z.boolean().default(true),
    max_recipients_per_transaction: z.number().int().min(1).max(1000).default(100),
    ready_set_size: z.number().int().min(10).max(1_000_000).default(5000),
    dkim_threads: z.number().int().min(0).max(16).default(1),
    retry_jitter: z.number().min(0).max(1).default(0.1),
    connect_timeout: duration.default('30s'),
    socket_timeout: duration.default('5m'),
    idle_timeout: duration.default('10s'),
    // delivery/precedence.ts: how long a batch job waits, at most, while trigger mail is being delivered;
    // bounded, since a login code to a receiver slow to greet holds every campaign back that long
    trigger_precedence: duration.refine((v) => (parseDuration(v) ?? 0) <= 1000, { message: 'must be at most "1s" (each login code in flight may hold campaigns back this long); "0s" turns it off' }).default('50ms'),
    shutdown_timeout: duration.default('20s'),
    slowdown: duration.default('5m'),
    unreachable_backoff: duration.default('3m'),
    require_tls: z.boolean().default(false),
    sending_ips: z.array(z.string().refine((v) => isIP(v) !== 0, { message: 'must be an IPv4 or IPv6 address' })).default([]),
    shaping: z.array(shapingSchema).default([]),
    // development sink (delivery/dev-sink.ts): every message is kept as a file here instead of being sent
    sink: z.string().min(1).optional(),
    // MTA-STS (RFC 8461, delivery/mta-sts.ts); ca_file: extra CA trusted for policy fetches and MX certificates
    // under a policy; https_port: where policies are fetched (443; other ports are for tests only)
    mta_sts: z.strictObject({
      enabled: z.boolean().default(true),
      ca_file: z.string().min(1).optional(),
      https_port: z.number().int().min(1).max(65535).default(443),
    }).prefault({}),
    // DANE (RFC 7672, delivery/dane.ts): TLSA records of MX hosts, trusted only from dns.dnssec_resolver
    dane: z.strictObject({ enabled: z.boolean().default(false) }).prefault({}),
    // TLS reports (RFC 8460, delivery/tls-rpt*.ts): daily, to the rua of _smtp._tls.<domain>; from: a
    // sender address on one of our domains (its DKIM key signs them); send_window: spread after midnight UTC
    tls_rpt: z.strictObject({
      enabled: z.boolean().default(false),
      from: z.string().regex(/^[^\s@<>]+@[a-z0-9.-]+$/i, { message: 'must be an address such as "tls-reports@example.com"' }).optional(),
      organization: z.string().min(1).optional(),
      send_window: duration.default('4h'),
    }).refine((r) => !r.enabled || r.from !== undefined, { message: 'enabled needs from (the reports\' sender, on a domain of ours)', path: ['from'] }).prefault({}),
  }).prefault({}),
  route: z.array(routeSchema).default([]),
  // egress sources and pools (src/delivery/egress.ts); node.id: which sources are this node's
  egress: egressSchema.prefault({}),
  node: z.strictObject({ id: z.string().min(1).optional() }).prefault({}),
  dns: z.strictObject({
    servers: z.array(hostAndPort).default([]),
    // a DNSSEC-validating resolver: its AD bit is the only one trusted (DANE's TLSA lookups)
    dnssec_resolver: hostAndPort.refine((v) => isIP(v.replace(/^\[(.*)\](?::\d+)?$/, '$1').replace(/^([\d.]+):\d+$/, '$1')) !== 0, {
      message: 'must be an IP address: "ip", "ip:port" or "[ipv6]:port" (a resolver found by name could not be trusted)',
    }).optional(),
  }).prefault({}),
  domains: z.strictObject({
    require_verified: z.boolean().default(true),
    dkim_algorithm: z.enum(['rsa', 'ed25519']).default('rsa'),
    dkim_selector: z.string().regex(/^[a-z0-9][a-z0-9-]{0,62}$/i, { message: 'must be a DNS label' }).optional(),
    ownership_record: z.string().regex(/^_?[a-z0-9][a-z0-9_-]{0,62}$/i, { message: 'must be a DNS label' }).default('_mta'),
    check_schedule: z.string().refine((v) => validCron(v), { message: 'must be a cron expression such as "17 * * * *" (hourly)' }).default('17 * * * *'),
    dmarc_rua: z.string().regex(/^mailto:[^\s@]+@[^\s@]+$/, { message: 'must be "mailto:address"' }).optional(),
    tracking_host: z.string().regex(/^[a-z0-9][a-z0-9-]{0,62}$/i, { message: 'must be a DNS label such as "track"' }).optional(),
    mx_host: hostname.optional(),
    bounce_subdomain: z.string().regex(/^[a-z0-9][a-z0-9-]{0,62}$/i, { message: 'must be a DNS label such as "bounce"' }).default('bounce'),
    // our MTA-STS policy for the bounce domains (public/mta-sts-policy.ts), served at mta-sts.<bounce>.<domain>
    mta_sts: z.strictObject({
      enabled: z.boolean().default(false),
      mode: z.enum(['testing', 'enforce', 'none']).default('testing'),
      max_age: duration.refine((v) => parseDuration(v)! >= 1000 && parseDuration(v)! <= 31_557_600_000, { message: 'must be between 1s and 1 year (RFC 8461)' }).default('7d'),
      mx: z.array(hostname).default([]),
      tls_rpt_rua: z.string().regex(/^(mailto:[^\s@,;]+@[^\s@,;]+|https:\/\/[^\s,;]+)$/, { message: 'must be "mailto:address" or an https URL' }).optional(),
    }).prefault({}),
  }).prefault({}),
  admin: z.strictObject({
    listen: listenAddress.default('127.0.0.1:8025'),
    token: z.string().default(''),
    token_file: z.string().optional(),
    allowed_ips: z.array(ipEntry).default([]),
    metrics_public: z.boolean().default(false),
    // further names the API answers to (Host header), besides localhost, loopback, the bind address and hostname
    hosts: z.array(z.string().refine((v) => isIP(v) !== 0 || hostname.safeParse(v).success, { message: 'must be a host name or an IP address' })).default([]),
    // web console sessions: signed out after this long without a request, and this long after signing in
    session_idle_timeout: duration.default('30m'),
    session_lifetime: duration.default('12h'),
    sign_in_attempts: z.number().int().min(1).max(10_000).default(10),
    // HTTPS for the API, the send API and the console: PEM certificate (chain) and key, both or neither
    tls_cert: z.string().min(1).optional(),
    tls_key: z.string().min(1).optional(),
  }).prefault({}),
  public: z.strictObject({
    listen: listenAddress.default('0.0.0.0:8080'),
    base_url: z.url({ protocol: /^https?$/ }).optional(),
  }).prefault({}),
  inbound: z.strictObject({
    listen: z.array(listenAddress).default([]),
    max_message_size: size.default('10MB'),
  }).prefault({}),
  webhooks: z.strictObject({
    concurrency: z.number().int().min(1).max(256).default(8),
    timeout: duration.default('10s'),
    max_age: duration.default('10h'),
    retry_schedule: z.array(duration).min(1).default(['30s', '1m', '2m', '4m', '8m', '16m', '32m', '1h']),
    retry_jitter: z.number().min(0).max(1).default(0.2),
    // receivers on private, loopback or link-local addresses (events/target.ts): all, or these
    allow_private: z.boolean().default(false),
    allowed_private_ips: z.array(ipEntry).default([]),
  }).prefault({}),
  tags: z.strictObject({
    auto_create: z.boolean().default(false),
  }).prefault({}),
  lists: z.strictObject({
    max_upload_size: size.default('256MB'),
  }).prefault({}),
  templates: z.strictObject({
    max_body_size: size.default('28KB'),
    max_rendered_size: size.default('1MB'),
    require_approval: z.boolean().default(true),
  }).prefault({}),
  tasks: z.strictObject({
    window: z.number().int().min(1).max(1_000_000).default(2000),
    // One transaction on the spool's writer, which a message's commit (its 250) waits for: 500
    // members took 25-50 ms there, 100 take 4-8 (bench/RESULTS.md, 2026-12-06 03:45).
    chunk_size: z.number().int().min(1).max(10_000).default(100),
  }).prefault({}),
  retention: z.strictObject({
    details: duration.refine((v) => (parseDuration(v) ?? Infinity) >= 3_600_000, { message: 'must be at least "1h"' }).default('30d'),
    statistics: duration.refine((v) => (parseDuration(v) ?? Infinity) >= 86_400_000, { message: 'must be at least "1d"' }).default('90d'),
    purge_schedule: z.string().refine((v) => validCron(v), { message: 'must be a cron expression such as "43 3 * * *" (daily)' }).default('43 3 * * *'),
  }).prefault({}),
  // quotas and reputation (src/quota): 0 = unlimited; monthly absent = daily × 30
  quota: z.strictObject({
    daily: z.number().int().nonnegative().default(0),
    monthly: z.number().int().nonnegative().optional(),
    domain: z.array(z.strictObject({
      name: z.string().regex(/^[a-z0-9.-]+$/i, { message: 'must be a domain name such as "example.com"' }),
      daily: z.number().int().nonnegative().optional(),
      monthly: z.number().int().nonnegative().optional(),
    })).default([]),
  }).prefault({}),
  // open and click tracking (src/tracking)
  tracking: z.strictObject({
    text_links: z.boolean().default(false),
    key_overlap: duration.default('90d'),
    rules_file: z.string().min(1).optional(),
    webhook_every_hit: z.boolean().default(false),
    privacy: z.boolean().default(false),
    domain: z.array(z.strictObject({
      name: z.string().regex(/^[a-z0-9.-]+$/i, { message: 'must be a domain name such as "example.com"' }),
      track: z.array(z.enum(['opens', 'clicks'])),
    })).default([]),
  }).prefault({}),
  // reply-to verification (accounts/reply-to.ts): how long a link works, how many mails per hour
  reply_to: z.strictObject({
    link_validity: duration.refine((v) => { const ms = parseDuration(v) ?? 0; return ms >= 60_000 && ms <= 86_400_000; }, { message: 'must be between "1m" and "24h"' }).default('10m'),
    max_per_sender: z.number().int().min(1).max(1000).default(5),
    max_per_address: z.number().int().min(1).max(1000).default(3),
  }).prefault({}),
  reputation: z.strictObject({
    enabled: z.boolean().default(false),
    schedule: z.string().refine((v) => validCron(v), { message: 'must be a cron expression such as "*/5 * * * *"' }).default('*/5 * * * *'),
  }).prefault({}),
}).superRefine((c, ctx) => {
  const egressNames = new Set([...c.egress.source.map((x) => x.name), ...c.egress.pool.map((x) => x.name)]);
  c.delivery.shaping.forEach((sh, i) => sh.egress.forEach((n, j) => {
    if (!egressNames.has(n)) ctx.addIssue({ code: 'custom', path: ['delivery', 'shaping', i, 'egress', j], message: `no egress source or pool named "${n}"` });
  }));
  if (c.delivery.dane.enabled && !c.dns.dnssec_resolver) {
    ctx.addIssue({ code: 'custom', path: ['dns', 'dnssec_resolver'], message: 'delivery.dane.enabled needs a DNSSEC-validating resolver here (its AD bit is trusted for TLSA records)' });
  }
  if ((c.admin.tls_cert === undefined) !== (c.admin.tls_key === undefined)) {
    ctx.addIssue({
      code: 'custom', path: ['admin', c.admin.tls_cert ? 'tls_key' : 'tls_cert'],
      message: 'admin.tls_cert and admin.tls_key go together: both for HTTPS on the admin listener, or neither for plain HTTP',
    });
  }
  const needsTls = c.smtp.listen.some((l) => l.tls !== 'none');
  if (needsTls && (!c.smtp.tls.cert || !c.smtp.tls.key)) {
    ctx.addIssue({
      code: 'custom',
      path: ['smtp', 'tls', c.smtp.tls.cert ? 'key' : 'cert'],
      message: 'a listener uses TLS ("starttls" or "implicit"), so smtp.tls.cert and smtp.tls.key are required',
    });
  }
});

export type ConfigFile = z.infer<typeof configSchema>;
