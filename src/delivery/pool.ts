/**
 * delivery/pool — idle SMTP sessions kept per remote host, so the next message for the same
 * host (often another domain hosted by the same provider) skips TCP, TLS and EHLO. A
 * session goes back to the pool only while it is healthy and under the per-connection
 * message cap; an idle one is closed after `idleTimeoutMs`. Sessions of different egress
 * sources are never mixed up: the source is part of the key.
 *
 * An idle session is still a connection the receiver counts, so a worker that ends puts its
 * session back with the destination's connection slot (scheduler/shared-limits.ts): the slot
 * is given up when the session leaves the pool — taken by a worker, which holds a slot of
 * its own, or closed (once the connection is gone, so no node opens another before the
 * receiver saw this one end). `evict` closes an idle session of a key to free its slot for a
 * worker of this node that found none.
 */
import type { SessionTarget, SmtpSession } from './transport.js';

/** A connection slot an idle session carries: its key and number, and how to give it up. */
export interface CarriedSlot { key: string; slot: number; release(): Promise<void> }

interface Idle { session: SmtpSession; timer: NodeJS.Timeout; slot: CarriedSlot | undefined }

/** The longest a slot waits for its closed session's connection to be gone. */
const CLOSE_WAIT_MS = 3000;

export function sessionKey(t: SessionTarget): string {
  return `${t.address}|${t.port}|${t.tls}|${t.requireTls ? 'req' : 'opp'}|${t.skipTls ? 'plain' : ''}|${t.verifyCertificate ? 'verified' : ''}|${t.auth?.user ?? ''}|${t.source?.name ?? ''}|${t.dane ? `dane:${t.hostName}` : ''}`;
}

/** Closes `session` and gives up `slot` once the connection is gone; settles then. */
function closeThenRelease(session: SmtpSession, slot: CarriedSlot | undefined): Promise<void> {
  session.close();
  if (!slot) return Promise.resolve();
  let timer: NodeJS.Timeout | undefined;
  const gone = Promise.race([session.ended, new Promise<void>((r) => { timer = setTimeout(r, CLOSE_WAIT_MS); timer.unref(); })]);
  return gone.then(() => { clearTimeout(timer); return slot.release(); });
}

export class SessionPool {
  private readonly idle = new Map<string, Idle[]>();
  /** sessions opened over the pool's life, for tests and metrics */
  opened = 0;

  constructor(private readonly opts: { idleTimeoutMs: number }) {}

  /** An idle session to `key`: one whose slot a worker adopted first (it is that worker's), else the last one put back. */
  take(key: string): SmtpSession | undefined {
    const list = this.idle.get(key);
    while (list && list.length > 0) {
      const adopted = list.findIndex((e) => e.slot === undefined);
      const i = adopted >= 0 ? list.splice(adopted, 1)[0]! : list.pop()!;
      clearTimeout(i.timer);
      if (list.length === 0) this.idle.delete(key);
      if (i.session.usable) { void i.slot?.release(); return i.session; }
      i.session.destroy();
      void i.slot?.release();
    }
    return undefined;
  }

  put(session: SmtpSession, maxMessages: number, slot?: CarriedSlot): void {
    if (!session.usable || session.messages >= maxMessages) { void closeThenRelease(session, slot); return; }
    const key = sessionKey(session.target);
    const list = this.idle.get(key) ?? [];
    const entry: Idle = {
      session, slot,
      timer: setTimeout(() => {
        this.remove(key, entry);
        void closeThenRelease(session, entry.slot);
      }, this.opts.idleTimeoutMs),
    };
    entry.timer.unref();
    list.push(entry);
    this.idle.set(key, list);
  }

  private remove(key: string, entry: Idle): void {
    const l = this.idle.get(key);
    const at = l?.indexOf(entry) ?? -1;
    if (l && at >= 0) l.splice(at, 1);
    if (l && l.length === 0) this.idle.delete(key);
  }

  /**
   * The slot of `slotKey` an idle session carries, for a worker about to start that may hold
   * it (`fits`): the session stays idle without it, and take() gives that session out first.
   * If the worker connects elsewhere after all, the session is one connection its slots do not
   * count, until a worker takes it or it times out.
   */
  adoptSlot(slotKey: string, fits: (slot: number) => boolean): CarriedSlot | undefined {
    for (const list of this.idle.values()) {
      const entry = list.find((i) => i.session.usable && i.slot?.key === slotKey && fits(i.slot.slot));
      if (!entry?.slot) continue;
      const slot = entry.slot;
      entry.slot = undefined;
      return slot;
    }
    return undefined;
  }

  /** Closes one idle session carrying a slot of `slotKey`; whether there was one (settles once its slot is free). */
  async evict(slotKey: string): Promise<boolean> {
    for (const [key, list] of this.idle) {
      const entry = list.find((i) => i.slot?.key === slotKey);
      if (!entry) continue;
      clearTimeout(entry.timer);
      this.remove(key, entry);
      await closeThenRelease(entry.session, entry.slot);
      return true;
    }
    return false;
  }

  get idleCount(): number {
    let n = 0;
    for (const l of this.idle.values()) n += l.length;
    return n;
  }

  /** Closes every idle session; settles when their slots are given back. */
  closeAll(): Promise<void> {
    const closing: Promise<void>[] = [];
    for (const list of this.idle.values()) for (const i of list) { clearTimeout(i.timer); closing.push(closeThenRelease(i.session, i.slot)); }
    this.idle.clear();
    return Promise.all(closing).then(() => undefined);
  }
}
