/**
 * admin/server — the admin HTTP API (JSON over HTTP, on fastify: admin/http.ts) on `admin.listen`: everything
 * the CLI does under /api/v1/ (domains, senders, suppression, queue, status), the send
 * API, the OpenAPI document, /healthz and /metrics. It is also how the CLI reaches the
 * running daemon for what must take effect at once (queue flush, hold, release, delete).
 *
 * One request: allowlist, Host/Origin (admin/browser.ts) and token (admin/auth.ts) →
 * route → path, query and body validated against the route's zod schemas → handler →
 * reply (the first step is this module's `gate`, the rest admin/http.ts). Routes live in admin/routes/, one file per resource; the services they call are
 * shared with the CLI. With no admin.token, the token is generated (admin/token.ts).
 *
 * The daemon's actual address goes to `<data_dir>/admin.json`, so the CLI finds a daemon
 * that listens on port 0 (tests) or on an address changed since it started.
 */
import type { FastifyInstance } from 'fastify';
import { readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { createSecureContext, type Server as TlsServer } from 'node:tls';
import type { Socket } from 'node:net';
import type { Config } from '../config/config.js';
import { join } from 'node:path';
import { MtaError } from '../util/errors.js';
import { ensureAdminToken } from './token.js';
import { Router, type Route } from './router.js';
import type { AdminDeps, ApiContext } from './context.js';
import { ADMIN_FILE, formatHostPort, type AdminAddress } from './address.js';
import { systemRoutes } from './routes/system.js';
import { domainRoutes } from './routes/domains.js';
import { senderRoutes } from './routes/senders.js';
import { suppressionRoutes } from './routes/suppression.js';
import { queueRoutes } from './routes/queue.js';
import { sendRoutes } from './routes/send.js';
import { webhookRoutes } from './routes/webhooks.js';
import { statsRoutes } from './routes/stats.js';
import { messageRoutes } from './routes/messages.js';
import { templateRoutes } from './routes/templates.js';
import { listRoutes } from './routes/lists.js';
import { taskRoutes } from './routes/tasks.js';
import { trackingRoutes } from './routes/tracking.js';
import { egressRoutes } from './routes/egress.js';
import { clusterRoutes } from './routes/cluster.js';
import { sessionRoutes } from './routes/session.js';
import { userRoutes } from './routes/users.js';
import { Sessions } from './session.js';
import type { AccessDeps } from './access.js';

export type { AdminDeps } from './context.js';

const PURGE_EVERY_MS = 10 * 60_000;

export class AdminServer {
  private app: FastifyInstance | undefined;
  /** whether the listener was started with admin.tls_cert (HTTPS) */
  private https = false;
  /**
   * Every TCP connection, tracked from its first byte: an HTTPS connection that never finished
   * its handshake is not one the server's closeAllConnections reaches, and would hold a stop
   * for TLS's two-minute handshake timeout.
   */
  private readonly sockets = new Set<Socket>();
  readonly router = new Router();
  private startedAt = 0;
  private file: string | undefined;
  /** `<data_dir>/admin.token`, read (or made) when admin.token is empty */
  private generated: string | undefined;
  /**
   * Check every response against its route's schema and answer 500 when one does not
   * match (tests turn it on: the OpenAPI document must describe what is really sent).
   * Off, a mismatch is only logged.
   */
  checkResponses = false;

  readonly sessions: Sessions;
  private purgeTimer: NodeJS.Timeout | undefined;
  private readonly access: AccessDeps;

  constructor(private readonly deps: AdminDeps) {
    const ctx: ApiContext = { ...deps, startedAt: () => this.startedAt };
    this.sessions = new Sessions(deps.store, () => ({ idleMs: deps.config().admin.sessionIdleMs, lifetimeMs: deps.config().admin.sessionLifetimeMs }));
    this.access = { config: deps.config, token: () => this.token, sessions: this.sessions };
    this.router.add(...sessionRoutes(ctx, this.sessions), ...userRoutes(ctx));
    this.router.add(
      ...systemRoutes(ctx, () => this.router.routes),
      ...domainRoutes(ctx), ...senderRoutes(ctx), ...suppressionRoutes(ctx), ...queueRoutes(ctx), ...sendRoutes(ctx),
      ...webhookRoutes(ctx),
      ...statsRoutes(ctx),
      ...messageRoutes(ctx),
      ...templateRoutes(ctx),
      ...listRoutes(ctx),
      ...taskRoutes(ctx),
      ...trackingRoutes(ctx),
      ...egressRoutes(ctx),
      ...clusterRoutes(ctx),
    );
  }

  /** The token the API asks for: admin.token, else the generated one (made on first use). */
  get token(): string {
    const config = this.deps.config();
    if (config.admin.token) return config.admin.token;
    if (this.generated === undefined) {
      const g = ensureAdminToken(config.dataDir);
      // Shown once, when made, so whoever ran `npm start` can use it; after that only the file has it.
      // (In the message: the logger redacts fields named token.)
      if (g.created) this.deps.log.warn({ token_file: g.file }, `admin.token is not set: generated the admin API token ${g.token} (kept in token_file, where the CLI finds it; shown only this once)`);
      this.generated = g.token;
    }
    return this.generated;
  }

  /** The bound port (the configured one, or the one the OS chose for port 0). */
  get port(): number {
    const a = this.app?.server.address();
    return typeof a === 'object' && a ? a.port : 0;
  }

  async start(): Promise<void> {
    const { host, port } = this.deps.config().admin;
    void this.token; // before listening: a data dir where it cannot be made stops the start
    const where = formatHostPort(host, port);
    const tls = this.tlsFiles();
    this.https = tls !== undefined;
    // fastify and its plugins load only here: the CLI, which imports this module, never needs them.
    const [{ buildAdminApp }, { addCsrfCheck, gate, registerAccessPlugins }, { registerConsole }] = await Promise.all([
      import('./http.js'), import('./access.js'), import('./console.js'),
    ]);
    const app = await buildAdminApp(this.router.routes, {
      plugins: (app) => registerAccessPlugins(app, this.access),
      gate: (request, access, route) => gate(this.access, request, access, route),
      afterGate: addCsrfCheck,
      extend: registerConsole,
      checkResponse: (r, body, method, path) => this.checkResponse(r, body, method, path),
      log: this.deps.log,
    }, tls);
    try {
      await app.listen({ port, host });
    } catch (e) {
      await app.close().catch(() => undefined);
      throw new MtaError('MTA_ERR_LISTEN', `cannot listen on ${where} (admin.listen): ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    }
    app.server.on('error', (e) => this.deps.log.warn({ err: e }, 'admin listener error'));
    app.server.on('connection', (socket: Socket) => {
      this.sockets.add(socket);
      socket.once('close', () => this.sockets.delete(socket));
    });
    this.app = app;
    // Sessions past their limits are refused when used; this removes the ones never used again.
    this.purgeTimer = setInterval(() => {
      this.sessions.purge().catch((e: unknown) => this.deps.log.warn({ err: e }, 'cannot purge expired console sessions'));
    }, PURGE_EVERY_MS);
    this.purgeTimer.unref();
    this.startedAt = Date.now();
    this.writeAddressFile(host);
    const admin = this.deps.config().admin;
    this.deps.log.info({
      listener: where, port: this.port, protocol: admin.tls ? 'https' : 'http', auth: admin.token ? 'admin.token' : 'generated token', allowed_ips: admin.allowedIps.empty ? 'any' : 'restricted',
    }, 'admin api listening');
  }

  /** admin.tls_cert and tls_key as read now: MTA_ERR_CONFIG_READ when unreadable, MTA_ERR_CONFIG when they make no usable context. */
  private tlsFiles(config: Config = this.deps.config()): { cert: Buffer; key: Buffer } | undefined {
    const tls = config.admin.tls;
    if (!tls) return undefined;
    let files: { cert: Buffer; key: Buffer };
    try {
      files = { cert: readFileSync(tls.cert), key: readFileSync(tls.key) };
    } catch (e) {
      throw new MtaError('MTA_ERR_CONFIG_READ', `cannot read the admin listener's certificate or key (admin.tls_cert, admin.tls_key): ${(e as Error).message}`);
    }
    try {
      createSecureContext(files);
    } catch (e) {
      throw new MtaError('MTA_ERR_CONFIG', `the admin listener's certificate and key (admin.tls_cert, admin.tls_key) cannot be used: ${(e as Error).message}`);
    }
    return files;
  }

  /**
   * For a SIGHUP reload: reads the certificate and key again (a renewed certificate at the same
   * path) and returns what puts them in force, or throws, changing nothing, when they cannot be
   * used. Turning HTTPS on or off needs a restart (config/restart.ts): until then a listener
   * started without it stays plain HTTP and one started with it keeps its certificate.
   */
  prepareTlsReload(next: Config): () => void {
    const app = this.app;
    if (!app || !this.https || !next.admin.tls) return () => undefined;
    const files = this.tlsFiles(next);
    return () => { (app.server as unknown as TlsServer).setSecureContext(files!); };
  }

  async stop(): Promise<void> {
    const app = this.app;
    if (!app) return;
    this.app = undefined;
    clearInterval(this.purgeTimer);
    this.removeAddressFile();
    // A request still running after this is cut: the daemon is going down anyway.
    const cut = setTimeout(() => {
      app.server.closeAllConnections();
      for (const socket of this.sockets) socket.destroy();
    }, 2000);
    cut.unref();
    app.server.closeIdleConnections();
    await app.close();
    clearTimeout(cut);
  }

  private writeAddressFile(host: string): void {
    const file = join(this.deps.config().dataDir, ADMIN_FILE);
    const addr: AdminAddress = { host, port: this.port, pid: process.pid, ...(this.https ? { tls: true } : {}) };
    try {
      rmSync(`${file}.tmp`, { force: true }); // a stale one would keep its old mode
      writeFileSync(`${file}.tmp`, `${JSON.stringify(addr)}\n`, { mode: 0o600 });
      renameSync(`${file}.tmp`, file);
      this.file = file;
    } catch (e) {
      this.deps.log.warn({ err: (e as Error).message, file }, 'cannot write the admin address file; the CLI will use admin.listen from the configuration');
    }
  }

  private removeAddressFile(): void {
    if (!this.file) return;
    try {
      // Only our own: another daemon may have started on this data_dir since.
      const cur = JSON.parse(readFileSync(this.file, 'utf8')) as Partial<AdminAddress>;
      if (cur.pid === process.pid) rmSync(this.file, { force: true });
    } catch { /* already gone */ }
    this.file = undefined;
  }

  private checkResponse(r: Route, body: unknown, method: string, path: string): void {
    const ok = r.response.safeParse(body);
    if (ok.success) return;
    this.deps.log.error({ method, path, issues: ok.error.issues.slice(0, 5) }, 'admin response does not match its declared schema');
    if (this.checkResponses) throw new MtaError('MTA_ERR_INTERNAL', `response does not match its schema: ${JSON.stringify(ok.error.issues.slice(0, 3))}`);
  }
}
