/**
 * daemon — wires the stages together and owns the process life cycle:
 *   starting → running → draining → stopped
 * SIGHUP reloads the configuration (an invalid file is logged and ignored); SIGTERM and
 * SIGINT drain and exit. Only this module installs signal handlers. Every long-running
 * service has the one life cycle of util/lifecycle.ts; this module starts them and names
 * the order they stop in (STOP_ORDER).
 */
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Logger } from 'pino';
import { DEV_SOURCE, loadConfig, type Config } from '../config/config.js';
import { recordDaemon, removeRecord } from '../config/runtime.js';
import { DataDirLock, openStoreAsync, type OpenStore } from '../spool/index.js';
import type { Store } from '../spool/types.js';
import { SubmissionService } from '../submission/listener.js';
import { createLogger } from '../util/log.js';
import { Scheduler } from '../scheduler/scheduler.js';
import { Router } from '../delivery/router.js';
import { EgressSelector, checkSourceAddresses } from '../delivery/egress.js';
import { MxResolver } from '../dns/mx.js';
import { MtaStsPolicies } from '../delivery/mta-sts.js';
import { Dane } from '../delivery/dane.js';
import { TlsRptReporter } from '../delivery/tls-rpt-send.js';
import { DnsClient, serverList } from '../dns/client.js';
import { DevSink } from '../delivery/dev-sink.js';
import { restartNeeded } from '../config/restart.js';
import { configWarnings } from '../config/checks.js';
import { DomainVerifier } from '../accounts/verification.js';
import { WebhookDispatcher } from '../events/dispatcher.js';
import { RetentionJob } from '../stats/retention.js';
import { AdminServer } from '../admin/server.js';
import { sweepUploads } from '../admin/list-upload.js';
import { observeCommits } from '../metrics/metrics.js';
import { loadSecret } from '../util/secret.js';
import { PublicServer } from '../public/server.js';
import { InboundService } from '../inbound/listener.js';
import { QuotaService } from '../quota/quota.js';
import { ReputationService } from '../quota/reputation-service.js';
import { TaskExpander } from '../tasks/expander.js';
import { Tasks } from '../tasks/tasks.js';
import { MtaError, assertNever } from '../util/errors.js';
import { secureDataDir } from '../util/files.js';
import { notifyReady } from './sd-notify.js';
import { ServiceSet, StateMachine, type StopOptions } from '../util/lifecycle.js';
import { JOBS, JobLeader, type JobName } from '../util/cluster-jobs.js';
import { Heartbeat } from './cluster.js';
import { formatHostPort } from '../util/host-port.js';
import { VERSION } from '../admin/context.js';

export type DaemonState = 'starting' | 'running' | 'draining' | 'stopped';

const ALLOWED: Record<DaemonState, readonly DaemonState[]> = {
  starting: ['running', 'stopped'],
  running: ['draining'],
  draining: ['stopped'],
  stopped: [],
};

/** Where mail goes, for the first log line: the operator must see at once whether mail leaves. */
function deliveryMode(c: Config): string {
  if (!c.delivery.enabled) return 'off: mail is spooled, not delivered (delivery.enabled = false)';
  if (c.delivery.sink) return `development sink: nothing is sent, each message is kept in ${c.delivery.sink}`;
  const smarthost = c.routes.find((r) => r.domains.includes('*'));
  return smarthost ? `smarthost ${smarthost.host}:${smarthost.port}` : `recipients' MX hosts, port ${c.delivery.port}`;
}

/**
 * The order services stop in (util/lifecycle.ts): the front-ends first, so no new work
 * arrives; then what produces and delivers mail; the webhook outbox, so the events of
 * the final outcomes still go out; the cluster heartbeat last, releasing this node's job
 * leases once none of its jobs runs here any more.
 */
const STOP_ORDER = ['submission', 'admin', 'tasks', 'public', 'inbound', 'scheduler', 'dev-sink', 'mta-sts', 'dane', 'tls-rpt', 'verifier', 'retention', 'reputation', 'webhooks', 'cluster'] as const;
type ServiceName = typeof STOP_ORDER[number];

/** now: the clock of time-limited links (reply-to verification), for tests; default Date.now */
export interface DaemonOptions { configPath?: string | undefined; config?: Config; logger?: Logger; now?: () => number }

