// `mta storage migrate --to postgres` (spool/migrate-to-pg.ts): a real daemon fills a SQLite
// data dir over real SMTP and through its store (bodies up to a multi-chunk one, recipients
// delivered, failed, deferred, held and queued, events, domains with real DKIM keys, senders,
// a list with members, a task, users and a session, tracking hits), and the CLI copies it into
// a fresh database of a real PostgreSQL (test/helpers/postgres.ts). What arrives is compared
// with SQLite read independently: row counts per table, a body byte for byte, flags as booleans,
// ids continuing after the copied ones. The refusals are checked to write nothing: a daemon on
// the data dir, a database that holds data, a table PostgreSQL lacks, and counts that differ.
import Database from 'better-sqlite3';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import t from 'tap';
import { Domains } from '../src/accounts/domains.js';
import { migrateToPg, sqliteTables, unknownTables } from '../src/spool/migrate-to-pg.js';
import { converter } from '../src/spool/migrate-values.js';
import { COPY_SEQUENCES, COPY_TABLES, NOT_COPIED } from '../src/spool/migrate-tables.js';
import { openDatabase } from '../src/spool/db.js';
import { migratePg } from '../src/spool/pg-migrations.js';
import { createPgPool } from '../src/spool/pg-pool.js';
import type { QueueEntry } from '../src/spool/types-queue.js';
import { MtaError } from '../src/util/errors.js';
import { startDaemon, tempDir, type TestDaemon } from './helpers/daemon.js';
import { startPostgres } from './helpers/postgres.js';
import { runMta } from './helpers/run.js';
import { RawSmtp, message } from './helpers/smtp-client.js';
import { submitMail } from './helpers/submit.js';
import { PASSWORD } from './helpers/daemon.js';
import { taskRecord } from './helpers/accounts-scenarios.js';
import { outcome } from './store/suite.js';

const cluster = await startPostgres((fn) => t.teardown(fn));

async function query<R extends pg.QueryResultRow>(url: string, sql: string, params: unknown[] = []): Promise<R[]> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try { return (await c.query<R>(sql, params)).rows; } finally { await c.end(); }
}

async function codeOf(p: Promise<unknown>): Promise<string> {
  try { await p; return 'resolved'; } catch (e) { return e instanceof MtaError ? `${e.code}: ${e.message}` : `not a catalogue error: ${(e as Error).message}`; }
}

/** Row counts of every table the copier knows, read from the SQLite file on its own. */
function sqliteCounts(dataDir: string): Record<string, number> {
  const db = new Database(join(dataDir, 'spool.sqlite'), { readonly: true });
  try {
    return Object.fromEntries(COPY_TABLES.map((c) => [c.table, Number(db.prepare(`SELECT count(*) FROM ${c.table}`).pluck().get())]));
  } finally { db.close(); }
}

t.test('every table of the SQLite spool is copied, a sequence floor, or not copied with a reason', async (t) => {
  const dir = tempDir('mta-migrate-tables-');
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const db = openDatabase(dir);
  try {
    db.exec('ANALYZE'); // SQLite's statistics tables appear: bookkeeping, on the ignore-list
    const tables = sqliteTables(db);
    t.ok(tables.includes('messages') && tables.includes('tracking_hits'), 'the spool\'s tables are listed');
    t.same(unknownTables(tables), [], 'no table of the spool is forgotten');
    t.same(unknownTables([...tables, 'new_table']), ['new_table'], 'a table added without an entry is caught');
    const listed = [...COPY_TABLES.map((c) => c.table), ...COPY_SEQUENCES.map((s) => s.table)];
    t.same(listed.filter((n) => !tables.includes(n)), [], 'every entry names a table the spool has');
    t.ok(Object.values(NOT_COPIED).every((why) => why.length > 20), 'each table left out says why');
    const data = tables.filter((n) => !n.startsWith('sqlite_') && NOT_COPIED[n] !== undefined);
    t.same(data.filter((n) => !['nodes', 'job_leases', 'throttle_slots', 'throttle_pace'].includes(n)), [], 'besides SQLite\'s bookkeeping, only a node\'s liveness rows and leases are left out');
  } finally { db.close(); }
});

