// Faults: another process holds the spool's write lock (BEGIN IMMEDIATE, as a CLI or a
// sqlite3 shell might). The daemon does not crash; a submission waits at most its
// busy_timeout (src/spool/db.ts: 5 s) per write, then gets a temporary 451 4.3.0 with a
// log line naming the cause; a delivery whose outcome lands meanwhile is handed back
// rather than stranded in 'sending'; once the lock is released mail flows again and
// everything acknowledged is delivered, without a restart.
import t from 'tap';
import Database from 'better-sqlite3';
import { join } from 'node:path';
import { RawSmtp, message } from '../helpers/smtp-client.js';
import { PASSWORD } from '../helpers/daemon.js';
import type { ChildDaemon } from '../helpers/child.js';
import {
  audit, integrity, settled, spoolCounts, startFaultWorld, stopChild, submitOne, until, type Acked, type FaultWorld,
} from '../helpers/fault-world.js';
import { DB_FILE } from '../../src/spool/db.js';

let heldArrived = false;
// The sink answers the held delivery only once the lock is taken, so its outcome always meets the lock.
let lockTaken!: () => void;
const locked = new Promise<void>((r) => { lockTaken = r; });
let w: FaultWorld;
let d: ChildDaemon | undefined;
t.before(async () => {
  w = await startFaultWorld({ sink: { dataDelayMs: (m) => (/Subject: held/.test(m.raw.toString()) ? (heldArrived = true, locked) : 0) } });
});
t.teardown(async () => { if (d) await stopChild(d); await w.close(); });

t.test('a write lock held by another process: bounded wait, 4xx, clear log, recovery', async (t) => {
  d = await w.start();
  const acked: Acked[] = [];
  const before = await submitOne(d.port, ['before@ok.test']);
  t.equal(before.code, 250);
  acked.push(before.acked!);
  const held = await submitOne(d.port, ['held@ok.test'], { subject: 'held' });
  t.equal(held.code, 250);
  acked.push(held.acked!);
  await until('the held delivery to be on the wire', async () => heldArrived, 20_000);

  // An authenticated session ready to send DATA before the lock is taken (AUTH reads only).
  const c = await RawSmtp.connect(d.port);
  await c.greet(); await c.ehlo();
  t.equal((await c.authPlain('app@example.com', PASSWORD)).code, 235);
  t.equal((await c.cmd('MAIL FROM:<app@example.com>')).code, 250);
  t.equal((await c.cmd('RCPT TO:<locked@ok.test>')).code, 250);

  const lock = new Database(join(w.dataDir, DB_FILE));
  lock.pragma('busy_timeout = 10000');
  lock.exec('BEGIN IMMEDIATE');
  lockTaken();
  let reply;
  let handedBack = false;
  const started = Date.now();
  try {
    t.equal((await c.cmd('DATA')).code, 354);
    c.write(message('app@example.com', 'locked@ok.test', 'locked') + '.\r\n');
    // Held until the answer comes, whatever the time: the bound is the daemon's to keep.
    reply = await c.read(60_000);
    // The held delivery was answered by the sink under the lock: its outcome cannot be
    // written; wait (lock still held) until the daemon has dealt with that.
    await until('the held message to reach the sink', async () => w.sink.messages.some((m) => m.to.includes('held@ok.test')), 30_000);
    handedBack = await until('the daemon to report the outcome it could not record', async () => /delivery outcome could not be recorded/.test(d!.output()), 60_000)
      .catch(() => false);
  } finally {
    lock.exec('COMMIT');
    lock.close();
  }
  const waited = Date.now() - started;
  t.comment(`DATA answered after ${waited} ms with the lock held: ${reply?.text}`);
  t.ok(reply, 'an answer came while the lock was held');
  t.match(reply?.text, /^451 4\.3\.0 /, 'a temporary 451 4.3.0');
  t.ok(waited < 60_000, 'bounded wait');
  await c.quit();
  t.equal(d.proc.exitCode, null, 'the daemon is still running');
  // The line is written before the reply, but reaches us through another pipe: wait for it.
  const logged = await until('the refusal to be logged', async () => /"reason":"database is locked".*"msg":"smtp transaction"/.test(d!.output()), 15_000)
    .catch(() => false);
  t.ok(logged, `the log line names the cause${logged ? '' : `:\n${d.output()}`}`);
  t.ok(handedBack, 'the delivery whose outcome could not be written was reported and handed back');

  const after = await submitOne(d.port, ['after@ok.test']);
  t.equal(after.code, 250, 'accepted again once the lock is released');
  acked.push(after.acked!);
  await until('everything to settle without a restart', async () => settled(await spoolCounts(w.dataDir)) && (await audit(w, acked, 1)).lost === 0, 30_000, 100)
    .catch(() => undefined);
  t.same((await spoolCounts(w.dataDir)).waiting, {}, 'nothing waiting, nothing stuck in sending');
  const row = await audit(w, acked, 1);
  t.equal(row.lost, 0, `every acknowledged recipient delivered${row.lost ? `; lost ${row.lostList.join(', ')}` : ''}`);
  t.equal(row.badFinal, 0, 'one final event each');
  t.equal(row.webhookMissing, 0, 'the receiver heard every final event');
  t.equal(integrity(w.dataDir), 'ok');
  t.equal(await stopChild(d), 0, 'clean exit');
  d = undefined;
});