export class Daemon {
  private readonly life: StateMachine<DaemonState>;
  config: Config;
  readonly log: Logger;
  store!: OpenStore;
  submission!: SubmissionService;
  /** absent when delivery.enabled = false */
  scheduler: Scheduler | undefined;
  /** the development sink all mail goes to (delivery.sink; read at start-up only) */
  devSink: DevSink | undefined;
  dns!: DnsClient;
  /** delivery's MX cache (absent when delivery.enabled = false) */
  private mx: MxResolver | undefined;
  private mtaSts: MtaStsPolicies | undefined;
  private dane: Dane | undefined;
  tlsRpt: TlsRptReporter | undefined;
  /** the configuration start() ran with: what restart-only settings are compared against */
  private readonly startedWith: Config;
  /** restart-only settings changed in the file since start (config/restart.ts), for `mta status` */
  pendingRestart: string[] = [];
  admin: AdminServer | undefined;
  verifier: DomainVerifier | undefined;
  /** delivers the webhook outbox */
  webhooks: WebhookDispatcher | undefined;
  /** the scheduled purge of old send details and statistics */
  retention: RetentionJob | undefined;
  /** sending quotas and reputation caps; batch tasks ask it too */
  quota!: QuotaService;
  reputation: ReputationService | undefined;
  /** <data_dir>/secret.key: signs VERP addresses and unsubscribe tokens (util/secret.ts) */
  secret!: Buffer;
  /** the unsubscribe pages (absent without public.base_url: no link could point at it) */
  publicServer: PublicServer | undefined;
  /** inbound SMTP for bounces and mailto unsubscribes (absent when inbound.listen is empty) */
  inbound: InboundService | undefined;
  /** which one-at-a-time jobs (DNS re-check, purge, ...) this node leads (util/cluster-jobs.ts) */
  jobs!: JobLeader;
  /** expands running batch tasks into queued mail */
  tasks: TaskExpander | undefined;
  private readonly configPath: string | undefined;
  private readonly now: () => number;
  /** one daemon per data_dir (spool/data-dir-lock.ts), held from start to stop */
  private lock: DataDirLock | undefined;
  /** config/runtime.ts: tells CLI commands without a configuration which one this daemon uses */
  private recordFile: string | undefined;
  /** set by installSignalHandlers: this daemon is the process (`mta start`), so it may exit */
  private ownsProcess = false;
  /** every service started, for stop() and for a start-up that fails half-way */
  private readonly services = new ServiceSet<ServiceName>(STOP_ORDER);
  /** when start() began, ms since epoch (the cluster's node list shows it) */
  private startedAt = 0;

  constructor(opts: DaemonOptions) {
    this.configPath = opts.configPath;
    this.now = opts.now ?? Date.now;
    this.config = opts.config ?? loadConfig({ path: opts.configPath, discover: false });
    this.startedWith = this.config;
    this.log = opts.logger ?? createLogger(this.config.logLevel);
    this.life = new StateMachine('daemon', ALLOWED, 'starting', (from, to) => this.log.info({ from, to }, 'daemon state'));
  }

  get state(): DaemonState { return this.life.state; }

  private setState(next: DaemonState): void {
    this.life.to(next);
  }

