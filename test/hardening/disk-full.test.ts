// Faults: the disk fills up under the daemon. Intake answers 452 4.3.1 (temporary, nothing
// stored); the daemon keeps running; a delivery whose outcome lands while the disk is full
// is not stranded; when space returns the same message is accepted, everything
// acknowledged is delivered without a restart, and PRAGMA integrity_check says ok.
//
// Mechanism: the data dir on a small tmpfs that is filled to the last byte and then grown
// with `mount -o remount,size=...`. Where mounting is not permitted (or MTA_TEST_NO_MOUNT=1)
// the daemon runs through helpers/daemon-main.ts, which caps the spool with
// PRAGMA max_page_count: the same SQLITE_FULL path, lifted by SIGUSR2.
import t from 'tap';
import { execFileSync } from 'node:child_process';
import { closeSync, openSync, rmSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { spawnDaemon, type ChildDaemon } from '../helpers/child.js';
import { tempDir } from '../helpers/daemon.js';
import { RawSmtp } from '../helpers/smtp-client.js';
import {
  audit, integrity, settled, spoolCounts, startFaultWorld, stopChild, submitOne, until, type Acked, type FaultWorld,
} from '../helpers/fault-world.js';

const DAEMON_MAIN = join(process.cwd(), 'dist', 'test', 'helpers', 'daemon-main.js');
const mnt = tempDir('mta-diskfull-');
let mechanism: 'tmpfs' | 'max_page_count' = 'max_page_count';
let why = 'MTA_TEST_NO_MOUNT=1';
if (process.env['MTA_TEST_NO_MOUNT'] !== '1') {
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=8m', 'tmpfs', mnt], { stdio: 'pipe' });
    mechanism = 'tmpfs';
  } catch (e) {
    why = String((e as { stderr?: Buffer }).stderr ?? (e as Error).message).trim() || 'mount failed';
  }
}

let heldArrived = false;
let w: FaultWorld;
let d: ChildDaemon | undefined;
t.before(async () => {
  w = await startFaultWorld({
    dataDir: join(mnt, 'data'),
    // The message called "held" is answered 1.5 s late: its outcome is recorded while the disk is full.
    sink: { dataDelayMs: (m) => (/Subject: held/.test(m.raw.toString()) ? (heldArrived = true, 1500) : 0) },
  });
});
t.teardown(async () => {
  if (d) await stopChild(d);
  if (mechanism === 'tmpfs') execFileSync('umount', ['-l', mnt]);
  rmSync(mnt, { recursive: true, force: true });
  await w.close();
});

/** Fills the tmpfs to the last byte. */
function fill(): number {
  const fd = openSync(join(mnt, 'filler'), 'w');
  const chunk = Buffer.alloc(64 * 1024, 0x55);
  let n = 0;
  try {
    for (;;) n += writeSync(fd, chunk);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOSPC') throw e;
  } finally { closeSync(fd); }
  for (const size of [4096, 1]) {
    const fd2 = openSync(join(mnt, `filler-${size}`), 'w');
    try { for (;;) n += writeSync(fd2, Buffer.alloc(size)); } catch { /* full */ } finally { closeSync(fd2); }
  }
  return n;
}

const bigBody = `${'x'.repeat(76)}\r\n`.repeat(16 * 1024); // ~1.2 MB

t.test(`disk full: 452 4.3.1, no corruption, recovery (mechanism: ${mechanism})`, async (t) => {
  t.comment(mechanism === 'tmpfs' ? `data dir on an 8 MB tmpfs at ${mnt}` : `no tmpfs (${why}): PRAGMA max_page_count cap instead`);
  d = mechanism === 'tmpfs'
    ? await w.start()
    : await spawnDaemon(w.configPath, { MTA_TEST_PAGE_SLACK: '48' }, undefined, { script: DAEMON_MAIN });
  const acked: Acked[] = [];
  const first = await submitOne(d.port, ['before@ok.test']);
  t.equal(first.code, 250, 'accepted while there is space');
  acked.push(first.acked!);
  const held = await submitOne(d.port, ['held@ok.test'], { subject: 'held' });
  t.equal(held.code, 250);
  acked.push(held.acked!);
  await until('the held delivery to be on the wire', async () => heldArrived, 20_000);

  if (mechanism === 'tmpfs') t.comment(`filled the tmpfs with ${fill()} bytes`);
  const full = await submitOne(d.port, ['big@ok.test'], { subject: 'big', body: bigBody });
  t.equal(full.code, 452, 'a temporary refusal');
  t.match(full.text, /^452 4\.3\.1 Insufficient system storage/, 'with 4.3.1');
  t.ok(await until('the log line', async () => /"reply":452.*"msg":"smtp transaction"/.test(d!.output()), 10_000).catch(() => false), 'logged as a refused transaction');
  t.equal(d.proc.exitCode, null, 'the daemon is still running');
  const c = await RawSmtp.connect(d.port);
  await c.greet();
  t.equal((await c.ehlo()).code, 250, 'and answers a new session');
  await c.quit();
  // The held delivery's outcome is written (or fails to be) while the disk is full.
  await until('the held message to reach the sink', async () => w.sink.messages.some((m) => m.to.includes('held@ok.test')), 20_000);
  await new Promise((r) => setTimeout(r, 500));
  t.equal(d.proc.exitCode, null, 'still running after the outcome of a delivery landed on a full disk');

  if (mechanism === 'tmpfs') execFileSync('mount', ['-o', 'remount,size=64m', mnt]);
  else d.proc.kill('SIGUSR2');
  await until('the cap to be lifted', async () => mechanism === 'tmpfs' || /test: spool cap lifted/.test(d!.output()), 10_000);
  const again = await submitOne(d.port, ['big@ok.test'], { subject: 'big', body: bigBody });
  t.equal(again.code, 250, 'the same message is accepted once space returns');
  acked.push(again.acked!);

  await until('everything to settle without a restart', async () => settled(await spoolCounts(w.dataDir)) && (await audit(w, acked, 1)).lost === 0, 30_000, 100)
    .catch(() => undefined);
  const counts = await spoolCounts(w.dataDir);
  t.match(d.output(), /delivery outcome could not be recorded|"rcpt":"held@ok.test","state":"delivered"/, 'the held outcome: recorded, or handed back when the write failed');
  t.same(counts.waiting, {}, 'nothing left waiting, nothing stuck in sending');
  const row = await audit(w, acked, 1);
  t.equal(row.lost, 0, `every acknowledged recipient delivered${row.lost ? `; lost ${row.lostList.join(', ')}` : ''}`);
  t.equal(row.badFinal, 0, 'one final event each');
  t.equal(row.webhookMissing, 0, 'the receiver heard every final event');
  t.equal(integrity(w.dataDir), 'ok', 'integrity_check: ok (daemon running)');
  t.equal(await stopChild(d), 0, 'clean exit');
  d = undefined;
  t.equal(integrity(w.dataDir), 'ok', 'integrity_check: ok (after exit)');
});
