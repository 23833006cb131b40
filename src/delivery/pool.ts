/**
 * delivery/pool — idle SMTP sessions kept per remote host, so the next message for the same
 * host (often another domain hosted by the same provider) skips TCP, TLS and EHLO. A
 * session goes back to the pool only while it is healthy and under the per-connection
 * message cap; an idle one is closed after `idleTimeoutMs`. Sessions of different egress
 * sources are never mixed up: the source is part of the key.
 */
import type { SessionTarget, SmtpSession } from './transport.js';

interface Idle { session: SmtpSession; timer: NodeJS.Timeout }

export function sessionKey(t: SessionTarget): string {
  return `${t.address}|${t.port}|${t.tls}|${t.requireTls ? 'req' : 'opp'}|${t.skipTls ? 'plain' : ''}|${t.verifyCertificate ? 'verified' : ''}|${t.auth?.user ?? ''}|${t.source?.name ?? ''}|${t.dane ? `dane:${t.hostName}` : ''}`;
}

export class SessionPool {
  private readonly idle = new Map<string, Idle[]>();
  /** sessions opened over the pool's life, for tests and metrics */
  opened = 0;

  constructor(private readonly opts: { idleTimeoutMs: number }) {}

  take(key: string): SmtpSession | undefined {
    const list = this.idle.get(key);
    while (list && list.length > 0) {
      const i = list.pop()!;
      clearTimeout(i.timer);
      if (list.length === 0) this.idle.delete(key);
      if (i.session.usable) return i.session;
      i.session.destroy();
    }
    return undefined;
  }

  put(session: SmtpSession, maxMessages: number): void {
    if (!session.usable || session.messages >= maxMessages) { session.close(); return; }
    const key = sessionKey(session.target);
    const list = this.idle.get(key) ?? [];
    const entry: Idle = {
      session,
      timer: setTimeout(() => {
        const l = this.idle.get(key);
        const at = l?.indexOf(entry) ?? -1;
        if (l && at >= 0) l.splice(at, 1);
        if (l && l.length === 0) this.idle.delete(key);
        session.close();
      }, this.opts.idleTimeoutMs),
    };
    entry.timer.unref();
    list.push(entry);
    this.idle.set(key, list);
  }

  get idleCount(): number {
    let n = 0;
    for (const l of this.idle.values()) n += l.length;
    return n;
  }

  closeAll(): void {
    for (const list of this.idle.values()) for (const i of list) { clearTimeout(i.timer); i.session.close(); }
    this.idle.clear();
  }
}
