/**
 * bench/drain — scenario (e): a queue built while the sink was down, then drained.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { SqliteStore } from '../src/spool/sqlite-store.js';
import { DB_FILE } from '../src/spool/db.js';
import { newQueueId } from '../src/util/ids.js';
import type { Sink } from './sinks.js';
import { createSenderThroughCli, startMta, writeConfig, SENDER, type MtaSetup, type RunningMta } from './mta.js';
import { RETRY_E, recipientsOf, type Scenario } from './scenarios.js';
import { watchForeignLoad, cpuSeconds } from './machine.js';
import { freePort, waitUntil } from './util.js';
import { RUN_LIMIT_MS, SINK_HOST, log, messageFactory, startSink, zoneFor, type World } from './world.js';
import type { Row } from './rows.js';

/** Recipients in `state` in a running daemon's spool (a read-only connection beside it). */
function countState(dataDir: string, state: string): number {
  const db = new Database(join(dataDir, DB_FILE), { readonly: true, fileMustExist: true });
  try {
    return (db.prepare('SELECT COUNT(*) AS n FROM recipients WHERE state = ?').get(state) as { n: number }).n;
  } finally { db.close(); }
}

/**
 * Scenario (e): the queue is built while the sink is down. It is written through the spool's
 * own commit path (what intake calls after DATA, 1,000 messages per commit) with the daemon
 * stopped, then the daemon starts with the sink still down and defers every recipient
 * (connection refused). Then the sink comes up and the retries drain the queue. Peak RSS
 * covers both phases; the drain time runs from the sink coming up.
 */
export async function runDrain(s: Scenario, w: World, queued: number, o: { cpuProf?: string; extraToml?: string; extraDelivery?: string }): Promise<Row> {
  const dir = join(w.dir, `mta-drain-${queued}-${Date.now()}`);
  const setup: MtaSetup = {
    dir, smtpPort: await freePort(), adminPort: await freePort(), sinkPort: await freePort(SINK_HOST), dnsServer: w.dns.server,
    delivery: [...s.delivery, ...(o.extraDelivery ? [o.extraDelivery] : [])].join('\n'), extraToml: o.extraToml,
  };
  mkdirSync(dir, { recursive: true });
  const config = writeConfig(setup);
  const dkim = createSenderThroughCli(config);
  zoneFor(s, w.dns, dkim);
  const t0 = Date.now();
  const dataDir = join(dir, 'data');
  const store = SqliteStore.open(dataDir, { maxCommitBatch: 1000 });
  const make = messageFactory(s, Date.now().toString(36));
  for (let i = 0; i < queued;) {
    const batch: Promise<void>[] = [];
    for (const end = Math.min(queued, i + 1000); i < end; i++) {
      const now = Date.now();
      const id = newQueueId(now);
      const raw = Buffer.concat([Buffer.from(`Received: from load.bench.test (127.0.0.1) by mta.bench.test with ESMTPA id ${id}\r\n`, 'latin1'), make(i)]);
      batch.push(store.commitIncoming({
        id, receivedAt: now, sender: SENDER, authUser: SENDER, clientIp: '127.0.0.1', helo: 'load.bench.test',
        messageId: `<${i}@bench.test>`, subject: `bench message ${i}`, size: raw.length, lane: 'trigger', tag: null,
        chunks: [raw], recipients: recipientsOf(s, i),
      }));
    }
    await Promise.all(batch);
  }
  await store.close();
  log(`  queued ${queued} messages in ${((Date.now() - t0) / 1000).toFixed(1)} s (daemon stopped, sink down)`);
  let mta: RunningMta | undefined;
  let sink: Sink | undefined;
  try {
    const watch = watchForeignLoad(() => []);
    mta = await startMta(setup, config, o.cpuProf ? { cpuProfDir: o.cpuProf } : {});
    const m = mta;
    let maxRss = 0;
    const t1 = Date.now();
    // Deferred ones come back every RETRY_E and are deferred again, so "done" is: none left untried.
    await waitUntil('every recipient deferred with the sink down', () => {
      maxRss = Math.max(maxRss, m.rss());
      return countState(dataDir, 'queued') === 0;
    }, Math.max(RUN_LIMIT_MS, queued * 10), 500);
    const deferSeconds = (Date.now() - t1) / 1000;
    const deferRss = maxRss;
    log(`  daemon started with the sink down: ${queued} recipients deferred in ${deferSeconds.toFixed(1)} s`);
    const up = await startSink(s, setup.sinkPort);
    sink = up;
    const started = Date.now();
    const finished = await waitUntil('the queue to drain', () => {
      maxRss = Math.max(maxRss, m.rss());
      return up.messages() >= queued;
    }, Math.max(RUN_LIMIT_MS, queued * 10), 50);
    const seconds = (finished - started) / 1000;
    const machine = watch.stop();
    const cpu = cpuSeconds(m.pid);
    return {
      scenario: s.id, system: `mta, ${queued / 1000}k queued`, messages: queued, recipients: queued, seconds,
      e2eRate: queued / seconds, acceptRate: NaN, p50: NaN, p99: NaN, peakRssMb: m.peakRss() / 1048576, batches: '-', foreign: machine.foreignCores,
      cpuPerMsg: (cpu * 1000) / queued,
      notes: [
        `sink down: every recipient deferred ${deferSeconds.toFixed(1)} s after the daemon started; RSS sampled max ${(deferRss / 1048576).toFixed(0)} MB`,
        `drain: from the sink coming up to the last message at the sink, first retry due ${RETRY_E}; RSS sampled max ${(maxRss / 1048576).toFixed(0)} MB`,
      ],
    };
  } finally {
    await mta?.stop();
    await sink?.stop();
  }
}
