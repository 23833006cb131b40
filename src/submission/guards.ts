/**
 * submission/guards — per-client-IP protection that smtp-server lacks: the allowlist,
 * a cap on concurrent connections per IP, and the failed-login throttle (a sliding
 * window of failures, then a cooling-off period during which the IP gets 421).
 * State is in memory and bounded: old entries are swept.
 */
import type { IpSet } from '../util/ipset.js';

export interface GuardSettings {
  allowedIps: IpSet;
  maxConnectionsPerIp: number;
  authFailureLimit: number;
  authFailureWindowMs: number;
  authCooldownMs: number;
}

export const MAX_TRACKED_IPS = 100_000;

export class ClientGuards {
  private readonly connections = new Map<string, number>();
  private readonly failures = new Map<string, number[]>();
  private readonly cooling = new Map<string, number>();

  constructor(private settings: GuardSettings, private readonly now: () => number = Date.now) {}

  update(settings: GuardSettings): void { this.settings = settings; }

  isAllowed(ip: string): boolean {
    return this.settings.allowedIps.empty || this.settings.allowedIps.has(ip);
  }

  /** Registers a connection; false when the IP is over its cap (nothing registered). */
  openConnection(ip: string): boolean {
    const n = this.connections.get(ip) ?? 0;
    if (n >= this.settings.maxConnectionsPerIp) return false;
    this.connections.set(ip, n + 1);
    return true;
  }

  closeConnection(ip: string): void {
    const n = (this.connections.get(ip) ?? 1) - 1;
    if (n <= 0) this.connections.delete(ip); else this.connections.set(ip, n);
  }

  isCoolingOff(ip: string): boolean {
    const until = this.cooling.get(ip);
    if (until === undefined) return false;
    if (until > this.now()) return true;
    this.cooling.delete(ip);
    return false;
  }

  /** Records a failed login; true when the IP has now reached the limit and must cool off. */
  recordAuthFailure(ip: string): boolean {
    const t = this.now();
    const since = t - this.settings.authFailureWindowMs;
    const list = (this.failures.get(ip) ?? []).filter((x) => x > since);
    list.push(t);
    if (list.length >= this.settings.authFailureLimit) {
      this.failures.delete(ip);
      this.cooling.delete(ip); // re-inserted, so the map stays in order of expiry
      this.cooling.set(ip, t + this.settings.authCooldownMs);
      // Addresses that reach the limit leave `failures`, so that map alone never triggers a
      // sweep when each address of a large range (an IPv6 /64) fails and moves on.
      if (this.cooling.size > MAX_TRACKED_IPS) this.sweep();
      return true;
    }
    this.failures.set(ip, list);
    if (this.failures.size > MAX_TRACKED_IPS) this.sweep();
    return false;
  }

  recordAuthSuccess(ip: string): void { this.failures.delete(ip); }

  private sweep(): void {
    const since = this.now() - this.settings.authFailureWindowMs;
    for (const [ip, list] of this.failures) if (!list.some((x) => x > since)) this.failures.delete(ip);
    // Still too many: drop the oldest half rather than grow without bound.
    if (this.failures.size > MAX_TRACKED_IPS) {
      let drop = this.failures.size / 2;
      for (const ip of this.failures.keys()) { if (drop-- <= 0) break; this.failures.delete(ip); }
    }
    for (const [ip, until] of this.cooling) if (until <= this.now()) this.cooling.delete(ip);
    // Likewise for cooling-off entries: under such a flood the oldest ones end early.
    if (this.cooling.size > MAX_TRACKED_IPS) {
      let drop = this.cooling.size / 2;
      for (const ip of this.cooling.keys()) { if (drop-- <= 0) break; this.cooling.delete(ip); }
    }
  }
}
