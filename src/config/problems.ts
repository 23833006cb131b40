/**
 * config/problems — turns the schema's complaints into problems a person can act on: the
 * key path, the file line (best effort), and plain words: an unknown key gets the closest
 * valid key at that place ("did you mean max_message_size?"), a missing required key says
 * so. Must never: accept or change a value (config/schema.ts decides), only describe.
 */
import type { z } from 'zod';
import { configSchema } from './schema.js';

export interface ConfigProblem { path: string; line?: number; message: string }

/**
 * Finds the line where a key path is set: the key's own line inside its [table] (or
 * [[array]] entry), or the table header when the key is absent. Best effort; TOML
 * parsers do not report positions for valid documents.
 */
export function locateKey(text: string, path: readonly (string | number)[]): number | undefined {
  const lines = text.split(/\r?\n/);
  const keys = path.filter((p): p is string => typeof p === 'string');
  if (keys.length === 0) return undefined;
  const indexInArray = path.find((p): p is number => typeof p === 'number');
  for (let depth = keys.length; depth >= 1; depth--) {
    const table = keys.slice(0, depth - 1).join('.');
    const key = keys[depth - 1]!;
    let current = '';
    let arrayCount = -1;
    for (let i = 0; i < lines.length; i++) {
      const line = lines[i]!.trim();
      const header = /^\[\[?\s*([^\]]+?)\s*\]\]?/.exec(line);
      if (header) {
        current = header[1]!;
        if (line.startsWith('[[') && current === table) arrayCount++;
        continue;
      }
      const inArray = indexInArray === undefined || arrayCount === -1 || arrayCount === indexInArray;
      const m = /^("?)([A-Za-z0-9_-]+)\1\s*=/.exec(line);
      if (m && m[2] === key && current === table && inArray) return i + 1;
      const dotted = /^([A-Za-z0-9_.-]+)\s*=/.exec(line);
      if (dotted && [current, dotted[1]].filter(Boolean).join('.') === [table, key].filter(Boolean).join('.')) return i + 1;
    }
    if (depth === keys.length) {
      // The key is not in the file (a default, or a cross-key rule): point at its table.
      const h = lines.findIndex((l) => new RegExp(`^\\s*\\[\\[?\\s*${keys.slice(0, -1).join('\\.')}\\s*\\]`).test(l));
      if (keys.length > 1 && h >= 0) return h + 1;
    }
  }
  return undefined;
}

type Segment = string | number;

/** "smtp.listen[0].address" */
function pathText(path: readonly PropertyKey[]): string {
  return path.map((p) => (typeof p === 'number' ? `[${p}]` : String(p))).join('.').replace(/\.\[/g, '[');
}

interface SchemaNode { shape?: Record<string, unknown>; def?: { innerType?: unknown; in?: unknown; schema?: unknown; element?: unknown; type?: string } }

/** Through defaults, optionals, refinements and pipes to the object or array underneath. */
function unwrap(node: unknown): SchemaNode | undefined {
  let cur = node as SchemaNode | undefined;
  for (let i = 0; i < 8 && cur; i++) {
    if (cur.shape || cur.def?.element) return cur;
    cur = (cur.def?.innerType ?? cur.def?.in ?? cur.def?.schema) as SchemaNode | undefined;
  }
  return undefined;
}

/** The keys the schema allows at a path of the file ([] when the path is not an object). */
export function keysAt(path: readonly Segment[]): string[] {
  let node = unwrap(configSchema);
  for (const seg of path) {
    if (!node) return [];
    node = unwrap(typeof seg === 'number' ? node.def?.element : node.shape?.[seg]);
  }
  return node?.shape ? Object.keys(node.shape) : [];
}

function distance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let prev = row[0]!;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const cur = row[j]!;
      row[j] = Math.min(row[j]! + 1, row[j - 1]! + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = cur;
    }
  }
  return row[b.length]!;
}

/** The valid key closest to a typo, when it is close enough to be what was meant. */
export function suggestKey(word: string, candidates: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestD = Infinity;
  for (const c of candidates) {
    const d = distance(word.toLowerCase(), c);
    if (d < bestD) { best = c; bestD = d; }
  }
  return best !== undefined && bestD <= Math.max(2, Math.floor(word.length / 4)) ? best : undefined;
}

/** One problem per complaint (per unknown key), with its line. */
export function issueProblems(issues: readonly z.core.$ZodIssue[], text: string): ConfigProblem[] {
  return issues.flatMap((iss): ConfigProblem[] => {
    const at = iss.path as Segment[];
    if (iss.code === 'unrecognized_keys') {
      const valid = keysAt(at);
      return iss.keys.map((k) => {
        const hint = suggestKey(k, valid);
        const line = locateKey(text, [...at, k]);
        return { path: pathText([...at, k]), message: `unknown key${hint ? `; did you mean ${hint}?` : ''}`, ...(line ? { line } : {}) };
      });
    }
    // zod says "expected string, received undefined" for a key that is not there at all.
    const missing = iss.code === 'invalid_type' && /received undefined/.test(iss.message);
    const message = missing ? `required key missing: add ${String(at[at.length - 1] ?? '')} = ... here` : iss.message;
    const line = locateKey(text, at);
    return [{ path: pathText(at), message, ...(line ? { line } : {}) }];
  });
}
