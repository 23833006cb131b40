/**
 * spool/pg-lists — recipient lists on PostgreSQL (contract: types-lists.ts): the lists and
 * their members, answered as SQLite's (sqlite-lists.ts). An import's call is one
 * transaction, written in batches of BATCH rows (one read and at most two writes per batch,
 * not a round trip per row), so a failure anywhere leaves nothing of the call written. The
 * list's row is locked first: two imports into one list (from two nodes) take turns, and
 * neither loses the other's columns. It must never validate addresses (lists/ does).
 */
import { MtaError } from '../util/errors.js';
import { isUniqueViolation, num } from './pg-facts.js';
import type { PgPool } from './pg-pool.js';
import { inTransaction, type PgTx } from './pg-tx.js';
import type { ListMember, ListRecord, ListStore, MemberWrite } from './types-lists.js';

/** Rows per batch of an import: a few hundred kB of parameters per statement. */
const BATCH = 1000;

type MemberRow = { address: string; variables: Record<string, string> };

const LIST_SELECT = 'SELECT l.*, (SELECT count(*)::int FROM list_members m WHERE m.list_id = l.id) AS members FROM lists l';

function toList(r: Record<string, unknown>): ListRecord {
  return {
    name: r['name'] as string, alias: r['alias'] as string, description: r['description'] as string | null,
    columns: JSON.parse(r['columns'] as string) as string[], createdAt: num(r['created_at']), members: r['members'] as number,
  };
}

/** Null-prototype: variable names come from imported files (`constructor`, `__proto__` are names like any other). */
function variablesOf(json: string): Record<string, string> {
  return Object.assign(Object.create(null), JSON.parse(json)) as Record<string, string>;
}

export class PgLists implements ListStore {
  constructor(private readonly pool: PgPool) {}

  async addList(l: { name: string; alias: string; description: string | null; createdAt: number }): Promise<void> {
    try {
      await this.pool.query('INSERT INTO lists (name, alias, description, created_at) VALUES ($1, $2, $3, $4)', [l.name, l.alias, l.description, l.createdAt]);
    } catch (e) {
      if (isUniqueViolation(e, 'lists_name_key')) throw new MtaError('MTA_ERR_EXISTS', `list ${l.name} exists already`);
      if (isUniqueViolation(e, 'lists_alias_key')) throw new MtaError('MTA_ERR_EXISTS', `alias address ${l.alias} belongs to another list`);
      throw e;
    }
  }

  async getList(name: string): Promise<ListRecord | undefined> {
    const { rows: [r] } = await this.pool.query(`${LIST_SELECT} WHERE l.name = $1`, [name]);
    return r ? toList(r) : undefined;
  }

  async listLists(): Promise<ListRecord[]> { return (await this.pool.query(`${LIST_SELECT} ORDER BY l.name`)).rows.map(toList); }

  async removeList(name: string): Promise<boolean> {
    return ((await this.pool.query('DELETE FROM lists WHERE name = $1', [name])).rowCount ?? 0) > 0;
  }

  /** The list's id and columns, its row locked until the transaction ends; NOT_FOUND when there is none. */
  private async lockList(c: PgTx, name: string): Promise<{ id: string; columns: string[] }> {
    const { rows: [l] } = await c.query<{ id: string; columns: string }>('SELECT id, columns FROM lists WHERE name = $1 FOR UPDATE', [name]);
    if (!l) throw new MtaError('MTA_ERR_NOT_FOUND', `no list named ${name}`);
    return { id: l.id, columns: JSON.parse(l.columns) as string[] };
  }

  /** Adds the names the list lacks to its columns, in first-seen order. */
  private async mergeColumns(c: PgTx, l: { id: string; columns: string[] }, names: Iterable<string>): Promise<void> {
    const merged = [...l.columns];
    for (const n of names) if (!merged.includes(n)) merged.push(n);
    if (merged.length !== l.columns.length) await c.query('UPDATE lists SET columns = $1 WHERE id = $2', [JSON.stringify(merged), l.id]);
  }

  async upsertListMembers(list: string, importId: string, columns: readonly string[], rows: readonly MemberRow[], now: number): Promise<MemberWrite[]> {
    return inTransaction(this.pool, async (c) => {
      const l = await this.lockList(c, list);
      await this.mergeColumns(c, l, columns);
      const out: MemberWrite[] = [];
      for (let i = 0; i < rows.length; i += BATCH) out.push(...await this.upsertBatch(c, l.id, importId, rows.slice(i, i + BATCH), now));
      return out;
    });
  }

