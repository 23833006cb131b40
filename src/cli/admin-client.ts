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
 *
 * With `admin.tls_cert` the daemon speaks HTTPS. The CLI then checks, before it sends the
 * token, that the daemon presents that very certificate (its SHA-256 fingerprint against the
 * file's first certificate): a pin, so neither the address (127.0.0.1 is in no certificate)
 * nor a CA matters, and whatever else listens on the port never sees the token.
 */
import { request, type ClientRequest } from 'node:http';
import { connect, type TLSSocket } from 'node:tls';
import { X509Certificate } from 'node:crypto';
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

interface Where { host: string; port: number; tls: boolean }

/** Where to look for the daemon, best guess first. */
export function adminAddresses(config: Config): Where[] {
  const out: Where[] = [];
  try {
    const a = JSON.parse(readFileSync(join(config.dataDir, ADMIN_FILE), 'utf8')) as Partial<AdminAddress>;
    if (typeof a.host === 'string' && typeof a.port === 'number' && a.port > 0 && typeof a.pid === 'number' && pidAlive(a.pid)) {
      // HTTPS when the file or the configuration says so: an address file without it (an older
      // daemon, a restart still pending, a reused pid) must not turn a pinned call into plain HTTP.
      out.push({ host: connectHost(a.host), port: a.port, tls: a.tls === true || config.admin.tls !== undefined });
    }
  } catch { /* no file, or not ours to read: use the configuration */ }
  const c = { host: connectHost(config.admin.host), port: config.admin.port, tls: config.admin.tls !== undefined };
  // Port 0 means "whatever the OS chose": only admin.json can say which.
  if (c.port > 0 && !out.some((x) => x.host === c.host && x.port === c.port)) out.push(c);
  return out;
}

type Attempt = { kind: 'reply'; status: number; body: unknown } | { kind: 'refused' };

/** The SHA-256 fingerprint of admin.tls_cert's (first) certificate, as the daemon must present it. */
function pinnedFingerprint(config: Config, where: string): string {
  const file = config.admin.tls?.cert;
  if (!file) throw new MtaError('MTA_ERR_UNAVAILABLE', `the daemon at ${where} speaks HTTPS, but this configuration has no admin.tls_cert to check its certificate against`);
  try {
    return new X509Certificate(readFileSync(file)).fingerprint256;
  } catch (e) {
    throw new MtaError('MTA_ERR_CONFIG_READ', `cannot read the certificate in admin.tls_cert (${file}) to check the daemon's: ${(e as Error).message}`);
  }
}

/** A TLS connection to the daemon that presents `fingerprint`; undefined when nothing listens. */
function pinnedSocket(host: string, port: number, fingerprint: string): Promise<TLSSocket | undefined> {
  const where = formatHostPort(host, port);
  return new Promise((resolve, reject) => {
    // Not verified against a CA: the pin below is the check, made before any byte is sent.
    const socket = connect({ host, port, rejectUnauthorized: false, timeout: TIMEOUT_MS });
    const onTimeout = (): void => { socket.destroy(new MtaError('MTA_ERR_UNAVAILABLE', `the daemon at ${where} did not complete TLS within ${TIMEOUT_MS / 1000}s`)); };
    const onError = (e: NodeJS.ErrnoException): void => {
      if (e.code === 'ECONNREFUSED' || e.code === 'EADDRNOTAVAIL') resolve(undefined);
      else reject(e instanceof MtaError ? e : new MtaError('MTA_ERR_UNAVAILABLE', `cannot reach the daemon at ${where} over TLS: ${e.code ?? e.message}`));
    };
    socket.once('timeout', onTimeout);
    socket.once('error', onError);
    socket.once('secureConnect', () => {
      // From here the request owns the socket, its errors and its timeout (still TIMEOUT_MS).
      socket.off('timeout', onTimeout);
      socket.off('error', onError);
      if (socket.getPeerCertificate().fingerprint256 === fingerprint) { resolve(socket); return; }
      socket.destroy();
      reject(new MtaError('MTA_ERR_UNAVAILABLE', `the daemon at ${where} presents a certificate other than admin.tls_cert: the token was not sent`));
    });
  });
}

function attempt(host: string, port: number, socket: TLSSocket | undefined, method: string, path: string, token: string, body: unknown): Promise<Attempt> {
  const payload = body === undefined ? undefined : JSON.stringify(body);
  const where = formatHostPort(host, port);
  return new Promise((resolve, reject) => {
    let req: ClientRequest;
    try {
      req = request({
        host, port, method, path, timeout: TIMEOUT_MS,
        // No agent: the request goes over this connection, already checked (an agent would open its own).
        ...(socket ? { createConnection: () => socket } : {}),
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
    } catch (e) {
      // A request refused before it was sent (a header the token makes invalid): the checked socket is ours to close.
      socket?.destroy();
      reject(e);
      return;
    }
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
  for (const { host, port, tls } of adminAddresses(config)) {
    let socket: TLSSocket | undefined;
    if (tls) {
      socket = await pinnedSocket(host, port, pinnedFingerprint(config, formatHostPort(host, port)));
      if (!socket) continue;
    }
    const r = await attempt(host, port, socket, method, path, token, body);
    if (r.kind === 'refused') continue;
    const b = r.body as { error?: { code?: unknown; message?: unknown; field?: unknown } } | null;
    if (r.status >= 200 && r.status < 300 && b && typeof b === 'object' && !Array.isArray(b)) return b as AdminReply;
    const code = typeof b?.error?.code === 'string' && b.error.code in ERRORS ? (b.error.code as ErrorCode) : 'MTA_ERR_UNAVAILABLE';
    const message = typeof b?.error?.message === 'string' ? b.error.message : `HTTP ${r.status}`;
    throw new MtaError(code, message, typeof b?.error?.field === 'string' ? b.error.field : undefined);
  }
  return undefined;
}