  async start(): Promise<void> {
    this.startedAt = Date.now();
    this.log.info({ config: this.config.source, data_dir: this.config.dataDir, hostname: this.config.hostname, delivery: deliveryMode(this.config) }, 'mta starting');
    for (const w of configWarnings(this.config, this.configText())) this.log.warn({ config: this.config.source }, w);
    const dir = secureDataDir(this.config.dataDir);
    if (dir.tightened) this.log.warn({ data_dir: this.config.dataDir, ...dir.tightened }, 'data_dir was open to every local user; its permissions were tightened');
    // Before anything in the data dir is touched: a second daemon must change nothing there.
    this.lock = DataDirLock.acquire(this.config.dataDir);
    try {
      this.store = await openStoreAsync(this.config, { writerThread: this.config.spool.writerThread });
      this.store.onWriterFailure((e) => {
        // A spool that cannot write must not take mail: stop, and let systemd start us again.
        this.log.fatal({ err: e.message }, 'spool writer thread failed; stopping');
        process.exitCode = 1;
        void this.stop().catch(() => undefined).finally(() => { if (this.ownsProcess) process.exit(1); });
      });
      observeCommits(this.store);
      this.secret = loadSecret(this.config.dataDir);
      // Each periodic job below runs on the one node that leads it; with SQLite that is this one.
      this.jobs = new JobLeader(this.store, this.store.nodeId, this.log.child({ component: 'cluster' }));
      // Before the front-ends: no message may arrive unchecked.
      this.reputation = new ReputationService(this.config, this.store, this.log.child({ component: 'reputation' }));
      this.reputation.gate = this.jobs;
      this.quota = new QuotaService(() => this.config, this.store, this.reputation);
      this.submission = new SubmissionService({ config: this.config, store: this.store as Store, log: this.log.child({ component: 'submission' }), quota: this.quota });
      await this.services.start('submission', this.submission);
      this.dns = new DnsClient({ servers: this.config.dns.servers });
      if (this.config.delivery.enabled) {
        // A source address not on this machine would fail every connection: refuse to start, naming it.
        await checkSourceAddresses(new EgressSelector(this.config, this.store, this.log).ownSources());
        this.mx = new MxResolver(this.dns);
        const router = new Router(this.config, this.mx);
        const mtaSts = this.mtaSts = new MtaStsPolicies(this.config, this.dns, this.store, this.log.child({ component: 'mta-sts' }));
        router.mtaSts = mtaSts;
        mtaSts.gate = this.jobs;
        await this.services.start('mta-sts', { start: () => mtaSts.start(), stop: () => mtaSts.stop() });
        const dane = this.dane = new Dane(this.config, this.log.child({ component: 'dane' }));
        this.services.track('dane', { stop: () => dane.close() });
        router.dane = dane;
        if (this.config.delivery.sink) {
          const devSink = this.devSink = new DevSink(this.config.delivery.sink);
          this.services.track('dev-sink', { stop: () => devSink.close() });
          router.sink = await devSink.start();
          this.log.warn({ sink: this.config.delivery.sink }, 'development sink: no mail leaves this machine; each message is kept as an .eml file there');
        }
        const scheduler = this.scheduler = new Scheduler(this.config, this.store, router, this.log.child({ component: 'delivery' }));
        const tlsRpt = this.tlsRpt = new TlsRptReporter(this.config, this.store, this.dns, this.mx, this.log.child({ component: 'tls-rpt' }));
        if (this.config.delivery.tlsRpt.enabled) scheduler.agent.tlsRpt = tlsRpt.tally;
        tlsRpt.gate = this.jobs;
        await this.services.start('tls-rpt', { start: () => tlsRpt.start(), stop: () => tlsRpt.stop() });
        // A failed start-up hands waiting and in-flight deliveries back at once (deadline 0).
        await this.services.start('scheduler', { start: () => scheduler.start(), stop: (o?: StopOptions) => scheduler.stop(o?.abort ? 0 : undefined) });
      } else {
        this.log.warn('delivery.enabled = false: mail is accepted and spooled but not delivered');
      }
      const swept = await sweepUploads(join(this.config.dataDir, 'tmp'));
      if (swept > 0) this.log.warn({ files: swept }, 'temporary files of list uploads cut short by an earlier stop removed');
      this.admin = new AdminServer({
        store: this.store, scheduler: () => this.scheduler, state: () => this.state, config: () => this.config, log: this.log.child({ component: 'admin' }),
        dns: () => this.dns, smtpPorts: () => this.submission.ports, quota: () => this.quota, egress: () => this.scheduler?.agent.egress, pendingRestart: () => this.pendingRestart,
        now: this.now,
      });
      await this.services.start('admin', this.admin);
      this.verifier = new DomainVerifier(this.config, this.store, this.dns, this.log.child({ component: 'dns-check' }));
      this.verifier.gate = this.jobs;
      await this.services.start('verifier', this.verifier);
      this.webhooks = new WebhookDispatcher(this.config, this.store, this.log.child({ component: 'webhooks' }));
      await this.services.start('webhooks', this.webhooks);
      this.retention = new RetentionJob(this.config, this.store, this.log.child({ component: 'retention' }));
      this.retention.gate = this.jobs;
      await this.services.start('retention', this.retention);
      // batch tasks (src/tasks)
      const taskControl = new Tasks(this.store, () => this.config, () => this.scheduler);
      const cleaned = await taskControl.finishCancelled();
      if (cleaned > 0) this.log.warn({ recipients: cleaned }, 'recipients of cancelled tasks deleted after an interrupted cancel');
      // A cancel given to another node while this node was not listening (PostgreSQL restarting) was not
      // heard: the task's members this node claimed would be delivered. Look once, as at start-up (ends with the store).
      this.store.onRemoteQueueChange((c) => {
        if (c.kind === 'reset') taskControl.finishCancelled().catch((e: unknown) => this.log.warn({ err: (e as Error).message }, 'could not look for cancelled tasks after reconnecting'));
      });
      const daemon = this; // eslint-disable-line @typescript-eslint/no-this-alias -- getters below follow SIGHUP reloads
      this.tasks = new TaskExpander({
        store: this.store, config: () => this.config, log: this.log.child({ component: 'tasks' }), quota: this.quota, gate: this.jobs,
        precedence: this.scheduler?.agent.precedence,
        render: {
          store: this.store, secret: () => this.secret,
          get hostname() { return daemon.config.hostname; },
          get baseUrl() { return daemon.config.public.baseUrl; },
          get bounceSubdomain() { return daemon.config.domains.bounceSubdomain; },
          get maxRenderedSize() { return daemon.config.templates.maxRenderedSize; },
        },
      });
      await this.services.start('tasks', this.tasks);
      // quotas and reputation (src/quota)
      await this.services.start('reputation', this.reputation);
      // public endpoint and inbound mail (src/public, src/inbound)
      if (this.config.public.baseUrl) {
        this.publicServer = new PublicServer({ config: () => this.config, store: this.store, secret: this.secret, log: this.log.child({ component: 'public' }), now: this.now });
        await this.services.start('public', this.publicServer);
      }
      if (this.config.inbound.listen.length > 0) {
        this.inbound = new InboundService({
          config: () => this.config, store: this.store, secret: this.secret, log: this.log.child({ component: 'inbound' }),
          ...(this.publicServer ? { unsubscriber: this.publicServer.unsubscriber } : {}),
        });
        await this.services.start('inbound', this.inbound);
      }
      // Last: the node registers (first heartbeat) with its listeners bound and its jobs known.
      this.runJobs(this.config);
      await this.services.start('cluster', new Heartbeat({
        store: this.store, jobs: this.jobs, log: this.log.child({ component: 'cluster' }),
        info: () => ({ version: VERSION, hostname: this.config.hostname, listeners: this.listeners(), startedAt: this.startedAt }),
        onNodesAlive: (n) => this.scheduler?.setNodesAlive(n),
      }));
    } catch (e) {
      // A later listener failing must not leave the earlier ones serving.
      await this.services.stopAll({ abort: true, onError: (service, err) => this.log.warn({ service, err: (err as Error).message }, 'service did not stop cleanly after the failed start') });
      this.dns?.close();
      this.setState('stopped');
      await this.store?.close();
      this.lock.release();
      throw e;
    }
    this.setState('running');
    if (this.ownsProcess) {
      const source = this.config.source;
      this.recordFile = recordDaemon({ config: source === DEV_SOURCE ? null : resolve(source), cwd: process.cwd(), data_dir: this.config.dataDir });
      notifyReady(this.log);
    }
  }

