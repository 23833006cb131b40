/**
 * helpers/daemon-main — a test-only entry that runs the daemon exactly as `mta start
 * --config FILE` does, plus one fault hook the real CLI must never have: with
 * MTA_TEST_PAGE_SLACK=N the spool's connection gets `PRAGMA max_page_count` = its current
 * size + N pages, so a larger write fails with SQLITE_FULL (the same path a full disk
 * takes); SIGUSR2 lifts the cap ("space returns"). The disk-full test uses it where it may
 * not mount a small tmpfs. Spawned through helpers/child.ts (`script` option).
 * The cap is a per-connection setting, so with it the spool's writes stay on the main
 * connection (`spool.writer_thread` off).
 */
import { Daemon } from '../../src/daemon/daemon.js';
import { loadConfig } from '../../src/config/config.js';
import { sqliteDb } from './spool-backend.js';

const i = process.argv.indexOf('--config');
const configPath = i > 0 ? process.argv[i + 1] : undefined;
const slack = Number(process.env['MTA_TEST_PAGE_SLACK'] ?? 0);
const config = loadConfig({ path: configPath });
const daemon = new Daemon({ configPath, ...(slack > 0 ? { config: { ...config, spool: { ...config.spool, writerThread: false } } } : {}) });
daemon.installSignalHandlers();
await daemon.start();
if (slack > 0) {
  const db = sqliteDb(daemon.store);
  const cap = (db.pragma('page_count', { simple: true }) as number) + slack;
  db.pragma(`max_page_count = ${cap}`);
  daemon.log.warn({ max_page_count: cap }, 'test: spool capped with max_page_count');
  process.on('SIGUSR2', () => {
    db.pragma('max_page_count = 1073741823');
    daemon.log.warn('test: spool cap lifted');
  });
}
