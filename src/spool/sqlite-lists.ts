/**
 * spool/sqlite-lists — the SQLite side of recipient lists: the lists and their members.
 * Members are written in batches, one transaction per batch (lists/import.ts decides the
 * batch size), so an import of a million rows never holds them all.
 */
import type { Statement } from 'better-sqlite3';
import type { Db } from './db.js';
import type { ListMember, ListRecord, MemberWrite } from './types-lists.js';
import { MtaError } from '../util/errors.js';

export class SqliteLists {
  private readonly st: Record<string, Statement>;

  constructor(private readonly db: Db) {
    const p = (sql: string): Statement => db.prepare(sql);
    this.st = {
      ins: p('INSERT INTO lists (name, alias, description, created_at) VALUES (@name, @alias, @description, @createdAt)'),
      get: p(`SELECT l.*, (SELECT COUNT(*) FROM list_members m WHERE m.list_id = l.id) AS members FROM lists l WHERE l.name = ?`),
      all: p(`SELECT l.*, (SELECT COUNT(*) FROM list_members m WHERE m.list_id = l.id) AS members FROM lists l ORDER BY l.name`),
      id: p('SELECT id, columns FROM lists WHERE name = ?'),
      del: p('DELETE FROM lists WHERE name = ?'),
      setColumns: p('UPDATE lists SET columns = ? WHERE id = ?'),
      selMember: p('SELECT import_id FROM list_members WHERE list_id = ? AND address = ?'),
      insMember: p('INSERT INTO list_members (list_id, address, variables, updated_at, import_id) VALUES (?, ?, ?, ?, ?)'),
      updMember: p('UPDATE list_members SET variables = ?, updated_at = ?, import_id = ? WHERE list_id = ? AND address = ?'),
      members: p('SELECT address, variables, updated_at FROM list_members WHERE list_id = ? AND address > ? ORDER BY address LIMIT ?'),
      // instr, not LIKE: a search for "a_b" or "50%" means those characters.
      membersContaining: p('SELECT address, variables, updated_at FROM list_members WHERE list_id = ? AND address > ? AND instr(address, ?) > 0 ORDER BY address LIMIT ?'),
      member: p('SELECT variables FROM list_members WHERE list_id = ? AND address = ?'),
      delMember: p('DELETE FROM list_members WHERE list_id = ? AND address = ?'),
    };
  }

  add(l: { name: string; alias: string; description: string | null; createdAt: number }): void {
    try {
      this.st['ins']!.run(l);
    } catch (e) {
      if ((e as { code?: string }).code === 'SQLITE_CONSTRAINT_UNIQUE') {
        const byName = this.st['id']!.get(l.name) !== undefined;
        throw new MtaError('MTA_ERR_EXISTS', byName ? `list ${l.name} exists already` : `alias address ${l.alias} belongs to another list`);
      }
      throw e;
    }
  }

  get(name: string): ListRecord | undefined {
    const r = this.st['get']!.get(name) as Record<string, unknown> | undefined;
    return r ? toList(r) : undefined;
  }

  list(): ListRecord[] {
    return (this.st['all']!.all() as Record<string, unknown>[]).map(toList);
  }

  remove(name: string): boolean {
    return this.db.transaction(() => this.st['del']!.run(name).changes > 0).immediate();
  }

  upsert(list: string, importId: string, columns: readonly string[], rows: readonly { address: string; variables: Record<string, string> }[], now: number): MemberWrite[] {
    return this.db.transaction(() => {
      const l = this.st['id']!.get(list) as { id: number; columns: string } | undefined;
      if (!l) throw new MtaError('MTA_ERR_NOT_FOUND', `no list named ${list}`);
      const have = JSON.parse(l.columns) as string[];
      const merged = [...have, ...columns.filter((c) => !have.includes(c))];
      if (merged.length !== have.length) this.st['setColumns']!.run(JSON.stringify(merged), l.id);
      return rows.map((r): MemberWrite => {
        const cur = this.st['selMember']!.get(l.id, r.address) as { import_id: string | null } | undefined;
        if (!cur) { this.st['insMember']!.run(l.id, r.address, JSON.stringify(r.variables), now, importId); return 'inserted'; }
        if (cur.import_id === importId) return 'duplicate';
        this.st['updMember']!.run(JSON.stringify(r.variables), now, importId, l.id, r.address);
        return 'updated';
      });
    }).immediate();
  }

  /**
   * One member, in one transaction: `add` refuses an address already there, `update` one
   * that is not and merges the given variables into the member's; new columns join the list's.
   */
  putMember(list: string, address: string, variables: Record<string, string>, mode: 'add' | 'update', now: number): { write: 'inserted' | 'updated' | 'exists' | 'missing'; member?: ListMember } {
    return this.db.transaction((): { write: 'inserted' | 'updated' | 'exists' | 'missing'; member?: ListMember } => {
      const l = this.st['id']!.get(list) as { id: number; columns: string } | undefined;
      if (!l) throw new MtaError('MTA_ERR_NOT_FOUND', `no list named ${list}`);
      const cur = this.st['member']!.get(l.id, address) as { variables: string } | undefined;
      if (mode === 'add' && cur) return { write: 'exists' };
      if (mode === 'update' && !cur) return { write: 'missing' };
      const have = JSON.parse(l.columns) as string[];
      const merged = [...have, ...Object.keys(variables).filter((c) => !have.includes(c))];
      if (merged.length !== have.length) this.st['setColumns']!.run(JSON.stringify(merged), l.id);
      const vars = Object.assign(Object.create(null), cur ? JSON.parse(cur.variables) : {}, variables) as Record<string, string>;
      const member = { address, variables: vars, updatedAt: now };
      if (cur) { this.st['updMember']!.run(JSON.stringify(vars), now, null, l.id, address); return { write: 'updated', member }; }
      this.st['insMember']!.run(l.id, address, JSON.stringify(vars), now, null);
      return { write: 'inserted', member };
    }).immediate();
  }

  removeMember(list: string, address: string): boolean {
    return this.db.transaction(() => {
      const l = this.st['id']!.get(list) as { id: number } | undefined;
      if (!l) throw new MtaError('MTA_ERR_NOT_FOUND', `no list named ${list}`);
      return this.st['delMember']!.run(l.id, address).changes > 0;
    }).immediate();
  }

  members(list: string, opts: { after?: string | undefined; limit: number; contains?: string | undefined }): ListMember[] {
    const l = this.st['id']!.get(list) as { id: number } | undefined;
    if (!l) return [];
    const limit = Math.min(Math.max(opts.limit, 1), 100_000);
    const rows = (opts.contains ? this.st['membersContaining']!.all(l.id, opts.after ?? '', opts.contains, limit) : this.st['members']!.all(l.id, opts.after ?? '', limit)) as { address: string; variables: string; updated_at: number }[];
    // Null-prototype: variable names come from imported files (`constructor`, `__proto__` are names like any other).
    return rows.map((r) => ({ address: r.address, variables: Object.assign(Object.create(null), JSON.parse(r.variables)) as Record<string, string>, updatedAt: r.updated_at }));
  }
}

function toList(r: Record<string, unknown>): ListRecord {
  return {
    name: r['name'] as string, alias: r['alias'] as string, description: r['description'] as string | null,
    columns: JSON.parse(r['columns'] as string) as string[], createdAt: r['created_at'] as number, members: r['members'] as number,
  };
}
