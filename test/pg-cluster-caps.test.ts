// Issue 19's check: a per-domain connection cap of 2 is never exceeded across the cluster.
// Three daemons on 127.0.0.2–4 share one PostgreSQL database, each with
// max_connections_per_domain = 2; a sink answers every DATA slowly, so every node has mail
// waiting for the domain while the others' connections are open, and the sink counts the
// sessions open at once (idle pooled ones included: the receiver sees them too). Every
// message is delivered, and the sink never saw more than 2 at once — and saw 2, so the cap
// was reached. With each node counting only its own connections (issue 19 before the
// throttle port) the sink sees up to 6. That part is batch mail: trigger mail may use the
// trigger reserve beyond the cap (SPEC §4). The second part shows that reserve in the
// cluster: while a campaign from two nodes holds both slots of another domain, a login code
// submitted to the third node goes out before the campaign ends, and the domain sees at
// most 3 connections (the cap and one reserve slot, for all nodes together).
// Without PostgreSQL's binaries startPostgres throws saying why.
import t from 'tap';
import { startDaemon, PASSWORD, type TestDaemon } from './helpers/daemon.js';
import { startWorld } from './helpers/delivery.js';
import { startPostgres } from './helpers/postgres.js';
import { RawSmtp, message } from './helpers/smtp-client.js';

/** Messages submitted to each node. */
const PER_NODE = 30;
const SENDER = 'bulk@example.com';

const cluster = await startPostgres((fn) => t.teardown(fn));
const url = await cluster.createDatabase();

const storage = (node: string): string => `[storage]\nnode_id = "${node}"\nbackend = "postgres"\npostgres_url = "${url}"\npool_size = 6\n`;
const listen = (host: string): string => `[[smtp.listen]]\naddress = "${host}:0"\ntls = "none"\n`;

/** Submits messages `ns` from `sender` to `r<n>@<domain>` to `d` listening on `host`, over one session. */
async function submitAll(d: TestDaemon, host: string, ns: number[], domain = 'dest.test', sender = SENDER): Promise<void> {
  const c = await RawSmtp.connect(d.port, { host });
  await c.greet(); await c.ehlo();
  if ((await c.authPlain(sender, PASSWORD)).code !== 235) throw new Error('auth failed');
  for (const n of ns) {
    await c.cmd(`MAIL FROM:<${sender}>`);
    const r = await c.cmd(`RCPT TO:<r${n}@${domain}>`);
    if (r.code !== 250) throw new Error(`RCPT: ${r.text}`);
    const reply = await c.data(message(sender, `r${n}@${domain}`, `capped ${n}`) + '.\r\n');
    if (reply.code !== 250) throw new Error(`DATA: ${reply.text}`);
  }
  await c.quit();
}

t.test('three nodes with max_connections_per_domain = 2: the domain never sees more than 2 connections at once', async (t) => {
  const hosts = ['127.0.0.2', '127.0.0.3', '127.0.0.4'];
  const delivery = 'max_connections_per_domain = 2\n';
  const world = await startWorld(delivery, { extraToml: storage('node-1'), listeners: listen(hosts[0]!) });
  const nodes: TestDaemon[] = [world.daemon];
  t.teardown(async () => {
    for (const n of nodes.slice(1)) await n.stop();
    await world.stop();
  });
  await world.daemon.addSender(SENDER, 'batch');
  for (const [i, host] of hosts.slice(1).entries()) {
    nodes.push(await startDaemon(
      `[smtp]\nallow_insecure_auth = true\nmax_connections_per_ip = 200\n[delivery]\nport = ${world.port}\nretry_schedule = ["400ms", "800ms"]\nretry_jitter = 0\n`
      + `idle_timeout = "2s"\n${delivery}[dns]\nservers = ["${world.dns.server}"]\n${storage(`node-${i + 2}`)}`, { seed: false, listeners: listen(host) }));
  }
  // Slow enough that a node's connections are busy while the other nodes' mail waits.
  const sink = await world.addDomain('dest.test', 20, { dataDelayMs: 120 });

  // Every node gets its share at once, so all three want connections to dest.test together.
  await Promise.all(nodes.map((d, k) => submitAll(d, hosts[k]!, Array.from({ length: PER_NODE }, (_, j) => k * PER_NODE + j))));
  const total = 3 * PER_NODE;
  await world.waitFor('every message at the sink', () => new Set(sink.messages.flatMap((m) => m.to)).size === total, 120_000);
  const states = await world.waitFor('every recipient delivered in the store', async () => {
    const s = await nodes[1]!.daemon.store.countByState();
    return s.delivered === total ? s : undefined;
  }, 60_000);
  t.same([states.queued, states.sending, states.deferred, states.held, states.failed], [0, 0, 0, 0, 0], 'nothing waiting, nothing failed');
  for (const d of nodes) t.equal((await d.daemon.store.countByState()).delivered, total, `${d.daemon.store.nodeId} sees all ${total} delivered`);
  t.equal(sink.messages.length, total, 'each message once');
  t.ok(sink.maxConcurrent <= 2, `the sink never saw more than 2 connections at once (saw ${sink.maxConcurrent})`);
  t.equal(sink.maxConcurrent, 2, 'and it saw 2: the cap was reached, not merely unapproached');

  // Trigger mail never waits behind a campaign (SPEC §4), in a cluster too: with every slot of
  // the cap held by batch mail, a login code submitted to another node takes the trigger
  // reserve (one slot beyond a cap of 2, counted for the whole cluster).
  const urgent = await world.addDomain('urgent.test', 21, { dataDelayMs: 120 });
  await Promise.all(nodes.slice(0, 2).map((d, k) => submitAll(d, hosts[k]!, Array.from({ length: PER_NODE }, (_, j) => k * PER_NODE + j), 'urgent.test')));
  await world.waitFor('the campaign on the wire', () => urgent.current === 2, 30_000);
  await submitAll(nodes[2]!, hosts[2]!, [999], 'urgent.test', 'app@example.com');
  await world.waitFor('all of urgent.test delivered', () => urgent.messages.length === 2 * PER_NODE + 1, 120_000);
  const at = urgent.messages.findIndex((m) => m.to.includes('r999@urgent.test'));
  t.ok(at >= 0 && at < urgent.messages.length - 10, `the login code went out while the campaign still waited (position ${at + 1} of ${urgent.messages.length})`);
  t.ok(urgent.maxConcurrent <= 3, `the cap and the reserve held for the cluster: at most 3 at once (saw ${urgent.maxConcurrent})`);
});
