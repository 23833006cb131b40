// The cluster port (spool/types-cluster.ts) on both backends, the same scenarios on each
// (test/helpers/cluster-scenarios.ts): nodes racing for a job lease (exactly one leads),
// renewal, expiry and takeover, release, heartbeats and the node list, and recipients in
// delivery per claiming node. SQLite: two stores (nodes) on one data dir, through openStore.
// PostgreSQL: a real server (test/helpers/postgres.ts), each node a pool of its own with
// the PostgreSQL classes on a fresh, migrated database (PgCluster; intake and claims for
// the recipients). What each backend saw must be the same. No sleeping: every call is given
// its time. Without PostgreSQL's binaries startPostgres throws saying why.
import { rmSync } from 'node:fs';
import t, { type Test } from 'tap';
import { openStore } from '../src/spool/index.js';
import { PgClaims } from '../src/spool/pg-claims.js';
import { PgCluster } from '../src/spool/pg-cluster.js';
import { migratePg } from '../src/spool/pg-migrations.js';
import { createPgPool } from '../src/spool/pg-pool.js';
import { tempDir } from './helpers/daemon.js';
import { pgIntake, startPostgres } from './helpers/postgres.js';
import { bothBackends } from './helpers/both-backends.js';
import { heartbeatScenario, raceScenario, sendingScenario, takeoverScenario, type ClusterSide } from './helpers/cluster-scenarios.js';

const pgServer = await startPostgres((fn) => t.teardown(fn));

function sqliteSide(t: Test): ClusterSide {
  const dataDir = tempDir('mta-cluster-');
  t.teardown(() => rmSync(dataDir, { recursive: true, force: true }));
  return {
    name: 'sqlite',
    async node(id) {
      const store = openStore({ dataDir, timeZone: 'UTC', spool: { commitWindowMs: 0, maxCommitBatch: 64, writerThread: false }, storage: { nodeId: id } });
      t.teardown(() => store.close());
      return { cluster: store, intake: (m) => store.commitIncoming(m), claim: (now, limit) => store.claimDue({ now, limit }) };
    },
  };
}

async function pgSide(t: Test): Promise<ClusterSide> {
  const url = await pgServer.createDatabase();
  const first = createPgPool({ url, poolSize: 2 });
  t.teardown(() => first.end());
  await migratePg(first);
  return {
    name: 'postgres',
    async node(id) {
      const pool = createPgPool({ url, poolSize: 4 });
      t.teardown(() => pool.end());
      const intake = pgIntake(pool, id);
      const claims = PgClaims.open(pool, id);
      return { cluster: new PgCluster(pool), intake: (m) => intake.commitIncoming(m), claim: (now, limit) => claims.claimDue({ now, limit }) };
    },
  };
}

/** Runs `scenario` on SQLite and on PostgreSQL; their transcripts must be the same. */
function both(name: string, scenario: (t: Test, side: ClusterSide) => Promise<unknown>): void {
  bothBackends<ClusterSide>(name, [sqliteSide, pgSide], scenario);
}

both('nodes racing for a job: exactly one leads each time', raceScenario);
both("a leader's renewal keeps the job; its lease running out hands it over; release hands it over at once", takeoverScenario);
both('heartbeats register and update nodes; every node lists them', heartbeatScenario);
both('recipients in delivery per claiming node, with the leases that ran out', sendingScenario);
