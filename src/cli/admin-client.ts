/**
 * cli/admin-client — how the CLI reaches the running daemon: the admin API over HTTP
 * (`/api/v1/...`, the same routes and replies as for any other client).
 *
 * The address comes from `<data_dir>/admin.json` when the daemon that wrote it is alive
 * (it knows the real port, even for port 0), else from `admin.listen`. "No daemon" (no
 * live address, connection refused) is an answer, not an error: callers fall back to the
 * spool or report "not running". Anything else (401, a timeout, a stranger on the port)
 * is one clear error. The token is `admin.token`, else the one the daemon generated in
 * `<data_dir>/admin.token` (admin/token.ts).
 */
import { request } from 'node:http';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Config } from '../config/config.js';
import { ADMIN_FILE, formatHostPort, type AdminAddress } from '../admin/address.js';
import { readAdminToken } from '../admin/token.js';
import { ERRORS, MtaError, type ErrorCode } from '../util/errors.js';
import { pidAlive } from '../config/runtime.js';

/** A successful reply's JSON object. */
export interface AdminReply { [k: string]: unknown }

const TIMEOUT_MS = 30_000;

/** A wildcard listen address is reached on loopback. */
function connectHost(host: string): string {
  if (host === '0.0.0.0' || host === '') return '127.0.0.1';
  if (host === '::') return '::1';
  return host;
}

/** Where to look for the daemon, best guess first. */
export function adminAddresses(config: Config): { host: string; port: number }[] {
  const out: { host: string; port: number }[] = [];
  try {
    const a = JSON.parse(readFileSync(join(config.dataDir, ADMIN_FILE), 'utf8')) as Partial<AdminAddress>;
    if (typeof a.host === 'string' && typeof a.port === 'number' && a.port > 0 && typeof a.pid === 'number' && pidAlive(a.pid)) {
      out.push({ host: connectHost(a.host), port: a.port });
    }
  } catch { /* no file, or not ours to read: use the configuration */ }
  const c = { host: connectHost(config.admin.host), port: config.admin.port };
  // Port 0 means "whatever the OS chose": only admin.json can say which.
  if (c.port > 0 && !out.some((x) => x.host === c.host && x.port === c.port)) out.push(c);
  return out;
}

type Attempt = { kind: 'reply'; status: number; body: unknown } | { kind: 'refused' };

function attempt(host: string, port: number, method: string, path: string, token: string, body: unknown): Promise<Attempt> {
  const payload = body === undefined ? undefined : JSON.stringify(body);
  const where = formatHostPort(host, port);
  return new Promise((resolve, reject) => {
    const req = request({
      host, port, method, path, timeout: TIMEOUT_MS,
      headers: {
        accept: 'application/json',
        ...(token ? { authorization: `Bearer ${token}` } : {}),
        ...(payload !== undefined ? { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(payload)) } : {}),
      },
    }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('error', (e) => reject(new MtaError('MTA_ERR_UNAVAILABLE', `the daemon at ${where} broke off its answer: ${e.message}`)));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        try {
          resolve({ kind: 'reply', status: res.statusCode ?? 0, body: JSON.parse(text) });
        } catch {
          reject(new MtaError('MTA_ERR_UNAVAILABLE', `${where} answered HTTP ${res.statusCode ?? '?'} without JSON: is admin.listen pointing at something else?`));
        }
      });
    });
    req.on('timeout', () => req.destroy(new MtaError('MTA_ERR_UNAVAILABLE', `the daemon at ${where} did not answer within ${TIMEOUT_MS / 1000}s`)));
    req.on('error', (e: NodeJS.ErrnoException) => {
      if (e.code === 'ECONNREFUSED' || e.code === 'EADDRNOTAVAIL') resolve({ kind: 'refused' });
      else if (e instanceof MtaError) reject(e);
      else reject(new MtaError('MTA_ERR_UNAVAILABLE', `cannot reach the daemon at ${where}: ${e.code ?? e.message}`));
    });
    req.end(payload);
  });
}

/**
 * Calls the admin API of the running daemon. Resolves undefined when no daemon answers;
 * an error reply ({"error": {...}}) becomes an MtaError with the daemon's code, message
 * and field.
 */
export async function callAdmin(config: Config, method: 'GET' | 'POST' | 'PUT' | 'DELETE', path: string, body?: unknown): Promise<AdminReply | undefined> {
  const token = config.admin.token || readAdminToken(config.dataDir) || '';
  for (const { host, port } of adminAddresses(config)) {
    const r = await attempt(host, port, method, path, token, body);
    if (r.kind === 'refused') continue;
    const b = r.body as { error?: { code?: unknown; message?: unknown; field?: unknown } } | null;
    if (r.status >= 200 && r.status < 300 && b && typeof b === 'object' && !Array.isArray(b)) return b as AdminReply;
    const code = typeof b?.error?.code === 'string' && b.error.code in ERRORS ? (b.error.code as ErrorCode) : 'MTA_ERR_UNAVAILABLE';
    const message = typeof b?.error?.message === 'string' ? b.error.message : `HTTP ${r.status}`;
    throw new MtaError(code, message, typeof b?.error?.field === 'string' ? b.error.field : undefined);
  }
  return undefined;
}
