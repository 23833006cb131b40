// Which SQLite commits wait for the disk. Mail does: an intake commit ends in an fsync before
// its 250. The connection slots and the pace of shared limits do not (spool/sqlite-throttles.ts
// `run`): they are leases, and on the event loop each fsync stopped everything for 1–3 ms.
// Counted with strace on a real process, not read from the code; and the connection is back
// at synchronous=FULL after every such write, including one that failed and went to the
// writer thread.
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { DB_FILE } from '../src/spool/db.js';
import { openTestStore } from './helpers/store.js';
import { sqliteDb } from './helpers/spool-backend.js';
import { tempDir } from './helpers/daemon.js';

const dir = tempDir('mta-spool-sync-');
t.teardown(() => rmSync(dir, { recursive: true, force: true }));

const FULL = 2;

t.test('after a throttle write the main connection is synchronous=FULL again, also when the write was busy and went to the writer thread', async (t) => {
  const data = join(dir, 'busy');
  const store = openTestStore(data, { writerThread: true, nodeId: 'n1' });
  t.teardown(() => store.close());
  const db = sqliteDb(store);
  const now = Date.now();

  t.equal(await store.takeSlot('d.test', [0, 1], 'w1', 'n1', now, 60_000), 0);
  t.equal(db.pragma('synchronous', { simple: true }), FULL, 'FULL after a take');
  t.equal(await store.releaseSlot('d.test', 0, 'w1'), true);
  t.equal(await store.casPace('p', undefined, now), true);
  t.equal(db.pragma('synchronous', { simple: true }), FULL, 'FULL after a give-back and a pace');

  // Another connection holds the write lock: the take fails here with SQLITE_BUSY and waits in the writer thread.
  const other = new Database(join(data, DB_FILE));
  t.teardown(() => other.close());
  other.exec('BEGIN IMMEDIATE');
  const taking = store.takeSlot('d.test', [0, 1], 'w2', 'n1', now, 60_000);
  await new Promise((r) => setTimeout(r, 50));
  t.equal(db.pragma('synchronous', { simple: true }), FULL, 'FULL after the busy attempt, while the thread waits');
  other.exec('COMMIT');
  t.equal(await taking, 0, 'the writer thread took the slot once the lock was free');
  t.equal(db.pragma('synchronous', { simple: true }), FULL);
});

const strace = ['/usr/bin/strace', '/bin/strace'].find((p) => existsSync(p));

t.test('twenty slot takes and give-backs commit without an fsync; an intake commit still fsyncs', { skip: strace ? false : 'strace is not installed (apt-get install strace)' }, async (t) => {
  const data = join(dir, 'strace');
  const script = join(dir, 'child.mjs');
  // The child opens the store the way the daemon's CLI does (no writer thread: every write on this connection).
  writeFileSync(script, `
import { openSync } from 'node:fs';
const { openStore } = await import(${JSON.stringify(new URL('../src/spool/index.js', import.meta.url).href)});
const mark = (name) => { try { openSync('/nonexistent-mta-mark-' + name); } catch {} };
const store = openStore({ dataDir: process.argv[2], timeZone: 'UTC', spool: { commitWindowMs: 0, maxCommitBatch: 64, writerThread: false }, storage: { nodeId: 'n1' } }, { writerThread: false });
mark('slots');
for (let i = 0; i < 20; i++) {
  const slot = await store.takeSlot('d.test', [0, 1], 'w' + i, 'n1', Date.now(), 60000);
  if (slot !== 0) throw new Error('take ' + i + ' got ' + slot);
  if (!(await store.releaseSlot('d.test', 0, 'w' + i))) throw new Error('give-back ' + i);
}
if (!(await store.casPace('p', undefined, Date.now()))) throw new Error('pace');
mark('intake');
const body = Buffer.from('Subject: x\\r\\n\\r\\nhi\\r\\n');
await store.commitIncoming({ id: process.argv[3], receivedAt: Date.now(), sender: 'app@example.com', authUser: null, clientIp: null, helo: null,
  messageId: '<x@y>', subject: 'x', size: body.length, lane: 'trigger', tag: null, chunks: [body], recipients: ['a@d.test'] });
mark('end');
await store.close();
`);
  const { newQueueId } = await import('../src/util/ids.js');
  const out = join(dir, 'strace.txt');
  const r = spawnSync(strace!, ['-f', '-qq', '-e', 'trace=fsync,fdatasync,openat', '-o', out, process.execPath, script, data, newQueueId()], { encoding: 'utf8' });
  t.equal(r.status, 0, `the child ran: ${r.stderr}`);
  const lines = readFileSync(out, 'utf8').split('\n');
  const at = (name: string): number => lines.findIndex((l) => l.includes(`/nonexistent-mta-mark-${name}`));
  const syncs = (from: number, to: number): number => lines.slice(from, to).filter((l) => /\b(fsync|fdatasync)\(/.test(l)).length;
  const [slots, intake, end] = [at('slots'), at('intake'), at('end')];
  t.ok(slots >= 0 && intake > slots && end > intake, 'the child marked its three steps');
  t.equal(syncs(slots, intake), 0, 'no fsync for 20 takes, 20 give-backs and a pace');
  t.ok(syncs(intake, end) >= 1, `the intake commit fsynced (${syncs(intake, end)})`);
});
