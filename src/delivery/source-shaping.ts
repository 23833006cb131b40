/**
 * delivery/source-shaping — the limits of `[[delivery.shaping]]` entries that name egress
 * sources or pools (`egress = [...]`): such an entry governs only mail leaving from those
 * sources, and counts its limits per source and destination: `max_connections` sessions
 * from one source to the destination at once, `max_messages_per_second` per source. Entries
 * without `egress` keep governing the destination as a whole (scheduler/destination.ts).
 * It also counts each source's connections being opened, which the selector's limits see,
 * and the sessions each source holds per destination (kept here, not on the scheduler's
 * destination: they are delivery's own bookkeeping). Both limits hold for the whole
 * cluster too (scheduler/shared-limits.ts): a connection from a capped source takes one of
 * its slots in the store before it opens and gives it back when this worker lets the session
 * go, and the per-source pace is a row of the store. The in-memory counts stay the first,
 * free check, so a node never asks the store for what it knows is taken.
 * Must never: hold a session or decide which source is used (delivery/egress.ts does).
 */
import type { Logger } from 'pino';
import type { DeliveryDestination as Destination } from '../scheduler/destination.js';
import type { ThrottleStore } from '../spool/types-throttles.js';
import { paceKey, sharedPace, sourceSlotKey, type Pace } from '../scheduler/shared-limits.js';
import { Slots, type SlotLease } from '../scheduler/slots.js';
import type { Router } from './router.js';
import type { SessionTarget, SmtpSession } from './transport.js';
import type { AttemptContext } from './outcome.js';

export class SourceShaping {
  private readonly pacers = new Map<string, Pace>();
  private readonly slots: Slots;
  /** the cluster-wide slot each capped source's session holds */
  private readonly held = new Map<SmtpSession, SlotLease>();
  /** connections being opened per egress source (not yet live sessions) */
  private readonly openingFrom = new Map<string, number>();
  /** sessions in use (counted from before connecting) per destination and egress source */
  private readonly sessions = new Map<string, number>();

  constructor(private readonly router: Pick<Router, 'shapingFor'>, private readonly store: Pick<ThrottleStore, 'takeSlot' | 'releaseSlot' | 'readPace' | 'casPace'>,
    nodeId: string, log: Logger) {
    this.slots = new Slots(store, nodeId, log);
  }

  /**
   * A cluster-wide slot for a new connection from `source` to `dest` when its entry caps
   * them: null when every slot is held (by any node), undefined when no entry caps the source.
   */
  async takeSlot(dest: Destination, mxNames: readonly string[], source: string): Promise<SlotLease | null | undefined> {
    const max = this.router.shapingFor(dest.domain, mxNames, source)?.maxConnections;
    if (max === undefined) return undefined;
    return (await this.slots.take(sourceSlotKey(dest.domain, source), 'any', max, false, Date.now())) ?? null;
  }

  /** `session` holds `slot` until `letGo`. */
  hold(session: SmtpSession, slot: SlotLease | undefined): void { if (slot) this.held.set(session, slot); }

  /** This worker is done with `session`: its source slot goes back. */
  letGo(session: SmtpSession): void {
    const slot = this.held.get(session);
    if (!slot) return;
    this.held.delete(session);
    void slot.release();
  }

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

  /** Milliseconds the next message from this session must wait for its source's pace, kept for the cluster (its start reserved). */
  async wait(dest: Destination, t: SessionTarget, now: number): Promise<number> {
    if (!t.source) return 0;
    const entry = this.router.shapingFor(dest.domain, [t.hostName], t.source.name);
    if (!entry?.maxMessagesPerSecond) return 0;
    const key = paceKey(entry.name, t.source.name);
    let p = this.pacers.get(key);
    if (!p) { p = sharedPace(this.store, key, entry.maxMessagesPerSecond); this.pacers.set(key, p); }
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
