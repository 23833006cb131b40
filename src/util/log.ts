/**
 * log — pino JSON lines on stdout (journald collects them). One logger per process;
 * modules take a child with their own `component`.
 *
 * Secrets never reach a line: a `password` or `token` key, in the logged object or one level
 * down (an error, a session, a request), is written as "[redacted]". The level below is done
 * here, not with pino's wildcard paths (`*.password`): those cloned every object-valued field
 * of every line and parsed the paths again each time, 10% of what the main thread allocated
 * under load (bench/RESULTS.md). Here an object is copied only when it holds a secret.
 */
import { pino, type Logger, type Level } from 'pino';

const SECRET_KEYS: ReadonlySet<string> = new Set(['password', 'token']);
export const LOG_CENSOR = '[redacted]';

function isRecord(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v) && !ArrayBuffer.isView(v);
}

/**
 * A copy of `v` (same prototype, every own property, enumerable or not: an Error keeps its
 * message and stack) with its secrets censored. The copy's properties are all writable, so a
 * frozen object is censored too.
 */
function censored(v: Record<string, unknown>, keys: readonly string[]): Record<string, unknown> {
  const props = Object.getOwnPropertyDescriptors(v);
  for (const p of Reflect.ownKeys(props)) {
    const d = props[p as string]!;
    d.configurable = true;
    if ('value' in d) d.writable = true;
  }
  const copy = Object.defineProperties(Object.create(Object.getPrototypeOf(v) as object | null) as Record<string, unknown>, props);
  for (const k of keys) Object.defineProperty(copy, k, { value: LOG_CENSOR, enumerable: true, writable: true, configurable: true });
  return copy;
}

function secretKeys(v: Record<string, unknown>): string[] | undefined {
  let keys: string[] | undefined;
  for (const k of SECRET_KEYS) if (Object.prototype.hasOwnProperty.call(v, k)) (keys ??= []).push(k);
  return keys;
}

/**
 * `obj` with every `password` and `token` at its top level or one level down censored. The
 * caller's objects are never changed; `obj` itself comes back when it holds no secret.
 */
export function redactSecrets(obj: Record<string, unknown>): Record<string, unknown> {
  try {
    return redactOrThrow(obj);
  } catch {
    // An object that cannot be copied (a throwing getter, a proxy): its plain values only, never a secret.
    const plain: Record<string, unknown> = { log_redaction: 'failed' };
    for (const k of Object.keys(obj)) {
      const v = (() => { try { return obj[k]; } catch { return undefined; } })();
      if (!SECRET_KEYS.has(k) && (v === null || typeof v !== 'object')) plain[k] = v;
    }
    return plain;
  }
}

function redactOrThrow(obj: Record<string, unknown>): Record<string, unknown> {
  let out = obj;
  const top = secretKeys(obj);
  if (top) out = censored(obj, top);
  for (const k in obj) {
    const v = obj[k];
    if (!isRecord(v) || SECRET_KEYS.has(k)) continue;
    const inner = secretKeys(v);
    if (!inner) continue;
    if (out === obj) out = censored(obj, []);
    out[k] = censored(v, inner);
  }
  return out;
}

export function createLogger(level: Level | 'silent', destination?: NodeJS.WritableStream): Logger {
  return pino({
    level,
    base: { pid: process.pid },
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label) => ({ level: label }), log: redactSecrets },
    // Top-level paths only (no wildcard): pino then censors these keys wherever they are bound too, a child
    // logger's bindings included (pino does not run `formatters` on those), at no cost to lines without them.
    redact: { paths: [...SECRET_KEYS], censor: LOG_CENSOR },
  }, destination ?? pino.destination({ fd: 1, sync: false }));
}
export type { Logger };
