/**
 * suite — the store conformance suite's frame: every test in test/store/ runs once per
 * backend factory in BACKENDS, through the Store contract only (test/store-boundary.test.ts
 * keeps it so). A backend joins the suite by adding one factory here; whatever it needs to
 * reach past the contract (to make its disk full, say) lives in its factory's hooks.
 */
import t, { type Test } from 'tap';
import type { OpenStore } from '../../src/spool/index.js';
import type { IncomingMessage, QueueEntry, RecipientOutcome } from '../../src/spool/types-queue.js';
import type { Store } from '../../src/spool/types.js';
import { newQueueId } from '../../src/util/ids.js';
import { pgFactory } from '../helpers/postgres.js';
import { sqliteFactory } from '../helpers/spool-backend.js';

type Undo = () => void | Promise<void>;

/** One empty storage; every store opened on it sees the same data, as nodes of one cluster do. */
export interface Storage {
  /** A store on this storage, claiming as node `nodeId`: a second one plays another node. */
  open(nodeId: string): OpenStore | Promise<OpenStore>;
  /** From now on, a write of `store` that needs more room fails as on a full disk; the undo gives room again. */
  fillDisk(store: Store): Undo | Promise<Undo>;
  /** Another writer holds the storage's write lock, and `store` does not wait for it; the undo lets go. */
  holdWriteLock(store: Store): Undo | Promise<Undo>;
  /** The backend refuses (aborts) the write of an outcome whose reply is `reply`, in `store`'s transactions. */
  failOutcome(store: Store, reply: string): Undo | Promise<Undo>;
  /** Drops the storage (after every store on it is closed). */
  remove(): void | Promise<void>;
}

export interface StoreFactory {
  name: string;
  fresh(): Storage | Promise<Storage>;
  /** Why this backend cannot pass the test titled so yet (a port not done): the test is listed as todo, not run. */
  todo?(title: string): string | undefined;
}

/** The backends the suite runs against. */
export const BACKENDS: readonly StoreFactory[] = [sqliteFactory, pgFactory];

export interface Suite { storage: Storage; open(nodeId?: string): Promise<OpenStore> }

/** `fn` once per backend, on a fresh storage; its stores are closed and the storage dropped afterwards. */
export function conformance(title: string, fn: (t: Test, s: Suite) => Promise<void>): void {
  for (const factory of BACKENDS) {
    const todo = factory.todo?.(title);
    // Listed, with the reason, so a missing port shows in every run instead of vanishing.
    if (todo) { t.test(`${factory.name}: ${title}`, { todo }, () => undefined); continue; }
    t.test(`${factory.name}: ${title}`, async (t) => {
      const storage = await factory.fresh();
      const opened: OpenStore[] = [];
      t.teardown(async () => {
        await Promise.allSettled(opened.map((s) => s.close()));
        await storage.remove();
      });
      await fn(t, { storage, open: async (nodeId = 'node-a') => { const s = await storage.open(nodeId); opened.push(s); return s; } });
    });
  }
}

/** A message as intake hands it over: one body chunk, `rcpts` on the trigger lane. */
export function incoming(rcpts: readonly string[], extra: Partial<IncomingMessage> = {}): IncomingMessage {
  const body = Buffer.from('Subject: x\r\n\r\nhi\r\n');
  return {
    id: newQueueId(), receivedAt: Date.now(), sender: 'app@example.com', authUser: 'app@example.com', clientIp: '127.0.0.1',
    helo: 'c', messageId: '<x@y>', subject: 'x', size: body.length, lane: 'trigger', tag: null, chunks: [body], recipients: [...rcpts], ...extra,
  };
}

/** An outcome for a claimed recipient. */
export function outcome(e: QueueEntry, kind: RecipientOutcome['kind'], at: number, extra: Partial<RecipientOutcome> = {}): RecipientOutcome {
  return {
    recipientId: e.recipientId, queueId: e.queueId, kind, at, reply: kind === 'delivered' ? '250 ok' : '550 5.1.1 no such user', attempted: true,
    detail: { status: kind === 'delivered' ? 0 : 5 }, ...(kind === 'deferred' ? { nextAttemptAt: at + 60_000, reply: '451 4.7.1 later' } : {}), ...extra,
  };
}

/** Each recipient's state, by address. */
export async function states(store: Store): Promise<Record<string, string>> {
  return Object.fromEntries((await store.listQueue({ limit: 100_000 })).map((e) => [e.rcpt, e.state]));
}
