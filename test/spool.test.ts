// The spool on a real SQLite file: durability pragmas, migrations, group commit,
// bodies stored once in chunks, and the schema-version guard.
import t from 'tap';
import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { SqliteStore } from '../src/spool/sqlite-store.js';
import { openDatabase, DB_FILE } from '../src/spool/db.js';
import { MIGRATIONS } from '../src/spool/migrations.js';
import { newQueueId, parseQueueId, queueIdTime } from '../src/util/ids.js';
import { transition, isFinal, RECIPIENT_STATES } from '../src/spool/states.js';
import type { IncomingMessage } from '../src/spool/types-queue.js';
import { tempDir } from './helpers/daemon.js';

const dir = tempDir('mta-spool-');
t.teardown(() => rmSync(dir, { recursive: true, force: true }));

function msg(rcpts: string[], body: Buffer = Buffer.from('Subject: x\r\n\r\nhi\r\n')): IncomingMessage {
  return {
    id: newQueueId(), receivedAt: Date.now(), sender: 'app@example.com', authUser: 'app@example.com', clientIp: '127.0.0.1',
    helo: 'c', messageId: '<x@y>', subject: 'x', size: body.length, lane: 'trigger', tag: null, chunks: [body], recipients: rcpts,
  };
}

t.test('WAL and synchronous=FULL are in force, schema at the latest version', async (t) => {
  const db = openDatabase(join(dir, 'a'));
  t.equal(db.pragma('journal_mode', { simple: true }), 'wal');
  t.equal(db.pragma('synchronous', { simple: true }), 2);
  t.equal(db.pragma('user_version', { simple: true }), MIGRATIONS.length);
  db.close();
});

t.test('a database from a newer program is refused, not touched', async (t) => {
  const p = join(dir, 'b');
  openDatabase(p).close();
  const raw = new Database(join(p, DB_FILE));
  raw.pragma(`user_version = ${MIGRATIONS.length + 1}`);
  raw.close();
  t.throws(() => openDatabase(p), { code: 'MTA_ERR_DB_SCHEMA' });
});

t.test('group commit: concurrent submissions share one transaction; each resolves after it', async (t) => {
  const store = SqliteStore.open(join(dir, 'c'));
  const committed: string[][] = [];
  store.onCommit((ids) => committed.push([...ids]));
  const ms = Array.from({ length: 10 }, (_, i) => msg([`r${i}@dest.test`]));
  const settled: string[] = [];
  await Promise.all(ms.map((m) => store.commitIncoming(m).then(() => {
    settled.push(m.id);
    t.ok(committed.flat().includes(m.id), 'resolved only after its commit');
  })));
  t.equal(committed.length, 1, 'one commit for ten messages submitted in one turn');
  t.equal(committed[0]!.length, 10);
  t.same(store.commitBatchSizes, [10]);
  const q = await store.listQueue({});
  t.equal(q.length, 10);
  t.ok(q.every((r) => r.state === 'queued' && r.attempts === 0));
  await store.close();
});

t.test('bodies are chunked and read back byte for byte', async (t) => {
  const store = SqliteStore.open(join(dir, 'd'));
  const big = Buffer.alloc(200 * 1024 + 7, 'a');
  const m = msg(['x@dest.test'], big);
  await store.commitIncoming({ ...m, chunks: [big.subarray(0, 1000), big.subarray(1000)] });
  const parts: Buffer[] = [];
  for await (const c of store.readBody(m.id)) parts.push(c);
  t.ok(parts.length >= 4, `stored in ${parts.length} chunks`);
  t.ok(Buffer.concat(parts).equals(big), 'identical bytes');
  const n = (SqliteStore.connectionOf(store).prepare('SELECT COUNT(*) AS n FROM message_chunks WHERE message_id = ?').get(m.id) as { n: number }).n;
  t.equal(n, parts.length);
  await store.close();
});

t.test('a failed commit rejects every message of the batch and stores none', async (t) => {
  const store = SqliteStore.open(join(dir, 'e'));
  const a = msg(['a@dest.test']);
  const dup = { ...msg(['b@dest.test']), id: a.id }; // same primary key: the transaction fails
  const results = await Promise.allSettled([store.commitIncoming(a), store.commitIncoming(dup)]);
  t.same(results.map((r) => r.status), ['rejected', 'rejected']);
  t.same(await store.listQueue({}), [], 'nothing half-written');
  await store.close();
});

t.test('queue ids are time-sortable and parsed strictly', async (t) => {
  const a = newQueueId(1_700_000_000_000);
  const b = newQueueId(1_700_000_000_001);
  t.ok(a < b);
  t.equal(queueIdTime(a), 1_700_000_000_000);
  t.equal(parseQueueId(a.toLowerCase()), a);
  t.equal(parseQueueId('../etc'), undefined);
  t.equal(parseQueueId(`${a}'; DROP TABLE messages`), undefined);
});

t.test('recipient state machine: final states never change', async (t) => {
  for (const s of RECIPIENT_STATES) {
    if (!isFinal(s)) continue;
    for (const ev of ['pick', 'delivered', 'deferred', 'failed', 'expired', 'requeue', 'hold', 'release', 'suppress', 'delete'] as const) {
      t.equal(transition(s, ev), undefined, `${s} + ${ev}`);
    }
  }
  t.equal(transition('queued', 'pick'), 'sending');
  t.equal(transition('sending', 'deferred'), 'deferred');
  t.equal(transition('held', 'pick'), undefined);
  t.equal(transition('held', 'release'), 'queued');
});

t.test('migration 20: reply-to addresses stored before verification existed count as verified; none stay none', async (t) => {
  const p = join(dir, 'reply-to-upgrade');
  const step = MIGRATIONS.findIndex((m) => m.includes('CREATE TABLE reply_to_sends'));
  t.equal(step + 1, 20, 'the reply-to step is migration 20');
  mkdirSync(p, { recursive: true, mode: 0o700 });
  const old = new Database(join(p, DB_FILE));
  old.pragma('journal_mode = WAL');
  for (let v = 0; v < step; v++) { old.exec(MIGRATIONS[v]!); old.pragma(`user_version = ${v + 1}`); }
  old.prepare("INSERT INTO domains (name, dkim_selector, dkim_algorithm, dkim_private_key, dkim_public_key, ownership_token, status, created_at) VALUES ('example.com', 's', 'ed25519', 'k', 'p', 't', 'verified', 0)").run();
  const ins = old.prepare("INSERT INTO senders (address, domain, type, reply_to, created_at) VALUES (?, 'example.com', 'trigger', ?, 0)");
  ins.run('old@example.com', 'help@example.com');
  ins.run('bare@example.com', null);
  old.close();
  const store = SqliteStore.open(p);
  t.teardown(() => store.close());
  t.same((await store.getSender('old@example.com'))!.replyTo, { address: 'help@example.com', state: 'verified', verifiedAt: null });
  t.equal((await store.getSender('bare@example.com'))!.replyTo, null);
});
