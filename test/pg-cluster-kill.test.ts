// kill -9 of one node of three under load (issue 19): three `mta start` children share one
// PostgreSQL database; clients submit to all three; the sink holds every DATA reply of
// node-2's connections (node k's mail leaves from its own address), so node-2 has
// recipients 'sending' under its leases when it is killed. Then: every message acknowledged
// with 250 reaches the sink at least once (duplicates counted and printed, never a loss);
// node-2's held recipients are taken back once its lease runs out (a `requeued` event naming
// node-2) and delivered from node-1's or node-3's address; every recipient ends delivered.
// The claim lease is shortened to 8 s for the children (MTA_TEST_CLAIM_LEASE_MS, renewed
// every second), so waiting for it is part of the test, not five minutes of it.
import t from 'tap';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PASSWORD, tempDir } from './helpers/daemon.js';
import { spawnDaemon, type ChildDaemon } from './helpers/child.js';
import { startDnsServer } from './helpers/dns-server.js';
import { freePort, startSink, type SinkMessage } from './helpers/sink.js';
import { startPostgres } from './helpers/postgres.js';
import { waitFor } from './helpers/tasks.js';
import { HOSTS, childNodeToml, nodeName, subjectCounts, submitTo, type Submitted } from './helpers/cluster-world.js';
import { openStoreAsync } from '../src/spool/index.js';
import { Domains } from '../src/accounts/domains.js';
import { Senders } from '../src/accounts/senders.js';
import { TEST_LEASE_ENV } from '../src/spool/types-leases.js';
import { TEST_RENEW_ENV } from '../src/scheduler/scheduler.js';
import type { QueueId } from '../src/util/ids.js';

// Eight renewals long: a node stalled a few seconds on a busy machine keeps its claims.
const LEASE_MS = 8000;
/** Submissions in flight per node. */
const LANES = 4;
const PREFIX = 'kill';

