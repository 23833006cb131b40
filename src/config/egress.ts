/**
 * config/egress — the compiled form of `[egress]` and `[node]` (delivery/egress.ts uses it):
 * sources with their HELO names and warm-up, pools with weights, selection rules. Checks
 * of names and references are in config/schema.ts; this only turns them into defaulted types.
 */
import type { ConfigFile } from './schema.js';

export interface EgressSource {
  name: string;
  address: string;
  /** the HELO/EHLO name: what the address's PTR record names */
  helo: string;
  node?: string;
  maxConnections?: number;
  /** per destination provider: day 1 (warmupFrom, a UTC day) may carry `start` recipients, each later day `factor` times more */
  warmup?: { start: number; factor: number; from: string };
}
export interface EgressPool { name: string; sources: { source: string; weight: number }[] }
export interface EgressRule { pool: string; sendingDomains: string[]; lanes: ('trigger' | 'batch')[]; tasks: string[]; destinations: string[] }
export interface EgressConfig { defaultPool: string | null; sources: EgressSource[]; pools: EgressPool[]; rules: EgressRule[] }


/** Source names for a list of source or pool names (shaping entries' `egress`). */
export function expandEgress(e: ConfigFile['egress'], names: string[]): string[] {
  const out = new Set<string>();
  for (const n of names) {
    const pool = e.pool.find((p) => p.name === n);
    if (pool) for (const m of pool.sources) out.add(m.source); else out.add(n);
  }
  return [...out];
}

export function compileEgress(e: ConfigFile['egress']): EgressConfig {
  const lower = (l: string[]): string[] => l.map((d) => d.toLowerCase());
  return {
    defaultPool: e.default_pool ?? null,
    sources: e.source.map((s) => ({
      name: s.name, address: s.address, helo: s.helo.toLowerCase(),
      ...(s.node !== undefined ? { node: s.node } : {}),
      ...(s.max_connections !== undefined ? { maxConnections: s.max_connections } : {}),
      ...(s.warmup_start !== undefined && s.warmup_from !== undefined ? { warmup: { start: s.warmup_start, factor: s.warmup_factor, from: s.warmup_from } } : {}),
    })),
    pools: e.pool.map((p) => ({ name: p.name, sources: p.sources.map((x) => ({ source: x.source, weight: x.weight })) })),
    rules: e.rule.map((r) => ({ pool: r.pool, sendingDomains: lower(r.sending_domains), lanes: r.lanes, tasks: r.tasks, destinations: lower(r.destinations) })),
  };
}

