/**
 * helpers/allocation — bytes allocated per call of `fn`, garbage included, counted with V8's
 * sampling heap profiler (the same one bench/alloc-probe.ts uses). Warmed up first so the
 * code is optimised as in the daemon; many calls so the sampling evens out. Allocation is
 * what keeps a thread's scavenger busy, and unlike time it does not depend on the machine.
 */
import { Session } from 'node:inspector';

interface Node { selfSize: number; children: Node[] }

export async function bytesPerCall(fn: () => Promise<unknown>, calls: number, warmup = 300): Promise<number> {
  for (let i = 0; i < warmup; i++) await fn();
  const session = new Session();
  session.connect();
  const post = <R>(method: string, params?: object): Promise<R> =>
    new Promise((resolve, reject) => session.post(method, params, (e, r) => (e ? reject(e) : resolve(r as R))));
  try {
    await post('HeapProfiler.startSampling', { samplingInterval: 128, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: true });
    for (let i = 0; i < calls; i++) await fn();
    const { profile } = await post<{ profile: { head: Node } }>('HeapProfiler.stopSampling');
    const sum = (node: Node): number => node.children.reduce((s, c) => s + sum(c), node.selfSize);
    return sum(profile.head) / calls;
  } finally {
    session.disconnect();
  }
}
