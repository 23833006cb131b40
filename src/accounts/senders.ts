/**
 * accounts/senders — sender addresses on our domains, their type (trigger = transactional
 * lane, batch = bulk lane) and their SMTP password, kept only as a scrypt hash (N=2^17,
 * r=8, p=1; older hashes verify with the parameters they record and are upgraded at the
 * next successful login).
 *
 * scrypt at these parameters takes 128 MiB and 100+ ms of one of libuv's four pool threads,
 * the threads file I/O also runs on (and, then, every DKIM signature). Measured then, a burst
 * of eight SMTP logins held every DKIM signature for half a second (bench/RESULTS.md): so one
 * scrypt runs at a time, process-wide (SCRYPT_GATE), and a login already verified is not
 * verified again while its entry lives (accounts/login-cache.ts). A DKIM thread now signs on
 * itself (delivery/dkim-thread.ts); only messages too large for it sign on the pool.
 *
 * `verifyLogin` is the AUTH check the submission listener uses. The CLI and the admin API
 * both manage senders through this class; a reply-to address is set through
 * accounts/reply-to.ts, which verifies it before it is used.
 */
import { randomBytes, scrypt as scryptCb, timingSafeEqual, type ScryptOptions } from 'node:crypto';
import type { Store } from '../spool/types.js';
import type { SenderRecord, SenderType } from '../spool/types-senders.js';
import { canonicalAddress } from '../util/address.js';
import { MtaError } from '../util/errors.js';
import { Gate } from '../util/gate.js';
import { LoginCache } from './login-cache.js';
import { metrics } from '../metrics/metrics.js';

export interface ScryptCost { N: number; r: number; p: number }

/** OWASP's current recommendation for scrypt (2^17 × 8 × 128 bytes = 128 MiB, ~100+ ms per hash). */
export const DEFAULT_COST: ScryptCost = { N: 2 ** 17, r: 8, p: 1 };
const KEYLEN = 32;
/** Tests only: a lower N, set explicitly (.taprc test-env); never set in production. */
export const TEST_COST_ENV = 'MTA_TEST_SCRYPT_N';
/** Stored parameters beyond these are refused rather than computed (a corrupt row must not take 8 GiB). */
const MAX_N = 2 ** 20, MAX_R = 32, MAX_P = 16;

/** The cost new hashes get: DEFAULT_COST, or N from MTA_TEST_SCRYPT_N (a power of two, 2^10 to 2^17). */
export function passwordCost(env: NodeJS.ProcessEnv = process.env): ScryptCost {
  const v = env[TEST_COST_ENV];
  if (v === undefined || v === '') return DEFAULT_COST;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1024 || n > DEFAULT_COST.N || (n & (n - 1)) !== 0) {
    throw new MtaError('MTA_ERR_CONFIG', `${TEST_COST_ENV}=${v}: must be a power of two from 1024 to ${DEFAULT_COST.N} (tests only; unset it)`);
  }
  return { ...DEFAULT_COST, N: n };
}

/** scrypt needs 128·N·r·p bytes; Node's default cap (32 MiB) is below what N = 2^17 needs. */
function maxmem(c: ScryptCost): number { return 128 * c.N * c.r * c.p + 1024 * 1024; }

/**
 * Every scrypt of the process (hashing and verifying; SMTP, console and CLI) passes here:
 * one at a time keeps three of libuv's pool threads for file I/O and for the signatures of
 * messages too large for a DKIM thread (delivery/dkim.ts), and bounds
 * scrypt's memory to one 128 MiB block instead of one per thread.
 */
export const SCRYPT_GATE = new Gate(1);

function scrypt(password: string, salt: Buffer, keylen: number, c: ScryptCost): Promise<Buffer> {
  const opts: ScryptOptions = { N: c.N, r: c.r, p: c.p, maxmem: maxmem(c) };
  metrics.passwordChecks.inc();
  return SCRYPT_GATE.run(() => new Promise<Buffer>((resolve, reject) => scryptCb(password, salt, keylen, opts, (e, k) => (e ? reject(e) : resolve(k)))))
    .finally(() => metrics.passwordChecks.dec());
}

/** Format: scrypt$N$r$p$salt(base64)$hash(base64) — parameters travel with the hash. */
export async function hashPassword(password: string, cost: ScryptCost = passwordCost()): Promise<string> {
  const salt = randomBytes(16);
  const key = await scrypt(password, salt, KEYLEN, cost);
  return `scrypt$${cost.N}$${cost.r}$${cost.p}$${salt.toString('base64')}$${key.toString('base64')}`;
}

interface ParsedHash { cost: ScryptCost; salt: Buffer; hash: Buffer }

function parseHash(stored: string): ParsedHash | undefined {
  const parts = stored.split('$');
  if (parts.length !== 6 || parts[0] !== 'scrypt') return undefined;
  const [, n, r, p, saltB64, hashB64] = parts as [string, string, string, string, string, string];
  const cost = { N: Number(n), r: Number(r), p: Number(p) };
  if (![cost.N, cost.r, cost.p].every((x) => Number.isInteger(x) && x > 0) || cost.N > MAX_N || cost.r > MAX_R || cost.p > MAX_P) return undefined;
  return { cost, salt: Buffer.from(saltB64, 'base64'), hash: Buffer.from(hashB64, 'base64') };
}

