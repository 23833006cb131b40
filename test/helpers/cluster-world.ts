/**
 * cluster-world — three mta nodes on one PostgreSQL database, for the cluster tests
 * (test/pg-cluster-kill.test.ts, pg-cluster-restart.test.ts, pg-cluster-task.test.ts and
 * `npm run soak -- --scenario cluster-task`). Node k (0, 1, 2) is `node-{k+1}`: it listens on
 * 127.0.0.{k+2} and its outgoing connections leave from that same address (one egress
 * source), so a sink sees which node delivered a message. Nodes run in this process
 * (`startInProcessCluster`) or as `mta start` children (`childNodeToml` for kill -9).
 */
import { join } from 'node:path';
import { startDaemon, PASSWORD, type TestDaemon } from './daemon.js';
import { startWorld, type World } from './delivery.js';
import { sourceToml } from './egress.js';
import { RawSmtp, message } from './smtp-client.js';
import type { Sink } from './sink.js';

export const HOSTS = ['127.0.0.2', '127.0.0.3', '127.0.0.4'] as const;
export const nodeName = (k: number): string => `node-${k + 1}`;

/** Node k's `[storage]` on the shared database. */
function storageToml(k: number, url: string): string {
  return `[storage]\nnode_id = "${nodeName(k)}"\nbackend = "postgres"\npostgres_url = "${url}"\npool_size = 6\n`;
}

/** Node k's one egress source: its mail leaves from its listening address. */
function egressToml(k: number): string {
  return `[egress]\ndefault_pool = "own"\n${sourceToml(`n${k + 1}`, k + 2)}[[egress.pool]]\nname = "own"\nsources = [{ source = "n${k + 1}" }]\n`;
}

const listenToml = (k: number): string => `[[smtp.listen]]\naddress = "${HOSTS[k]}:0"\ntls = "none"\n`;
const smtpToml = '[smtp]\nallow_insecure_auth = true\nmax_recipients = 2000\nmax_connections_per_ip = 200\n';
const deliveryToml = (port: number, extra: string): string => `[delivery]\nport = ${port}\nretry_schedule = ["400ms", "800ms"]\nretry_jitter = 0\n${extra}`;

/** A whole `mta.toml` for node k run as a child process (`mta start --config`), data in `dir`. */
export function childNodeToml(k: number, o: { dir: string; url: string; deliveryPort: number; dns: string; delivery?: string }): string {
  return `hostname = "${nodeName(k)}.mta.test"\ndata_dir = "${join(o.dir, 'data')}"\n[log]\nlevel = "info"\n${listenToml(k)}${smtpToml}`
    + `[domains]\nrequire_verified = false\n[admin]\nlisten = "127.0.0.1:0"\n${deliveryToml(o.deliveryPort, o.delivery ?? '')}\n`
    + `[dns]\nservers = ["${o.dns}"]\n${storageToml(k, o.url)}${egressToml(k)}`;
}

export interface InProcessCluster {
  /** node-1's world: its DNS server, sinks and `waitFor` serve all three */
  world: World;
  nodes: TestDaemon[];
  stop(): Promise<void>;
}

/** Three daemons in this process on the database at `url`; node-1 seeds example.com and app@example.com. */
export async function startInProcessCluster(url: string, o: { delivery?: string; toml?: string } = {}): Promise<InProcessCluster> {
  const world = await startWorld(o.delivery ?? '', { extraToml: `${storageToml(0, url)}${o.toml ?? ''}${egressToml(0)}`, listeners: listenToml(0) });
  const nodes: TestDaemon[] = [world.daemon];
  const stop = async (): Promise<void> => {
    for (const n of nodes.slice(1)) await n.stop();
    await world.stop();
  };
  try {
    for (const k of [1, 2]) {
      nodes.push(await startDaemon(`${smtpToml}${deliveryToml(world.port, o.delivery ?? '')}\n[dns]\nservers = ["${world.dns.server}"]\n`
        + `${storageToml(k, url)}${o.toml ?? ''}${egressToml(k)}`, { seed: false, listeners: listenToml(k) }));
    }
  } catch (e) { await stop(); throw e; }
  return { world, nodes, stop };
}

/** What one submission got: the final reply (code 0: the connection failed or closed) and, on 250, the queue id. */
export interface Submitted { n: number; code: number; text: string; id?: string }

/** Submits message `n` (Subject `{prefix} {n}`, to r{n}@{domain}) as app@example.com to the node listening on host:port; never throws. */
export async function submitTo(host: string, port: number, prefix: string, n: number, domain = 'dest.test'): Promise<Submitted> {
  let c: RawSmtp | undefined;
  try {
    c = await RawSmtp.connect(port, { host });
    await c.greet(); await c.ehlo();
    const steps = [() => c!.authPlain('app@example.com', PASSWORD), () => c!.cmd('MAIL FROM:<app@example.com>'), () => c!.cmd(`RCPT TO:<r${n}@${domain}>`)];
    for (const step of steps) {
      const r = await step();
      if (r.code >= 400) return { n, code: r.code, text: r.text };
    }
    const r = await c.data(message('app@example.com', `r${n}@${domain}`, `${prefix} ${n}`) + '.\r\n');
    return { n, code: r.code, text: r.text, ...(r.code === 250 ? { id: r.text.split(' ').pop()! } : {}) };
  } catch (e) {
    return { n, code: 0, text: (e as Error).message };
  } finally {
    await c?.quit();
  }
}

/** How many times each subject `{prefix} N` reached the sinks. */
export function subjectCounts(sinks: readonly Sink[], prefix: string): Map<string, number> {
  const seen = new Map<string, number>();
  const re = new RegExp(`^Subject: (${prefix} \\d+)\\r?$`, 'm');
  for (const s of sinks) for (const m of s.messages) {
    const subject = re.exec(m.raw.toString('utf8'))?.[1];
    if (subject) seen.set(subject, (seen.get(subject) ?? 0) + 1);
  }
  return seen;
}
