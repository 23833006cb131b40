/**
 * spool/pg-tags — tags on PostgreSQL (contract: types-tags.ts), answered as SQLite's
 * (sqlite-templates.ts): a name taken is `false`, not an error.
 */
import { num } from './pg-facts.js';
import type { PgPool } from './pg-pool.js';
import type { TagRecord, TagStore } from './types-tags.js';

function toTag(r: Record<string, unknown>): TagRecord {
  return { name: r['name'] as string, description: r['description'] as string, createdAt: num(r['created_at']) };
}

export class PgTags implements TagStore {
  constructor(private readonly pool: PgPool) {}

  async addTag(t: TagRecord): Promise<boolean> {
    const r = await this.pool.query('INSERT INTO tags (name, description, created_at) VALUES ($1, $2, $3) ON CONFLICT (name) DO NOTHING',
      [t.name, t.description, t.createdAt]);
    return (r.rowCount ?? 0) > 0;
  }

  async getTag(name: string): Promise<TagRecord | undefined> {
    const { rows: [r] } = await this.pool.query('SELECT * FROM tags WHERE name = $1', [name]);
    return r ? toTag(r) : undefined;
  }

  async listTags(): Promise<TagRecord[]> { return (await this.pool.query('SELECT * FROM tags ORDER BY name')).rows.map(toTag); }

  async removeTag(name: string): Promise<boolean> {
    return ((await this.pool.query('DELETE FROM tags WHERE name = $1', [name])).rowCount ?? 0) > 0;
  }
}
