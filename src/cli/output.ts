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

/** A time for people: ISO 8601 to the second (ms since the epoch or an ISO string). */
export function timeText(v: unknown): string {
  const d = typeof v === 'number' ? new Date(v) : typeof v === 'string' ? new Date(v) : undefined;
  return d && !Number.isNaN(d.getTime()) ? d.toISOString().replace(/\.\d+Z$/, 'Z') : String(v);
}

/**
 * One spool event's details in words: `mx[ip] reply (next TIME)` first, as an attempt reads,
 * then any other field as `key=value` (times as ISO 8601, objects as compact JSON).
 */
export function eventDetail(e: Record<string, unknown>): string {
  const parts: string[] = [];
  if (e['mx']) parts.push(`${String(e['mx'])}[${String(e['ip'] ?? '')}]`);
  // The egress source the attempt left from (when sources are configured).
  if (typeof e['source'] === 'string') parts.push(`from ${e['source']}[${String(e['source_ip'] ?? '')}]`);
  if (typeof e['reply'] === 'string') parts.push(e['reply']);
  if (e['next_attempt_at'] !== undefined && e['next_attempt_at'] !== null) parts.push(`(next ${timeText(e['next_attempt_at'])})`);
  for (const [k, v] of Object.entries(e)) {
    if (['mx', 'ip', 'source', 'source_ip', 'reply', 'next_attempt_at', 'at', 'type'].includes(k) || v === null || v === undefined) continue;
    parts.push(`${k}=${k.endsWith('_at') ? timeText(v) : typeof v === 'object' ? JSON.stringify(v) : String(v)}`);
  }
  return parts.join(' ');
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
