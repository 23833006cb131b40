/**
 * spool/errors — turns the backends' errors (SQLite's here, PostgreSQL's by spool/pg-errors.ts) into catalogue errors (util/errors.ts),
 * so callers decide on a code and its `retryable` flag, never on SQLite's own codes or
 * messages: a full disk is MTA_ERR_SPOOL_FULL (452 4.3.1 at submission), a lock held by
 * another writer MTA_ERR_SPOOL_BUSY (451 4.3.0), an I/O failure MTA_ERR_SPOOL_IO. The
 * message stays SQLite's, so logs still say what happened. Errors that are not transient
 * (constraints, bugs) pass unchanged: nothing here may hide a programming error as a
 * retryable one.
 */
import { MtaError, type ErrorCode } from '../util/errors.js';
import { pgErrorCode } from './pg-errors.js';

const BY_SQLITE_CODE: ReadonlyArray<[RegExp, ErrorCode]> = [
  [/^SQLITE_FULL/, 'MTA_ERR_SPOOL_FULL'],
  [/^SQLITE_(BUSY|LOCKED)/, 'MTA_ERR_SPOOL_BUSY'],
  [/^SQLITE_(IOERR|CANTOPEN|PROTOCOL|NOMEM)/, 'MTA_ERR_SPOOL_IO'],
];

/** The catalogue error for a backend error, or `e` itself when it is not a storage condition. */
export function storeError(e: unknown): unknown {
  if (e instanceof MtaError || typeof e !== 'object' || e === null) return e;
  const code = String((e as { code?: unknown }).code ?? '');
  const message = String((e as { message?: unknown }).message ?? '');
  // ENOSPC: a file beside the database (the WAL, a temporary file) could not grow.
  if (code === 'ENOSPC' || /disk is full/i.test(message)) return new MtaError('MTA_ERR_SPOOL_FULL', message);
  for (const [pattern, mapped] of BY_SQLITE_CODE) if (pattern.test(code)) return new MtaError(mapped, message);
  const pg = pgErrorCode(code, message);
  return pg ? new MtaError(pg, message) : e;
}

/**
 * `target` with every method's errors (thrown or rejected) passed through storeError: the
 * one place the backend's errors cross the store's boundary.
 */
export function mappingErrors<T extends object>(target: T): T {
  // Keyed by the method itself, not its name: a method replaced on the target later (a test
  // holding a claim's reply, say) is wrapped anew instead of the old one being called.
  const wrapped = new WeakMap<(...args: unknown[]) => unknown, (...args: unknown[]) => unknown>();
  return new Proxy(target, {
    get(obj, prop) {
      const value: unknown = Reflect.get(obj, prop, obj);
      if (typeof value !== 'function') return value;
      const method = value as (...args: unknown[]) => unknown;
      let fn = wrapped.get(method);
      if (!fn) {
        fn = (...args: unknown[]): unknown => {
          let result: unknown;
          try { result = method.apply(obj, args); } catch (e) { throw storeError(e); }
          if (result instanceof Promise) return result.catch((e: unknown) => { throw storeError(e); });
          return result;
        };
        wrapped.set(method, fn);
      }
      return fn;
    },
  });
}