t.test('values convert by the PostgreSQL column\'s type, exactly, or are refused naming table, column and row', async (t) => {
  const conv = (type: string, v: unknown): string => {
    try { return JSON.stringify(converter(type, 't.c')(v, 7), (_k, x: unknown) => (typeof x === 'bigint' ? `${x}n` : x)); } catch (e) { return (e as MtaError).message; }
  };
  const rows: [string, unknown, string][] = [
    ['boolean', 1n, 'true'], ['boolean', 0n, 'false'], ['boolean', null, 'null'],
    ['boolean', 2n, 't.c, row 7 in key order: 2 (bigint) cannot become a boolean (0 or 1); nothing was written'],
    ['bigint', 9007199254740993n, '"9007199254740993"'], ['integer', 5n, '"5"'],
    ['bigint', 1.5, 't.c, row 7 in key order: 1.5 (number) cannot become an integer (bigint); nothing was written'],
    ['bigint', 'x', 't.c, row 7 in key order: "x" (string) cannot become an integer (bigint); nothing was written'],
    ['bytea', Buffer.from([0, 255]), '{"type":"Buffer","data":[0,255]}'],
    ['bytea', 'text', 't.c, row 7 in key order: "text" (string) cannot become bytea (SQLite holds no blob there); nothing was written'],
    ['jsonb', '{"b":1,"a":2}', '"{\\"b\\":1,\\"a\\":2}"'],
    ['jsonb', '{oops', 't.c, row 7 in key order: "{oops" (string) cannot become jsonb (it is not JSON); nothing was written'],
    ['text', 'é', '"é"'], ['text', 3n, 't.c, row 7 in key order: 3 (bigint) cannot become text (SQLite holds no text there); nothing was written'],
    ['point', 'x', 't.c: the copier does not know PostgreSQL\'s type point; nothing was written'],
  ];
  for (const [type, v, want] of rows) t.equal(conv(type, v), want, `${type} ← ${typeof v === 'bigint' ? `${v}n` : JSON.stringify(v)}`);
});

t.test('a dry run on an empty spool: every column of every table PostgreSQL has maps, and nothing is written', async (t) => {
  const dir = tempDir('mta-migrate-dry-');
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  openDatabase(dir).close();
  const url = await cluster.createDatabase();
  const s = await migrateToPg({ dataDir: dir, url, dryRun: true });
  t.equal(s.dry_run, true);
  t.same(s.tables.map((x) => x.table), COPY_TABLES.map((c) => c.table), 'every table in the copy order');
  // the schema a real run makes, made elsewhere: which tables exist there
  const ref = await cluster.createDatabase();
  const pool = createPgPool({ url: ref, poolSize: 1 });
  try { await migratePg(pool); } finally { await pool.end(); }
  const have = new Set((await query<{ t: string }>(ref, "SELECT table_name AS t FROM information_schema.tables WHERE table_schema = 'public'")).map((r) => r.t));
  t.same(s.tables.filter((x) => x.pg_table === null).map((x) => x.table), COPY_TABLES.filter((c) => !have.has(c.pg ?? c.table)).map((c) => c.table),
    'the tables PostgreSQL lacks are named as such (and hold nothing here)');
  t.same(await query(url, "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'"), [], 'the dry run left the database as it was: no schema');
  t.match(await codeOf(migrateToPg({ dataDir: dir, url: cluster.url('no_such_db') })),
    /^MTA_ERR_MIGRATE: PostgreSQL at postgres:\/\/.*\/no_such_db: database "no_such_db" does not exist; nothing was committed$/, 'a database that is not there is named');
});