  /**
   * The one-at-a-time jobs this node runs with `c` (util/cluster-jobs.ts): it campaigns for
   * those and gives up any it led that `c` turns off, so a node with a job off never holds it.
   */
  private runJobs(c: Config): void {
    const on: Record<JobName, boolean> = {
      'dns-check': true, 'retention-purge': true, reputation: c.reputation.enabled,
      'mta-sts-sweep': this.mtaSts !== undefined && c.delivery.mtaSts.enabled,
      'tls-rpt-send': this.tlsRpt !== undefined && c.delivery.tlsRpt.enabled && Boolean(c.delivery.tlsRpt.from),
    };
    for (const job of JOBS) void this.jobs.runs(job, on[job]);
  }

  /** What this node listens on, with the bound ports (port 0 in the file means one the OS chose), for the cluster's node list. */
  private listeners(): string[] {
    const smtp = this.submission.ports.map((port, i) => `smtp ${formatHostPort(this.config.smtp.listen[i]?.host ?? '', port)}`);
    const admin = this.admin ? [`admin ${formatHostPort(this.config.admin.host, this.admin.port)}`] : [];
    const pub = this.publicServer ? [`public ${formatHostPort(this.config.public.host, this.publicServer.port)}`] : [];
    const inbound = (this.inbound?.ports ?? []).map((port, i) => `inbound ${formatHostPort(this.config.inbound.listen[i]?.host ?? '', port)}`);
    return [...smtp, ...admin, ...pub, ...inbound];
  }

