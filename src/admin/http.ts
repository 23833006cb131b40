/**
 * admin/http — the admin listener's HTTP layer on fastify: routing (find-my-way), the
 * access hook every request passes first, security headers (@fastify/helmet), and one
 * error reply shape from the catalogue for everything, fastify's own errors included.
 *
 * Routes are still declared with `defineRoute` (admin/router.ts) and mounted here by an
 * adapter, so a route file knows nothing of fastify. The adapter keeps the request order
 * the API has always had: access → path → query → the route's `before` → body → handler.
 * Bodies are therefore not parsed by fastify: a catch-all content-type parser leaves the
 * stream to the adapter (JSON, with the route's own limit and 413 that the client can
 * read) or to the handler (raw media types such as message/rfc822 and multipart).
 *
 * Must never: answer anything for a non-public route before the access hook has passed,
 * or let a fastify error out in fastify's own shape.
 */
import Fastify, { type FastifyError, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import helmet from '@fastify/helmet';
import type { IncomingMessage } from 'node:http';
import { MtaError } from '../util/errors.js';
import {
  Reply, errorReply, isJsonType, mediaType, parseJson, parseWith, readBody, type Access, type Route,
} from './router.js';

/** Methods a declared path answers 405 (with Allow) for when it has no route for them. */
const METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS'] as const;

export interface HttpHooks {
  /** access control for a request to a route with this access (throws a catalogue error) */
  gate: (request: FastifyRequest, access: Access, route: Route | undefined) => void | Promise<void>;
  /** plugins the gate needs (cookies), registered before it */
  plugins?: (app: FastifyInstance) => void | Promise<void>;
  /** hooks that run once the gate has let a request in (CSRF) */
  afterGate?: (app: FastifyInstance) => void;
  /** after the route table: more routes or plugins (the console) */
  extend?: (app: FastifyInstance) => void | Promise<void>;
  /** a response that does not match its route's schema (throws to refuse it) */
  checkResponse: (r: Route, body: unknown, method: string, path: string) => void;
  log: { error: (o: object, m: string) => void; debug: (o: object, m: string) => void };
}

interface RouteConfig { route?: Route }

export function routeOf(request: FastifyRequest): Route | undefined {
  return (request.routeOptions.config as RouteConfig | undefined)?.route;
}

export function clientOf(request: FastifyRequest): string {
  return request.raw.socket.remoteAddress ?? '';
}

/**
 * `https`: the certificate (chain) and key, PEM, for HTTPS (admin.tls_cert / tls_key); absent,
 * plain HTTP. Either way the instance is used through what http and https servers share
 * (listen, address, close, connection limits), hence the one type.
 */
export async function buildAdminApp(routes: readonly Route[], hooks: HttpHooks, https?: { cert: Buffer; key: Buffer }): Promise<FastifyInstance> {
  const app = Fastify({
    ...(https ? { https } : {}),
    logger: false,
    // The send API may carry a message of max_message_size; give it time, not forever.
    requestTimeout: 300_000,
    keepAliveTimeout: 5_000,
    routerOptions: {
      ignoreTrailingSlash: true, ignoreDuplicateSlashes: true, maxParamLength: 2048,
      // One value per name, the last one winning, as URLSearchParams reads it.
      querystringParser: (s: string) => Object.fromEntries(new URLSearchParams(s)),
    },
    frameworkErrors: (e, request, reply) => {
      // A path that is not valid percent-encoding: still nobody learns anything before access control.
      void (async () => {
        try {
          await hooks.gate(request, 'token', undefined);
          throw new MtaError('MTA_ERR_INVALID', `malformed path segment (not percent-encoded UTF-8): ${safePath(request.url)}`);
        } catch (err) { replyError(request, reply, err, hooks); }
      })();
    },
  });
  app.server.headersTimeout = 10_000;
  // The API is JSON for scripts; the console's pages get their own policy (admin/console).
  await app.register(helmet, { global: true, contentSecurityPolicy: false, hsts: false });

  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', (_req, _payload, done) => done(null, undefined));

  await hooks.plugins?.(app);
  app.addHook('onRequest', async (request) => {
    const route = routeOf(request);
    // Routes not declared with defineRoute (the console's) name their access in their config.
    const access = route?.access ?? (request.routeOptions.config as { access?: Access } | undefined)?.access ?? 'token';
    await hooks.gate(request, access, route);
  });
  hooks.afterGate?.(app);
  app.setErrorHandler((e, request, reply) => { replyError(request, reply, e, hooks); });
  app.setNotFoundHandler((request) => {
    throw new MtaError('MTA_ERR_NOT_FOUND', `no such endpoint: ${request.method} ${new URL(request.url, 'http://x').pathname}`);
  });

  const byPath = new Map<string, Set<string>>();
  for (const r of routes) {
    const limit = r.rateLimit;
    const rateLimit = limit ? { rateLimit: { max: () => limit.max(), timeWindow: limit.windowMs } } : {};
    app.route({ method: r.method, url: r.path, config: { route: r, ...rateLimit }, handler: (request, reply) => handle(r, request, reply, hooks) });
    const set = byPath.get(r.path) ?? new Set<string>();
    set.add(r.method);
    if (r.method === 'GET') set.add('HEAD');
    byPath.set(r.path, set);
  }
  for (const [path, have] of byPath) {
    // A method another route serves through a capture (GET /queue/flush is GET /queue/:id)
    // goes there, as fastify keeps one tree per method: no 405 in its way.
    const missing = METHODS.filter((m) => !have.has(m) && !routes.some((r) => (r.method === m || (m === 'HEAD' && r.method === 'GET')) && captures(r.path, path)));
    const allow = [...have].filter((m) => m !== 'HEAD').join(', ');
    if (!missing.length) continue;
    // Routed like the real ones (access control first), answered 405 with Allow.
    app.route({
      method: [...missing], url: path, exposeHeadRoute: false,
      handler: async (request, reply) => {
        request.raw.resume();
        const e = errorReply(new MtaError('MTA_ERR_METHOD', `${request.method} is not allowed on ${new URL(request.url, 'http://x').pathname} (allowed: ${allow})`));
        sendReply(reply, e.status, e.body, { allow });
      },
    });
  }
  await hooks.extend?.(app);
  return app;
}

/** Whether the route pattern `pattern` (`/queue/:id`) matches `path` taken literally. */
function captures(pattern: string, path: string): boolean {
  const p = pattern.split('/'), s = path.split('/');
  return p.length === s.length && p.every((seg, i) => seg === s[i] || seg.startsWith(':'));
}

async function handle(r: Route, request: FastifyRequest, reply: FastifyReply, hooks: HttpHooks): Promise<void> {
  const req = request.raw;
  const client = clientOf(request);
  const method = request.method;
  const params = parseWith(r.params, request.params, 'path');
  const query = parseWith(r.query, request.query ?? {}, 'query');
  r.before?.(req, client);
  const { body, raw } = await readRequestBody(req, r, method);
  const result = await r.handler({ params, query, body, req, client, raw, http: { request, reply } });
  const out = result instanceof Reply ? result : new Reply(r.status, result);
  if (out.contentType.startsWith('application/json') && out.status < 300) hooks.checkResponse(r, out.body, method, new URL(request.url, 'http://x').pathname);
  sendReply(reply, out.status, out.body, out.headers, out.contentType);
}

export function sendReply(reply: FastifyReply, status: number, body: unknown, headers: Record<string, string> = {}, contentType = 'application/json; charset=utf-8'): void {
  if (reply.sent || reply.raw.destroyed) return;
  const text = typeof body === 'string' && !contentType.startsWith('application/json') ? body : JSON.stringify(body);
  reply.code(status).headers({ 'content-type': contentType, 'cache-control': 'no-store', ...headers }).send(text);
}

/** fastify's own errors, as the catalogue error that says the same. */
function fromFramework(e: unknown): unknown {
  const code = (e as FastifyError | undefined)?.code;
  if (code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE') return new MtaError('MTA_ERR_UNSUPPORTED_MEDIA', 'the Content-Type is not a valid media type; send application/json');
  if (code === 'FST_CSRF_MISSING_SECRET' || code === 'FST_CSRF_INVALID_TOKEN') {
    return new MtaError('MTA_ERR_FORBIDDEN', `a change from a console session needs its CSRF token in X-CSRF-Token (from signing in or GET /api/v1/session); ${code === 'FST_CSRF_MISSING_SECRET' ? 'the CSRF cookie is missing' : 'the token is missing or wrong'}`);
  }
  return e;
}

export function replyError(request: FastifyRequest, reply: FastifyReply, e: unknown, hooks: Pick<HttpHooks, 'log'>): void {
  const req = request.raw;
  const method = request.method;
  const path = safePath(request.url);
  const client = clientOf(request);
  const r = errorReply(fromFramework(e));
  if (r.status >= 500 && r.status !== 503) hooks.log.error({ err: e, method, path }, 'admin request failed');
  else hooks.log.debug({ method, path, status: r.status, err_code: r.body.error.code, client }, 'admin request refused');
  const headers: Record<string, string> = r.status === 401 ? { 'www-authenticate': 'Bearer realm="mta"' } : {};
  // A limit that names its wait (reply-to verification mails) says it in HTTP's own way too.
  if (r.status === 429 && typeof r.body.error['retry_after'] === 'number') headers['retry-after'] = String(r.body.error['retry_after']);
  // A refused request body may still be arriving: do not keep the connection for it.
  if (r.status === 413 || r.status === 403 || !req.complete) headers['connection'] = 'close';
  if (!req.complete) req.resume();
  sendReply(reply, r.status, r.body, headers);
}

function safePath(url: string): string {
  try { return new URL(url, 'http://x').pathname; } catch { return url.split('?')[0]!; }
}

/**
 * The body as the route wants it: its raw media types are left in `req` for the
 * handler; JSON is read (up to the route's limit), parsed and validated; a route without
 * a body schema takes none (or `{}`).
 */
async function readRequestBody(req: IncomingMessage, r: Route, method: string): Promise<{ body: unknown; raw: Buffer | undefined }> {
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
