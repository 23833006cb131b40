/**
 * spool/migrate-to-pg — `mta storage migrate --to postgres`: copies one node's SQLite spool
 * into an empty PostgreSQL database (the move from one machine to a cluster), then checks the
 * row counts of every table (and the bytes of every blob column: the bodies) against the
 * source before committing.
 *
 * Order of work, each step refusing before anything is written:
 * 1. the data dir's lock (spool/data-dir-lock.ts) is taken, so no daemon runs on the spool and
 *    none starts mid-copy; the SQLite rows are read in one read transaction (one snapshot,
 *    whatever CLI commands write meanwhile);
 * 2. every SQLite table must be known (spool/migrate-tables.ts): a table this program does
 *    not know how to copy is refused rather than left behind;
 * 3. the target must hold no rows in any table (refused: "use an empty database"), checked
 *    before its schema is created, so a wrong URL never gets our tables;
 * 4. the schema is migrated (spool/pg-migrations.ts, as a node's start would), then every
 *    SQLite table with rows must have a PostgreSQL table and every column a PostgreSQL column:
 *    what is missing is named, all of it at once;
 * 5. the rows go in, in ONE transaction: a failure anywhere (a value that does not convert,
 *    the server going away, counts that differ) rolls back to an empty database, so the only
 *    precondition of a retry is the one checked in step 3. PostgreSQL has no limit on a
 *    transaction's size that a single machine's spool could reach; what it costs (WAL volume,
 *    rows invisible until COMMIT) is what a move wants anyway. Id sequences are set past the
 *    highest id copied (and past SQLite's never-reuse floors), then counts and bytes are compared.
 * Step 4 is rehearsed first with the schema created inside a transaction that is rolled back,
 * so its refusals write nothing at all, not even the schema; `dryRun` stops after the rehearsal
 * and says what would be copied.
 *
 * Values are converted by the PostgreSQL column's type (spool/migrate-values.ts); integers are read as
 * BigInt so no id or time loses a digit. It must never change the SQLite spool's rows (opening
 * it brings its schema up to date, as every command does), skip a row or a table silently, or
 * commit a copy whose counts differ.
 */
import type Database from 'better-sqlite3';
import type pg from 'pg';
import { MtaError } from '../util/errors.js';
import { storeFile } from './backup.js';
import { DataDirLock } from './data-dir-lock.js';
import { openDatabase } from './db.js';
import { storeError } from './errors.js';
import { COPY_SEQUENCES, COPY_TABLES, NOT_COPIED, type CopyTable } from './migrate-tables.js';
import { converter } from './migrate-values.js';
import { migratePg, PG_MIGRATIONS } from './pg-migrations.js';
import { checkDurability, createPgPool, type PgPool } from './pg-pool.js';

export interface MigrateOptions {
  dataDir: string;
  /** the target database's URL */
  url: string;
  dryRun?: boolean;
  /** called after each batch of rows goes in */
  progress?: (p: { table: string; copied: number; rows: number }) => void;
}

export interface MigrateSummary {
  dry_run: boolean;
  source: string;
  /** the URL without its password */
  target: string;
  /** per SQLite table: rows in SQLite, rows in PostgreSQL after the copy (null on a dry run or when it had none to copy and no table) */
  tables: { table: string; pg_table: string | null; rows: number; copied: number | null }[];
  /** sequences set past the copied ids: the last id given out */
  sequences: { table: string; column: string; last: number }[];
  rows: number;
}

type Db = Database.Database;
type Client = pg.PoolClient;

interface Column { sqlite: string; pg: string; type: string }
interface Planned { spec: CopyTable; pg: string; rows: number; columns: Column[] | null }

const ident = (name: string): string => `"${name.replace(/"/g, '""')}"`;

/** The URL as it may be printed: the password replaced. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return '(an unparsable URL)';
  }
}

const refuse = (message: string): MtaError => new MtaError('MTA_ERR_MIGRATE', message);

const rowsOf = (n: number): string => `${n} row${n === 1 ? '' : 's'}`;

/**
 * An error met on the target, saying which server: the catalogue's own pass as they are, the
 * server unreachable or failing keeps its storage code (retryable), and the server's other
 * refusals (no such database, authentication, a constraint) become MTA_ERR_MIGRATE.
 */
function targetError(e: unknown, url: string): unknown {
  const mapped = storeError(e);
  const where = `PostgreSQL at ${redactUrl(url)}`;
  if (mapped instanceof MtaError) {
    return mapped.code.startsWith('MTA_ERR_SPOOL_') ? new MtaError(mapped.code, `${where}: ${mapped.message}; nothing was committed`) : mapped;
  }
  return refuse(`${where}: ${(mapped as Error).message}; nothing was committed`);
}