export async function verifyPassword(password: string, stored: string): Promise<boolean> {
  const h = parseHash(stored);
  if (!h || h.hash.length === 0) return false;
  const key = await scrypt(password, h.salt, h.hash.length, h.cost);
  return key.length === h.hash.length && timingSafeEqual(key, h.hash);
}

/** True when `stored` was made with a lower cost than new hashes get (never a downgrade). */
export function needsRehash(stored: string, cost: ScryptCost = passwordCost()): boolean {
  const h = parseHash(stored);
  if (!h) return false;
  return h.cost.N < cost.N || h.cost.r < cost.r || h.cost.p < cost.p || h.hash.length < KEYLEN;
}

export function checkPasswordStrength(password: string): void {
  if (password.length < 8) throw new MtaError('MTA_ERR_INVALID', 'password must have at least 8 characters', 'password');
  if (password.length > 512) throw new MtaError('MTA_ERR_INVALID', 'password must have at most 512 characters', 'password');
}

export interface AddSenderInput {
  address: string;
  type: SenderType;
  password?: string | undefined;
}

export class Senders {
  // A dummy hash so that a login for an unknown user costs the same time as a real one.
  private dummyHash: { cost: ScryptCost; hash: Promise<string> } | undefined;
  /** logins verified lately (never a failed one): an application reconnecting costs no scrypt */
  readonly logins = new LoginCache();

  constructor(private readonly store: Store) {}

  async add(input: AddSenderInput): Promise<SenderRecord> {
    const address = canonicalAddress(input.address);
    if (!address) throw new MtaError('MTA_ERR_INVALID', `"${input.address}" is not a valid address`, 'address');
    const domain = address.slice(address.indexOf('@') + 1);
    if (!(await this.store.getDomain(domain))) {
      throw new MtaError('MTA_ERR_NOT_FOUND', `domain ${domain} is not a sending domain; add it first with "mta domain add ${domain}"`, 'address');
    }
    if (input.password !== undefined) checkPasswordStrength(input.password);
    const rec: SenderRecord = {
      address, domain, type: input.type, replyTo: null,
      passwordHash: input.password !== undefined ? await hashPassword(input.password) : null,
      disabled: false, createdAt: Date.now(),
    };
    await this.store.addSender(rec);
    return rec;
  }

  async get(address: string): Promise<SenderRecord> {
    const s = await this.store.getSender(canonicalAddress(address) ?? address);
    if (!s) throw new MtaError('MTA_ERR_NOT_FOUND', `no sender ${address}`, 'address');
    return s;
  }

  find(address: string): Promise<SenderRecord | undefined> {
    return this.store.getSender(canonicalAddress(address) ?? address);
  }

  list(domain?: string): Promise<SenderRecord[]> { return this.store.listSenders(domain); }

  async setPassword(address: string, password: string): Promise<void> {
    checkPasswordStrength(password);
    const s = await this.get(address);
    await this.store.setSenderPassword(s.address, await hashPassword(password));
  }

  /** A disabled sender is refused at MAIL FROM and by the send API with 551; its settings stay. */
  async setDisabled(address: string, disabled: boolean): Promise<SenderRecord> {
    const s = await this.get(address);
    await this.store.setSenderDisabled(s.address, disabled);
    return { ...s, disabled };
  }

  async remove(address: string): Promise<void> {
    const s = await this.get(address);
    await this.store.removeSender(s.address);
  }

  /**
   * The sender if the login is right; undefined otherwise (same cost either way: an unknown
   * user is verified against a dummy hash made with the current parameters). A right
   * password stored with older, cheaper parameters is hashed again with the current ones.
   */
  async verifyLogin(username: string, password: string): Promise<SenderRecord | undefined> {
    const s = await this.find(username);
    if (!s || !s.passwordHash) {
      const cost = passwordCost();
      if (!this.dummyHash || this.dummyHash.cost.N !== cost.N) this.dummyHash = { cost, hash: hashPassword('not a real password', cost) };
      await verifyPassword(password, await this.dummyHash.hash);
      return undefined;
    }
    const stored = s.passwordHash;
    if (!(await this.logins.verify(s.address, stored, password, () => verifyPassword(password, stored)))) return undefined;
    if (needsRehash(stored)) await this.rehash(s, password);
    return s;
  }

  /**
   * Stores the password hashed with the current parameters, unless the hash changed
   * meanwhile (a password set while this login was verified wins). A failure is not the
   * login's: the old hash still works and the next login tries again.
   */
  private async rehash(s: SenderRecord, password: string): Promise<void> {
    try {
      await this.store.setSenderPassword(s.address, await hashPassword(password), s.passwordHash ?? undefined);
    } catch { /* tried again at the next login */ }
  }
}
