/**
 * spool/writer-thread — the worker side of spool/writer.ts. It opens its own connection
 * (same file, same pragmas: WAL, synchronous=FULL) and runs the SqliteStore's own write
 * code for each request, one at a time, in the order they were posted.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { openDatabase } from './db.js';
import { SqliteStore } from './sqlite-store.js';
import { createRules } from './default-rules.js';
import type { IncomingMessage } from './types-queue.js';
import type { WriterReply, WriterRequest } from './writer.js';

const port = parentPort;
if (!port) throw new Error('spool/writer-thread must run as a worker thread');
const data = workerData as { dataDir: string; timeZone?: string; nodeId: string };
// The same rules openStore gives the main thread's store (a function cannot cross to this thread, so it builds
// them), and the same node as the store that started it: its claims are that node's.
const store = new SqliteStore(openDatabase(data.dataDir), { timeZone: data.timeZone, nodeId: data.nodeId, rules: createRules({ timeZone: data.timeZone }) });
const side = store.writerSide();

/** Structured cloning turns Buffers into Uint8Arrays; SQLite binds only Buffers as BLOBs. */
function withBuffers<M extends Pick<IncomingMessage, 'chunks'>>(batch: readonly M[]): M[] {
  return batch.map((m) => ({ ...m, chunks: m.chunks.map((c) => Buffer.from(c.buffer, c.byteOffset, c.byteLength)) }));
}

function run(r: WriterRequest): unknown {
  switch (r.op) {
    case 'intake': return side.intake(withBuffers(r.batch), r.granted);
    case 'queue': return side.queue(r.batch);
    case 'claim': return side.claim(r.req);
    case 'taskChunk': return side.taskChunk({ ...r.chunk, messages: withBuffers(r.chunk.messages) });
    case 'throttle': return side.throttle(r.call);
    case 'close': return undefined;
  }
}

port.on('message', (r: WriterRequest) => {
  let reply: WriterReply;
  try {
    reply = { id: r.id, ok: true, result: run(r), enqueued: side.takeEnqueued() };
  } catch (e) {
    const err = e as { name?: string; message?: string; code?: unknown };
    // Rolled back: whatever the transaction had enqueued is gone with it; the count is reset and not reported.
    side.takeEnqueued();
    reply = {
      id: r.id, ok: false, enqueued: 0,
      error: { name: err.name ?? 'Error', message: err.message ?? String(e), ...(typeof err.code === 'string' ? { code: err.code } : {}) },
    };
  }
  port.postMessage(reply);
  if (r.op === 'close') {
    store.closeConnection();
    port.close();
  }
});
