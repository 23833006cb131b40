/**
 * accounts/login-cache — logins verified lately, so an application that opens a new SMTP
 * session per message (or twenty at once after a restart) pays scrypt once an hour, not
 * once per session: Dovecot's auth cache, positive entries only.
 *
 * An entry is a keyed hash (HMAC-SHA256 under a key made at start and never stored) of the
 * user, the stored password hash and the password. So:
 * - a changed password (a new stored hash) or a removed sender never matches an old entry;
 * - a wrong password is never cached and always costs a full scrypt;
 * - nothing here is the password or usable without this process's key.
 * Logins for the same entry arriving while it is being verified share that one check.
 */
import { createHmac, randomBytes } from 'node:crypto';

/** How long a verified login is trusted without scrypt (Dovecot's auth_cache_ttl default). */
export const LOGIN_CACHE_TTL_MS = 60 * 60 * 1000;
/** Entries kept at most; the least recently used go first. */
export const LOGIN_CACHE_MAX = 10_000;

export class LoginCache {
  private readonly key = randomBytes(32);
  /** entry → when it expires (Map order is the LRU order) */
  private readonly verified = new Map<string, number>();
  private readonly checking = new Map<string, Promise<boolean>>();

  constructor(private readonly ttlMs = LOGIN_CACHE_TTL_MS, private readonly max = LOGIN_CACHE_MAX, private readonly now: () => number = Date.now) {}

  get size(): number { return this.verified.size; }

  /** Whether `password` is right for `user` whose stored hash is `stored`; `check` runs scrypt when the cache cannot answer. */
  verify(user: string, stored: string, password: string, check: () => Promise<boolean>): Promise<boolean> {
    const entry = createHmac('sha256', this.key).update(user).update('\0').update(stored).update('\0').update(password).digest('base64');
    const until = this.verified.get(entry);
    if (until !== undefined) {
      this.verified.delete(entry);
      if (until > this.now()) { this.verified.set(entry, until); return Promise.resolve(true); }
    }
    const running = this.checking.get(entry);
    if (running) return running;
    const p = check().then((ok) => {
      if (ok) {
        this.verified.set(entry, this.now() + this.ttlMs);
        while (this.verified.size > this.max) this.verified.delete(this.verified.keys().next().value!);
      }
      return ok;
    }).finally(() => this.checking.delete(entry));
    this.checking.set(entry, p);
    return p;
  }
}
