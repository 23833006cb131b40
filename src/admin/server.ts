/**
 * admin/server — the admin HTTP API (JSON over node:http) on `admin.listen`: everything
 * the CLI does under /api/v1/ (domains, senders, suppression, queue, status), the send
 * API, the OpenAPI document, /healthz and /metrics. It is also how the CLI reaches the
 * running daemon for what must take effect at once (queue flush, hold, release, delete).
 *
 * One request: allowlist, Host/Origin (admin/browser.ts) and token (admin/auth.ts) →
 * route → path, query and body validated against the route's zod schemas → handler →
 * reply. Routes live in admin/routes/, one file per resource; the services they call are
 * shared with the CLI. With no admin.token, the token is generated (admin/token.ts).
 *
 * The daemon's actual address goes to `<data_dir>/admin.json`, so the CLI finds a daemon
 * that listens on port 0 (tests) or on an address changed since it started.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { MtaError } from '../util/errors.js';
import { countRejection } from '../metrics/metrics.js';
import { checkAllowlist, checkToken, isPublic } from './auth.js';
import { allowedHosts, checkBrowser } from './browser.js';
import { ensureAdminToken } from './token.js';
import {
  Reply, Router, errorReply, isJsonType, mediaType, parseJson, parseWith, readBody, send, type Route,
} from './router.js';
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

export type { AdminDeps } from './context.js';

export class AdminServer {
  private server: Server | undefined;
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

  constructor(private readonly deps: AdminDeps) {
    const ctx: ApiContext = { ...deps, startedAt: () => this.startedAt };
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
    const a = this.server?.address();
    return typeof a === 'object' && a ? a.port : 0;
  }

  async start(): Promise<void> {
    const { host, port } = this.deps.config().admin;
    void this.token; // before listening: a data dir where it cannot be made stops the start
    const where = formatHostPort(host, port);
    const server = createServer((req, res) => { void this.handle(req, res); });
    server.headersTimeout = 10_000;
    // The send API may carry a message of max_message_size; give it time, not forever.
    server.requestTimeout = 300_000;
    server.keepAliveTimeout = 5_000;
    await new Promise<void>((resolve, reject) => {
      const onError = (e: NodeJS.ErrnoException): void => reject(new MtaError('MTA_ERR_LISTEN', `cannot listen on ${where} (admin.listen): ${e.code ?? e.message}`));
      server.once('error', onError);
      server.listen(port, host, () => { server.off('error', onError); resolve(); });
    });
    server.on('error', (e) => this.deps.log.warn({ err: e }, 'admin listener error'));
    this.server = server;
    this.startedAt = Date.now();
    this.writeAddressFile(host);
    const admin = this.deps.config().admin;
    this.deps.log.info({
      listener: where, port: this.port, auth: admin.token ? 'admin.token' : 'generated token', allowed_ips: admin.allowedIps.empty ? 'any' : 'restricted',
    }, 'admin api listening');
  }

  async stop(): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = undefined;
    this.removeAddressFile();
    await new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeIdleConnections();
      // A request still running after this is cut: the daemon is going down anyway.
      setTimeout(() => server.closeAllConnections(), 2000).unref();
    });
  }

  private writeAddressFile(host: string): void {
    const file = join(this.deps.config().dataDir, ADMIN_FILE);
    const addr: AdminAddress = { host, port: this.port, pid: process.pid };
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

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const method = (req.method ?? 'GET').toUpperCase();
    const client = req.socket.remoteAddress ?? '';
    let path = '/';
    try {
      const url = new URL(req.url ?? '/', 'http://admin.invalid');
      path = url.pathname;
      const m = this.router.match(method, path);
      const route = m.kind === 'found' ? m.route : undefined;
      const admin = this.deps.config().admin;
      try { checkAllowlist(client, admin); } catch (e) { countRejection('api', 'IP_NOT_ALLOWED'); throw e; }
      if (!isPublic(route?.access ?? 'token', admin)) {
        try {
          checkBrowser(req.headers, allowedHosts(this.deps.config()));
          checkToken(req.headers.authorization, this.token);
        } catch (e) { countRejection('api', 'AUTH_FAILED'); throw e; }
      }
      if (m.kind === 'none') throw new MtaError('MTA_ERR_NOT_FOUND', `no such endpoint: ${method} ${path}`);
      if (m.kind === 'method') {
        req.resume();
        const e = errorReply(new MtaError('MTA_ERR_METHOD', `${method} is not allowed on ${path} (allowed: ${m.allow.join(', ')})`));
        return send(res, e.status, e.body, { allow: m.allow.join(', ') });
      }
      const r = m.route;
      const params = parseWith(r.params, m.params, 'path');
      const query = parseWith(r.query, Object.fromEntries(url.searchParams), 'query');
      r.before?.(req, client);
      const { body, raw } = await this.readRequestBody(req, r, method);
      const result = await r.handler({ params, query, body, req, client, raw });
      const reply = result instanceof Reply ? result : new Reply(r.status, result);
      if (reply.contentType.startsWith('application/json') && reply.status < 300) this.checkResponse(r, reply.body, method, path);
      send(res, reply.status, reply.body, reply.headers, reply.contentType);
    } catch (e) {
      const r = errorReply(e);
      if (r.status >= 500 && r.status !== 503) this.deps.log.error({ err: e, method, path }, 'admin request failed');
      else this.deps.log.debug({ method, path, status: r.status, err_code: r.body.error.code, client }, 'admin request refused');
      const headers: Record<string, string> = r.status === 401 ? { 'www-authenticate': 'Bearer realm="mta"' } : {};
      // A refused request body may still be arriving: do not keep the connection for it.
      if (r.status === 413 || r.status === 403 || !req.complete) headers['connection'] = 'close';
      if (!req.complete) req.resume();
      send(res, r.status, r.body, headers);
    }
  }

  /**
   * The body as the route wants it: its raw media types are left in `req` for the
   * handler; JSON is read (up to the route's limit), parsed and validated; a route without
   * a body schema takes none (or `{}`).
   */
  private async readRequestBody(req: IncomingMessage, r: Route, method: string): Promise<{ body: unknown; raw: Buffer | undefined }> {
    const type = mediaType(req);
    const empty = req.headers['content-length'] === '0' || (req.headers['content-length'] === undefined && req.headers['transfer-encoding'] === undefined);
    if (method === 'GET' || method === 'HEAD' || method === 'DELETE') {
      req.resume();
      return { body: undefined, raw: undefined };
    }
    if (!empty && r.rawBodyTypes.includes(type)) return { body: undefined, raw: undefined };
    // A body without a type, text/plain or a form is what a web page may post anywhere
    // without asking (a "simple" request): only an explicit JSON type is read as JSON.
    const unsupported = (): MtaError => new MtaError('MTA_ERR_UNSUPPORTED_MEDIA', `Content-Type ${type || '(none)'} is not accepted here; send application/json${r.rawBodyTypes.map((t) => ` or ${t}`).join('')}`);
    if (!empty && type !== '' && !isJsonType(type)) {
      req.resume();
      throw unsupported();
    }
    const raw = empty ? Buffer.alloc(0) : await readBody(req, r.maxBody(), r.tooLarge);
    if (type === '' && raw.length > 0) throw unsupported();
    const value = parseJson(raw);
    if (r.body) return { body: parseWith(r.body, value ?? {}, 'body'), raw };
    const isEmptyObject = typeof value === 'object' && value !== null && !Array.isArray(value) && Object.keys(value).length === 0;
    if (value !== undefined && !isEmptyObject) throw new MtaError('MTA_ERR_INVALID', 'this endpoint takes no request body (or {})');
    return { body: undefined, raw };
  }

  private checkResponse(r: Route, body: unknown, method: string, path: string): void {
    const ok = r.response.safeParse(body);
    if (ok.success) return;
    this.deps.log.error({ method, path, issues: ok.error.issues.slice(0, 5) }, 'admin response does not match its declared schema');
    if (this.checkResponses) throw new MtaError('MTA_ERR_INTERNAL', `response does not match its schema: ${JSON.stringify(ok.error.issues.slice(0, 3))}`);
  }
}
