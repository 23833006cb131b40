/**
 * delivery/source-shaping — the limits of `[[delivery.shaping]]` entries that name egress
 * sources or pools (`egress = [...]`): such an entry governs only mail leaving from those
 * sources, and counts its limits per source and destination: `max_connections` sessions
 * from one source to the destination at once, `max_messages_per_second` per source. Entries
 * without `egress` keep governing the destination as a whole (scheduler/destination.ts).
 * It also counts each source's connections being opened, which the selector's limits see,
 * and the sessions each source holds per destination (kept here, not on the scheduler's
 * destination: they are delivery's own bookkeeping).
 * Must never: hold a session or decide which source is used (delivery/egress.ts does).
 */
import type { DeliveryDestination as Destination } from '../scheduler/destination.js';
import { Pacer } from '../scheduler/destination.js';
import type { Router } from './router.js';
import type { SessionTarget, SmtpSession } from './transport.js';
import type { AttemptContext } from './outcome.js';

export class SourceShaping {
  private readonly pacers = new Map<string, Pacer>();
  /** connections being opened per egress source (not yet live sessions) */
  private readonly openingFrom = new Map<string, number>();
  /** sessions in use (counted from before connecting) per destination and egress source */
  private readonly sessions = new Map<string, number>();

  constructor(private readonly router: Pick<Router, 'shapingFor'>) {}

  /** After a reload: entries may have new rates. */
  clear(): void { this.pacers.clear(); }

  /** Whether a source is at its entry's connection limit to `dest` (`holding`: the caller's own session's source, not counted). */
  full(dest: Destination, mxNames: readonly string[], holding: string | undefined): (source: string) => boolean {
    return (name) => {
      const max = this.router.shapingFor(dest.domain, mxNames, name)?.maxConnections;
      return max !== undefined && (this.sessions.get(sessionsKey(dest, name)) ?? 0) - (name === holding ? 1 : 0) >= max;
    };
  }

  /** A connection from `source` to `dest` picked (+1), then opened or failed (-1): it counts toward both limits meanwhile. */
  opening(dest: Destination, source: string, delta: 1 | -1): void {
    this.countSession(dest, source, delta);
    this.openingFrom.set(source, (this.openingFrom.get(source) ?? 0) + delta);
  }

  /** A session from `source` to `dest` held (+1) or given up (-1), for the entry's max_connections. */
  countSession(dest: Destination, source: string, delta: 1 | -1): void {
    const key = sessionsKey(dest, source);
    const n = (this.sessions.get(key) ?? 0) + delta;
    if (n > 0) this.sessions.set(key, n); else this.sessions.delete(key);
  }

  /** A source's connections in use: being opened, or live sessions (idle pooled ones do not count). */
  inUse(source: string, live: Iterable<SmtpSession>): number {
    let n = this.openingFrom.get(source) ?? 0;
    for (const s of live) if (s.target.source?.name === source) n++;
    return n;
  }

  /** Milliseconds the next message from this session must wait for its source's pace (its slot reserved). */
  wait(dest: Destination, t: SessionTarget, now: number): number {
    if (!t.source) return 0;
    const entry = this.router.shapingFor(dest.domain, [t.hostName], t.source.name);
    if (!entry?.maxMessagesPerSecond) return 0;
    const key = `${entry.name}|${t.source.name}`;
    let p = this.pacers.get(key);
    if (!p) { p = new Pacer(entry.maxMessagesPerSecond); this.pacers.set(key, p); }
    return p.reserve(now);
  }
}

function sessionsKey(dest: Destination, source: string): string { return `${dest.domain}\u0000${source}`; }

/** Where an attempt went, for its outcome's detail: MX host, address and the egress source it left from. */
export function whereOf(hop: SessionTarget | undefined): Omit<AttemptContext, 'at' | 'durationMs'> {
  return {
    mx: hop?.hostName ?? null, ip: hop?.address ?? null, tls: null,
    ...(hop?.source ? { source: { name: hop.source.name, address: hop.source.address } } : {}),
  };
}

/** The provider a warm-up cap counts against: the shaping entry when one matches, else the recipient domain. */
export function providerOf(dest: Destination): string { return dest.shaping?.name ?? dest.domain; }
