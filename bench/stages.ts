/**
 * bench/stages — CPU per message by stage of the mail flow (issue 23): SMTP in, intake,
 * commit, claim, DKIM, SMTP out, outcome, webhook, and for batch tasks the expansion of the
 * list into messages (rendering, MIME, html-to-text). Pure: it takes parsed V8 CPU profiles
 * (every thread of the daemon: the event loop, the spool writer, the DKIM signers) and
 * attributes each sample's time to a stage by its stack.
 *
 * How a sample is attributed: its frames are looked at from the innermost outwards, and the
 * first frame that a rule names decides. So library and node-internal code counts for the
 * stage that called it (a socket write under delivery/transport is SMTP out), and a spool
 * function counts for the stage it serves (writeIncoming is commit, claimDueHere is claim,
 * writeBatchHere is outcome) while spool code that serves anyone (reading a body) falls
 * through to its caller. Garbage collection is its own bucket, since it cannot be told
 * apart by stack; what no rule names is "other", broken down by where the code lives.
 *
 * Known limits: time is what the profiler sampled (about 1 ms intervals), not the kernel's
 * CPU time; work a stage causes later on another stack (a promise continuation in shared
 * code, a GC) is not charged to it.
 */
import { groupOf, type CallFrame, type CpuProfile } from './cpuprofile.js';

export const STAGES = ['SMTP in', 'intake', 'commit', 'claim', 'DKIM', 'SMTP out', 'outcome', 'webhook', 'task expansion'] as const;
export type Stage = typeof STAGES[number];

export interface StageRule {
  stage: Stage;
  /** the frame's script URL (file:///.../dist/src/..., node_modules paths) */
  url: RegExp;
  /** and, when given, its function name */
  fn?: RegExp;
}

const SRC = (path: string): RegExp => new RegExp(`/dist/src/${path}`);
const SPOOL = SRC('spool/');

/** Tried in order at each frame; the first that matches names the frame's stage. */
export const STAGE_RULES: readonly StageRule[] = [
  { stage: 'DKIM', url: SRC('delivery/dkim(-pool|-thread)?\\.js$') },
  { stage: 'DKIM', url: /\/node_modules\/mailauth\// },
  { stage: 'webhook', url: SRC('events/(dispatcher|post|webhooks|target|payload)\\.js$') },
  { stage: 'outcome', url: SRC('scheduler/(recorder|outcomes)\\.js$') },
  { stage: 'outcome', url: SRC('delivery/(outcome|classify|bounces|dsn|notify)\\.js$') },
  // The spool's own functions, by the stage they serve (main thread and writer thread).
  { stage: 'commit', url: SPOOL, fn: /^(commitIncoming|writeIncoming|intake|SqliteStore\.intake\b.*)$/ },
  { stage: 'outcome', url: SPOOL, fn: /^(writeBatch|writeBatchHere|queue|applyOutcomes|SqliteQueue\.writes\b.*)$/ },
  { stage: 'claim', url: SPOOL, fn: /^(claimDue|claimDueHere|claim|nextDueAt|renewClaims)$/ },
  { stage: 'claim', url: SRC('scheduler/') },
  { stage: 'task expansion', url: SPOOL, fn: /^commitTaskChunk$/ },
  { stage: 'task expansion', url: SRC('(tasks|templates|lists)/') },
  { stage: 'task expansion', url: /\/node_modules\/html-to-text\// },
  { stage: 'intake', url: SRC('intake/') },
  { stage: 'SMTP in', url: SRC('submission/') },
  { stage: 'SMTP in', url: /\/node_modules\/smtp-server\// },
  { stage: 'SMTP out', url: SRC('delivery/') },
  { stage: 'SMTP out', url: /\/node_modules\/nodemailer\// },
];

export interface StageBreakdown {
  /** sampled time per stage, µs */
  stages: Record<Stage, number>;
  gcUs: number;
  /** busy time no rule named, µs, by where its innermost code lives (cpuprofile.ts groupOf) */
  other: Map<string, number>;
  otherUs: number;
  idleUs: number;
  /** every sampled µs that was not idle */
  busyUs: number;
}

function ruleFor(cf: CallFrame, rules: readonly StageRule[]): Stage | undefined {
  for (const r of rules) if (r.url.test(cf.url) && (!r.fn || r.fn.test(cf.functionName))) return r.stage;
  return undefined;
}

/** Adds the samples of each profile (one per thread) into one breakdown. */
export function attributeStages(profiles: readonly CpuProfile[], rules: readonly StageRule[] = STAGE_RULES): StageBreakdown {
  const out: StageBreakdown = {
    stages: Object.fromEntries(STAGES.map((s) => [s, 0])) as Record<Stage, number>,
    gcUs: 0, other: new Map(), otherUs: 0, idleUs: 0, busyUs: 0,
  };
  for (const p of profiles) {
    const byId = new Map(p.nodes.map((n) => [n.id, n]));
    const parent = new Map<number, number>();
    for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
    // A node's stage: its own rule, else its caller's (memoised; stacks are shallow enough to recurse).
    const memo = new Map<number, Stage | null>();
    const stageOf = (id: number): Stage | null => {
      const known = memo.get(id);
      if (known !== undefined) return known;
      const n = byId.get(id);
      const up = parent.get(id);
      const s = (n && ruleFor(n.callFrame, rules)) ?? (up === undefined ? null : stageOf(up));
      memo.set(id, s);
      return s;
    };
    for (let i = 0; i < p.samples.length; i++) {
      const id = p.samples[i]!;
      const us = p.timeDeltas[i + 1] ?? 0;
      const cf = byId.get(id)?.callFrame;
      if (!cf) continue;
      if (cf.functionName === '(idle)') { out.idleUs += us; continue; }
      out.busyUs += us;
      if (cf.functionName === '(garbage collector)') { out.gcUs += us; continue; }
      const s = stageOf(id);
      if (s) { out.stages[s] += us; continue; }
      out.otherUs += us;
      const g = groupOf(cf.url, cf.functionName || '(anonymous)');
      out.other.set(g, (out.other.get(g) ?? 0) + us);
    }
  }
  return out;
}

/** The table `--profile` prints: ms of sampled CPU per message, by stage. */
export function formatStages(b: StageBreakdown, messages: number): string {
  const per = (us: number): string => (us / 1000 / Math.max(messages, 1)).toFixed(3).padStart(8);
  const pct = (us: number): string => `${((100 * us) / Math.max(b.busyUs, 1)).toFixed(1)}%`.padStart(6);
  const lines = [`CPU per message by stage (sampled, all threads of the daemon; ${messages} messages):`, '  stage            ms/msg   share'];
  for (const s of STAGES) lines.push(`  ${s.padEnd(14)} ${per(b.stages[s])}  ${pct(b.stages[s])}`);
  lines.push(`  ${'GC'.padEnd(14)} ${per(b.gcUs)}  ${pct(b.gcUs)}`);
  lines.push(`  ${'other'.padEnd(14)} ${per(b.otherUs)}  ${pct(b.otherUs)}`);
  for (const [g, us] of [...b.other.entries()].sort((x, y) => y[1] - x[1]).slice(0, 6)) lines.push(`    ${g.padEnd(30)} ${per(us)}  ${pct(us)}`);
  lines.push(`  ${'total busy'.padEnd(14)} ${per(b.busyUs)}`);
  return lines.join('\n');
}
