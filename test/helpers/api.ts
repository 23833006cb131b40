/**
 * A small client for the admin API of a test daemon: JSON in and out, the daemon's token
 * (admin.token or the generated one) unless another is given ('' for none), and every response checked against its route's schema by the server itself
 * (checkResponses), so a test that passes also proves the OpenAPI document right.
 */
import type { TestDaemon } from './daemon.js';

export interface ApiReply {
  status: number;
  json: any;
  text: string;
  headers: Headers;
}

/** The headers a test needs to reach the admin API of `d` with its own requests. */
export function adminAuth(d: TestDaemon): Record<string, string> {
  return { authorization: `Bearer ${d.daemon.admin!.token}` };
}

export type Call = (method: string, path: string, body?: unknown, headers?: Record<string, string>) => Promise<ApiReply>;

export function apiClient(d: TestDaemon, token: string = d.daemon.admin!.token): Call {
  const admin = d.daemon.admin!;
  admin.checkResponses = true;
  const base = `http://127.0.0.1:${admin.port}`;
  return async (method, path, body, headers = {}) => {
    const h: Record<string, string> = { ...(token ? { authorization: `Bearer ${token}` } : {}), ...headers };
    let payload: string | Buffer | undefined;
    if (body !== undefined) {
      payload = typeof body === 'string' || Buffer.isBuffer(body) ? body : JSON.stringify(body);
      if (!Object.keys(h).some((k) => k.toLowerCase() === 'content-type')) h['content-type'] = 'application/json';
    }
    const res = await fetch(base + path, { method, headers: h, ...(payload !== undefined ? { body: payload } : {}) });
    const text = await res.text();
    let json: unknown;
    try { json = JSON.parse(text); } catch { json = undefined; }
    return { status: res.status, json, text, headers: res.headers };
  };
}

/** The Prometheus value of one series (labels in any order), 0 when absent. */
export function metricValue(text: string, name: string, labels: Record<string, string> = {}): number {
  for (const line of text.split('\n')) {
    if (line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    const have = Object.fromEntries([...(m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)].map((x) => [x[1], x[2]]));
    const want = Object.entries(labels);
    if (want.length === Object.keys(have).length && want.every(([k, v]) => have[k] === v)) return Number(m[3]);
  }
  return 0;
}

const TYPES = new Set(['string', 'number', 'integer', 'boolean', 'object', 'array', 'null']);
const KEYWORDS = new Set([
  'type', 'properties', 'required', 'additionalProperties', 'items', 'prefixItems', 'anyOf', 'oneOf', 'allOf', 'not', 'enum', 'const',
  'minimum', 'maximum', 'exclusiveMinimum', 'exclusiveMaximum', 'multipleOf', 'minLength', 'maxLength', 'pattern', 'format',
  'minItems', 'maxItems', 'uniqueItems', 'propertyNames', 'description', 'default', '$ref', 'contentEncoding', 'contentMediaType',
  'title', 'examples', 'readOnly', 'writeOnly', 'deprecated', '$defs', 'minProperties', 'maxProperties',
]);

/** A structural JSON Schema (2020-12) check: known keywords, each with a value of the right shape. */
export function checkJsonSchema(s: unknown, where: string, problems: string[], resolve: (ref: string) => unknown): void {
  if (typeof s === 'boolean') return;
  if (typeof s !== 'object' || s === null || Array.isArray(s)) { problems.push(`${where}: not a schema object`); return; }
  const o = s as Record<string, unknown>;
  const sub = (v: unknown, w: string): void => checkJsonSchema(v, `${where}.${w}`, problems, resolve);
  const isNonNegInt = (v: unknown): boolean => Number.isInteger(v) && (v as number) >= 0;
  for (const [k, v] of Object.entries(o)) {
    if (!KEYWORDS.has(k)) { problems.push(`${where}: unknown keyword ${k}`); continue; }
    switch (k) {
      case 'type': if (!(Array.isArray(v) ? v : [v]).every((x) => TYPES.has(x as string))) problems.push(`${where}: bad type ${JSON.stringify(v)}`); break;
      case 'properties': case '$defs':
        if (typeof v !== 'object' || v === null) problems.push(`${where}: ${k} not an object`);
        else for (const [n, ps] of Object.entries(v)) sub(ps, `${k}.${n}`);
        break;
      case 'required':
        if (!Array.isArray(v) || !v.every((x) => typeof x === 'string') || new Set(v).size !== v.length) problems.push(`${where}: bad required`);
        else if (o['properties'] && v.some((x) => !(x in (o['properties'] as object)))) problems.push(`${where}: required names a missing property`);
        break;
      case 'items': case 'not': case 'propertyNames': sub(v, k); break;
      case 'additionalProperties': if (typeof v !== 'boolean') sub(v, k); break;
      case 'anyOf': case 'oneOf': case 'allOf': case 'prefixItems':
        if (!Array.isArray(v) || v.length === 0) problems.push(`${where}: ${k} must be a non-empty array`);
        else v.forEach((x, i) => sub(x, `${k}[${i}]`));
        break;
      case 'enum': if (!Array.isArray(v) || v.length === 0) problems.push(`${where}: enum must be a non-empty array`); break;
      case 'minimum': case 'maximum': case 'exclusiveMinimum': case 'exclusiveMaximum': case 'multipleOf':
        if (typeof v !== 'number') problems.push(`${where}: ${k} must be a number`); break;
      case 'minLength': case 'maxLength': case 'minItems': case 'maxItems': case 'minProperties': case 'maxProperties':
        if (!isNonNegInt(v)) problems.push(`${where}: ${k} must be a non-negative integer`); break;
      case 'pattern':
        try { new RegExp(v as string, 'u'); } catch { problems.push(`${where}: pattern does not compile`); }
        break;
      case 'uniqueItems': case 'readOnly': case 'writeOnly': case 'deprecated': if (typeof v !== 'boolean') problems.push(`${where}: ${k} must be boolean`); break;
      case '$ref': if (typeof v !== 'string' || !resolve(v)) problems.push(`${where}: unresolved $ref ${String(v)}`); break;
      case 'format': case 'description': case 'title': case 'contentEncoding': case 'contentMediaType':
        if (typeof v !== 'string') problems.push(`${where}: ${k} must be a string`); break;
      default: break;
    }
  }
}
