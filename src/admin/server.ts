/**
 * admin/server — the admin HTTP API (JSON over node:http) on `admin.listen`. It is how
 * the CLI reaches the running daemon for anything that must take effect at once (queue
 * flush, hold, release, delete) and the seed of the larger admin API (send, domains,
 * stats, /metrics) that later stages add as routes.
 *
 * Auth: with `admin.token` set, every call needs `Authorization: Bearer <token>`; without
 * one, only loopback clients are served, so a default install is never open to the
 * network. The daemon's actual address goes to `<data_dir>/admin.json`, so the CLI finds
 * a daemon that listens on port 0 (tests) or on an address changed since it started.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createHash, timingSafeEqual } from 'node:crypto';
import { readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from 'pino';
import type { Config } from '../config/config.js';
import { MtaError } from '../util/errors.js';
import { Router, errorReply, readJsonBody, sendJson, type AdminRequest } from './router.js';
import { flushTarget, queueIdTarget, queueSummary, runQueueCommand, type QueueCommand, type QueueController, type QueueOpStore } from './queue-ops.js';
import type { QueueTarget } from '../spool/types.js';

export interface AdminDeps {
  store: QueueOpStore;
  /** the running scheduler, or undefined when delivery is disabled */
  scheduler: () => QueueController | undefined;
  /** the daemon's life-cycle state */
  state: () => string;
  /** the current configuration (it changes on SIGHUP: the token applies at once) */
  config: () => Config;
  log: Logger;
}

/** What `<data_dir>/admin.json` holds. */
export interface AdminAddress { host: string; port: number; pid: number }
export const ADMIN_FILE = 'admin.json';

