/**
 * cli/output — aligned tables for people, JSON for scripts, one-line errors.
 */

export type Row = Record<string, unknown>;

function cell(v: unknown): string {
  if (v === null || v === undefined) return '-';
  if (typeof v === 'number' && v > 1e12 && v < 1e14) return new Date(v).toISOString().replace(/\.\d+Z$/, 'Z');
  return String(v);
}

export function table(rows: Row[], columns: string[], headers?: string[]): string {
  const head = headers ?? columns.map((c) => c.toUpperCase());
  const cells = rows.map((r) => columns.map((c) => cell(r[c])));
  const widths = head.map((h, i) => Math.max(h.length, ...cells.map((r) => r[i]!.length)));
  const line = (vals: string[]): string => vals.map((v, i) => (i === vals.length - 1 ? v : v.padEnd(widths[i]!))).join('  ');
  return [line(head), ...cells.map(line)].join('\n');
}

export function print(text: string): void { process.stdout.write(text.endsWith('\n') ? text : `${text}\n`); }

export function printJson(value: unknown): void { process.stdout.write(`${JSON.stringify(value, null, 2)}\n`); }

export function printList(rows: Row[], columns: string[], json: boolean | undefined, empty = '(none)'): void {
  if (json) return printJson(rows);
  print(rows.length ? table(rows, columns) : empty);
}

export async function readStdin(): Promise<string> {
  if (process.stdin.isTTY) throw new Error('expected input on standard input (pipe it in)');
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8').replace(/\r?\n$/, '');
}
