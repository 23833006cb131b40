// Storage errors are ours: a store from openStore reports a full database, a lock held by
// another writer and the like as catalogue errors with `retryable` set (the SQLite code
// stays inside src/spool), and the submission policy turns them into 452 4.3.1 / 451 4.3.0.
// Errors that are not transient (a constraint) pass unchanged and are not retryable.
import t from 'tap';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { openStore } from '../src/spool/index.js';
import { DB_FILE } from '../src/spool/db.js';
import { MtaError, isRetryable } from '../src/util/errors.js';
import { intakeRefusal } from '../src/submission/policy.js';
import { REPLIES } from '../src/mail/replies.js';
import { newQueueId } from '../src/util/ids.js';
import type { IncomingMessage } from '../src/spool/types-queue.js';
import { tempDir } from './helpers/daemon.js';
import { sqliteDb } from './helpers/spool-backend.js';

const dir = tempDir('mta-store-errors-');
t.teardown(() => rmSync(dir, { recursive: true, force: true }));

const config = (name: string) => ({ dataDir: join(dir, name), timeZone: 'UTC', spool: { commitWindowMs: 0, maxCommitBatch: 16, writerThread: false } });

function msg(body: Buffer = Buffer.from('Subject: x\r\n\r\nhi\r\n')): IncomingMessage {
  return {
    id: newQueueId(), receivedAt: Date.now(), sender: 'app@example.com', authUser: 'app@example.com', clientIp: '127.0.0.1',
    helo: 'c', messageId: '<x@y>', subject: 'x', size: body.length, lane: 'trigger', tag: null, chunks: [body], recipients: ['r@ok.test'],
  };
}

function reply(error: unknown): string {
  const r = REPLIES[intakeRefusal({ ok: false, reason: 'store', detail: (error as Error).message, error }).reply];
  return `${r.code} ${r.enhanced}`;
}

t.test('retryable comes from the catalogue', async (t) => {
  t.equal(new MtaError('MTA_ERR_SPOOL_FULL').retryable, true);
  t.equal(new MtaError('MTA_ERR_SPOOL_BUSY').retryable, true);
  t.equal(new MtaError('MTA_ERR_NOT_FOUND').retryable, false);
  t.equal(isRetryable(Object.assign(new Error('disk I/O error'), { code: 'SQLITE_IOERR' })), false, 'a raw backend error is not ours to retry on');
});

t.test('a full database is MTA_ERR_SPOOL_FULL, retryable, 452 4.3.1; nothing is stored', async (t) => {
  const store = openStore(config('full'));
  t.teardown(() => store.close());
  const db = sqliteDb(store);
  db.pragma(`max_page_count = ${db.pragma('page_count', { simple: true }) as number}`);
  const m = msg(Buffer.alloc(256 * 1024, 'a'));
  const err = await store.commitIncoming(m).then(() => undefined, (e: unknown) => e);
  t.match(err, { name: 'MtaError', code: 'MTA_ERR_SPOOL_FULL', retryable: true, message: /full/ });
  t.equal(reply(err), '452 4.3.1');
  t.equal(await store.getMessage(m.id), undefined, 'the message was not stored');
});

t.test('a lock held by another writer is MTA_ERR_SPOOL_BUSY, retryable, 451 4.3.0', async (t) => {
  const store = openStore(config('busy'));
  t.teardown(() => store.close());
  // Fail at once instead of waiting out busy_timeout: the mapping is under test, not the wait.
  sqliteDb(store).pragma('busy_timeout = 0');
  const other = new Database(join(config('busy').dataDir, DB_FILE));
  other.exec('BEGIN IMMEDIATE');
  let err: unknown;
  try {
    err = await store.commitIncoming(msg()).then(() => undefined, (e: unknown) => e);
  } finally {
    other.exec('ROLLBACK');
    other.close();
  }
  t.match(err, { name: 'MtaError', code: 'MTA_ERR_SPOOL_BUSY', retryable: true, message: 'database is locked' });
  t.equal(reply(err), '451 4.3.0');
  await store.commitIncoming(msg());
  t.pass('writes go through once the lock is gone');
});

t.test('a constraint error is not a storage condition: unchanged, not retryable', async (t) => {
  const store = openStore(config('constraint'));
  t.teardown(() => store.close());
  const m = msg();
  await store.commitIncoming(m);
  const err = await store.commitIncoming(m).then(() => undefined, (e: unknown) => e);
  t.ok(err instanceof Error && !(err instanceof MtaError), `the error passes as it was (${(err as Error).message})`);
  t.equal(isRetryable(err), false);
  t.equal(reply(err), '451 4.3.0');
});

t.test('a method replaced on the store after it was opened is the one called (the error mapping caches by method, not by name)', async (t) => {
  const store = openStore(config('replaced'));
  t.teardown(() => store.close());
  const real = store.countByState.bind(store);
  t.same(await real(), await store.countByState(), 'first call through the real method');
  let calls = 0;
  store.countByState = async () => { calls++; return real(); };
  await store.countByState();
  t.equal(calls, 1, 'the replacement ran');
  store.countByState = real;
  await store.countByState();
  t.equal(calls, 1, 'and the original again once restored');
});
