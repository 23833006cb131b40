/**
 * admin/router — how admin API routes are declared, kept apart from the HTTP layer
 * (fastify, admin/http.ts) so a route file needs no framework. A route is declared once, with zod schemas for its path
 * parameters, query, body and response (`defineRoute`); the same declaration validates
 * requests here and generates the OpenAPI document (admin/openapi.ts), so the document
 * cannot drift from what the server accepts.
 *
 * Replies: 200/201 with the response object; every error is
 *
 *   { "error": { "code": "MTA_ERR_...", "message": "...", "field": "to[2]" } }
 *
 * (`field` only when one field is at fault; the send API adds `smtp_code` and `reason`).
 * Handlers throw MtaError; its code decides the HTTP status (the catalogue, mail/errors.ts), an ApiError
 * may name another status and add fields.
 */
import type { IncomingMessage } from 'node:http';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { MtaError, errorEntry, isMtaError, type ErrorCode } from '../util/errors.js';
import type { UserRole } from '../spool/types-users.js';

export type HttpMethod = 'GET' | 'POST' | 'PUT' | 'DELETE';
/**
 * token: the admin token (admin.token or the generated one) or a console session whose
 * role allows the call (admin/roles.ts); public: nobody is asked; metrics: public when
 * admin.metrics_public; login: nobody is asked but the browser checks apply (sign-in);
 * page: the console's page and assets, which only check Host (admin/console.ts)
 */
export type Access = 'token' | 'public' | 'metrics' | 'login' | 'page';

/** An MtaError with its own HTTP status and extra fields in the error object. */
export class ApiError extends MtaError {
  constructor(code: ErrorCode, message: string, readonly opts: { field?: string | undefined; status?: number; extra?: Record<string, unknown> } = {}) {
    super(code, message, opts.field);
  }
}

/** A reply other than "200 + the handler's object": another status, headers, or non-JSON. */
export class Reply {
  constructor(readonly status: number, readonly body: unknown, readonly headers: Record<string, string> = {}, readonly contentType = 'application/json; charset=utf-8') {}
}

export interface Input<P, Q, B> {
  params: P;
  query: Q;
  body: B;
  req: IncomingMessage;
  /** the client's IP address */
  client: string;
  /** the JSON body's bytes as received (for fingerprints); undefined for raw media types */
  raw: Buffer | undefined;
  /** fastify's request and reply, for the few routes that need more than JSON (sign-in sets a cookie) */
  http: { request: FastifyRequest; reply: FastifyReply };
}

const EMPTY = z.strictObject({});
type Empty = typeof EMPTY;

export interface RouteDef<P extends z.ZodType, Q extends z.ZodType, B extends z.ZodType | undefined, R extends z.ZodType> {
  method: HttpMethod;
  /** `/api/v1/queue/:id`: a `:name` segment captures one path segment */
  path: string;
  summary: string;
  tag: string;
  description?: string;
  params?: P;
  query?: Q;
  /** the JSON body; without one, a body may only be empty or `{}` */
  body?: B;
  /** further media types the handler reads itself from `req` (the body is then undefined) */
  rawBodyTypes?: string[];
  /** largest JSON body, bytes (default MAX_BODY) */
  maxBody?: () => number;
  /** the error for a body over maxBody (default: 413 MTA_ERR_TOO_LARGE) */
  tooLarge?: (declared?: number) => Error;
  /** runs after access control and before the body is read (the send API's IP rule) */
  before?: (req: IncomingMessage, client: string) => void;
  response: R;
  /** response media type when it is not JSON (the schema then describes a string) */
  responseType?: string;
  status?: 200 | 201;
  access?: Access;
  /** the least console role that may call it (default: viewer for GET, else operator; admin/roles.ts) */
  role?: UserRole;
  /** at most `max` calls per client address in `windowMs` (then 429 MTA_ERR_THROTTLED) */
  rateLimit?: { max: () => number; windowMs: number };
  handler: (input: Input<z.output<P>, z.output<Q>, B extends z.ZodType ? z.output<B> : undefined>) => Promise<z.input<R> | Reply>;
}

/** A declared route with its types erased, as the router and the OpenAPI generator see it. */
export interface Route {
  method: HttpMethod;
  path: string;
  summary: string;
  tag: string;
  description?: string | undefined;
  params: z.ZodType;
  query: z.ZodType;
  body: z.ZodType | undefined;
  rawBodyTypes: string[];
  maxBody: () => number;
  tooLarge: ((declared?: number) => Error) | undefined;
  before: ((req: IncomingMessage, client: string) => void) | undefined;
  response: z.ZodType;
  responseType: string;
  status: number;
  access: Access;
  role: UserRole | undefined;
  rateLimit: { max: () => number; windowMs: number } | undefined;
  handler: (input: Input<unknown, unknown, unknown>) => Promise<unknown>;
}

/** Request bodies beyond this are refused with 413: every admin call but the send API is small. */
export const MAX_BODY = 64 * 1024;

