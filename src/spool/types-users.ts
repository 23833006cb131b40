/**
 * spool/types-users — what the web console's sign-in (accounts/users.ts, admin/session.ts)
 * needs from the spool: console users with their role and scrypt password hash, and their
 * sessions. A session is stored by the SHA-256 of its cookie value only, so the database
 * never holds anything a browser could present.
 */

export const USER_ROLES = ['admin', 'operator', 'viewer'] as const;
export type UserRole = (typeof USER_ROLES)[number];

export interface ConsoleUserRecord {
  name: string;
  role: UserRole;
  /** scrypt$N$r$p$salt$hash (accounts/senders.ts hashPassword) */
  passwordHash: string;
  createdAt: number;
  passwordChangedAt: number;
}

export interface SessionRecord {
  /** SHA-256 (hex) of the cookie value */
  idHash: string;
  user: string;
  createdAt: number;
  lastSeenAt: number;
}

export interface UserStore {
  /** Throws MTA_ERR_EXISTS when the name is taken. */
  addUser(u: ConsoleUserRecord): Promise<void>;
  getUser(name: string): Promise<ConsoleUserRecord | undefined>;
  listUsers(): Promise<ConsoleUserRecord[]>;
  /** Removes the user and every session of theirs; false when there was none. */
  removeUser(name: string): Promise<boolean>;
  /** Sets the hash and ends every session of the user; false when there is no such user. */
  setUserPassword(name: string, passwordHash: string, now: number): Promise<boolean>;
  /** Sets the role (sessions keep going: each request reads the role anew); false when there is no such user. */
  setUserRole(name: string, role: UserRole): Promise<boolean>;
  addSession(s: SessionRecord): Promise<void>;
  getSession(idHash: string): Promise<SessionRecord | undefined>;
  touchSession(idHash: string, now: number): Promise<void>;
  removeSession(idHash: string): Promise<void>;
  /** Removes sessions last seen before `idleBefore` or made before `createdBefore`; how many. */
  purgeSessions(idleBefore: number, createdBefore: number): Promise<number>;
}
