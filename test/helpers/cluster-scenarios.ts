/**
 * cluster-scenarios — scenarios of the cluster port (spool/types-cluster.ts), written once
 * against the contract and run by test/cluster-store.test.ts on SQLite and on PostgreSQL,
 * each node of a scenario being a store of its own on one shared storage. Every call is
 * given its `now`: leases expire by the clock the test passes, never by waiting. Each
 * scenario asserts what it expects and returns a transcript the test compares between the
 * backends.
 */
import type { Test } from 'tap';
import type { ClusterStore } from '../../src/spool/types-cluster.js';
import type { IncomingMessage, QueueEntry } from '../../src/spool/types-queue.js';
import { incoming } from '../store/suite.js';

/** One node of a scenario: its view of the cluster tables, and mail in and claims out, as that node. */
export interface ClusterNode {
  cluster: ClusterStore;
  intake(m: IncomingMessage): Promise<void>;
  claim(now: number, limit: number): Promise<QueueEntry[]>;
}

export interface ClusterSide {
  name: 'sqlite' | 'postgres';
  /** node `id` on the side's one storage (a store, or the PostgreSQL classes on a pool, of its own) */
  node(id: string): Promise<ClusterNode>;
}

const LEASE = 30_000;
const T0 = 1_800_000_000_000;

export async function raceScenario(t: Test, side: ClusterSide): Promise<unknown> {
  const nodes = await Promise.all(['a', 'b', 'c'].map((id) => side.node(id)));
  const winners: number[] = [];
  const whoLeads: string[] = [];
  for (let round = 0; round < 25; round++) {
    const job = `race-${String(round).padStart(2, '0')}`; // listed by name: in round order
    // The three ask in the same turn of the event loop, each on its own connection (PostgreSQL) or store.
    const got = await Promise.all(nodes.map((n, i) => n.cluster.tryLeadJob(job, ['a', 'b', 'c'][i]!, T0, LEASE)));
    winners.push(got.filter(Boolean).length);
    whoLeads.push(['a', 'b', 'c'][got.indexOf(true)]!);
  }
  t.same(winners, Array(25).fill(1), 'each round exactly one node leads');
  const leases = await nodes[0]!.cluster.listJobLeases();
  t.same(leases.map((l) => l.nodeId), whoLeads, 'the stored leader is the one told it leads');
  t.ok(leases.every((l) => l.since === T0 && l.leaseUntil === T0 + LEASE), 'each lease from the race, for LEASE');
  // A loser asking again within the lease still does not lead.
  const loser = whoLeads[0] === 'a' ? 'b' : 'a';
  t.equal(await nodes[1]!.cluster.tryLeadJob('race-00', loser, T0 + LEASE - 1, LEASE), false, 'a live lease is not taken');
  return { winners, leases: leases.length };
}

export async function takeoverScenario(t: Test, side: ClusterSide): Promise<unknown> {
  const a = (await side.node('a')).cluster;
  const b = (await side.node('b')).cluster;
  const seen: unknown[] = [];
  const step = async (what: string, p: Promise<boolean>, expect: boolean): Promise<void> => {
    const got = await p;
    t.equal(got, expect, what);
    seen.push([what, got, (await a.listJobLeases()).map((l) => [l.job, l.nodeId, l.since, l.leaseUntil])]);
  };
  await step('a takes the free job', a.tryLeadJob('dns-check', 'a', T0, LEASE), true);
  await step('b cannot while a holds it', b.tryLeadJob('dns-check', 'b', T0 + 1000, LEASE), false);
  await step('a renews before the end', a.tryLeadJob('dns-check', 'a', T0 + LEASE - 1, LEASE), true);
  // Without the renewal the lease would have ended at T0 + LEASE.
  await step('the renewal keeps it past the first end', b.tryLeadJob('dns-check', 'b', T0 + LEASE + 1, LEASE), false);
  await step('a renewed lease ends LEASE after the renewal: b takes over then', b.tryLeadJob('dns-check', 'b', T0 + 2 * LEASE - 1, LEASE), true);
  await step('a, back, does not lead', a.tryLeadJob('dns-check', 'a', T0 + 2 * LEASE, LEASE), false);
  await step('a cannot release what b holds', a.releaseJob('dns-check', 'a'), false);
  await step('b releases', b.releaseJob('dns-check', 'b'), true);
  await step('released: a takes it at once', a.tryLeadJob('dns-check', 'a', T0 + 2 * LEASE + 1, LEASE), true);
  await step('another job is a lease of its own', b.tryLeadJob('retention-purge', 'b', T0 + 2 * LEASE + 1, LEASE), true);
  const leases = await b.listJobLeases();
  t.same(leases, [
    { job: 'dns-check', nodeId: 'a', since: T0 + 2 * LEASE + 1, leaseUntil: T0 + 3 * LEASE + 1 },
    { job: 'retention-purge', nodeId: 'b', since: T0 + 2 * LEASE + 1, leaseUntil: T0 + 3 * LEASE + 1 },
  ], 'every node reads the same leases, by job');
  return seen;
}

export async function heartbeatScenario(t: Test, side: ClusterSide): Promise<unknown> {
  const a = (await side.node('node-a')).cluster;
  const b = (await side.node('node-b')).cluster;
  t.same(await a.listNodes(), [], 'no node before the first heartbeat');
  await b.heartbeat('node-b', { version: '1.0.0', hostname: 'mx2', listeners: ['smtp 0.0.0.0:587'], startedAt: T0 }, T0 + 10);
  await a.heartbeat('node-a', { version: '1.0.0', hostname: 'mx1', listeners: [], startedAt: T0 }, T0 + 20);
  await a.heartbeat('node-a', { version: '1.1.0', hostname: 'mx1', listeners: ['smtp 0.0.0.0:587', 'admin 127.0.0.1:8025'], startedAt: T0 + 5 }, T0 + 15_020);
  const nodes = await b.listNodes();
  t.same(nodes, [
    { nodeId: 'node-a', version: '1.1.0', hostname: 'mx1', listeners: ['smtp 0.0.0.0:587', 'admin 127.0.0.1:8025'], startedAt: T0 + 5, heartbeatAt: T0 + 15_020 },
    { nodeId: 'node-b', version: '1.0.0', hostname: 'mx2', listeners: ['smtp 0.0.0.0:587'], startedAt: T0, heartbeatAt: T0 + 10 },
  ], 'one row per node, the latest beat, seen by the other node');
  return nodes;
}

export async function sendingScenario(t: Test, side: ClusterSide): Promise<unknown> {
  const a = await side.node('node-a');
  const b = await side.node('node-b');
  // Received before any `now` of the scenario: all due at once.
  await a.intake(incoming(['r1@dest.test', 'r2@dest.test', 'r3@dest.test'], { receivedAt: Date.now() }));
  const now = Date.now() + 3_600_000;
  t.equal((await a.claim(now, 2)).length, 2, 'a holds two');
  t.equal((await b.claim(now + 1000, 5)).length, 1, 'b holds the third');
  const live = await b.cluster.sendingByNode(now + 2000);
  t.same(live, [{ nodeId: 'node-a', recipients: 2, expired: 0 }, { nodeId: 'node-b', recipients: 1, expired: 0 }], 'per claiming node');
  // Claim leases are CLAIM_LEASE_MS (5 minutes): past a's, before b's.
  const later = await a.cluster.sendingByNode(now + 5 * 60_000 + 500);
  t.same(later, [{ nodeId: 'node-a', recipients: 2, expired: 2 }, { nodeId: 'node-b', recipients: 1, expired: 0 }], "a's leases ran out, b's did not");
  return { live, later };
}
