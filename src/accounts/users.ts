/**
 * accounts/users — the web console's users: a name, a role (admin, operator, viewer) and a
 * password kept only as a scrypt hash, made and checked as for SMTP senders
 * (accounts/senders.ts). The CLI (`mta user`) and the admin API both go through this class.
 *
 * Must never: keep or log a password, or take less time to refuse an unknown name than a
 * wrong password (a dummy hash is verified instead).
 */
import type { Store } from '../spool/types.js';
import { USER_ROLES, type ConsoleUserRecord, type UserRole } from '../spool/types-users.js';
import { MtaError } from '../util/errors.js';
import { checkPasswordStrength, hashPassword, passwordCost, verifyPassword, type ScryptCost } from './senders.js';

const NAME = /^[a-z0-9][a-z0-9._@-]{0,63}$/;

export function checkUserName(name: string): string {
  const n = name.trim().toLowerCase();
  if (!NAME.test(n)) throw new MtaError('MTA_ERR_INVALID', `"${name}" is not a valid user name: 1-64 letters, digits or . _ @ -, starting with a letter or digit`, 'name');
  return n;
}

export function parseRole(role: string): UserRole {
  if (!(USER_ROLES as readonly string[]).includes(role)) throw new MtaError('MTA_ERR_INVALID', `role must be one of ${USER_ROLES.join(', ')}`, 'role');
  return role as UserRole;
}

export class Users {
  private dummy: { cost: ScryptCost; hash: Promise<string> } | undefined;

  constructor(private readonly store: Store) {}

  async add(name: string, role: string, password: string): Promise<ConsoleUserRecord> {
    const n = checkUserName(name);
    const r = parseRole(role);
    checkPasswordStrength(password);
    const now = Date.now();
    const u: ConsoleUserRecord = { name: n, role: r, passwordHash: await hashPassword(password), createdAt: now, passwordChangedAt: now };
    await this.store.addUser(u);
    return u;
  }

  list(): Promise<ConsoleUserRecord[]> { return this.store.listUsers(); }

  async get(name: string): Promise<ConsoleUserRecord> {
    const u = await this.store.getUser(name.trim().toLowerCase());
    if (!u) throw new MtaError('MTA_ERR_NOT_FOUND', `no user ${name}`, 'name');
    return u;
  }

  async remove(name: string): Promise<void> {
    const u = await this.get(name);
    await this.store.removeUser(u.name);
  }

  /** A new password ends every session of the user. */
  async setPassword(name: string, password: string): Promise<void> {
    checkPasswordStrength(password);
    const u = await this.get(name);
    await this.store.setUserPassword(u.name, await hashPassword(password), Date.now());
  }

  /** The role applies from the user's next request on (sessions read it anew each time). */
  async setRole(name: string, role: string): Promise<ConsoleUserRecord> {
    const r = parseRole(role);
    const u = await this.get(name);
    await this.store.setUserRole(u.name, r);
    return { ...u, role: r };
  }

  /** The user when the password is right, else undefined (at the same cost for an unknown name). */
  async verify(name: string, password: string): Promise<ConsoleUserRecord | undefined> {
    const u = await this.store.getUser(name.trim().toLowerCase());
    if (!u) {
      const cost = passwordCost();
      if (!this.dummy || this.dummy.cost.N !== cost.N) this.dummy = { cost, hash: hashPassword('not a real password', cost) };
      await verifyPassword(password, await this.dummy.hash);
      return undefined;
    }
    return (await verifyPassword(password, u.passwordHash)) ? u : undefined;
  }
}