/** A data dir filled by a real daemon: over SMTP and through its store. */
async function fill(d: TestDaemon): Promise<{ bigId: string; lastWebhook: number }> {
  const store = d.daemon.store;
  await new Domains(store).add('rsa.example.com', { algorithm: 'rsa' });
  await d.addSender('news@example.com', 'batch');
  await store.setSenderDisabled('news@example.com', true);
  for (let i = 0; i < 5; i++) await submitMail(d, [`r${i}a@dest.test`, `r${i}b@dest.test`]);
  // a body of several chunks (spool/chunks.ts: 64 KiB each), with non-ASCII text in it
  const line = (i: number): string => `${String(i).padStart(6, '0')} ${'abcdefghijklmnopqrstuvwxyz0123456789é'.repeat(2)}\r\n`;
  const body = Array.from({ length: 4000 }, (_, i) => line(i)).join('');
  const c = await RawSmtp.connect(d.port);
  await c.greet(); await c.ehlo();
  await c.authPlain('app@example.com', PASSWORD);
  await c.cmd('MAIL FROM:<app@example.com>');
  await c.cmd('RCPT TO:<big@dest.test>');
  const text = message('app@example.com', 'big@dest.test', 'big', body);
  const r = await c.data(`${text}.\r\n`);
  await c.quit();
  if (r.code !== 250) throw new Error(`DATA: ${r.text}`);
  const bigId = r.text.split(' ').pop()!;
  // recipients in several states, with their events
  const now = Date.now();
  const claimed = await store.claimDue({ now, limit: 4 });
  const [a, b, c2, sending] = claimed as [QueueEntry, QueueEntry, QueueEntry, QueueEntry];
  await store.recordOutcomes([outcome(a, 'delivered', now), outcome(b, 'failed', now), outcome(c2, 'deferred', now)]);
  void sending; // left 'sending' under this node's lease
  await store.applyQueueOp('hold', { queueId: (await store.listQueue({ limit: 100, states: ['queued'] }))[0]!.queueId }, now);
  await store.saveDomainChecks('example.com', [{ domain: 'example.com', name: 'spf', status: 'ok', expected: 'v=spf1', found: 'v=spf1', detail: null, checkedAt: now }], 'verified',
    [{ at: now, type: 'domain.verified', domain: 'example.com', detail: { by: 'test' } }]);
  await store.addTemplate({ name: 'welcome', subject: 'Hi', fromName: null, html: '<p>hi {{UserName}}</p>', text: null, state: 'approved', rejectReason: null, createdAt: now, updatedAt: now });
  await store.addList({ name: 'news', alias: 'news-list@example.com', description: null, createdAt: now });
  await store.upsertListMembers('news', 'imp1', ['UserName'], [{ address: 'm1@dest.test', variables: { UserName: 'Ann' } }, { address: 'm2@dest.test', variables: { UserName: 'Bo' } }], now);
  await store.addTask(taskRecord({ sender: 'news@example.com', tracking: true, createdAt: now, updatedAt: now }));
  await store.addUser({ name: 'alice', role: 'admin', passwordHash: 'scrypt$x', createdAt: now, passwordChangedAt: now });
  await store.addSession({ idHash: 'a'.repeat(64), user: 'alice', createdAt: now, lastSeenAt: now });
  await store.recordTrackingHit({ at: now, kind: 'open', queueId: a.queueId, recipientId: a.recipientId, ip: '192.0.2.1', userAgent: 'UA', method: 'GET', class: 'human', reason: null });
  await store.recordTrackingHit({ at: now + 1, kind: 'click', queueId: a.queueId, recipientId: a.recipientId, link: 0, url: 'https://example.com/', ip: '192.0.2.1', userAgent: 'UA', method: 'GET', class: 'human', reason: null });
  // webhook ids are never reused: the last one given out (removed since) must outlive the move
  await store.addWebhook({ url: 'http://127.0.0.1:1/kept', sender: null, events: '*', format: 'json', secret: 's1', createdAt: now });
  const gone = await store.addWebhook({ url: 'http://127.0.0.1:1/gone', sender: null, events: '*', format: 'json', secret: 's2', createdAt: now });
  await store.removeWebhook(gone.id);
  return { bigId, lastWebhook: gone.id };
}

