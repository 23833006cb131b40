/**
 * spool/pg-templates — templates on PostgreSQL (contract: types-templates.ts), answered as
 * SQLite's (sqlite-templates.ts): a name taken or a template missing is `false`. It must
 * never decide a template's state (templates/ does).
 */
import { num } from './pg-facts.js';
import type { PgPool } from './pg-pool.js';
import type { TemplateRecord, TemplateStore } from './types-templates.js';

function toTemplate(r: Record<string, unknown>): TemplateRecord {
  return {
    name: r['name'] as string, subject: r['subject'] as string, fromName: r['from_name'] as string | null, html: r['html'] as string,
    text: r['text'] as string | null, state: r['state'] as TemplateRecord['state'], rejectReason: r['reject_reason'] as string | null,
    createdAt: num(r['created_at']), updatedAt: num(r['updated_at']),
  };
}

export class PgTemplates implements TemplateStore {
  constructor(private readonly pool: PgPool) {}

  async addTemplate(t: TemplateRecord): Promise<boolean> {
    const r = await this.pool.query(
      `INSERT INTO templates (name, subject, from_name, html, text, state, reject_reason, created_at, updated_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT (name) DO NOTHING`,
      [t.name, t.subject, t.fromName, t.html, t.text, t.state, t.rejectReason, t.createdAt, t.updatedAt],
    );
    return (r.rowCount ?? 0) > 0;
  }

  async getTemplate(name: string): Promise<TemplateRecord | undefined> {
    const { rows: [r] } = await this.pool.query('SELECT * FROM templates WHERE name = $1', [name]);
    return r ? toTemplate(r) : undefined;
  }

  async listTemplates(): Promise<TemplateRecord[]> { return (await this.pool.query('SELECT * FROM templates ORDER BY name')).rows.map(toTemplate); }

  async updateTemplate(t: TemplateRecord): Promise<boolean> {
    const r = await this.pool.query(
      `UPDATE templates SET subject = $2, from_name = $3, html = $4, text = $5, state = $6, reject_reason = $7, updated_at = $8 WHERE name = $1`,
      [t.name, t.subject, t.fromName, t.html, t.text, t.state, t.rejectReason, t.updatedAt],
    );
    return (r.rowCount ?? 0) > 0;
  }

  async removeTemplate(name: string): Promise<boolean> {
    return ((await this.pool.query('DELETE FROM templates WHERE name = $1', [name])).rowCount ?? 0) > 0;
  }
}
