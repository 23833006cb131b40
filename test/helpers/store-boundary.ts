/**
 * store-boundary — the rules test/store-boundary.test.ts applies: what counts as reaching
 * past the Store contract into the SQLite backend, line by line.
 */
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

/** Spool modules that are the contract; every other one is the backend's. */
const CONTRACT = /spool\/(index|types(-[a-z]+)?|states)\.js$/;

const SQLITE_CODES = 'BUSY|LOCKED|FULL|IOERR|CANTOPEN|PROTOCOL|NOMEM|CONSTRAINT|READONLY|CORRUPT|NOTADB|ERROR|MISUSE|INTERRUPT|ABORT|PERM|SCHEMA|TOOBIG|MISMATCH|RANGE';
const RULES: ReadonlyArray<[string, (line: string) => boolean]> = [
  ['imports better-sqlite3', (l) => /(from|import\(|require\()\s*['"]better-sqlite3['"]/.test(l)],
  ['imports a spool backend module', (l) => {
    const m = /(?:from|import\()\s*['"]([^'"]*spool\/[^'"]+)['"]/.exec(l);
    return m !== null && !CONTRACT.test(m[1]!);
  }],
  ['touches a .db handle', (l) => /\.db\s*[.!)]|\.db\b\s*$/.test(l)],
  ['writes SQL', (l) => /\bSELECT\s+[\w*]|\bINSERT INTO\b|\bUPDATE\s+\w+\s+SET\b|\bDELETE FROM\b/.test(l)],
  ['reaches the backend through test/helpers/spool-backend', (l) => /\bsqlite(Db|Backend)\(/.test(l)],
  ['matches an SQLite error code', (l) => new RegExp(`\\bSQLITE_(\\(|(${SQLITE_CODES})\\b)`).test(l)],
];

/** Each offending line as `file:line: rule: text`. */
export function violations(file: string, text: string): string[] {
  const out: string[] = [];
  text.split('\n').forEach((line, i) => {
    for (const [what, bad] of RULES) if (bad(line)) out.push(`${file}:${i + 1}: ${what}: ${line.trim()}`);
  });
  return out;
}

/** Every .ts file under `dir`. */
export function tsFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    return statSync(p).isDirectory() ? tsFiles(p) : p.endsWith('.ts') ? [p] : [];
  });
}