  private configText(): string | undefined {
    if (this.config.source === DEV_SOURCE) return undefined;
    try { return readFileSync(this.config.source, 'utf8'); } catch { return undefined; }
  }

  /**
   * Re-reads the config file and applies every setting a running daemon can apply (limits,
   * TLS material, routes, DNS servers, ...); each restart-only one that changed is logged by
   * name and listed in `pendingRestart` (config/restart.ts). Returns the problems when the
   * new file is invalid, changing nothing.
   */
  reload(): string | undefined {
    let next: Config;
    let servers: ReturnType<typeof serverList> | undefined;
    let applyAdminTls: (() => void) | undefined;
    try {
      next = loadConfig({ path: this.configPath, discover: false });
      if (JSON.stringify(next.dns.servers) !== JSON.stringify(this.config.dns.servers)) servers = serverList(next.dns.servers);
      // A renewed admin certificate is read (and checked) now, put in force below.
      applyAdminTls = this.admin?.prepareTlsReload(next);
      // Last of the checks: it throws, changing nothing, when the TLS certificate or key cannot be used.
      this.submission.reload(next);
    } catch (e) {
      const msg = (e as Error).message;
      this.log.error({ err_code: (e as MtaError).code, problems: msg }, 'configuration reload refused; the old configuration stays in force');
      return msg;
    }
    this.pendingRestart = restartNeeded(this.startedWith, next);
    for (const key of this.pendingRestart) this.log.warn({ setting: key }, `${key} needs a restart`);
    // Source addresses are checked by binding them at start-up (async), which a reload cannot
    // do: while they differ, the egress configuration stays as it was (pools, rules and limits
    // over the same sources reload). The spool counts days in the zone it was opened with.
    if (this.pendingRestart.includes('egress.source') || this.pendingRestart.includes('node.id')) next = { ...next, egress: this.config.egress, node: this.config.node };
    if (this.pendingRestart.includes('timezone')) next = { ...next, timeZone: this.config.timeZone };
    this.config = next;
    this.log.level = next.logLevel;
    if (servers) {
      this.dns.setServers(servers);
      // Answers of the old servers (a "host not found" among them) must not outlive them.
      this.mx?.clear();
      this.log.info({ servers: this.dns.serverLabels }, 'dns.servers applied');
    }
    applyAdminTls?.();
    this.scheduler?.reload(next);
    this.mtaSts?.reload(next);
    this.dane?.reload(next);
    this.tlsRpt?.reload(next);
    if (this.scheduler) this.scheduler.agent.tlsRpt = next.delivery.tlsRpt.enabled ? this.tlsRpt?.tally : undefined;
    this.verifier?.reload(next);
    this.webhooks?.reload(next);
    this.retention?.reload(next);
    this.inbound?.reload(next);
    this.reputation?.reload(next);
    this.runJobs(next);
    // A rotated tracking key (mta tracking rotate-key) is read again.
    this.publicServer?.tracking.reloadKeys();
    this.log.info({ config: next.source, pending_restart: this.pendingRestart }, 'configuration reloaded');
    return undefined;
  }

  async stop(): Promise<void> {
    switch (this.state) {
      case 'starting': case 'draining': case 'stopped': return;
      case 'running': break;
      default: assertNever(this.state, 'daemon state');
    }
    this.setState('draining');
    removeRecord(this.recordFile);
    await this.services.stopAll();
    this.dns.close();
    await this.store.close();
    this.lock?.release();
    this.setState('stopped');
  }

  installSignalHandlers(): void {
    this.ownsProcess = true;
    process.on('SIGHUP', () => { this.reload(); });
    const stop = (sig: string): void => {
      this.log.info({ signal: sig }, 'stopping');
      const force = setTimeout(() => { this.log.error('shutdown deadline passed; exiting'); process.exit(1); }, this.config.delivery.shutdownTimeoutMs + 10_000);
      force.unref();
      this.stop().then(() => process.exit(0), (e: unknown) => { this.log.error({ err: e }, 'shutdown failed'); process.exit(1); });
    };
    process.on('SIGTERM', () => stop('SIGTERM'));
    process.on('SIGINT', () => stop('SIGINT'));
  }
}
