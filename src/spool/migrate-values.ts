/**
 * spool/migrate-values — how `mta storage migrate` (spool/migrate-to-pg.ts) turns a SQLite value
 * into what a PostgreSQL column of a given type takes, exactly or not at all: 0/1 to boolean,
 * integers (read as BigInt) to BIGINT/INTEGER text without a digit lost, blobs to bytea, JSON
 * text checked for jsonb. Pure; it must never touch storage, round a value, or pass on one that
 * would change on the way.
 */
import { MtaError } from '../util/errors.js';

/**
 * SQLite's value as the PostgreSQL column's type wants it; anything that would not survive
 * the move exactly (a 2 in a flag, a fraction in an integer, text in a bytea) is refused,
 * naming the table, column and row.
 */
export function converter(type: string, column: string): (v: unknown, row: number) => unknown {
  const bad = (v: unknown, row: number, as: string): MtaError =>
    new MtaError('MTA_ERR_MIGRATE', `${column}, row ${row} in key order: ${typeof v === 'bigint' ? v.toString() : JSON.stringify(v)} (${Buffer.isBuffer(v) ? 'a blob' : typeof v}) cannot become ${as}; nothing was written`);
  switch (type) {
    case 'boolean':
      return (v, row) => {
        if (v === null) return null;
        if (v === 0n || v === 1n) return v === 1n;
        throw bad(v, row, 'a boolean (0 or 1)');
      };
    case 'bigint': case 'integer': case 'smallint':
      return (v, row) => {
        if (v === null) return null;
        if (typeof v === 'bigint') return v.toString();
        if (typeof v === 'number' && Number.isInteger(v)) return String(v);
        throw bad(v, row, `an integer (${type})`);
      };
    case 'double precision': case 'real': case 'numeric':
      return (v, row) => {
        if (v === null) return null;
        if (typeof v === 'bigint' || typeof v === 'number') return String(v);
        throw bad(v, row, `a ${type}`);
      };
    case 'bytea':
      return (v, row) => {
        if (v === null || Buffer.isBuffer(v)) return v;
        throw bad(v, row, 'bytea (SQLite holds no blob there)');
      };
    // JSON text: checked here so a bad one is named by table and row (jsonb would refuse it
    // without saying where); a json or text column keeps it as written.
    case 'jsonb': case 'json':
      return (v, row) => {
        if (v === null) return null;
        if (typeof v === 'string') {
          try { JSON.parse(v); return v; } catch { throw bad(v, row, `${type} (it is not JSON)`); }
        }
        throw bad(v, row, `${type} (SQLite holds no text there)`);
      };
    case 'text': case 'character varying':
      return (v, row) => {
        if (v === null || typeof v === 'string') return v;
        throw bad(v, row, `${type} (SQLite holds no text there)`);
      };
    default:
      throw new MtaError('MTA_ERR_MIGRATE', `${column}: the copier does not know PostgreSQL's type ${type}; nothing was written`);
  }
}