/** The SQLite spool's tables, internal ones included (the ignore-list names those). */
export function sqliteTables(db: Db): string[] {
  return db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name").pluck().all() as string[];
}

/** Tables of the spool that are in none of the lists: copied, sequence floors, or not copied with a reason. */
export function unknownTables(tables: readonly string[]): string[] {
  const known = new Set([...COPY_TABLES.map((t) => t.table), ...COPY_SEQUENCES.map((s) => s.table), ...Object.keys(NOT_COPIED)]);
  return tables.filter((t) => !known.has(t));
}

function takeLock(dataDir: string): DataDirLock {
  try {
    return DataDirLock.acquire(dataDir);
  } catch (e) {
    if (e instanceof MtaError && e.code === 'MTA_ERR_DATA_DIR_IN_USE') {
      throw new MtaError(e.code, `${e.message}: stop the daemon before copying its spool (mail taken in during the copy would be left behind)`);
    }
    throw e;
  }
}

export async function migrateToPg(o: MigrateOptions): Promise<MigrateSummary> {
  const file = storeFile(o.dataDir);
  if (!file.exists) throw new MtaError('MTA_ERR_DATA_DIR', `${file.path} does not exist: there is no SQLite spool to copy`);
  const lock = takeLock(o.dataDir);
  try {
    const db = openDatabase(o.dataDir);
    try {
      db.exec('BEGIN'); // a read transaction: counts and rows from one snapshot
      try {
        const unknown = unknownTables(sqliteTables(db));
        if (unknown.length) throw refuse(`the SQLite spool has tables this program does not know how to copy: ${unknown.join(', ')}; nothing was written`);
        const pool = createPgPool({ url: o.url, poolSize: 2 });
        try {
          return await copy(db, pool, o);
        } catch (e) {
          throw targetError(e, o.url);
        } finally {
          await pool.end().catch(() => undefined);
        }
      } finally {
        db.exec('ROLLBACK');
      }
    } finally {
      db.close();
    }
  } finally {
    lock.release();
  }
}

async function copy(db: Db, pool: PgPool, o: MigrateOptions): Promise<MigrateSummary> {
  await checkDurability(pool);
  const occupied = await tablesWithRows(pool);
  if (occupied.length) {
    throw new MtaError('MTA_ERR_EXISTS', `the PostgreSQL database ${redactUrl(o.url)} already holds data (in ${occupied.join(', ')}): copy into an empty database (CREATE DATABASE mta OWNER mta); nothing was written`);
  }
  // Planned first against the schema made inside a transaction that is rolled back: a refusal
  // (a table or column PostgreSQL lacks) leaves the database as it was, without even the schema.
  const rehearsal = await inTransaction(pool, async (client) => {
    await schemaInTransaction(client);
    const planned = plan(db, await targetColumns(client));
    sequenceFloors(db, planned);
    return planned;
  }, 'ROLLBACK');
  const summary: MigrateSummary = {
    dry_run: o.dryRun ?? false, source: storeFile(o.dataDir).path, target: redactUrl(o.url), sequences: [],
    tables: rehearsal.map((p) => ({ table: p.spec.table, pg_table: p.columns ? p.pg : null, rows: p.rows, copied: null })),
    rows: rehearsal.reduce((n, p) => n + p.rows, 0),
  };
  if (o.dryRun) return summary;
  await migratePg(pool);
  return inTransaction(pool, async (client) => {
    const planned = plan(db, await targetColumns(client));
    const floors = sequenceFloors(db, planned);
    for (const p of planned) if (p.columns && p.rows > 0) await copyTable(db, client, p, o.progress);
    summary.sequences = await setSequences(client, planned, floors);
    summary.tables = await verify(db, client, planned);
    return summary;
  }, 'COMMIT');
}

/** `fn` in a transaction of one client, ended by `end` when it succeeds and rolled back when it throws. */
async function inTransaction<T>(pool: PgPool, fn: (client: Client) => Promise<T>, end: 'COMMIT' | 'ROLLBACK'): Promise<T> {
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    try {
      const out = await fn(client);
      await client.query(end);
      return out;
    } catch (e) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw e;
    }
  } finally {
    client.release();
  }
}

/** Tables of the target's schema holding any row ("schema_migrations" is the schema's own record, not data). */
async function tablesWithRows(pool: PgPool): Promise<string[]> {
  const { rows } = await pool.query<{ t: string }>(
    "SELECT table_name AS t FROM information_schema.tables WHERE table_schema = current_schema() AND table_type = 'BASE TABLE' AND table_name <> 'schema_migrations' ORDER BY 1");
  const out: string[] = [];
  for (const { t } of rows) {
    const r = await pool.query<{ any: boolean }>(`SELECT EXISTS (SELECT 1 FROM ${ident(t)}) AS any`);
    if (r.rows[0]!.any) out.push(t);
  }
  return out;
}