export function defineRoute<P extends z.ZodType = Empty, Q extends z.ZodType = Empty, B extends z.ZodType | undefined = undefined, R extends z.ZodType = z.ZodType>(def: RouteDef<P, Q, B, R>): Route {
  return {
    method: def.method, path: def.path, summary: def.summary, tag: def.tag, description: def.description,
    params: def.params ?? EMPTY, query: def.query ?? EMPTY, body: def.body, rawBodyTypes: def.rawBodyTypes ?? [],
    maxBody: def.maxBody ?? (() => MAX_BODY), tooLarge: def.tooLarge, before: def.before, response: def.response, responseType: def.responseType ?? 'application/json',
    status: def.status ?? 200, access: def.access ?? 'token', role: def.role, rateLimit: def.rateLimit,
    handler: def.handler as Route['handler'],
  };
}

/**
 * The route table: route files' declarations, in the order added. admin/http.ts mounts
 * them on fastify (whose router matches literal segments before captures, so
 * `/queue/summary` wins over `/queue/:id`); the OpenAPI document lists them.
 */
export class Router {
  readonly routes: Route[] = [];

  add(...routes: Route[]): this {
    this.routes.push(...routes);
    return this;
  }
}

/** `a.b[2].c` for a zod issue path. */
export function fieldPath(path: readonly PropertyKey[]): string {
  return path.map((p, i) => (typeof p === 'number' ? `[${p}]` : `${i > 0 ? '.' : ''}${String(p)}`)).join('');
}

/** The first problem of a failed validation, as one coded error naming its field. */
export function validationError(where: 'body' | 'query' | 'path', e: z.ZodError): MtaError {
  // A misspelt field is best reported as such, before the "required" it causes.
  const iss = e.issues.find((i) => i.code === 'unrecognized_keys') ?? e.issues[0]!;
  const extra = e.issues.length > 1 ? ` (and ${e.issues.length - 1} more problem${e.issues.length > 2 ? 's' : ''})` : '';
  if (iss.code === 'unrecognized_keys') {
    const field = fieldPath([...iss.path, iss.keys[0]!]);
    const what = where === 'query' ? 'query parameter' : 'field';
    return new MtaError('MTA_ERR_INVALID', `unknown ${what} ${iss.keys.map((k) => JSON.stringify(k)).join(', ')}${extra}`, field);
  }
  const field = fieldPath(iss.path);
  // zod does not keep the input in issues; its message says when a value was missing.
  if (iss.code === 'invalid_type' && /received undefined$/.test(iss.message)) {
    return new MtaError('MTA_ERR_INVALID', `${field || where}: required${extra}`, field || undefined);
  }
  return new MtaError('MTA_ERR_INVALID', `${field ? `${field}: ` : ''}${iss.message}${extra}`, field || undefined);
}

export function parseWith<T extends z.ZodType>(schema: T, value: unknown, where: 'body' | 'query' | 'path'): z.output<T> {
  const r = schema.safeParse(value);
  if (!r.success) throw validationError(where, r.error);
  return r.data;
}

/** The media type of a request, lower-cased without parameters ('' when absent). */
export function mediaType(req: IncomingMessage): string {
  return (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
}

export function isJsonType(type: string): boolean {
  return type === 'application/json' || /^application\/[a-z0-9.+-]+\+json$/.test(type);
}

/**
 * Reads a body of at most `max` bytes. Over the cap, the rest is drained (so the client
 * can read our 413 rather than a reset) up to 1 MB more, past which the socket is cut.
 */
export function readBody(req: IncomingMessage, max: number, over?: (declared?: number) => Error): Promise<Buffer> {
  const drainLimit = max + 1024 * 1024;
  const tooLarge = (): Error => over?.() ?? new MtaError('MTA_ERR_TOO_LARGE', `request body is over the ${max}-byte limit`);
  return new Promise((resolve, reject) => {
    const declared = Number(req.headers['content-length'] ?? 0);
    if (declared > max) {
      // Refused on the declared length alone, with a 413 the client can read: the reply
      // carries `Connection: close` (server.ts), so the socket ends right after it and
      // whatever else the client sends is dropped, never read to the end.
      req.resume();
      reject(over?.(declared) ?? new MtaError('MTA_ERR_TOO_LARGE', `request body of ${declared} bytes is over the ${max}-byte limit`));
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size <= max) chunks.push(c);
      else if (size > drainLimit) req.destroy();
    });
    req.on('error', (e) => reject(e));
    req.on('close', () => {
      if (!req.complete) reject(size > max ? tooLarge() : new MtaError('MTA_ERR_INVALID', 'request body incomplete'));
    });
    req.on('end', () => (size > max ? reject(tooLarge()) : resolve(Buffer.concat(chunks))));
  });
}

export function parseJson(buf: Buffer): unknown {
  const text = buf.toString('utf8');
  if (text.trim() === '') return undefined;
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new MtaError('MTA_ERR_INVALID', `request body is not valid JSON: ${(e as Error).message}`);
  }
}

export interface ErrorBody { error: { code: string; message: string; field?: string; [k: string]: unknown } }

/** The error reply for anything a handler threw; unexpected errors say nothing internal. */
export function errorReply(e: unknown): { status: number; body: ErrorBody } {
  if (isMtaError(e)) {
    const api = e instanceof ApiError ? e.opts : undefined;
    return {
      status: api?.status ?? errorEntry(e.code).http,
      body: { error: { code: e.code, message: e.message, ...(e.field ? { field: e.field } : {}), ...(api?.extra ?? {}) } },
    };
  }
  return { status: 500, body: { error: { code: 'MTA_ERR_INTERNAL', message: 'internal error (see the daemon log)' } } };
}
