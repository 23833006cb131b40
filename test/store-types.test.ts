// The storage contract's shape (issue 16): one file per aggregate (src/spool/types-*.ts),
// `Store` in types.ts composing them, no name defined twice or re-exported, and no import
// cycle among the contract's files or anything they import (type imports included: a
// cycle there means two aggregates cannot be understood, or moved, one without the other).
import t from 'tap';
import { readFileSync, readdirSync } from 'node:fs';
import { dirname, join, normalize, relative } from 'node:path';

const SPOOL = join('src', 'spool');
const contractFiles = readdirSync(SPOOL).filter((f) => /^types(-[a-z]+)?\.ts$/.test(f)).map((f) => join(SPOOL, f));

/** The src files a module imports (relative specifiers only; `.js` names the `.ts` source). */
function importsOf(file: string, text: string): string[] {
  const out: string[] = [];
  for (const m of text.matchAll(/(?:^|\n)\s*(?:import|export)\s[^'"]*?from\s*'(\.{1,2}\/[^']+)\.js'/g)) {
    out.push(normalize(join(dirname(file), `${m[1]!}.ts`)));
  }
  return out;
}

/** Every import cycle reachable from `roots`, each as `a -> b -> a`. */
function cycles(roots: readonly string[], read: (file: string) => string): string[] {
  const found: string[] = [];
  const done = new Set<string>();
  const visit = (file: string, path: string[]): void => {
    const at = path.indexOf(file);
    if (at >= 0) { found.push([...path.slice(at), file].join(' -> ')); return; }
    if (done.has(file)) return;
    for (const next of importsOf(file, read(file))) visit(next, [...path, file]);
    done.add(file);
  };
  for (const r of roots) visit(r, []);
  return found;
}

/** Names a file declares with `export type|interface|const|function|class`. */
function declared(text: string): string[] {
  return [...text.matchAll(/^export (?:type|interface|const|function|class) (\w+)/gm)].map((m) => m[1]!);
}

t.test('the cycle finder finds a cycle through type imports', async (t) => {
  const files: Record<string, string> = {
    'a.ts': "import type { B } from './b.js';",
    'b.ts': "import type { C } from './c.js';\nimport { x } from './d.js';",
    'c.ts': "import type { A } from './a.js';",
    'd.ts': '',
  };
  t.same(cycles(['a.ts'], (f) => files[f] ?? ''), ['a.ts -> b.ts -> c.ts -> a.ts']);
  t.same(cycles(['d.ts', 'b.ts'], (f) => (f === 'c.ts' ? '' : files[f] ?? '')), [], 'no cycle once c.ts imports nothing');
});

t.test('the contract files import no cycle', async (t) => {
  t.ok(contractFiles.length >= 15, `${contractFiles.length} contract files`);
  const found = cycles(contractFiles, (f) => readFileSync(f, 'utf8'));
  t.same(found, [], found.join('\n'));
});

t.test('types.ts holds only Store; each name has one owning aggregate file', async (t) => {
  const main = readFileSync(join(SPOOL, 'types.ts'), 'utf8');
  t.same(declared(main), ['Store'], 'types.ts declares only the composition');
  t.notMatch(main, /^export\s*(\*|\{|type\s*\{)/m, 'types.ts re-exports nothing');
  const owners = new Map<string, string[]>();
  for (const f of contractFiles) {
    for (const name of declared(readFileSync(f, 'utf8'))) owners.set(name, [...(owners.get(name) ?? []), relative('.', f)]);
  }
  const twice = [...owners].filter(([, fs]) => fs.length > 1).map(([n, fs]) => `${n}: ${fs.join(', ')}`);
  t.same(twice, [], 'no name is declared by two contract files');
  const stores = [...owners].filter(([n]) => /Store$/.test(n) && n !== 'Store').map(([n]) => n);
  for (const s of stores) t.match(main, new RegExp(`\\b${s}\\b`), `Store composes ${s}`);
});
