/**
 * bench/load-thread — the load generator (smtp-load.ts) on a worker thread of its own.
 *
 * The bench's main thread keeps the books while a run lasts: it scans /proc for the other
 * processes' CPU every 500 ms (1–2.5 ms of synchronous reads each time), samples RSS, reads
 * the probe's file and polls the sink. On the loop the sessions ran on, each such stall was
 * added to the accept latency of every message whose 250 arrived meanwhile. On a thread of its
 * own the load generator measures only the system under test and the machine.
 *
 * A scenario's messages and recipients are functions, which cannot cross to a thread: the
 * thread is given the scenario's id, the run's id and its first message's index, and builds
 * them itself with the same factory.
 */
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import { runLoad, type LoadOptions, type LoadResult } from './smtp-load.js';
import { SCENARIOS, recipientsOf, type ScenarioId } from './scenarios.js';
import { messageFactory } from './world.js';

export interface LoadSpec extends Omit<LoadOptions, 'recipients' | 'message' | 'onLoggedIn'> {
  scenario: ScenarioId;
  runId: string;
  /** the run's index of this load's first message (a cluster's nodes each get a share) */
  first: number;
}

interface ThreadData { loadSpec: LoadSpec; timeOrigin: number }
type ThreadMessage = { type: 'loggedIn' } | { type: 'done'; result: LoadResult } | { type: 'failed'; message: string };

/** runLoad on a worker thread; `acceptedAt` comes back on the calling thread's clock. */
export function runLoadInThread(spec: LoadSpec, onLoggedIn?: () => void): Promise<LoadResult> {
  return new Promise((resolve, reject) => {
    const data: ThreadData = { loadSpec: spec, timeOrigin: performance.timeOrigin };
    const w = new Worker(new URL(import.meta.url), { workerData: data });
    w.on('message', (m: ThreadMessage) => {
      if (m.type === 'loggedIn') onLoggedIn?.();
      else if (m.type === 'done') resolve(m.result);
      else reject(new Error(`load thread: ${m.message}`));
    });
    w.on('error', reject);
    // After a result this rejection is a no-op.
    w.on('exit', (code) => reject(new Error(`load thread exited (${code}) before its result`)));
  });
}

async function threadMain(port: NonNullable<typeof parentPort>, { loadSpec: spec, timeOrigin }: ThreadData): Promise<void> {
  try {
    const s = SCENARIOS[spec.scenario];
    const make = messageFactory(s, spec.runId);
    const result = await runLoad({
      ...spec, recipients: (i) => recipientsOf(s, spec.first + i), message: (i) => make(spec.first + i),
      onLoggedIn: () => port.postMessage({ type: 'loggedIn' } satisfies ThreadMessage),
    });
    // performance.now() counts from each thread's own start.
    const shift = performance.timeOrigin - timeOrigin;
    for (let i = 0; i < result.accepted; i++) result.acceptedAt[i] = result.acceptedAt[i]! + shift;
    port.postMessage({ type: 'done', result } satisfies ThreadMessage);
  } catch (e) {
    port.postMessage({ type: 'failed', message: (e as Error).message } satisfies ThreadMessage);
  }
}

if (!isMainThread && parentPort && (workerData as Partial<ThreadData> | undefined)?.loadSpec) void threadMain(parentPort, workerData as ThreadData);
