/**
 * public/server — the public HTTP endpoint on `public.listen` (behind `public.base_url`):
 * the unsubscribe page and the RFC 8058 one-click POST.
 *
 *   GET|HEAD /u/<token>  a confirmation page (masked address, one button); changes nothing,
 *                        because link scanners and mail previews fetch every URL
 *   POST /u/<token>      unsubscribes: the page's form, or a mailbox provider's one-click
 *                        POST with body `List-Unsubscribe=One-Click` (urlencoded or
 *                        multipart/form-data); 200 and a confirmation page
 *
 *   GET|HEAD /.well-known/mta-sts.txt  our MTA-STS policy, for Host mta-sts.<bounce domain>
 *                        (public/mta-sts-policy.ts)
 *   GET|HEAD|POST /reply-to/<token>  a sender's reply-to verification: the page, and the
 *                        confirmation its button posts (public/reply-to.ts)
 * and the open and click tracking paths /o/ and /c/ (tracking/endpoint.ts).
 *
 * Anything else is 404 (405 for other methods); a token that does not open is 400 and
 * changes nothing. Bodies are capped at MAX_BODY; the token is the only input trusted.
 * Must never: reveal a full address, redirect anywhere, or act on a GET.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import busboy from 'busboy';
import type { Logger } from 'pino';
import type { Config } from '../config/config.js';
import type { Store } from '../spool/types.js';
import { MtaError } from '../util/errors.js';
import { formatHostPort } from '../util/host-port.js';
import { UNSUBSCRIBE_PATH } from './unsubscribe-links.js';
import { Unsubscriber, maskAddress } from './unsubscribe.js';
import { confirmPage, donePage, errorPage } from './page.js';
import { MTA_STS_PATH, policyForHost } from './mta-sts-policy.js';
import { TrackingEndpoint } from '../tracking/endpoint.js';
import { REPLY_TO_PATH, ReplyTos } from '../accounts/reply-to.js';
import { replyToPage } from './reply-to.js';

/** A one-click body is 26 bytes; a browser's form post a few more. */
export const MAX_BODY = 8 * 1024;

/** now: the clock of time-limited links (reply-to verification); tests inject one */
export interface PublicDeps { config: () => Config; store: Store; secret: Buffer; log: Logger; now?: () => number }

const SECURITY_HEADERS = {
  'content-security-policy': "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  // The token is in the URL: never hand it on in a Referer.
  'referrer-policy': 'no-referrer',
  'cache-control': 'no-store',
};

class HttpError extends Error {
  constructor(readonly status: number, message: string) { super(message); }
}

export class PublicServer {
  private server: Server | undefined;
  readonly unsubscriber: Unsubscriber;
  readonly tracking: TrackingEndpoint;
  private readonly replyTos: ReplyTos;

  constructor(private readonly deps: PublicDeps) {
    this.unsubscriber = new Unsubscriber(deps.store, deps.secret, deps.log);
    this.tracking = new TrackingEndpoint(deps);
    this.replyTos = new ReplyTos(deps);
  }

  /** The bound port (the configured one, or the one the OS chose for port 0). */
  get port(): number {
    const a = this.server?.address();
    return typeof a === 'object' && a ? a.port : 0;
  }

  async start(): Promise<void> {
    const { host, port } = this.deps.config().public;
    const where = formatHostPort(host, port);
    const server = createServer((req, res) => { void this.handle(req, res); });
    server.headersTimeout = 10_000;
    server.requestTimeout = 30_000;
    server.keepAliveTimeout = 5_000;
    server.maxHeadersCount = 100;
    await new Promise<void>((resolve, reject) => {
      const onError = (e: NodeJS.ErrnoException): void => reject(new MtaError('MTA_ERR_LISTEN', `cannot listen on ${where} (public.listen): ${e.code ?? e.message}`));
      server.once('error', onError);
      server.listen(port, host, () => { server.off('error', onError); resolve(); });
    });
    server.on('error', (e) => this.deps.log.warn({ err: e }, 'public listener error'));
    this.server = server;
    this.deps.log.info({ listener: where, port: this.port, base_url: this.deps.config().public.baseUrl ?? null }, 'public endpoint listening');
  }

