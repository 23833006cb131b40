/**
 * admin/router — the admin API's plumbing, kept apart from its routes so the API can grow
 * (send API, domains, stats...) without growing a framework: a table of
 * (method, path pattern) → handler, JSON bodies read with a size cap, and one reply shape:
 *
 *   200 { "ok": true, ...result }
 *   4xx/5xx { "ok": false, "error": { "code": "MTA_ERR_...", "message": "..." } }
 *
 * Handlers throw MtaError; its code decides the HTTP status (ERROR_STATUS).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { MtaError, isMtaError, type ErrorCode } from '../util/errors.js';

export type Params = Record<string, string>;

export interface AdminRequest {
  method: string;
  path: string;
  params: Params;
  query: URLSearchParams;
  /** the parsed JSON body; `{}` when there was none */
  body: unknown;
  raw: IncomingMessage;
}

export type Handler = (req: AdminRequest) => Promise<Record<string, unknown>>;

/** Request bodies beyond this are refused with 413: every admin call is small. */
export const MAX_BODY = 64 * 1024;
/** A body this far over the cap is not even drained: the connection is cut. */
const MAX_DRAIN = 1024 * 1024;

export const ERROR_STATUS: Partial<Record<ErrorCode, number>> = {
  MTA_ERR_INVALID: 400,
  MTA_ERR_AUTH: 401,
  MTA_ERR_NOT_FOUND: 404,
  MTA_ERR_METHOD: 405,
  MTA_ERR_STATE: 409,
  MTA_ERR_EXISTS: 409,
  MTA_ERR_IN_USE: 409,
  MTA_ERR_TOO_LARGE: 413,
  MTA_ERR_UNAVAILABLE: 503,
};

interface Route { method: string; parts: string[]; params: number; handler: Handler }

export type Match =
  | { kind: 'found'; handler: Handler; params: Params }
  | { kind: 'method'; allow: string[] }
  | { kind: 'none' };

export class Router {
  private readonly routes: Route[] = [];

  /** `pattern` is a path whose `:name` segments capture one segment each. */
  add(method: string, pattern: string, handler: Handler): this {
    const parts = pattern.split('/').filter(Boolean);
    this.routes.push({ method: method.toUpperCase(), parts, params: parts.filter((p) => p.startsWith(':')).length, handler });
    // Literal segments win over captures (`/v1/queue/summary` before `/v1/queue/:id`).
    this.routes.sort((a, b) => a.params - b.params);
    return this;
  }

  match(method: string, path: string): Match {
    const segs = path.split('/').filter(Boolean);
    const allow = new Set<string>();
    for (const r of this.routes) {
      const params = matchParts(r.parts, segs);
      if (!params) continue;
      if (r.method === method) return { kind: 'found', handler: r.handler, params };
      allow.add(r.method);
    }
    return allow.size ? { kind: 'method', allow: [...allow] } : { kind: 'none' };
  }
}

function matchParts(parts: string[], segs: string[]): Params | undefined {
  if (parts.length !== segs.length) return undefined;
  const params: Params = {};
  for (let i = 0; i < parts.length; i++) {
    const p = parts[i]!;
    const s = segs[i]!;
    if (p.startsWith(':')) {
      try {
        params[p.slice(1)] = decodeURIComponent(s);
      } catch {
        throw new MtaError('MTA_ERR_INVALID', `malformed path segment: ${s}`);
      }
    } else if (p !== s) {
      return undefined;
    }
  }
  return params;
}

/**
 * Reads and parses a JSON body. Over the cap, the rest is drained (so the client can
 * read our 413 rather than a reset) up to MAX_DRAIN, past which the socket is cut.
 */
export function readJsonBody(req: IncomingMessage): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const declared = Number(req.headers['content-length'] ?? 0);
    if (declared > MAX_DRAIN) {
      req.resume();
      reject(new MtaError('MTA_ERR_TOO_LARGE', `request body of ${declared} bytes is over the ${MAX_BODY}-byte limit`));
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size <= MAX_BODY) chunks.push(c);
      else if (size > MAX_DRAIN) req.destroy();
    });
    req.on('error', (e) => reject(e));
    req.on('close', () => {
      if (req.complete) return;
      reject(size > MAX_BODY ? new MtaError('MTA_ERR_TOO_LARGE', `request body is over the ${MAX_BODY}-byte limit`) : new MtaError('MTA_ERR_INVALID', 'request body incomplete'));
    });
    req.on('end', () => {
      if (size > MAX_BODY) { reject(new MtaError('MTA_ERR_TOO_LARGE', `request body is over the ${MAX_BODY}-byte limit`)); return; }
      const text = Buffer.concat(chunks).toString('utf8');
      if (text.trim() === '') { resolve({}); return; }
      try {
        resolve(JSON.parse(text));
      } catch (e) {
        reject(new MtaError('MTA_ERR_INVALID', `request body is not valid JSON: ${(e as Error).message}`));
      }
    });
  });
}

export function sendJson(res: ServerResponse, status: number, value: unknown, headers: Record<string, string> = {}): void {
  if (res.headersSent || res.destroyed) return;
  const body = JSON.stringify(value);
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': String(Buffer.byteLength(body)),
    'cache-control': 'no-store',
    ...headers,
  });
  res.end(body);
}

/** The error reply for anything a handler threw; unexpected errors say nothing internal. */
export function errorReply(e: unknown): { status: number; body: { ok: false; error: { code: string; message: string } } } {
  if (isMtaError(e)) {
    return { status: ERROR_STATUS[e.code] ?? 500, body: { ok: false, error: { code: e.code, message: e.message } } };
  }
  return { status: 500, body: { ok: false, error: { code: 'MTA_ERR_INTERNAL', message: 'internal error (see the daemon log)' } } };
}
