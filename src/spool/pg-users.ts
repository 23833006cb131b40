/**
 * spool/pg-users — console users and their sessions on PostgreSQL (contract: types-users.ts),
 * answered as SQLite's (sqlite-users.ts); a session goes with its user (foreign key, and
 * removed with a password change). The session's user column is user_name ("user" is
 * reserved). Must never: decide whether a password or a session is valid
 * (accounts/users.ts, admin/session.ts do).
 */
import { MtaError } from '../util/errors.js';
import { isUniqueViolation, num } from './pg-facts.js';
import type { PgPool } from './pg-pool.js';
import { inTransaction } from './pg-tx.js';
import type { ConsoleUserRecord, SessionRecord, UserRole, UserStore } from './types-users.js';

function toUser(r: Record<string, unknown>): ConsoleUserRecord {
  return {
    name: String(r['name']), role: r['role'] as UserRole, passwordHash: String(r['password_hash']),
    createdAt: num(r['created_at']), passwordChangedAt: num(r['password_changed_at']),
  };
}

export class PgUsers implements UserStore {
  constructor(private readonly pool: PgPool) {}

  async addUser(u: ConsoleUserRecord): Promise<void> {
    try {
      await this.pool.query('INSERT INTO console_users (name, role, password_hash, created_at, password_changed_at) VALUES ($1, $2, $3, $4, $5)',
        [u.name, u.role, u.passwordHash, u.createdAt, u.passwordChangedAt]);
    } catch (e) {
      if (isUniqueViolation(e, 'console_users_pkey')) throw new MtaError('MTA_ERR_EXISTS', `user ${u.name} exists already`, 'name');
      throw e;
    }
  }

  async getUser(name: string): Promise<ConsoleUserRecord | undefined> {
    const { rows: [r] } = await this.pool.query('SELECT * FROM console_users WHERE name = $1', [name]);
    return r ? toUser(r) : undefined;
  }

  async listUsers(): Promise<ConsoleUserRecord[]> { return (await this.pool.query('SELECT * FROM console_users ORDER BY name')).rows.map(toUser); }

  async removeUser(name: string): Promise<boolean> {
    // The sessions go by the foreign key's cascade, in the same statement.
    return ((await this.pool.query('DELETE FROM console_users WHERE name = $1', [name])).rowCount ?? 0) > 0;
  }

  async setUserRole(name: string, role: UserRole): Promise<boolean> {
    return ((await this.pool.query('UPDATE console_users SET role = $1 WHERE name = $2', [role, name])).rowCount ?? 0) > 0;
  }

  async setUserPassword(name: string, passwordHash: string, now: number): Promise<boolean> {
    return inTransaction(this.pool, async (c) => {
      await c.query('DELETE FROM console_sessions WHERE user_name = $1', [name]);
      return ((await c.query('UPDATE console_users SET password_hash = $1, password_changed_at = $2 WHERE name = $3', [passwordHash, now, name])).rowCount ?? 0) > 0;
    });
  }

  async addSession(s: SessionRecord): Promise<void> {
    await this.pool.query('INSERT INTO console_sessions (id_hash, user_name, created_at, last_seen_at) VALUES ($1, $2, $3, $4)', [s.idHash, s.user, s.createdAt, s.lastSeenAt]);
  }

  async getSession(idHash: string): Promise<SessionRecord | undefined> {
    const { rows: [r] } = await this.pool.query('SELECT * FROM console_sessions WHERE id_hash = $1', [idHash]);
    return r ? { idHash: String(r['id_hash']), user: String(r['user_name']), createdAt: num(r['created_at']), lastSeenAt: num(r['last_seen_at']) } : undefined;
  }

  async touchSession(idHash: string, now: number): Promise<void> {
    await this.pool.query('UPDATE console_sessions SET last_seen_at = $1 WHERE id_hash = $2', [now, idHash]);
  }

  async removeSession(idHash: string): Promise<void> { await this.pool.query('DELETE FROM console_sessions WHERE id_hash = $1', [idHash]); }

  async purgeSessions(idleBefore: number, createdBefore: number): Promise<number> {
    return (await this.pool.query('DELETE FROM console_sessions WHERE last_seen_at < $1 OR created_at < $2', [idleBefore, createdBefore])).rowCount ?? 0;
  }
}
