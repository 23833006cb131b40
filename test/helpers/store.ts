/**
 * store — a store for a test, opened the way the program opens one (spool/index.ts
 * openStore), on a data dir of the test's own: backend-neutral, errors mapped.
 */
import { openStore, type OpenStore } from '../../src/spool/index.js';

export function openTestStore(dataDir: string, opts: { timeZone?: string | undefined; writerThread?: boolean; nodeId?: string } = {}): OpenStore {
  return openStore({ dataDir, timeZone: opts.timeZone ?? 'UTC', spool: { commitWindowMs: 0, maxCommitBatch: 64, writerThread: false }, storage: { nodeId: opts.nodeId } },
    { writerThread: opts.writerThread ?? false });
}
