/**
 * spool/sqlite-users — the SQLite side of `UserStore`: console users and their sessions
 * (tables console_users, console_sessions; a session goes with its user). Must never:
 * decide whether a password or a session is valid (accounts/users.ts, admin/session.ts do).
 */
import type { Statement } from 'better-sqlite3';
import type { Db } from './db.js';
import { MtaError } from '../util/errors.js';
import type { ConsoleUserRecord, SessionRecord, UserRole } from './types-users.js';

function rowToUser(r: Record<string, unknown>): ConsoleUserRecord {
  return {
    name: String(r['name']), role: r['role'] as UserRole, passwordHash: String(r['password_hash']),
    createdAt: Number(r['created_at']), passwordChangedAt: Number(r['password_changed_at']),
  };
}

export class SqliteUsers {
  private readonly st: Record<string, Statement>;

  constructor(private readonly db: Db) {
    this.st = {
      add: db.prepare(`INSERT INTO console_users (name, role, password_hash, created_at, password_changed_at)
                       VALUES (@name, @role, @passwordHash, @createdAt, @passwordChangedAt)`),
      get: db.prepare('SELECT * FROM console_users WHERE name = ?'),
      list: db.prepare('SELECT * FROM console_users ORDER BY name'),
      del: db.prepare('DELETE FROM console_users WHERE name = ?'),
      delSessionsOf: db.prepare('DELETE FROM console_sessions WHERE user = ?'),
      role: db.prepare('UPDATE console_users SET role = ? WHERE name = ?'),
      passwd: db.prepare('UPDATE console_users SET password_hash = ?, password_changed_at = ? WHERE name = ?'),
      addSession: db.prepare('INSERT INTO console_sessions (id_hash, user, created_at, last_seen_at) VALUES (@idHash, @user, @createdAt, @lastSeenAt)'),
      getSession: db.prepare('SELECT * FROM console_sessions WHERE id_hash = ?'),
      touch: db.prepare('UPDATE console_sessions SET last_seen_at = ? WHERE id_hash = ?'),
      delSession: db.prepare('DELETE FROM console_sessions WHERE id_hash = ?'),
      purge: db.prepare('DELETE FROM console_sessions WHERE last_seen_at < ? OR created_at < ?'),
    };
  }

  add(u: ConsoleUserRecord): void {
    try {
      this.st['add']!.run(u);
    } catch (e) {
      if ((e as { code?: string }).code === 'SQLITE_CONSTRAINT_PRIMARYKEY') throw new MtaError('MTA_ERR_EXISTS', `user ${u.name} exists already`, 'name');
      throw e;
    }
  }

  get(name: string): ConsoleUserRecord | undefined {
    const r = this.st['get']!.get(name) as Record<string, unknown> | undefined;
    return r ? rowToUser(r) : undefined;
  }

  list(): ConsoleUserRecord[] { return (this.st['list']!.all() as Record<string, unknown>[]).map(rowToUser); }

  remove(name: string): boolean {
    return this.db.transaction(() => {
      this.st['delSessionsOf']!.run(name);
      return this.st['del']!.run(name).changes > 0;
    }).immediate();
  }

  setPassword(name: string, hash: string, now: number): boolean {
    return this.db.transaction(() => {
      this.st['delSessionsOf']!.run(name);
      return this.st['passwd']!.run(hash, now, name).changes > 0;
    }).immediate();
  }

  setRole(name: string, role: UserRole): boolean { return this.st['role']!.run(role, name).changes > 0; }

  addSession(s: SessionRecord): void { this.st['addSession']!.run(s); }

  getSession(idHash: string): SessionRecord | undefined {
    const r = this.st['getSession']!.get(idHash) as Record<string, unknown> | undefined;
    return r ? { idHash: String(r['id_hash']), user: String(r['user']), createdAt: Number(r['created_at']), lastSeenAt: Number(r['last_seen_at']) } : undefined;
  }

  touch(idHash: string, now: number): void { this.st['touch']!.run(now, idHash); }
  removeSession(idHash: string): void { this.st['delSession']!.run(idHash); }
  purge(idleBefore: number, createdBefore: number): number { return this.st['purge']!.run(idleBefore, createdBefore).changes; }
}
