/**
 * errors — the catalogue of coded errors. Every error the daemon, CLI or API reports
 * carries a stable code (`MTA_ERR_*`), so logs and scripts can match on it. SMTP replies
 * have their own catalogue in submission/replies.ts.
 */

export const ERRORS = {
  MTA_ERR_CONFIG: 'configuration is not valid',
  MTA_ERR_CONFIG_READ: 'configuration file cannot be read',
  MTA_ERR_DATA_DIR: 'data directory is not usable',
  MTA_ERR_DATA_DIR_IN_USE: 'another daemon is running on this data directory',
  MTA_ERR_DATA_DIR_OWNER: 'the data directory belongs to another user',
  MTA_ERR_DB_DURABILITY: 'database durability settings could not be applied',
  MTA_ERR_DB_SCHEMA: 'database schema is newer than this program',
  MTA_ERR_NATIVE: 'the SQLite native addon cannot be written or loaded (single executable)',
  MTA_ERR_SPOOL_WRITER: 'the spool writer thread has stopped',
  MTA_ERR_SPOOL_FULL: 'the spool\'s disk or database is full',
  MTA_ERR_SPOOL_BUSY: 'the spool is locked by another writer',
  MTA_ERR_SPOOL_IO: 'the spool could not be read or written',
  MTA_ERR_NOT_FOUND: 'no such object',
  MTA_ERR_EXISTS: 'object exists already',
  MTA_ERR_INVALID: 'invalid input',
  MTA_ERR_IN_USE: 'object is still in use',
  MTA_ERR_LISTEN: 'listener cannot be started',
  MTA_ERR_STATE: 'operation not allowed in the current state',
  MTA_ERR_AUTH: 'authentication required or refused',
  MTA_ERR_METHOD: 'method not allowed',
  MTA_ERR_TOO_LARGE: 'request too large',
  MTA_ERR_UNAVAILABLE: 'the daemon cannot be reached',
  MTA_ERR_INTERNAL: 'internal error',
  MTA_ERR_WEBHOOK: 'the webhook endpoint did not accept the request',
  MTA_ERR_FORBIDDEN: 'this client is not allowed',
  MTA_ERR_UNSUPPORTED_MEDIA: 'unsupported request content type',
  MTA_ERR_REFUSED: 'the message was refused',
  MTA_ERR_IDEMPOTENCY: 'idempotency key reused for a different request',
  MTA_ERR_TEMPLATE: 'template is not valid',
  MTA_ERR_TEMPLATE_SIZE: 'template body exceeds templates.max_body_size',
  MTA_ERR_TEMPLATE_VAR: 'variables used by the template are missing',
  MTA_ERR_TEMPLATE_STATE: 'operation not allowed in the template\'s state',
  MTA_ERR_QUOTA: 'the sending domain\'s daily or monthly quota is exhausted',
  MTA_ERR_TASK_STATE: 'operation not allowed in the batch task\'s state',
  MTA_ERR_TASK: 'the batch task cannot be created',
  MTA_ERR_EGRESS_ADDRESS: 'an egress source address is not on this machine',
  MTA_ERR_IMPORT_PARTIAL: 'some rows of the import were not written (the report lists them)',
  MTA_ERR_CONFIRM: 'a destructive operation was not confirmed',
  MTA_ERR_THROTTLED: 'too many attempts in a short time; wait and try again',
} as const;

export type ErrorCode = keyof typeof ERRORS;

/**
 * The catalogue's transient codes: the same operation, tried again unchanged later, may
 * succeed (a full disk gets space, a lock is released). Callers decide on `retryable`,
 * never on a backend's own error codes.
 */
export const RETRYABLE: ReadonlySet<ErrorCode> = new Set<ErrorCode>(['MTA_ERR_SPOOL_FULL', 'MTA_ERR_SPOOL_BUSY', 'MTA_ERR_SPOOL_IO']);

export class MtaError extends Error {
  readonly code: ErrorCode;
  readonly field: string | undefined;
  /** from the catalogue (RETRYABLE): trying the operation again later may succeed */
  readonly retryable: boolean;
  constructor(code: ErrorCode, message?: string, field?: string) {
    super(message ?? ERRORS[code]);
    this.name = 'MtaError';
    this.code = code;
    this.field = field;
    this.retryable = RETRYABLE.has(code);
  }
}

/** Whether `e` is a catalogue error marked transient (see RETRYABLE). */
export function isRetryable(e: unknown): boolean {
  return e instanceof MtaError && e.retryable;
}

export function isMtaError(e: unknown): e is MtaError {
  return e instanceof MtaError;
}

export function assertNever(x: never, what = 'value'): never {
  throw new Error(`unexpected ${what}: ${JSON.stringify(x)}`);
}
