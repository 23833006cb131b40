// Three daemons on 127.0.0.2–4 sharing one PostgreSQL database: 300 messages submitted over
// SMTP, spread over the three nodes, each reach the sink MX at least once (a duplicate is
// counted, as SPEC §6's at-least-once allows, never a loss), and every recipient ends
// delivered in the shared store, whichever node is asked. Any node may deliver any node's
// mail: claims are leased rows (FOR UPDATE SKIP LOCKED), fresh mail wakes the others by
// NOTIFY. Without PostgreSQL's binaries startPostgres throws saying why.
import t from 'tap';
import { startDaemon, PASSWORD, type TestDaemon } from './helpers/daemon.js';
import { startWorld } from './helpers/delivery.js';
import { startPostgres } from './helpers/postgres.js';
import { RawSmtp, message } from './helpers/smtp-client.js';

const MESSAGES = 300;
/** Submissions in flight per node. */
const PER_NODE = 8;

const cluster = await startPostgres((fn) => t.teardown(fn));
const url = await cluster.createDatabase();

const storage = (node: string): string => `[storage]\nnode_id = "${node}"\nbackend = "postgres"\npostgres_url = "${url}"\npool_size = 6\n`;
const listen = (host: string): string => `[[smtp.listen]]\naddress = "${host}:0"\ntls = "none"\n`;

/** Submits message `n` to `d` listening on `host`; the queue id. */
async function submit(d: TestDaemon, host: string, n: number): Promise<string> {
  const c = await RawSmtp.connect(d.port, { host });
  await c.greet(); await c.ehlo();
  if ((await c.authPlain('app@example.com', PASSWORD)).code !== 235) throw new Error('auth failed');
  await c.cmd('MAIL FROM:<app@example.com>');
  const r = await c.cmd(`RCPT TO:<r${n}@dest.test>`);
  if (r.code !== 250) throw new Error(`RCPT: ${r.text}`);
  const reply = await c.data(message('app@example.com', `r${n}@dest.test`, `cluster ${n}`) + '.\r\n');
  await c.quit();
  if (reply.code !== 250) throw new Error(`DATA: ${reply.text}`);
  return reply.text.split(' ').pop()!;
}

t.test('three nodes on one database: 300 messages over all three, each delivered, none lost', async (t) => {
  const hosts = ['127.0.0.2', '127.0.0.3', '127.0.0.4'];
  const world = await startWorld('', { extraToml: storage('node-1'), listeners: listen(hosts[0]!) });
  const nodes: TestDaemon[] = [world.daemon];
  t.teardown(async () => {
    for (const n of nodes.slice(1)) await n.stop();
    await world.stop();
  });
  for (const [i, host] of hosts.slice(1).entries()) {
    nodes.push(await startDaemon(
      `[smtp]\nallow_insecure_auth = true\nmax_connections_per_ip = 200\n[delivery]\nport = ${world.port}\nretry_schedule = ["400ms", "800ms"]\nretry_jitter = 0\n`
      + `[dns]\nservers = ["${world.dns.server}"]\n${storage(`node-${i + 2}`)}`, { seed: false, listeners: listen(host) }));
  }
  const sink = await world.addDomain('dest.test', 20);

  // Message n goes to node n % 3; each node takes PER_NODE submissions at a time.
  const ids: string[] = [];
  await Promise.all(nodes.map(async (d, k) => {
    const mine = Array.from({ length: MESSAGES }, (_, n) => n).filter((n) => n % 3 === k);
    const lanes = Array.from({ length: PER_NODE }, async (_, lane) => {
      for (let j = lane; j < mine.length; j += PER_NODE) ids.push(await submit(d, hosts[k]!, mine[j]!));
    });
    await Promise.all(lanes);
  }));
  t.equal(new Set(ids).size, MESSAGES, 'every submission acknowledged with its own queue id');

  const subjects = (): Map<string, number> => {
    const seen = new Map<string, number>();
    for (const m of sink.messages) {
      const s = /^Subject: (cluster \d+)\r?$/m.exec(m.raw.toString('utf8'))?.[1];
      if (s) seen.set(s, (seen.get(s) ?? 0) + 1);
    }
    return seen;
  };
  await world.waitFor('every message at the sink', () => subjects().size === MESSAGES, 120_000);
  const states = await world.waitFor('every recipient final in the store', async () => {
    const s = await nodes[2]!.daemon.store.countByState();
    return s.delivered === MESSAGES ? s : undefined;
  }, 60_000);
  t.same([states.queued, states.sending, states.deferred, states.held, states.failed], [0, 0, 0, 0, 0], 'nothing waiting, nothing failed');
  const duplicates = sink.messages.length - MESSAGES;
  t.ok(duplicates >= 0, 'no loss');
  t.comment(`duplicates at the sink: ${duplicates}`);
  t.same([...subjects().keys()].sort(), Array.from({ length: MESSAGES }, (_, n) => `cluster ${n}`).sort(), 'each message reached the sink');
  for (const d of nodes) {
    t.equal((await d.daemon.store.countByState()).delivered, MESSAGES, `${d.daemon.store.nodeId} sees all ${MESSAGES} delivered`);
  }
});
