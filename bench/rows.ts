/**
 * bench/rows — one result row per run (mta, Postfix, Postfix + OpenDKIM), its notes, and
 * the table they print as.
 */
import { LATE_MS, STEADY_AFTER_MS, TIMELINE_MS, TIMELINE_WINDOWS, boundedTimeline, percentile, steadyLatencies, type LoadResult } from './smtp-load.js';
import type { GcTally, ProbeReport } from './probe.js';
import type { ScenarioId } from './scenarios.js';

/** "p99 by 0.5 s from the first accept: 33.4 (475), 20.6 (630), … ms (messages)", or '' for one window. */
export function timelineText(t: ReturnType<typeof boundedTimeline>): string {
  if (t.windows.length < 2) return '';
  return `p99 by ${t.windowMs / 1000} s from the first accept: ${t.windows.map((w) => (w.count ? `${fmt(w.p99, 1)} (${w.count})` : '-')).join(', ')} ms (messages)`;
}

export interface Row {
  scenario: ScenarioId;
  system: string;
  messages: number;
  recipients: number;
  seconds: number;
  e2eRate: number;
  acceptRate: number;
  p50: number;
  p99: number;
  peakRssMb: number;
  batches: string;
  /** CPU used by processes that are not part of the run, in cores (0–2) */
  foreign: number;
  /** CPU time of the system under test (all its processes and threads) per message, ms */
  cpuPerMsg: number;
  notes: string[];
}

export function batchText(p: ProbeReport | undefined): string {
  if (!p || p.commits === 0) return '-';
  return `${(p.messages / p.commits).toFixed(1)} avg, ${p.maxBatch} max`;
}

export function histogram(p: ProbeReport): string {
  const buckets: [string, number, number][] = [['1', 1, 1], ['2-3', 2, 3], ['4-7', 4, 7], ['8-15', 8, 15], ['16-31', 16, 31], ['32+', 32, Infinity]];
  return buckets.map(([label, lo, hi]) => {
    let n = 0;
    for (const [size, count] of Object.entries(p.sizes)) if (Number(size) >= lo && Number(size) <= hi) n += count;
    return `${label}: ${n}`;
  }).join(', ');
}

/** The event loop's delay over the daemon's life, as bench/probe.ts measured it. */
export function loopNote(p: ProbeReport | undefined): string[] {
  const d = p?.loopDelay;
  const out = d ? [`event loop delay (timers running late): p50 ${d.p50.toFixed(1)} ms, p99 ${d.p99.toFixed(1)} ms, max ${d.max.toFixed(0)} ms`] : [];
  const g = p?.gc;
  const one = (name: string, t: GcTally): string => `${t.count} ${name} (${t.ms.toFixed(0)} ms, longest ${t.maxMs.toFixed(1)} ms, ${t.over5} over 5 ms)`;
  if (g) out.push(`main thread GC pauses: ${one('scavenges', g.minor)}, ${one('others', g.major)}`);
  const a = p?.accept;
  if (a) out.push(`accept latency on the daemon's clock (end of DATA → 250): p50 ${a.p50.toFixed(1)} ms, p99 ${a.p99.toFixed(1)} ms${a.steady ? `; after the first second p50 ${a.steady.p50.toFixed(1)} ms, p99 ${a.steady.p99.toFixed(1)} ms` : ''}`);
  const timeline = a?.timeline ? timelineText(a.timeline) : '';
  if (timeline) out.push(`accept latency on the daemon's clock, ${timeline}`);
  return out;
}

export function loadNotes(r: LoadResult, rate?: number): string[] {
  const notes: string[] = [];
  if (rate) notes.push(`open loop at ${rate} messages a second: ${r.late} of ${r.accepted + r.refused} started more than ${LATE_MS} ms late${r.late > (r.accepted + r.refused) / 100 ? ' (the rate was not held: the latencies are a saturated run\'s)' : ''}`);
  const steady = steadyLatencies(r, STEADY_AFTER_MS);
  if (steady.length > 0) notes.push(`accept latency after the first ${STEADY_AFTER_MS / 1000} s (${steady.length} messages): p50 ${fmt(percentile(steady, 50), 1)} ms, p99 ${fmt(percentile(steady, 99), 1)} ms, max ${fmt(steady.reduce((a, b) => Math.max(a, b), 0), 1)} ms`);
  const timeline = timelineText(boundedTimeline(r, TIMELINE_MS, TIMELINE_WINDOWS));
  if (timeline) notes.push(`accept latency ${timeline}`);
  if (r.refused) notes.push(`${r.refused} refused at submission: ${[...r.refusals].map(([k, v]) => `${v}× ${k}`).join('; ')}`);
  if (r.errors.length) notes.push(`${r.errors.length} sessions failed: ${r.errors.slice(0, 3).join('; ')}`);
  return notes;
}

export function fmt(n: number, digits = 0): string {
  return Number.isFinite(n) ? n.toFixed(digits) : '-';
}

export function printTable(rows: Row[]): void {
  const head = ['scenario', 'system', 'messages', 'seconds', 'msgs/s e2e', 'accepted/s', 'p50 ms', 'p99 ms', 'peak RSS MB', 'commit batch', 'CPU ms/msg', 'other CPU'];
  const body = rows.map((r) => [
    r.scenario, r.system, r.recipients !== r.messages ? `${r.messages} (${r.recipients} rcpts)` : String(r.messages),
    fmt(r.seconds, 1), fmt(r.e2eRate), fmt(r.acceptRate), fmt(r.p50, 1), fmt(r.p99, 1), fmt(r.peakRssMb), r.batches, fmt(r.cpuPerMsg, 2), fmt(r.foreign, 2),
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i]!.length)));
  const line = (cells: string[]): string => `| ${cells.map((c, i) => (i < 2 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join(' | ')} |`;
  console.log(line(head));
  console.log(`|${widths.map((w, i) => (i < 2 ? ` ${'-'.repeat(w)} ` : ` ${'-'.repeat(w - 1)}: `)).join('|')}|`);
  for (const b of body) console.log(line(b));
}
