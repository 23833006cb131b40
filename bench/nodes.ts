/**
 * bench/nodes — where the daemons under test store, and how many there are: one node on
 * SQLite in its data dir (the default), or one or more nodes sharing one PostgreSQL
 * database (`--backend postgres [--nodes N]`). A cluster's nodes listen on 127.0.0.2, .3, …
 * as separate machines would, and the load is spread evenly over them, as a round-robin
 * balancer in front of them would.
 */
import type { MtaSetup } from './mta.js';
import type { LoadResult } from './smtp-load.js';
import { freePort } from './util.js';
import { SINK_HOST } from './world.js';

export type BenchStorage = { backend: 'sqlite' } | { backend: 'postgres'; nodes: number; database(): Promise<string>; serverPid: number | undefined };

/** [storage] of node `n` (0-based) on `url`: every node its own id, all on one database. */
export function pgStorageToml(url: string, n: number): string {
  return `\n[storage]\nbackend = "postgres"\npostgres_url = "${url}"\nnode_id = "bench-${n + 1}"\n`;
}

/**
 * The setups of `nodes` daemons: ports of their own, one sink port for all, and on
 * PostgreSQL (`url`) each its [storage] table. One node keeps 127.0.0.1.
 */
export async function nodeSetups(nodes: number, url: string | undefined,
  base: (host: string, n: number) => Omit<MtaSetup, 'smtpPort' | 'adminPort' | 'sinkPort'>): Promise<MtaSetup[]> {
  const sinkPort = await freePort(SINK_HOST);
  const setups: MtaSetup[] = [];
  for (let n = 0; n < nodes; n++) {
    const host = nodes > 1 ? `127.0.0.${n + 2}` : '127.0.0.1';
    const b = base(host, n);
    setups.push({ ...b, smtpPort: await freePort(host), adminPort: await freePort(), sinkPort, extraToml: `${b.extraToml ?? ''}${url ? pgStorageToml(url, n) : ''}` });
  }
  return setups;
}

/** `total` split into `parts` shares that differ by at most one; share `n`. */
function share(total: number, parts: number, n: number): number {
  return Math.floor(total / parts) + (n < total % parts ? 1 : 0);
}

/**
 * One load per node, side by side: node n gets a share of the messages (a contiguous range
 * of message numbers starting at `first`) and of the sessions (at least one).
 */
export function spreadLoad(setups: MtaSetup[], messages: number, sessions: number,
  run: (host: string, port: number, sessions: number, messages: number, first: number) => Promise<LoadResult>): Promise<LoadResult[]> {
  let first = 0;
  return Promise.all(setups.map((setup, n) => {
    const mine = share(messages, setups.length, n);
    const p = run(setup.host ?? '127.0.0.1', setup.smtpPort, Math.max(1, share(sessions, setups.length, n)), mine, first);
    first += mine;
    return p;
  }));
}