/** The schema a real run migrates to, made inside the caller's transaction (rolled back: the rehearsal). */
async function schemaInTransaction(client: Client): Promise<void> {
  const reg = await client.query<{ t: string | null }>("SELECT to_regclass('schema_migrations')::text AS t");
  let current = 0;
  if (reg.rows[0]!.t) current = (await client.query<{ v: number }>('SELECT coalesce(max(version), 0)::int AS v FROM schema_migrations')).rows[0]!.v;
  if (current > PG_MIGRATIONS.length) {
    throw new MtaError('MTA_ERR_DB_SCHEMA', `PostgreSQL schema version ${current} is newer than this program (${PG_MIGRATIONS.length}); upgrade mta on this node`);
  }
  for (const step of PG_MIGRATIONS.slice(current)) await client.query(step.sql);
}

/** The target's tables: table → column → data type (information_schema's name for it). */
async function targetColumns(client: Client): Promise<Map<string, Map<string, string>>> {
  const { rows } = await client.query<{ t: string; c: string; type: string }>(
    'SELECT table_name AS t, column_name AS c, data_type AS type FROM information_schema.columns WHERE table_schema = current_schema()');
  const out = new Map<string, Map<string, string>>();
  for (const r of rows) {
    if (!out.has(r.t)) out.set(r.t, new Map());
    out.get(r.t)!.set(r.c, r.type);
  }
  return out;
}

/** What goes where; refuses, naming every table and column PostgreSQL lacks, when rows would be left behind. */
export function plan(db: Db, target: ReadonlyMap<string, ReadonlyMap<string, string>>): Planned[] {
  const present = new Set(sqliteTables(db));
  const missing: string[] = [];
  const out: Planned[] = [];
  for (const spec of COPY_TABLES) {
    const pgName = spec.pg ?? spec.table;
    if (!present.has(spec.table)) { out.push({ spec, pg: pgName, rows: 0, columns: null }); continue; }
    const rows = Number(db.prepare(`SELECT count(*) FROM ${ident(spec.table)}`).pluck().get());
    const cols = target.get(pgName);
    if (!cols) {
      if (rows > 0) missing.push(`table ${spec.table} (${rowsOf(rows)}): PostgreSQL has no table ${pgName}`);
      out.push({ spec, pg: pgName, rows, columns: null });
      continue;
    }
    const columns: Column[] = [];
    for (const { name } of db.prepare(`PRAGMA table_info(${ident(spec.table)})`).all() as { name: string }[]) {
      const pgCol = spec.rename?.[name] ?? name;
      const type = cols.get(pgCol);
      if (type === undefined) missing.push(`column ${spec.table}.${name}: PostgreSQL's ${pgName} has no column ${pgCol}`);
      else {
        converter(type, `${spec.table}.${name}`); // a type the copier cannot convert to is refused here, before any row goes in
        columns.push({ sqlite: name, pg: pgCol, type });
      }
    }
    out.push({ spec, pg: pgName, rows, columns });
  }
  if (missing.length) throw refuse(`PostgreSQL's schema cannot take all of this spool's data: ${missing.join('; ')}; nothing was written (this program's PostgreSQL schema does not have these yet)`);
  return out;
}

/** SQLite's never-reuse floors, keyed "table.column"; refused when the floor's table is not on PostgreSQL. */
function sequenceFloors(db: Db, planned: readonly Planned[]): Map<string, bigint> {
  const floors = new Map<string, bigint>();
  for (const s of COPY_SEQUENCES) {
    const raw = db.prepare(s.query).pluck().safeIntegers(true).get() as bigint | undefined;
    const last = raw ?? 0n;
    if (last === 0n) continue;
    if (!planned.some((p) => p.pg === s.pg && p.columns)) throw refuse(`${s.table} holds ${last}, the last ${s.pg} id given out, but PostgreSQL has no table ${s.pg} to keep it; nothing was written`);
    floors.set(`${s.pg}.${s.column}`, last);
  }
  return floors;
}

/** At most this many rows, and about this many bytes, per INSERT (PostgreSQL takes at most 65535 parameters). */
const BATCH_ROWS = 1000;
const BATCH_BYTES = 8 * 1024 * 1024;