export const VERSION: string = (() => {
  try {
    // dist/src/admin/server.js → the package root
    return (JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
  } catch {
    return 'unknown';
  }
})();

export function isLoopback(addr: string | undefined): boolean {
  if (!addr) return false;
  const a = addr.toLowerCase();
  return a === '::1' || /^127\.\d+\.\d+\.\d+$/.test(a) || /^::ffff:127\.\d+\.\d+\.\d+$/.test(a);
}

/** Compares digests, so neither the token's length nor its content leaks through timing. */
function tokenMatches(given: string, expected: string): boolean {
  const h = (s: string): Buffer => createHash('sha256').update(s, 'utf8').digest();
  return timingSafeEqual(h(given), h(expected));
}

export function formatHostPort(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}

export class AdminServer {
  private server: Server | undefined;
  private readonly router = new Router();
  private startedAt = 0;
  private file: string | undefined;

  constructor(private readonly deps: AdminDeps) {
    const queueOp = (cmd: Exclude<QueueCommand, 'flush'>) => async (req: AdminRequest) =>
      this.queueOp(cmd, queueIdTarget(req.params['id']), req);
    this.router
      .add('GET', '/v1/status', async () => this.status())
      .add('GET', '/v1/queue/summary', async () => ({ ...(await queueSummary(deps.store)) }))
      .add('POST', '/v1/queue/flush', async (req) => this.queueOp('flush', flushTarget(req.body), req))
      .add('POST', '/v1/queue/:id/retry', queueOp('retry'))
      .add('POST', '/v1/queue/:id/hold', queueOp('hold'))
      .add('POST', '/v1/queue/:id/release', queueOp('release'))
      .add('POST', '/v1/queue/:id/delete', queueOp('delete'));
  }

  /** The bound port (the configured one, or the one the OS chose for port 0). */
  get port(): number {
    const a = this.server?.address();
    return typeof a === 'object' && a ? a.port : 0;
  }

  async start(): Promise<void> {
    const { host, port } = this.deps.config().admin;
    const where = formatHostPort(host, port);
    const server = createServer((req, res) => { void this.handle(req, res); });
    server.headersTimeout = 10_000;
    server.requestTimeout = 30_000;
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
    this.deps.log.info({ listener: where, port: this.port, auth: this.deps.config().admin.token ? 'token' : 'loopback only' }, 'admin api listening');
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
      writeFileSync(`${file}.tmp`, `${JSON.stringify(addr)}\n`, { mode: 0o644 });
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

  private authorise(req: IncomingMessage): void {
    const token = this.deps.config().admin.token;
    if (token) {
      const m = /^Bearer\s+(\S+)\s*$/i.exec(req.headers.authorization ?? '');
      if (!m || !tokenMatches(m[1]!, token)) throw new MtaError('MTA_ERR_AUTH', 'missing or wrong admin token (Authorization: Bearer <admin.token>)');
      return;
    }
    if (!isLoopback(req.socket.remoteAddress)) {
      throw new MtaError('MTA_ERR_AUTH', 'admin.token is not set, so the admin API only serves loopback clients; set admin.token (or admin.token_file) to use it from elsewhere');
    }
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const method = (req.method ?? 'GET').toUpperCase();
    let path = '/';
    try {
      const url = new URL(req.url ?? '/', 'http://admin.invalid');
      path = url.pathname;
      this.authorise(req);
      const m = this.router.match(method, path);
      if (m.kind === 'none') throw new MtaError('MTA_ERR_NOT_FOUND', `no such endpoint: ${method} ${path}`);
      if (m.kind === 'method') {
        req.resume();
        const e = errorReply(new MtaError('MTA_ERR_METHOD', `${method} is not allowed on ${path} (allowed: ${m.allow.join(', ')})`));
        return sendJson(res, e.status, e.body, { allow: m.allow.join(', ') });
      }
      const body = method === 'GET' || method === 'HEAD' ? (req.resume(), {}) : await readJsonBody(req);
      const result = await m.handler({ method, path, params: m.params, query: url.searchParams, body, raw: req });
      sendJson(res, 200, { ok: true, ...result });
    } catch (e) {
      const r = errorReply(e);
      if (r.status === 500) this.deps.log.error({ err: e, method, path }, 'admin request failed');
      else this.deps.log.debug({ method, path, status: r.status, err_code: r.body.error.code }, 'admin request refused');
      const headers: Record<string, string> = r.status === 401 && this.deps.config().admin.token ? { 'www-authenticate': 'Bearer realm="mta"' } : {};
      if (r.status === 413) headers['connection'] = 'close';
      sendJson(res, r.status, r.body, headers);
    }
  }

  private async queueOp(cmd: QueueCommand, target: QueueTarget, req: AdminRequest): Promise<Record<string, unknown>> {
    const state = this.deps.state();
    if (state !== 'running' && state !== 'starting') throw new MtaError('MTA_ERR_STATE', `the daemon is ${state}; queue operations are refused`);
    if (cmd !== 'flush') assertEmptyBody(req.body);
    const affected = await runQueueCommand(this.deps.store, this.deps.scheduler(), cmd, target);
    // Operator actions are worth one audit line each.
    this.deps.log.info({ op: cmd, target, affected, client: req.raw.socket.remoteAddress }, 'queue operation');
    return { affected };
  }

  private async status(): Promise<Record<string, unknown>> {
    const s = this.deps.scheduler();
    return {
      state: this.deps.state(),
      version: VERSION,
      pid: process.pid,
      hostname: this.deps.config().hostname,
      started_at: new Date(this.startedAt).toISOString(),
      uptime_s: Math.floor((Date.now() - this.startedAt) / 1000),
      delivery: s ? 'enabled' : 'disabled',
      counts: await this.deps.store.countByState(),
      ready: s ? s.readyCount : null,
      active_connections: s ? s.activeConnections : null,
    };
  }
}

/** Per-message operations take their target from the path; a body may only be `{}`. */
function assertEmptyBody(body: unknown): void {
  if (typeof body !== 'object' || body === null || Array.isArray(body) || Object.keys(body).length > 0) {
    throw new MtaError('MTA_ERR_INVALID', 'this endpoint takes no request body (or {})');
  }
}
