/**
 * spool/pg-errors — which catalogue code a PostgreSQL (pg driver) error is, so the
 * PostgreSQL backend's errors cross the store's boundary as MTA_ERR_SPOOL_* like SQLite's
 * (spool/errors.ts applies it). The server unreachable, restarting or shutting down, the
 * connection lost, a serialization failure or deadlock, a lock not granted in time: MTA_ERR_SPOOL_BUSY (451 4.3.0,
 * retry). Disk full (53100): MTA_ERR_SPOOL_FULL (452 4.3.1). Out of memory or other
 * resources, a system or internal error: MTA_ERR_SPOOL_IO. It must never map a programming
 * error (syntax, a constraint, a missing table) to a retryable code: those pass unchanged.
 */
import type { ErrorCode } from '../util/errors.js';

/** Node socket errors of a connection to the server that is refused, dropped or stalled. */
const CONNECTION_ERRNOS = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN']);
/** What the pg driver says when the server goes away mid-query or the pool cannot connect in time. */
const CONNECTION_MESSAGES = /^(Connection terminated|Client has encountered a connection error|timeout exceeded when trying to connect|Client was closed)/;

/** The catalogue code for a pg error, or undefined when it is not a storage condition. */
export function pgErrorCode(code: string, message: string): ErrorCode | undefined {
  if (CONNECTION_ERRNOS.has(code) || (code === '' && CONNECTION_MESSAGES.test(message))) return 'MTA_ERR_SPOOL_BUSY';
  if (!/^[0-9A-Z]{5}$/.test(code)) return undefined;
  if (code === '53100') return 'MTA_ERR_SPOOL_FULL';
  // 08: connection exception; 57P01-03: admin/crash shutdown, cannot connect now; 53300: too
  // many connections; 40001/40P01: serialization failure, deadlock (the transaction is retried whole).
  // 55P03: a lock another connection holds was not granted within lock_timeout (as SQLITE_BUSY).
  if (code.startsWith('08') || /^57P0[123]$/.test(code) || code === '53300' || code === '40001' || code === '40P01' || code === '55P03') return 'MTA_ERR_SPOOL_BUSY';
  // 53: insufficient resources; 58: system error (I/O); XX: internal error (a corrupt page, say).
  if (/^(53|58|XX)/.test(code)) return 'MTA_ERR_SPOOL_IO';
  return undefined;
}