t.test('a spool moves to PostgreSQL whole; a second run, a running daemon and a database with data are refused', async (t) => {
  const d = await startDaemon();
  let running = true;
  t.teardown(async () => { if (running) await d.daemon.stop(); rmSync(d.dir, { recursive: true, force: true }); });
  const { bigId, lastWebhook } = await fill(d);
  const dataDir = d.daemon.config.dataDir;
  const url = await cluster.createDatabase();

  const held = await runMta(['storage', 'migrate', '--to', 'postgres', '--url', url, '-c', d.configPath]);
  t.equal(held.code, 1, 'refused while the daemon runs');
  t.match(held.err, /data_dir .* is in use by pid \d+: stop the daemon .*\(MTA_ERR_DATA_DIR_IN_USE\)/);
  t.same(await query(url, "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'"), [], 'nothing written: not even the schema');

  await d.daemon.stop();
  running = false;
  const want = sqliteCounts(dataDir);
  t.ok(want['message_chunks']! > want['messages']!, 'a body spans several chunks');

  const dry = await runMta(['storage', 'migrate', '--to', 'postgres', '--url', url, '--dry-run', '-c', d.configPath]);
  t.equal(dry.code, 0, 'a dry run');
  t.match(dry.out, new RegExp(`would copy .*spool\\.sqlite to postgres://.*\\n(.|\\n)*  message_chunks +${want['message_chunks']} rows\\n(.|\\n)*rows would be copied; nothing was written`));
  t.same(await query(url, "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'"), [], 'and it wrote nothing');

  const run = await runMta(['storage', 'migrate', '--to', 'postgres', '--url', url, '--json', '-c', d.configPath]);
  t.equal(run.code, 0, 'the copy succeeds');
  if (run.code !== 0) t.comment(run.err);
  const summary = JSON.parse(run.out) as { tables: { table: string; rows: number; copied: number | null }[]; sequences: { table: string; last: number }[]; target: string };
  t.match(run.err, /mta: message_chunks: \d+\/\d+ rows \(100%\)/, 'progress on stderr');
  const got: Record<string, number> = {};
  for (const { table } of COPY_TABLES) got[table] = Number((await query<{ n: string }>(url, `SELECT count(*) AS n FROM ${table}`))[0]!.n);
  t.same(got, want, 'every table has as many rows as in SQLite');
  t.same(Object.fromEntries(summary.tables.map((x) => [x.table, x.copied])), want, 'and the summary says so');
  for (const table of ['messages', 'recipients', 'events', 'domains', 'senders', 'lists', 'list_members', 'tasks', 'console_users', 'console_sessions', 'tracking_hits', 'templates', 'domain_checks']) {
    t.ok(want[table]! > 0, `${table} had rows to copy`);
  }

  // the body, byte for byte, against SQLite's chunks read on their own
  const src = new Database(join(dataDir, 'spool.sqlite'), { readonly: true });
  const original = Buffer.concat(src.prepare('SELECT data FROM message_chunks WHERE message_id = ? ORDER BY seq').pluck().all(bigId) as Buffer[]);
  const srcStates = src.prepare('SELECT state, count(*) AS n FROM recipients GROUP BY state ORDER BY state').all();
  const srcEvent = src.prepare('SELECT id, detail FROM events ORDER BY id DESC LIMIT 1').get() as { id: number; detail: string };
  const srcTask = src.prepare('SELECT tracking, unsubscribe, exhausted FROM tasks').get() as Record<string, number>;
  src.close();
  t.ok(original.length > 3 * 64 * 1024, 'the big body is over three chunks');
  const chunks = await query<{ data: Buffer }>(url, 'SELECT data FROM message_chunks WHERE message_id = $1 ORDER BY seq', [bigId]);
  t.ok(Buffer.concat(chunks.map((r) => r.data)).equals(original), 'the body read back from PostgreSQL equals the original bytes');
  t.same(await query(url, 'SELECT state, count(*)::int AS n FROM recipients GROUP BY state ORDER BY state'), srcStates, 'recipients keep their states');
  t.same(new Set((srcStates as { state: string }[]).map((s) => s.state)), new Set(['delivered', 'failed', 'deferred', 'sending', 'held', 'queued']), 'in six states');
  t.same((await query<{ detail: unknown }>(url, 'SELECT detail FROM events WHERE id = $1', [srcEvent.id]))[0]!.detail, JSON.parse(srcEvent.detail), 'event details as JSON');
  t.same(await query(url, "SELECT address, disabled FROM senders ORDER BY address"), [{ address: 'app@example.com', disabled: false }, { address: 'news@example.com', disabled: true }], 'flags become booleans');
  t.same(await query(url, 'SELECT tracking, unsubscribe, exhausted FROM tasks'), [Object.fromEntries(Object.entries(srcTask).map(([k, v]) => [k, v === 1]))], 'a task\'s flags too');
  t.same(await query(url, 'SELECT user_name FROM console_sessions'), [{ user_name: 'alice' }], 'a renamed column');
  const keys = await query<{ dkim_algorithm: string; dkim_private_key: string }>(url, 'SELECT dkim_algorithm, dkim_private_key FROM domains ORDER BY name');
  t.same(keys.map((k) => k.dkim_algorithm), ['ed25519', 'rsa'], 'domains with their DKIM keys');
  t.ok(keys.every((k) => k.dkim_private_key.includes('PRIVATE KEY')));

  // ids continue after the copied ones
  const maxEvent = Number((await query<{ m: string }>(url, 'SELECT max(id) AS m FROM events'))[0]!.m);
  const fresh = await query<{ id: string }>(url, "INSERT INTO events (at, type) VALUES (1, 'test') RETURNING id");
  t.ok(Number(fresh[0]!.id) > maxEvent, 'an event inserted after the move gets a fresh id');
  const maxRcpt = Number((await query<{ m: string }>(url, 'SELECT max(id) AS m FROM recipients'))[0]!.m);
  const rcpt = await query<{ id: string }>(url, "INSERT INTO recipients (message_id, rcpt, domain, lane, state, next_attempt_at, updated_at) VALUES ($1, 'n@dest.test', 'dest.test', 'trigger', 'queued', 1, 1) RETURNING id", [bigId]);
  t.ok(Number(rcpt[0]!.id) > maxRcpt, 'so does a recipient');
  const hook = await query<{ id: string }>(url, "INSERT INTO webhooks (url, secret, created_at) VALUES ('http://127.0.0.1:1/new', 's3', 1) RETURNING id");
  t.equal(Number(hook[0]!.id), lastWebhook + 1, 'a webhook added after the move gets an id never given out before (SQLite\'s webhook_ids floor, above the highest row)');
  t.ok(summary.sequences.some((s) => s.table === 'tracking_hits' && s.last === want['tracking_hits']), 'the summary names the sequences set');
  t.notMatch(summary.target, /secret/, 'no password printed');

  // again, into the database that now holds data; its URL from the config's [storage] this time
  const urlFile = join(d.dir, 'postgres.url');
  writeFileSync(urlFile, `${url}\n`, { mode: 0o600 });
  const config2 = join(d.dir, 'mta-pg.toml');
  writeFileSync(config2, `${readFileSync(d.configPath, 'utf8')}\n[storage]\nbackend = "postgres"\npostgres_url_file = "${urlFile}"\n`);
  const again = await runMta(['storage', 'migrate', '--to', 'postgres', '-c', config2]);
  t.equal(again.code, 1);
  t.match(again.err, new RegExp(`the PostgreSQL database ${url.replace(/[/.]/g, '\\$&')} already holds data \\(in .*messages.*\\): copy into an empty database .*\\(MTA_ERR_EXISTS\\)`));
  t.equal(Number((await query<{ n: string }>(url, 'SELECT count(*) AS n FROM messages'))[0]!.n), want['messages'], 'nothing added');

  // a table PostgreSQL lacks: named, nothing written
  const lacking = await cluster.createDatabase();
  const pool = createPgPool({ url: lacking, poolSize: 1 });
  try { await migratePg(pool); await pool.query('DROP TABLE templates'); } finally { await pool.end(); }
  t.match(await codeOf(migrateToPg({ dataDir, url: lacking })), /^MTA_ERR_MIGRATE: .*table templates \(1 row\): PostgreSQL has no table templates.*nothing was written/);
  t.same(await query(lacking, 'SELECT count(*)::int AS n FROM messages'), [{ n: 0 }], 'nothing copied');

  // what arrives differs from what was sent (a trigger changes rows on the way in): rolled back, the database left empty
  const tampered = async (table: string, body: string): Promise<string> => {
    const target = await cluster.createDatabase();
    const p = createPgPool({ url: target, poolSize: 1 });
    try {
      await migratePg(p);
      await p.query(`CREATE FUNCTION tamper() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN ${body} END $$`);
      await p.query(`CREATE TRIGGER tamper BEFORE INSERT ON ${table} FOR EACH ROW EXECUTE FUNCTION tamper()`);
    } finally { await p.end(); }
    const code = await codeOf(migrateToPg({ dataDir, url: target }));
    t.same(await query(target, 'SELECT (SELECT count(*) FROM messages)::int AS m, (SELECT count(*) FROM lists)::int AS l'), [{ m: 0, l: 0 }], `${table} tampered with: the database is left empty`);
    return code;
  };
  t.match(await tampered('list_members', 'RETURN NULL;'),
    /^MTA_ERR_MIGRATE: the copy does not match its source \(list_members: 2 rows in SQLite, 0 in PostgreSQL's list_members\); rolled back/, 'a row lost');
  t.match(await tampered('message_chunks', 'NEW.data := substring(NEW.data from 1 for 10); RETURN NEW;'),
    /^MTA_ERR_MIGRATE: the copy does not match its source \(message_chunks\.data: \d+ bytes in SQLite, \d+ in PostgreSQL\); rolled back/, 'bytes of a body lost');

  // a column SQLite has and PostgreSQL lacks, into a blank database: refused by the rehearsal, not even the schema written
  const spool = new Database(join(dataDir, 'spool.sqlite'));
  spool.exec("ALTER TABLE tags ADD COLUMN colour TEXT; ALTER TABLE senders ADD COLUMN note TEXT DEFAULT 'x'");
  spool.close();
  const blank = await cluster.createDatabase();
  t.match(await codeOf(migrateToPg({ dataDir, url: blank })),
    /^MTA_ERR_MIGRATE: PostgreSQL's schema cannot take all of this spool's data: column senders\.note: PostgreSQL's senders has no column note; column tags\.colour: PostgreSQL's tags has no column colour; nothing was written/,
    'every missing column named at once');
  t.same(await query(blank, "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'"), [], 'nothing written, not even the schema');
});