async function copyTable(db: Db, client: Client, p: Planned, progress: MigrateOptions['progress']): Promise<void> {
  const columns = p.columns!;
  const convert = columns.map((c) => converter(c.type, `${p.spec.table}.${c.sqlite}`));
  const perBatch = Math.max(1, Math.min(BATCH_ROWS, Math.floor(65535 / columns.length)));
  const head = `INSERT INTO ${ident(p.pg)} (${columns.map((c) => ident(c.pg)).join(', ')}) VALUES `;
  const stmt = db.prepare(`SELECT ${columns.map((c) => ident(c.sqlite)).join(', ')} FROM ${ident(p.spec.table)} ORDER BY ${p.spec.orderBy}`).raw(true).safeIntegers(true);
  let batch: unknown[][] = [];
  let bytes = 0;
  let copied = 0;
  const flush = async (): Promise<void> => {
    if (!batch.length) return;
    const params: unknown[] = [];
    const tuples = batch.map((row) => `(${row.map((v) => { params.push(v); return `$${params.length}`; }).join(', ')})`);
    await client.query(head + tuples.join(', '), params);
    copied += batch.length;
    batch = [];
    bytes = 0;
    progress?.({ table: p.spec.table, copied, rows: p.rows });
  };
  for (const raw of stmt.iterate() as Iterable<unknown[]>) {
    const row = raw.map((v, i) => convert[i]!(v, copied + batch.length + 1));
    for (const v of row) bytes += Buffer.isBuffer(v) ? v.length : typeof v === 'string' ? v.length : 8;
    batch.push(row);
    if (batch.length >= perBatch || bytes >= BATCH_BYTES) await flush();
  }
  await flush();
}

/** Each copied table's id sequence set to the highest id copied (or SQLite's floor, when higher). */
async function setSequences(client: Client, planned: readonly Planned[], floors: ReadonlyMap<string, bigint>): Promise<MigrateSummary['sequences']> {
  const { rows } = await client.query<{ t: string; c: string; seq: string | null }>(
    `SELECT table_name AS t, column_name AS c, pg_get_serial_sequence(quote_ident(table_name), column_name) AS seq
       FROM information_schema.columns
      WHERE table_schema = current_schema() AND (column_default LIKE 'nextval(%' OR is_identity = 'YES')
      ORDER BY 1, 2`);
  const copied = new Set(planned.filter((p) => p.columns).map((p) => p.pg));
  const out: MigrateSummary['sequences'] = [];
  for (const { t, c, seq } of rows) {
    if (!seq || !copied.has(t)) continue;
    const max = (await client.query<{ m: string | null }>(`SELECT max(${ident(c)})::text AS m FROM ${ident(t)}`)).rows[0]!.m;
    const floor = floors.get(`${t}.${c}`) ?? 0n;
    const last = max !== null && BigInt(max) > floor ? BigInt(max) : floor;
    if (last === 0n) continue;
    // is_called true: the next id given out is last + 1
    await client.query('SELECT setval($1, $2, true)', [seq, last.toString()]);
    out.push({ table: t, column: c, last: Number(last) });
  }
  return out;
}

/** Rows per table (and bytes of blobs) on PostgreSQL, inside the copy's transaction, against SQLite's; any difference refuses the commit. */
async function verify(db: Db, client: Client, planned: readonly Planned[]): Promise<MigrateSummary['tables']> {
  const out: MigrateSummary['tables'] = [];
  const differ: string[] = [];
  for (const p of planned) {
    if (!p.columns) { out.push({ table: p.spec.table, pg_table: null, rows: p.rows, copied: null }); continue; }
    const n = Number((await client.query<{ n: string }>(`SELECT count(*) AS n FROM ${ident(p.pg)}`)).rows[0]!.n);
    if (n !== p.rows) differ.push(`${p.spec.table}: ${rowsOf(p.rows)} in SQLite, ${n} in PostgreSQL's ${p.pg}`);
    // bodies are what a move must not lose even a byte of: their total length is compared too
    for (const c of p.columns.filter((x) => x.type === 'bytea')) {
      const want = String(db.prepare(`SELECT coalesce(sum(length(${ident(c.sqlite)})), 0) FROM ${ident(p.spec.table)}`).pluck().get());
      const got = (await client.query<{ b: string }>(`SELECT coalesce(sum(octet_length(${ident(c.pg)})), 0)::text AS b FROM ${ident(p.pg)}`)).rows[0]!.b;
      if (got !== want) differ.push(`${p.spec.table}.${c.sqlite}: ${want} bytes in SQLite, ${got} in PostgreSQL`);
    }
    out.push({ table: p.spec.table, pg_table: p.pg, rows: p.rows, copied: n });
  }
  if (differ.length) throw refuse(`the copy does not match its source (${differ.join('; ')}); rolled back, the PostgreSQL database is left empty`);
  return out;
}