  async stop(): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = undefined;
    await new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeIdleConnections();
      setTimeout(() => server.closeAllConnections(), 2000).unref();
    });
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const method = (req.method ?? 'GET').toUpperCase();
    try {
      const path = new URL(req.url ?? '/', 'http://public.invalid').pathname;
      if (path === MTA_STS_PATH && (method === 'GET' || method === 'HEAD')) {
        req.resume();
        const policy = await policyForHost(req.headers.host, this.deps.config(), this.deps.store);
        if (!policy) throw new HttpError(404, 'Page not found');
        res.writeHead(200, { 'content-type': 'text/plain; charset=us-ascii', 'content-length': Buffer.byteLength(policy), 'cache-control': 'max-age=300' });
        return void res.end(method === 'HEAD' ? undefined : policy);
      }
      if (this.tracking.handles(path)) {
        req.resume();
        if (method !== 'GET' && method !== 'HEAD') { res.setHeader('allow', 'GET, HEAD'); throw new HttpError(405, 'Method not allowed'); }
        if (!this.tracking.handle(req, res, method, path)) throw new HttpError(404, 'This link is not valid');
        return;
      }
      if (path.startsWith(REPLY_TO_PATH)) {
        if (method !== 'GET' && method !== 'HEAD' && method !== 'POST') { req.resume(); res.setHeader('allow', 'GET, HEAD, POST'); throw new HttpError(405, 'Method not allowed'); }
        // The form's body says nothing the token does not: read (bounded) and dropped.
        if (method === 'POST') await readLimited(req, MAX_BODY); else req.resume();
        const page = await replyToPage(this.replyTos, method, path.slice(REPLY_TO_PATH.length));
        return this.reply(res, method, page.status, page.html);
      }
      if (!path.startsWith(UNSUBSCRIBE_PATH)) throw new HttpError(404, 'Page not found');
      const token = path.slice(UNSUBSCRIBE_PATH.length);
      if (method === 'GET' || method === 'HEAD') {
        req.resume();
        const target = this.unsubscriber.inspect(token);
        if (!target) throw new HttpError(400, 'This unsubscribe link is not valid');
        // Relative, so the form still works when a proxy serves us under a path prefix.
        return this.reply(res, method, 200, confirmPage(maskAddress(target.address), target.senderDomain, token));
      }
      if (method !== 'POST') {
        req.resume();
        res.setHeader('allow', 'GET, HEAD, POST');
        throw new HttpError(405, 'Method not allowed');
      }
      const oneClick = await readOneClick(req);
      const done = await this.unsubscriber.byLink(token, oneClick ? 'one-click' : 'link');
      if (!done) throw new HttpError(400, 'This unsubscribe link is not valid');
      return this.reply(res, method, 200, donePage(maskAddress(done.target.address), done.target.senderDomain, !done.added));
    } catch (e) {
      const status = e instanceof HttpError ? e.status : e instanceof MtaError && e.code === 'MTA_ERR_TOO_LARGE' ? 413 : 500;
      if (status >= 500) this.deps.log.error({ err: e, method }, 'public request failed');
      else this.deps.log.debug({ method, status, reason: (e as Error).message }, 'public request refused');
      if (!req.complete) { res.setHeader('connection', 'close'); req.resume(); }
      const message = status >= 500 ? 'Something went wrong; please try again later' : status === 413 ? 'Request too large' : (e as Error).message;
      this.reply(res, method, status, errorPage(status, message));
    }
  }

  private reply(res: ServerResponse, method: string, status: number, html: string): void {
    if (res.headersSent) return;
    const body = Buffer.from(html, 'utf8');
    res.writeHead(status, { ...SECURITY_HEADERS, 'content-type': 'text/html; charset=utf-8', 'content-length': body.length });
    res.end(method === 'HEAD' ? undefined : body);
  }
}

/**
 * Reads the POST body (at most MAX_BODY) and says whether it is RFC 8058's
 * `List-Unsubscribe=One-Click`. Any POST to a valid token unsubscribes; this only names how.
 */
async function readOneClick(req: IncomingMessage): Promise<boolean> {
  const type = (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
  const raw = await readLimited(req, MAX_BODY);
  if (type === 'multipart/form-data') return multipartOneClick(req, raw);
  if (type === 'application/x-www-form-urlencoded' || type === '' || type === 'text/plain') {
    return new URLSearchParams(raw.toString('utf8').trim()).get('List-Unsubscribe') === 'One-Click';
  }
  return false;
}

function multipartOneClick(req: IncomingMessage, raw: Buffer): Promise<boolean> {
  return new Promise((resolve) => {
    let found = false;
    try {
      const bb = busboy({ headers: req.headers, limits: { fields: 20, fieldSize: 1024, files: 0, parts: 20 } });
      bb.on('field', (name: string, value: string) => { if (name === 'List-Unsubscribe' && value.trim() === 'One-Click') found = true; });
      bb.on('close', () => resolve(found));
      bb.on('error', () => resolve(found));
      bb.end(raw);
    } catch {
      resolve(false); // no boundary: not a form we can read
    }
  });
}

function readLimited(req: IncomingMessage, max: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    if (Number(req.headers['content-length'] ?? 0) > max) { reject(new MtaError('MTA_ERR_TOO_LARGE')); return; }
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size <= max) chunks.push(c);
      else { req.pause(); reject(new MtaError('MTA_ERR_TOO_LARGE')); }
    });
    req.on('error', reject);
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('close', () => { if (!req.complete) reject(new MtaError('MTA_ERR_INVALID', 'request body incomplete')); });
  });
}