t.test('kill -9 of node-2 of three with its deliveries on the wire: nothing acknowledged is lost, its claims move to the others', async (t) => {
  const pg = await startPostgres((fn) => t.teardown(fn));
  const url = await pg.createDatabase();
  const dns = await startDnsServer({});
  t.teardown(() => dns.close());
  const store = await openStoreAsync({
    dataDir: '/nonexistent', timeZone: 'UTC', spool: { commitWindowMs: 0, maxCommitBatch: 64, writerThread: false },
    storage: { nodeId: 'test-reader', backend: 'postgres', postgres: { url, poolSize: 2 } },
  });
  t.teardown(() => store.close());
  await new Domains(store).add('example.com', { algorithm: 'ed25519' });
  await new Senders(store).add({ address: 'app@example.com', type: 'trigger', password: PASSWORD });
  const ed = await store.getDomain('example.com');
  dns.set(`${ed!.dkimSelector}._domainkey.example.com`, { TXT: [`v=DKIM1; k=ed25519; p=${ed!.dkimPublicKey}`] });

  // The sink: node-2's DATA replies are held until its connection dies (a held reply then counts as never received).
  const port = await freePort();
  const held: SinkMessage[] = [];
  let holding = true;
  dns.set('dest.test', { MX: [{ preference: 10, exchange: 'mx.dest.test' }] });
  dns.set('mx.dest.test', { A: ['127.0.0.20'] });
  const sink = await startSink('127.0.0.20', port, {
    dataDelayMs: (m) => {
      if (holding && m.clientAddress === HOSTS[1]) { held.push(m); return new Promise(() => undefined); }
      return 20;
    },
  });
  t.teardown(() => sink.close());

  const nodes: ChildDaemon[] = [];
  t.teardown(() => { for (const n of nodes) if (n.proc.exitCode === null && n.proc.signalCode === null) n.proc.kill('SIGKILL'); });
  for (const k of [0, 1, 2]) {
    const dir = tempDir('mta-cluster-kill-');
    t.teardown(() => rmSync(dir, { recursive: true, force: true }));
    mkdirSync(join(dir, 'data'), { mode: 0o700 });
    const configPath = join(dir, 'mta.toml');
    writeFileSync(configPath, childNodeToml(k, { dir, url, deliveryPort: port, dns: dns.server }));
    nodes.push(await spawnDaemon(configPath, { [TEST_LEASE_ENV]: String(LEASE_MS), [TEST_RENEW_ENV]: '1000' }));
  }

  // Clients: LANES per node, each submitting until told to stop (or until its node is gone).
  const results: (Submitted & { node: number })[] = [];
  let next = 0;
  let stop = false;
  /** Nodes this test killed: their clients stop at the first refused connection. */
  const killed = new Set<number>();
  const lanes = nodes.flatMap((d, k) => Array.from({ length: LANES }, async () => {
    while (!stop) {
      const r = await submitTo(HOSTS[k]!, d.port, PREFIX, next++);
      results.push({ ...r, node: k });
      if (r.code === 0 && killed.has(k)) return;
      if (r.code === 0) throw new Error(`node-${k + 1} is up but the submission failed: ${r.text}`);
    }
  }));
  const load = Promise.all(lanes);
  const acked = (): (Submitted & { node: number })[] => results.filter((r) => r.code === 250);

  const sending2 = async (): Promise<number> => (await store.sendingByNode(Date.now())).find((s) => s.nodeId === nodeName(1))?.recipients ?? 0;
  await waitFor('node-2 holding deliveries on the wire and mail acknowledged by every node', async () =>
    held.length >= 3 && await sending2() >= 3 && [0, 1, 2].every((k) => acked().some((r) => r.node === k)) && acked().length >= 30, 120_000, 50);
  const heldAtKill = [...held];
  t.ok(await sending2() >= heldAtKill.length, `node-2 holds ${await sending2()} recipients in 'sending' under its lease at the kill`);
  killed.add(1);
  nodes[1]!.proc.kill('SIGKILL');
  await nodes[1]!.exited;
  holding = false;
  t.comment(`killed node-2 with ${heldAtKill.length} deliveries held by the sink and ${acked().length} messages acknowledged`);

  // The load goes on at node-1 and node-3: their claims, prompted by new mail, take back node-2's once its lease runs out.
  const heldRcpts = heldAtKill.flatMap((m) => m.to);
  const elsewhere = (rcpt: string): SinkMessage | undefined => sink.messages.find((m) => m.to.includes(rcpt) && m.clientAddress !== HOSTS[1]);
  const killedAt = Date.now();
  await waitFor('node-2\'s held recipients delivered by another node', () => heldRcpts.every((r) => elsewhere(r)), 120_000, 100);
  t.comment(`node-2's held recipients delivered elsewhere ${Date.now() - killedAt} ms after the kill (lease ${LEASE_MS} ms)`);
  stop = true;
  await load;

  const ids = new Map(acked().map((r) => [`${PREFIX} ${r.n}`, r.id!]));
  await waitFor('every acknowledged message at the sink', () => [...ids.keys()].every((s) => subjectCounts([sink], PREFIX).has(s)), 120_000, 100);
  const counts = await waitFor('every recipient delivered in the store', async () => {
    const s = await store.countByState();
    return s.queued + s.sending + s.deferred === 0 && s;
  }, 120_000, 200);

  t.comment(`everything delivered ${Date.now() - killedAt} ms after the kill`);
  t.ok(ids.size > 30, `${ids.size} messages acknowledged with 250`);
  t.ok(acked().every((r) => /^250 2\.0\.0 /.test(r.text)), 'acknowledgements are 250 2.0.0');
  const seen = subjectCounts([sink], PREFIX);
  const lost = [...ids.keys()].filter((s) => !seen.has(s));
  t.same(lost, [], 'no acknowledged message lost');
  const duplicates = [...seen.values()].reduce((a, n) => a + n - 1, 0);
  t.comment(`duplicates at the sink: ${duplicates} (node-2's deliveries cut by the kill were never acknowledged by the sink)`);
  t.same([counts.failed, counts.held], [0, 0], 'nothing failed, nothing held');
  t.ok(counts.delivered >= ids.size, `${counts.delivered} recipients delivered in the store (at least the ${ids.size} acknowledged)`);

  for (const m of heldAtKill) {
    const rcpt = m.to[0]!;
    const again = elsewhere(rcpt)!;
    t.ok(again.clientAddress === HOSTS[0] || again.clientAddress === HOSTS[2], `${rcpt}, held from node-2, delivered from ${again.clientAddress}`);
    const subject = /^Subject: (.*)\r?$/m.exec(m.raw.toString('utf8'))![1]!.trim();
    const id = ids.get(subject);
    if (!id) continue; // submitted to node-2 and cut by the kill before its 250: stored, never acknowledged
    const detail = (await store.getMessage(id as QueueId))!;
    t.equal(detail.recipients[0]!.state, 'delivered', `${rcpt} delivered in the store`);
    t.ok(detail.events.some((e) => e.type === 'requeued' && /claim of node node-2 ran out/.test(String(e.detail['reason']))),
      `${rcpt} was taken back when node-2's lease ran out`);
  }
  for (const [k, d] of nodes.entries()) if (k !== 1) d.proc.kill('SIGTERM');
  for (const [k, d] of nodes.entries()) if (k !== 1) t.equal(await d.exited, 0, `node-${k + 1} stops cleanly`);
});
