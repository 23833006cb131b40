// TEMPORARY (issue 23): reads the file util/accept-trace.ts writes (MTA_ACCEPT_TRACE=PREFIX node dist/bench/run.js; the daemon writes PREFIX.PID)
// and prints the accept path by stage for the slowest N% (default 1) and the median band.
// usage: node scripts/accept-trace-report.mjs PREFIX.PID [pct=1] [seconds: print GC, stalls and writer ops around then]
import { readFileSync } from 'node:fs';
const t = JSON.parse(readFileSync(process.argv[2], 'utf8'));
const pct = Number(process.argv[3] ?? 1);
const msgs = t.msgs.filter((m) => m.end && m.reply);
const t0 = Math.min(...msgs.map((m) => m.end));
const total = (m) => m.reply - m.end;
msgs.sort((a, b) => total(a) - total(b));
const q = (p) => total(msgs[Math.min(msgs.length - 1, Math.floor(msgs.length * p / 100))]);
console.log(`messages ${msgs.length}; server-side end→reply p50 ${q(50).toFixed(1)} p90 ${q(90).toFixed(1)} p99 ${q(99).toFixed(1)} max ${total(msgs.at(-1)).toFixed(1)} ms`);
const intakeOps = t.ops.filter((o) => o.op === 'intake');
const stages = [
  ['guard (DATA end → guard end)', 'end', 'guardEnd'],
  ['splitter (guard end → splitter end)', 'guardEnd', 'splitterEnd'],
  ['policy+joiner (splitter end → joiner end)', 'splitterEnd', 'joinerEnd'],
  ['joiner end → intake finish', 'joinerEnd', 'finish'],
  ['checks (finish → commit submitted)', 'finish', 'submit'],
  ['wait for group commit to start', 'submit', 'batch'],
  ['writer busy with other ops (batch → worker start)', 'batch', 'wStart'],
  ['the commit itself (worker: tx + fsync)', 'wStart', 'wEnd'],
  ['reply to main loop (worker end → main takes reply)', 'wEnd', 'replied'],
  ['commit observers', 'committed', 'observed'],
  ['promise → 250 queued (observed → listener reply)', 'observed', 'reply'],
];
function overlap(list, a, b) { let s = 0; for (const [st, d] of list) { const e = st + d; s += Math.max(0, Math.min(e, b) - Math.max(st, a)); } return s; }
function rows(sel, label) {
  const n = sel.length;
  const avg = (f) => sel.reduce((s, m) => s + f(m), 0) / n;
  console.log(`\n${label}: ${n} messages, total avg ${avg(total).toFixed(1)} ms`);
  for (const [name, a, b] of stages) console.log(`  ${name.padEnd(58)} ${avg((m) => (m[b] ?? m[a]) - m[a]).toFixed(2)}`);
  // reasons for waiting at submit: an intake commit in flight?
  const inflight = sel.filter((m) => intakeOps.some((o) => o.posted <= m.submit && o.replied > m.submit)).length;
  console.log(`  submitted while an intake commit was in flight: ${inflight}/${n}`);
  // what the writer did between batch and wStart
  const other = { claim: 0, queue: 0, intake: 0 };
  for (const m of sel) for (const o of t.ops) { const ov = Math.max(0, Math.min(o.end, m.wStart) - Math.max(o.start, m.batch)); if (ov > 0) other[o.op] = (other[o.op] ?? 0) + ov; }
  console.log(`  writer time in the batch→wStart gap, avg ms: ${Object.entries(other).map(([k, v]) => `${k} ${(v / n).toFixed(2)}`).join(', ')}`);
  console.log(`  main-thread GC inside end→reply, avg ms: ${avg((m) => overlap(t.gc, m.end, m.reply)).toFixed(2)}`);
  console.log(`  loop stalls (5 ms timer late) inside end→reply, avg ms: ${avg((m) => overlap(t.stalls ?? [], m.end, m.reply)).toFixed(2)}`);
  console.log(`  at (s from first): ${sel.slice(-10).map((m) => ((m.end - t0) / 1000).toFixed(1)).join(' ')}`);
}
const cut = Math.floor(msgs.length * (1 - pct / 100));
rows(msgs.slice(cut), `slowest ${pct}%`);
rows(msgs.slice(Math.floor(msgs.length * 0.4), Math.floor(msgs.length * 0.6)), 'median band (40-60%)');
const ops = {};
for (const o of t.ops) { const r = ops[o.op] ??= { n: 0, ms: 0, max: 0 }; r.n++; r.ms += o.end - o.start; r.max = Math.max(r.max, o.end - o.start); }
console.log('\nwriter ops:', Object.entries(ops).map(([k, r]) => `${k}: ${r.n} ops, avg ${(r.ms / r.n).toFixed(2)} ms, max ${r.max.toFixed(1)}`).join('; '));
const gcs = t.gc.map(([, d]) => d).sort((a, b) => a - b);
console.log(`main GC: ${gcs.length} pauses, sum ${gcs.reduce((a, b) => a + b, 0).toFixed(0)} ms, max ${gcs.at(-1)?.toFixed(1)}`);

const st = (t.stalls ?? []).map(([, d]) => d).sort((a, b) => a - b);
console.log(`loop stalls >5 ms: ${st.length}, sum ${st.reduce((a, b) => a + b, 0).toFixed(0)} ms, max ${st.at(-1)?.toFixed(1)}`);
if (process.argv[4]) { const at = Number(process.argv[4]) * 1000 + t0; console.log('around', process.argv[4], 's:');
  for (const [s0, d] of t.gc) if (Math.abs(s0 - at) < 300) console.log(`  gc at ${((s0 - t0) / 1000).toFixed(3)} ${d.toFixed(1)} ms`);
  for (const [s0, d] of t.stalls ?? []) if (Math.abs(s0 - at) < 300) console.log(`  stall at ${((s0 - t0) / 1000).toFixed(3)} ${d.toFixed(1)} ms`);
  for (const o of t.ops) if (Math.abs(o.start - at) < 300) console.log(`  ${o.op} ${o.size} posted ${((o.posted - t0) / 1000).toFixed(3)} start +${(o.start - o.posted).toFixed(1)} run ${(o.end - o.start).toFixed(1)} reply +${(o.replied - o.end).toFixed(1)}`);
}
