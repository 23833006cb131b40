/**
 * bench/alloc-summary — the top allocation sites of a `.heapprofile` that bench/alloc-probe.ts
 * wrote: bytes by function (self) and by the stack a few frames up, as shares of the total.
 *
 *   node dist/bench/alloc-summary.js FILE [--depth N (4)] [--top N (25)]
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';

interface Frame { functionName: string; url: string; lineNumber: number }
interface Node { callFrame: Frame; selfSize: number; children: Node[] }

const { values, positionals } = parseArgs({ allowPositionals: true, options: { depth: { type: 'string', default: '4' }, top: { type: 'string', default: '25' } } });
const file = positionals[0];
if (!file) { console.error('usage: alloc-summary FILE [--depth N] [--top N]'); process.exit(2); }
const root = (JSON.parse(readFileSync(file, 'utf8')) as { head: Node }).head;
const depth = Number(values.depth);
const top = Number(values.top);
const name = (f: Frame): string => `${f.functionName || '(anonymous)'} ${f.url.replace(/^.*\/(dist|node_modules)\//, '$1/').replace(/^file:\/\//, '')}:${f.lineNumber + 1}`;
const self = new Map<string, number>();
const stacks = new Map<string, number>();
let total = 0;
const walk = (n: Node, path: string[]): void => {
  const here = [...path, name(n.callFrame)];
  if (n.selfSize > 0) {
    total += n.selfSize;
    const k = name(n.callFrame);
    self.set(k, (self.get(k) ?? 0) + n.selfSize);
    const s = here.slice(-depth).join(' < ');
    stacks.set(s, (stacks.get(s) ?? 0) + n.selfSize);
  }
  for (const c of n.children) walk(c, here);
};
walk(root, []);
const show = (title: string, m: Map<string, number>): void => {
  console.log(`\n${title}`);
  for (const [k, v] of [...m].sort((a, b) => b[1] - a[1]).slice(0, top)) console.log(`${(v / 1048576).toFixed(1).padStart(8)} MB ${((100 * v) / total).toFixed(1).padStart(5)}%  ${k}`);
};
console.log(`sampled allocations: ${(total / 1048576).toFixed(0)} MB`);
show('by function (self)', self);
show(`by stack (the last ${depth} frames, innermost last)`, stacks);
