/**
 * bench/heap-summary — what a V8 heap snapshot holds, grouped as DevTools' "Summary" view
 * groups it (by constructor), with the size of each group's objects and what retains them.
 *
 *   node dist/bench/heap-summary.js FILE.heapsnapshot [--base OTHER.heapsnapshot] [--top N]
 *
 * With --base, each group also shows how much it grew from the other snapshot (the same
 * daemon at a smaller queue, say). Sizes are self sizes: the bytes of the objects
 * themselves, not what they keep alive; a Map's entries are counted in their own groups,
 * and the retainer column says who holds them. `summarise` and `compare` are pure, so
 * test/heap-summary.test.ts checks them on a snapshot of its own heap.
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { pathToFileURL } from 'node:url';

/** The parts of the .heapsnapshot format (JSON) read here. */
export interface HeapSnapshot {
  snapshot: {
    meta: {
      node_fields: string[];
      node_types: [string[], ...unknown[]];
      edge_fields: string[];
      edge_types: [string[], ...unknown[]];
    };
  };
  nodes: number[];
  edges: number[];
  strings: string[];
}

export interface Group {
  name: string;
  count: number;
  bytes: number;
  /** who points at this group's objects most often: "Holder.property" or "Array[]", with the number of references */
  retainers: { by: string; count: number }[];
}

export interface Summary { nodes: number; bytes: number; groups: Group[] }

const STRING_TYPES = new Set(['string', 'concatenated string', 'sliced string']);

/** The DevTools grouping of one node. */
function groupName(type: string, name: string): string {
  if (type === 'object' || type === 'native' || type === 'synthetic') return name || `(${type})`;
  if (type === 'closure') return '(closure)';
  if (STRING_TYPES.has(type)) return '(string)';
  if (type === 'code') return '(compiled code)';
  if (type === 'number') return '(heap number)';
  // hidden and array nodes carry system names such as "(object elements)" or "system / Context".
  return `(${type}) ${name.length > 48 ? `${name.slice(0, 45)}...` : name}`;
}

/** Every node's group, and the sizes per group, with the top `retainersPerGroup` retainers of each. */
export function summarise(s: HeapSnapshot, retainersPerGroup = 3): Summary {
  const nf = s.snapshot.meta.node_fields;
  const ef = s.snapshot.meta.edge_fields;
  const nodeTypes = s.snapshot.meta.node_types[0];
  const edgeTypes = s.snapshot.meta.edge_types[0];
  const N = nf.length;
  const E = ef.length;
  const [iType, iName, iSize, iEdges] = ['type', 'name', 'self_size', 'edge_count'].map((f) => nf.indexOf(f)) as [number, number, number, number];
  const [eType, eName, eTo] = ['type', 'name_or_index', 'to_node'].map((f) => ef.indexOf(f)) as [number, number, number];
  const count = s.nodes.length / N;
  const groupOf = new Array<string>(count);
  const groups = new Map<string, { count: number; bytes: number; by: Map<string, number> }>();
  let bytes = 0;
  for (let n = 0; n < count; n++) {
    const o = n * N;
    const g = groupName(nodeTypes[s.nodes[o + iType]!] ?? '?', s.strings[s.nodes[o + iName]!] ?? '');
    groupOf[n] = g;
    const size = s.nodes[o + iSize]!;
    bytes += size;
    const e = groups.get(g);
    if (e) { e.count++; e.bytes += size; } else groups.set(g, { count: 1, bytes: size, by: new Map() });
  }
  let edge = 0;
  for (let n = 0; n < count; n++) {
    const edges = s.nodes[n * N + iEdges]!;
    for (let k = 0; k < edges; k++, edge += E) {
      const type = edgeTypes[s.edges[edge + eType]!];
      // Weak references keep nothing alive; shortcuts duplicate real paths.
      if (type === 'weak' || type === 'shortcut') continue;
      const to = s.edges[edge + eTo]! / N;
      const holder = groupOf[n]!;
      const by = type === 'property' || type === 'internal' || type === 'context'
        ? `${holder}.${s.strings[s.edges[edge + eName]!] ?? '?'}`
        : type === 'element' ? `${holder}[]` : holder;
      const target = groups.get(groupOf[to]!)!;
      target.by.set(by, (target.by.get(by) ?? 0) + 1);
    }
  }
  const out: Group[] = [...groups].map(([name, g]) => ({
    name, count: g.count, bytes: g.bytes,
    retainers: [...g.by].sort((a, b) => b[1] - a[1]).slice(0, retainersPerGroup).map(([by, c]) => ({ by, count: c })),
  }));
  out.sort((a, b) => b.bytes - a.bytes || a.name.localeCompare(b.name));
  return { nodes: count, bytes, groups: out };
}

export interface GroupChange { name: string; count: number; bytes: number; countDelta: number; bytesDelta: number }

/** Each group of `after` with its growth since `before`; groups that only `before` has appear with negative deltas. */
export function compare(before: Summary, after: Summary): GroupChange[] {
  const old = new Map(before.groups.map((g) => [g.name, g]));
  const out: GroupChange[] = after.groups.map((g) => {
    const b = old.get(g.name);
    old.delete(g.name);
    return { name: g.name, count: g.count, bytes: g.bytes, countDelta: g.count - (b?.count ?? 0), bytesDelta: g.bytes - (b?.bytes ?? 0) };
  });
  for (const b of old.values()) out.push({ name: b.name, count: 0, bytes: 0, countDelta: -b.count, bytesDelta: -b.bytes });
  return out.sort((a, b) => Math.abs(b.bytesDelta) - Math.abs(a.bytesDelta));
}

const MB = (n: number): string => (n / 1048576).toFixed(2);

export function formatSummary(s: Summary, top: number): string {
  const lines = [`${s.nodes} objects, ${MB(s.bytes)} MB (self sizes)`, '| group | objects | MB | share | retained by (references) |', '| --- | ---: | ---: | ---: | --- |'];
  for (const g of s.groups.slice(0, top)) {
    lines.push(`| ${g.name} | ${g.count} | ${MB(g.bytes)} | ${((100 * g.bytes) / Math.max(s.bytes, 1)).toFixed(1)}% | ${g.retainers.map((r) => `${r.by} (${r.count})`).join(', ')} |`);
  }
  return lines.join('\n');
}

export function formatChanges(c: GroupChange[], top: number): string {
  const lines = ['| group | objects | Δ objects | MB | Δ MB |', '| --- | ---: | ---: | ---: | ---: |'];
  for (const g of c.slice(0, top)) lines.push(`| ${g.name} | ${g.count} | ${g.countDelta >= 0 ? '+' : ''}${g.countDelta} | ${MB(g.bytes)} | ${g.bytesDelta >= 0 ? '+' : ''}${MB(g.bytesDelta)} |`);
  return lines.join('\n');
}

function load(file: string): Summary {
  return summarise(JSON.parse(readFileSync(file, 'utf8')) as HeapSnapshot);
}

function main(): void {
  const { values, positionals } = parseArgs({ options: { base: { type: 'string' }, top: { type: 'string', default: '25' } }, allowPositionals: true });
  const top = Number(values.top);
  if (positionals.length !== 1 || !Number.isInteger(top) || top < 1) {
    process.stderr.write('usage: node dist/bench/heap-summary.js FILE.heapsnapshot [--base OTHER.heapsnapshot] [--top N]\n');
    process.exitCode = 2;
    return;
  }
  const after = load(positionals[0]!);
  console.log(formatSummary(after, top));
  if (values.base) {
    console.log(`\ngrowth since ${values.base}:`);
    console.log(formatChanges(compare(load(values.base), after), top));
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) main();
