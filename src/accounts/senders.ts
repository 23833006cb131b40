/**
 * accounts/senders — sender addresses on our domains, their type (trigger = transactional
 * lane, batch = bulk lane) and their SMTP password, kept only as a scrypt hash.
 * `verifyLogin` is the AUTH check the submission listener uses. The CLI and the admin API
 * both manage senders through this class.
 */
import { randomBytes, scrypt as scryptCb, timingSafeEqual, type ScryptOptions } from 'node:crypto';
import type { Store, SenderRecord, SenderType } from '../spool/types.js';
import { canonicalAddress, parseAddress } from '../util/address.js';
import { MtaError } from '../util/errors.js';

const N = 16384, R = 8, P = 1, KEYLEN = 32;

function scrypt(password: string, salt: Buffer, keylen: number, opts: ScryptOptions): Promise<Buffer> {
  return new Promise((resolve, reject) => scryptCb(password, salt, keylen, opts, (e, k) => (e ? reject(e) : resolve(k))));
}

/** Format: scrypt$N$r$p$salt(base64)$hash(base64) — parameters travel with the hash. */
export async function hashPassword(password: string): Promise<string> {
  const salt = randomBytes(16);
  const key = await scrypt(password, salt, KEYLEN, { N, r: R, p: P });
  return `scrypt$${N}$${R}$${P}$${salt.toString('base64')}$${key.toString('base64')}`;
}

export async function verifyPassword(password: string, stored: string): Promise<boolean> {
  const parts = stored.split('$');
  if (parts.length !== 6 || parts[0] !== 'scrypt') return false;
  const [, n, r, p, saltB64, hashB64] = parts as [string, string, string, string, string, string];
  const expected = Buffer.from(hashB64, 'base64');
  const key = await scrypt(password, Buffer.from(saltB64, 'base64'), expected.length, {
    N: Number(n), r: Number(r), p: Number(p), maxmem: 64 * 1024 * 1024,
  });
  return key.length === expected.length && timingSafeEqual(key, expected);
}

export function checkPasswordStrength(password: string): void {
  if (password.length < 8) throw new MtaError('MTA_ERR_INVALID', 'password must have at least 8 characters', 'password');
  if (password.length > 512) throw new MtaError('MTA_ERR_INVALID', 'password must have at most 512 characters', 'password');
}

export interface AddSenderInput {
  address: string;
  type: SenderType;
  replyTo?: string | undefined;
  password?: string | undefined;
}

export class Senders {
  // A dummy hash so that a login for an unknown user costs the same time as a real one.
  private dummyHash: Promise<string> | undefined;

  constructor(private readonly store: Store) {}

  async add(input: AddSenderInput): Promise<SenderRecord> {
    const address = canonicalAddress(input.address);
    if (!address) throw new MtaError('MTA_ERR_INVALID', `"${input.address}" is not a valid address`, 'address');
    const domain = address.slice(address.indexOf('@') + 1);
    if (!(await this.store.getDomain(domain))) {
      throw new MtaError('MTA_ERR_NOT_FOUND', `domain ${domain} is not a sending domain; add it first with "mta domain add ${domain}"`, 'address');
    }
    let replyTo: string | null = null;
    if (input.replyTo !== undefined) {
      const r = parseAddress(input.replyTo);
      if (!r) throw new MtaError('MTA_ERR_INVALID', `"${input.replyTo}" is not a valid reply-to address`, 'reply_to');
      replyTo = r.address;
    }
    if (input.password !== undefined) checkPasswordStrength(input.password);
    const rec: SenderRecord = {
      address, domain, type: input.type, replyTo,
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

  /** The sender if the login is right; undefined otherwise (same cost either way). */
  async verifyLogin(username: string, password: string): Promise<SenderRecord | undefined> {
    const s = await this.find(username);
    if (!s || !s.passwordHash) {
      this.dummyHash ??= hashPassword('not a real password');
      await verifyPassword(password, await this.dummyHash);
      return undefined;
    }
    return (await verifyPassword(password, s.passwordHash)) ? s : undefined;
  }
}
