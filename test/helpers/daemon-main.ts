/**
 * helpers/daemon-main — a test-only entry that runs the daemon exactly as `mta start
 * --config FILE` does, plus one fault hook the real CLI must never have: with
 * MTA_TEST_PAGE_SLACK=N the spool's connection gets `PRAGMA max_page_count` = its current
 * size + N pages, so a larger write fails with SQLITE_FULL (the same path a full disk
 * takes); SIGUSR2 lifts the cap ("space returns"). The disk-full test uses it where it may
 * not mount a small tmpfs. Spawned through helpers/child.ts (`script` option).
 */
import { Daemon } from '../../src/daemon/daemon.js';

const i = process.argv.indexOf('--config');
const configPath = i > 0 ? process.argv[i + 1] : undefined;
const daemon = new Daemon({ configPath });
daemon.installSignalHandlers();
await daemon.start();
const slack = Number(process.env['MTA_TEST_PAGE_SLACK'] ?? 0);
if (slack > 0) {
  const db = daemon.store.db;
  const cap = (db.pragma('page_count', { simple: true }) as number) + slack;
  db.pragma(`max_page_count = ${cap}`);
  daemon.log.warn({ max_page_count: cap }, 'test: spool capped with max_page_count');
  process.on('SIGUSR2', () => {
    db.pragma('max_page_count = 1073741823');
    daemon.log.warn('test: spool cap lifted');
  });
}
