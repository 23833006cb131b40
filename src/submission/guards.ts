/**
 * submission/guards — per-client protection that smtp-server lacks: the allowlist, a cap
 * on concurrent connections per IP, and the failed-login throttle. Failures are counted
 * twice, per client IP and per target account (the AUTH username), each in a sliding
 * window; reaching the limit on either starts a cooling-off period: the IP gets 421 at
 * connect and on AUTH, the account gets 421 on AUTH from anywhere.
 *
 * Must never: let a successful login forgive failures against another account (an
 * attacker interleaving logins to its own account would never be throttled), or grow
 * without bound: state is in memory and old entries are swept.
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

interface Failure { at: number; account: string }

/**
 * Failures per key (an IP or an account) in a sliding window, and the keys cooling off.
 * Each failure remembers the account it was against, so a success clears only those.
 */
export class FailureWindow {
  readonly failures = new Map<string, Failure[]>();
  readonly cooling = new Map<string, number>();

  constructor(private readonly settings: () => GuardSettings, private readonly now: () => number) {}

  isCoolingOff(key: string): boolean {
    const until = this.cooling.get(key);
    if (until === undefined) return false;
    if (until > this.now()) return true;
    this.cooling.delete(key);
    return false;
  }

  /** Records a failure; true when `key` has now reached the limit and must cool off. */
  record(key: string, account: string): boolean {
    const s = this.settings();
    const t = this.now();
    const since = t - s.authFailureWindowMs;
    const list = (this.failures.get(key) ?? []).filter((x) => x.at > since);
    list.push({ at: t, account });
    if (list.length >= s.authFailureLimit) {
      this.failures.delete(key);
      this.cooling.delete(key); // re-inserted, so the map stays in order of expiry
      this.cooling.set(key, t + s.authCooldownMs);
      // Keys that reach the limit leave `failures`, so that map alone never triggers a
      // sweep when each address of a large range (an IPv6 /64) fails and moves on.
      if (this.cooling.size > MAX_TRACKED_IPS) this.sweep();
      return true;
    }
    this.failures.set(key, list);
    if (this.failures.size > MAX_TRACKED_IPS) this.sweep();
    return false;
  }

  /** Forgets the failures of `key` that were against `account`; the others stay counted. */
  forgive(key: string, account: string): void {
    const list = this.failures.get(key);
    if (!list) return;
    const rest = list.filter((x) => x.account !== account);
    if (rest.length === 0) this.failures.delete(key); else this.failures.set(key, rest);
  }

  private sweep(): void {
    const since = this.now() - this.settings().authFailureWindowMs;
    for (const [key, list] of this.failures) if (!list.some((x) => x.at > since)) this.failures.delete(key);
    // Still too many: drop the oldest half rather than grow without bound.
    if (this.failures.size > MAX_TRACKED_IPS) {
      let drop = this.failures.size / 2;
      for (const key of this.failures.keys()) { if (drop-- <= 0) break; this.failures.delete(key); }
    }
    for (const [key, until] of this.cooling) if (until <= this.now()) this.cooling.delete(key);
    // Likewise for cooling-off entries: under such a flood the oldest ones end early.
    if (this.cooling.size > MAX_TRACKED_IPS) {
      let drop = this.cooling.size / 2;
      for (const key of this.cooling.keys()) { if (drop-- <= 0) break; this.cooling.delete(key); }
    }
  }
}

/** The account a login names, as counted: case-insensitive, bounded. */
export function accountKey(username: string): string {
  return username.trim().toLowerCase().slice(0, 320);
}

export class ClientGuards {
  private readonly connections = new Map<string, number>();
  readonly ips: FailureWindow;
  readonly accounts: FailureWindow;

  constructor(private settings: GuardSettings, now: () => number = Date.now) {
    this.ips = new FailureWindow(() => this.settings, now);
    this.accounts = new FailureWindow(() => this.settings, now);
  }

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

  isCoolingOff(ip: string): boolean { return this.ips.isCoolingOff(ip); }

  /** True while `username` may not log in from anywhere (too many recent failures against it). */
  isAccountCoolingOff(username: string): boolean { return this.accounts.isCoolingOff(accountKey(username)); }

  /** Records a failed login; which limit it reached ('ip' first: that one disconnects), if any. */
  recordAuthFailure(ip: string, username = ''): 'ip' | 'account' | undefined {
    const account = accountKey(username);
    const byIp = this.ips.record(ip, account);
    const byAccount = this.accounts.record(account, account);
    return byIp ? 'ip' : byAccount ? 'account' : undefined;
  }

  /** A success forgives only this account's failures, from this IP and in its own count. */
  recordAuthSuccess(ip: string, username = ''): void {
    const account = accountKey(username);
    this.ips.forgive(ip, account);
    this.accounts.forgive(account, account);
  }
}
