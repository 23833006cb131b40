// bench/stages.ts (issue 23, `npm run bench -- --profile`): a sample's time goes to the
// stage of the innermost frame a rule names, spool functions by the stage they serve,
// library code by its caller; GC, idle and unnamed code are kept apart. A small synthetic
// profile per thread, so every total below is known exactly.
import t from 'tap';
import { attributeStages, formatStages, STAGES } from '../bench/stages.js';
import type { CpuProfile, ProfileNode } from '../bench/cpuprofile.js';

const DIST = 'file:///srv/mta/dist/src';

/** A profile from a tree of frames [name, url, children] and samples (node id, µs). */
function profile(frames: [id: number, name: string, url: string, parent?: number][], samples: [id: number, us: number][]): CpuProfile {
  const nodes: ProfileNode[] = frames.map(([id, functionName, url]) => ({ id, callFrame: { functionName, url, lineNumber: 0, columnNumber: 0 }, children: [] }));
  for (const [id, , , parent] of frames) if (parent !== undefined) nodes.find((n) => n.id === parent)!.children!.push(id);
  // timeDeltas[i + 1] is sample i's time (as bench/cpuprofile.ts reads them)
  return { nodes, startTime: 0, endTime: 0, samples: samples.map(([id]) => id), timeDeltas: [0, ...samples.map(([, us]) => us)] };
}

const main = profile([
  [1, '(root)', ''],
  [2, 'onData', 'file:///srv/mta/node_modules/smtp-server/lib/smtp-connection.js', 1],
  [3, 'onData', `${DIST}/submission/listener.js`, 2],
  [4, 'receiveMessage', `${DIST}/intake/intake.js`, 3],
  [5, 'commitIncoming', `${DIST}/spool/sqlite-store.js`, 4],
  [6, 'postMessage', 'node:internal/worker', 5],
  [7, 'sendJob', `${DIST}/delivery/agent.js`, 1],
  [8, 'get', `${DIST}/delivery/message.js`, 7],
  [9, 'readBody', `${DIST}/spool/sqlite-store.js`, 8],
  [10, 'sign', `${DIST}/delivery/dkim-pool.js`, 8],
  [11, 'write', 'node:net', 7],
  [12, 'refill', `${DIST}/scheduler/scheduler.js`, 1],
  [13, 'record', `${DIST}/scheduler/recorder.js`, 12],
  [14, 'post', `${DIST}/events/post.js`, 1],
  [15, '(garbage collector)', '', 1],
  [16, '(idle)', '', 1],
  [17, 'parse', `${DIST}/config/config.js`, 1],
  [18, '(program)', '', 1],
  [19, 'step', `${DIST}/tasks/expander.js`, 1],
  [20, 'renderMember', `${DIST}/tasks/render.js`, 19],
  [21, 'convert', 'file:///srv/mta/node_modules/html-to-text/lib/html-to-text.cjs', 20],
  [22, 'isSuppressed', `${DIST}/spool/sqlite-store.js`, 19],
], [[6, 100], [5, 10], [4, 20], [3, 30], [2, 40], [9, 50], [10, 60], [11, 70], [12, 80], [13, 90], [14, 110], [15, 120], [16, 1000], [17, 130], [18, 140], [21, 150], [22, 160]]);

const writer = profile([
  [1, '(root)', ''],
  [2, 'run', `${DIST}/spool/writer-thread.js`, 1],
  [3, 'writeIncoming', `${DIST}/spool/sqlite-store.js`, 2],
  [4, 'run', 'file:///srv/mta/node_modules/better-sqlite3/lib/methods/transaction.js', 3],
  [5, 'claimDueHere', `${DIST}/spool/sqlite-queue.js`, 2],
  [6, 'writeBatchHere', `${DIST}/spool/sqlite-queue.js`, 2],
  [7, 'applyOutcomes', `${DIST}/spool/sqlite-queue.js`, 6],
  [8, 'effectsOf', `${DIST}/events/effects.js`, 7],
], [[4, 200], [5, 300], [8, 400], [2, 500]]);

const dkim = profile([
  [1, '(root)', ''],
  [2, 'onMessage', `${DIST}/delivery/dkim-thread.js`, 1],
  [3, 'relaxedBody', 'file:///srv/mta/node_modules/mailauth/lib/dkim/body/relaxed.js', 2],
], [[3, 700]]);

t.test('each sample goes to the stage of its innermost named frame, across threads', async (t) => {
  const b = attributeStages([main, writer, dkim]);
  t.same(b.stages, {
    'SMTP in': 30 + 40, // the listener, and smtp-server's own frame
    intake: 20,
    commit: 100 + 10 + 200, // a worker post under commitIncoming; better-sqlite3 under writeIncoming
    claim: 80 + 300,
    DKIM: 60 + 700,
    'SMTP out': 50 + 70, // readBody serves delivery, so it falls through to delivery/message
    outcome: 90 + 400, // the recorder; events/effects inside applyOutcomes is outcome work
    webhook: 110,
    'task expansion': 150 + 160, // html-to-text under renderMember; a spool read for the expander
  });
  t.equal(b.gcUs, 120);
  t.equal(b.idleUs, 1000, 'idle is not busy time');
  t.equal(b.otherUs, 130 + 140 + 500, 'config parsing, (program), and the writer loop outside any request');
  t.equal(b.other.get('src/config'), 130);
  t.equal(b.busyUs, 10 + 20 + 30 + 40 + 50 + 60 + 70 + 80 + 90 + 100 + 110 + 120 + 130 + 140 + 150 + 160 + 200 + 300 + 400 + 500 + 700);
});

t.test('the printed table has every stage, per message in ms', async (t) => {
  const text = formatStages(attributeStages([main, writer, dkim]), 10);
  for (const s of STAGES) t.match(text, new RegExp(`\\n  ${s} +\\d+\\.\\d{3}`), `a row for ${s}`);
  t.match(text, /\n {2}DKIM +0\.076 /, '760 µs over 10 messages');
  t.match(text, /\n {4}src\/config +0\.013 /, 'the unnamed code by place');
});
