// One storage contract: outside src/spool nothing may reach the SQLite backend. Code gets
// a store from openStore (spool/index.ts) and sees only the Store contract (spool/types*.ts,
// spool/states.ts); it never imports a backend module or better-sqlite3, never touches a
// `.db` handle, writes no SQL and matches no SQLite error code (storage errors arrive as
// catalogue errors, spool/errors.ts). A violation fails naming file:line.
import t from 'tap';
import { readdirSync, readFileSync, statSync } from 'node:fs';
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
  ['matches an SQLite error code', (l) => new RegExp(`\\bSQLITE_(\\(|(${SQLITE_CODES})\\b)`).test(l)],
];

export function violations(file: string, text: string): string[] {
  const out: string[] = [];
  text.split('\n').forEach((line, i) => {
    for (const [what, bad] of RULES) if (bad(line)) out.push(`${file}:${i + 1}: ${what}: ${line.trim()}`);
  });
  return out;
}

function tsFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    return statSync(p).isDirectory() ? tsFiles(p) : p.endsWith('.ts') ? [p] : [];
  });
}

t.test('the rules catch each kind of reach into the backend', async (t) => {
  const sample = [
    "import Database from 'better-sqlite3';",
    "import { SqliteStore } from '../spool/sqlite-store.js';",
    "import { openDatabase } from '../spool/db.js';",
    'const n = store.db.prepare(x).get();',
    "const q = 'SELECT id FROM messages';",
    "db.exec('UPDATE senders SET disabled = 1');",
    "if (e.code === 'SQLITE_FULL') retry();",
    'const TRANSIENT = /^SQLITE_(BUSY|LOCKED)/;',
  ].join('\n');
  t.same(violations('x.ts', sample).map((v) => v.split(': ')[0]), ['x.ts:1', 'x.ts:2', 'x.ts:3', 'x.ts:4', 'x.ts:5', 'x.ts:6', 'x.ts:7', 'x.ts:8']);
  const fine = [
    "import { openStore } from '../spool/index.js';",
    "import type { Store } from '../spool/types.js';",
    "import type { TaskRecord } from '../spool/types-tasks.js';",
    "import { isFinal } from '../spool/states.js';",
    'if (isRetryable(e)) retry();',
    "export const SQLITE_ADDON_ASSET = 'better_sqlite3.node';",
  ].join('\n');
  t.same(violations('y.ts', fine), [], 'the contract and the addon loader pass');
});

t.test('nothing outside src/spool reaches the SQLite backend', async (t) => {
  const files = tsFiles('src').filter((f) => !f.startsWith(join('src', 'spool') + '/'));
  t.ok(files.length > 50, `scanned ${files.length} files`);
  const found = files.flatMap((f) => violations(f, readFileSync(f, 'utf8')));
  t.same(found, [], found.join('\n'));
});
