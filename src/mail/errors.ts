/**
 * mail/errors — the catalogue of coded errors, one row per code: its text, the HTTP status
 * the admin API answers with, whether it is transient (`retryable`), and for the codes a
 * submission can meet, the SMTP reply it becomes (a name in mail/replies.ts, which holds the
 * basic and enhanced codes). Every error the daemon, CLI or API reports carries one of these
 * stable codes (`MTA_ERR_*`), so logs and scripts can match on it; README's "Error codes"
 * table lists them and test/catalogue-docs.test.ts keeps the two in sync.
 *
 * Must never: decide on a backend's own error codes (spool/errors.ts maps those here), or
 * hold a status or reply anywhere but in this table.
 */
export interface ErrorEntry {
  text: string;
  /** HTTP status of the admin API's error reply (an ApiError may name another) */
  http: number;
  /** the same operation, tried again unchanged later, may succeed (a full disk gets space, a lock is released) */
  retryable?: true;
  /**
   * the SMTP reply (its name in mail/replies.ts) a submission gets when storing the message
   * meets this error; spelled out rather than typed as ReplyName, which would make the two
   * tables' types depend on each other
   */
  smtp?: 'NO_STORAGE' | 'LOCAL_ERROR';
}

export const CATALOGUE = {
  MTA_ERR_CONFIG: { text: 'configuration is not valid', http: 500 },
  MTA_ERR_CONFIG_READ: { text: 'configuration file cannot be read', http: 500 },
  MTA_ERR_DATA_DIR: { text: 'data directory is not usable', http: 500 },
  MTA_ERR_DATA_DIR_IN_USE: { text: 'another daemon is running on this data directory', http: 500 },
  MTA_ERR_DATA_DIR_OWNER: { text: 'the data directory belongs to another user', http: 500 },
  MTA_ERR_DB_DURABILITY: { text: 'database durability settings could not be applied', http: 500 },
  MTA_ERR_DB_SCHEMA: { text: 'database schema is newer than this program', http: 500 },
  MTA_ERR_STORAGE_BACKEND: { text: 'the configured storage backend cannot be used yet', http: 500 },
  MTA_ERR_MIGRATE: { text: 'the SQLite spool cannot be copied to PostgreSQL as it is; nothing was written', http: 500 },
  MTA_ERR_NATIVE: { text: 'the SQLite native addon cannot be written or loaded (single executable)', http: 500 },
  MTA_ERR_SPOOL_WRITER: { text: 'the spool writer thread has stopped', http: 500, smtp: 'LOCAL_ERROR' },
  MTA_ERR_SPOOL_FULL: { text: 'the spool\'s disk or database is full', http: 500, retryable: true, smtp: 'NO_STORAGE' },
  MTA_ERR_SPOOL_BUSY: { text: 'the spool is locked by another writer', http: 500, retryable: true, smtp: 'LOCAL_ERROR' },
  MTA_ERR_SPOOL_IO: { text: 'the spool could not be read or written', http: 500, retryable: true, smtp: 'LOCAL_ERROR' },
  MTA_ERR_NOT_FOUND: { text: 'no such object', http: 404 },
  MTA_ERR_EXISTS: { text: 'object exists already', http: 409 },
  MTA_ERR_INVALID: { text: 'invalid input', http: 400 },
  MTA_ERR_IN_USE: { text: 'object is still in use', http: 409 },
  MTA_ERR_LISTEN: { text: 'listener cannot be started', http: 500 },
  MTA_ERR_STATE: { text: 'operation not allowed in the current state', http: 409 },
  MTA_ERR_AUTH: { text: 'authentication required or refused', http: 401 },
  MTA_ERR_METHOD: { text: 'method not allowed', http: 405 },
  MTA_ERR_TOO_LARGE: { text: 'request too large', http: 413 },
  MTA_ERR_UNAVAILABLE: { text: 'the daemon cannot be reached', http: 503 },
  MTA_ERR_INTERNAL: { text: 'internal error', http: 500 },
  MTA_ERR_WEBHOOK: { text: 'the webhook endpoint did not accept the request', http: 502 },
  MTA_ERR_FORBIDDEN: { text: 'this client is not allowed', http: 403 },
  MTA_ERR_UNSUPPORTED_MEDIA: { text: 'unsupported request content type', http: 415 },
  MTA_ERR_REFUSED: { text: 'the message was refused', http: 422 },
  MTA_ERR_IDEMPOTENCY: { text: 'idempotency key reused for a different request', http: 422 },
  MTA_ERR_TEMPLATE: { text: 'template is not valid', http: 400 },
  MTA_ERR_TEMPLATE_SIZE: { text: 'template body exceeds templates.max_body_size', http: 413 },
  MTA_ERR_TEMPLATE_VAR: { text: 'variables used by the template are missing', http: 400 },
  MTA_ERR_TEMPLATE_STATE: { text: 'operation not allowed in the template\'s state', http: 409 },
  MTA_ERR_QUOTA: { text: 'the sending domain\'s daily or monthly quota is exhausted', http: 429 },
  MTA_ERR_TASK_STATE: { text: 'operation not allowed in the batch task\'s state', http: 409 },
  MTA_ERR_TASK: { text: 'the batch task cannot be created', http: 422 },
  MTA_ERR_EGRESS_ADDRESS: { text: 'an egress source address is not on this machine', http: 500 },
  MTA_ERR_IMPORT_PARTIAL: { text: 'some rows of the import were not written (the report lists them)', http: 500 },
  MTA_ERR_CONFIRM: { text: 'a destructive operation was not confirmed', http: 500 },
  MTA_ERR_THROTTLED: { text: 'too many attempts in a short time; wait and try again', http: 429, retryable: true },
  MTA_ERR_REPLY_TO_UNVERIFIED: { text: 'the sender\'s reply-to address is not verified', http: 409 },
  MTA_ERR_REPLY_TO_RATE: { text: 'too many reply-to verification mails in the last hour; wait and try again', http: 429, retryable: true },
} as const satisfies Record<string, ErrorEntry>;

export type ErrorCode = keyof typeof CATALOGUE;

/** The catalogue's entry for a code, typed as the general row (optional fields readable). */
export function errorEntry(code: ErrorCode): ErrorEntry {
  return CATALOGUE[code];
}

/** Each code's text: the message of an MtaError thrown without one. */
export const ERRORS: Readonly<Record<ErrorCode, string>> = Object.fromEntries(
  Object.entries(CATALOGUE).map(([code, e]) => [code, e.text]),
) as Record<ErrorCode, string>;

/** The catalogue's transient codes. Callers decide on `retryable`, never on a backend's own error codes. */
export const RETRYABLE: ReadonlySet<ErrorCode> = new Set(
  (Object.keys(CATALOGUE) as ErrorCode[]).filter((c) => errorEntry(c).retryable === true),
);

export class MtaError extends Error {
  readonly code: ErrorCode;
  readonly field: string | undefined;
  /** from the catalogue: trying the operation again later may succeed */
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