  /**
   * One batch: the import that last wrote each address is read once; a new address is
   * inserted, one of another import updated, one of this import (before, or earlier in this
   * batch) a duplicate left alone, exactly as row-by-row writing would decide.
   */
  private async upsertBatch(c: PgTx, listId: string, importId: string, rows: readonly MemberRow[], now: number): Promise<MemberWrite[]> {
    const { rows: found } = await c.query<{ address: string; import_id: string | null }>(
      'SELECT address, import_id FROM list_members WHERE list_id = $1 AND address = ANY($2::text[])', [listId, rows.map((r) => r.address)]);
    const writer = new Map(found.map((f) => [f.address, f.import_id]));
    const ins: MemberRow[] = [];
    const upd: MemberRow[] = [];
    const out = rows.map((r): MemberWrite => {
      const cur = writer.get(r.address);
      writer.set(r.address, importId);
      if (cur === undefined) { ins.push(r); return 'inserted'; }
      if (cur === importId) return 'duplicate';
      upd.push(r);
      return 'updated';
    });
    if (ins.length) {
      await c.query(`INSERT INTO list_members (list_id, address, variables, updated_at, import_id)
                     SELECT $1, a, v, $4, $5 FROM unnest($2::text[], $3::text[]) AS u(a, v)`,
      [listId, ins.map((r) => r.address), ins.map((r) => JSON.stringify(r.variables)), now, importId]);
    }
    if (upd.length) {
      await c.query(`UPDATE list_members m SET variables = u.v, updated_at = $4, import_id = $5
                     FROM unnest($2::text[], $3::text[]) AS u(a, v) WHERE m.list_id = $1 AND m.address = u.a`,
      [listId, upd.map((r) => r.address), upd.map((r) => JSON.stringify(r.variables)), now, importId]);
    }
    return out;
  }

  async listMembers(list: string, opts: { after?: string | undefined; limit: number; contains?: string | undefined }): Promise<ListMember[]> {
    // `contains` is plain text, never a pattern: strpos, not LIKE, so % and _ match themselves.
    const { rows } = await this.pool.query<{ address: string; variables: string; updated_at: string }>(
      `SELECT m.address, m.variables, m.updated_at FROM list_members m JOIN lists l ON l.id = m.list_id
       WHERE l.name = $1 AND m.address > $2 AND ($4::text IS NULL OR strpos(m.address, $4) > 0) ORDER BY m.address LIMIT $3`,
      [list, opts.after ?? '', Math.min(Math.max(opts.limit, 1), 100_000), opts.contains || null],
    );
    return rows.map((r) => ({ address: r.address, variables: variablesOf(r.variables), updatedAt: num(r.updated_at) }));
  }

  async putListMember(list: string, address: string, variables: Record<string, string>, mode: 'add' | 'update', now: number): Promise<{ write: 'inserted' | 'updated' | 'exists' | 'missing'; member?: ListMember }> {
    return inTransaction(this.pool, async (c) => {
      const l = await this.lockList(c, list);
      const { rows: [cur] } = await c.query<{ variables: string }>('SELECT variables FROM list_members WHERE list_id = $1 AND address = $2', [l.id, address]);
      if (mode === 'add' && cur) return { write: 'exists' as const };
      if (mode === 'update' && !cur) return { write: 'missing' as const };
      await this.mergeColumns(c, l, Object.keys(variables));
      const vars = Object.assign(cur ? variablesOf(cur.variables) : Object.create(null), variables) as Record<string, string>;
      const member = { address, variables: vars, updatedAt: now };
      if (cur) {
        await c.query('UPDATE list_members SET variables = $1, updated_at = $2, import_id = NULL WHERE list_id = $3 AND address = $4', [JSON.stringify(vars), now, l.id, address]);
        return { write: 'updated' as const, member };
      }
      await c.query('INSERT INTO list_members (list_id, address, variables, updated_at, import_id) VALUES ($1, $2, $3, $4, NULL)', [l.id, address, JSON.stringify(vars), now]);
      return { write: 'inserted' as const, member };
    });
  }

  async removeListMember(list: string, address: string): Promise<boolean> {
    return inTransaction(this.pool, async (c) => {
      const l = await this.lockList(c, list);
      return ((await c.query('DELETE FROM list_members WHERE list_id = $1 AND address = $2', [l.id, address])).rowCount ?? 0) > 0;
    });
  }
}
