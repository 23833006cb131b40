/**
 * spool/sqlite-templates — the SQLite side of tags and templates (templates/).
 */
import type { Statement } from 'better-sqlite3';
import type { Db } from './db.js';
import type { TagRecord } from './types-tags.js';
import type { TemplateRecord } from './types-templates.js';

export class SqliteTemplates {
  private readonly st: Record<string, Statement>;

  constructor(db: Db) {
    const p = (sql: string): Statement => db.prepare(sql);
    this.st = {
      insTag: p('INSERT OR IGNORE INTO tags (name, description, created_at) VALUES (@name, @description, @createdAt)'),
      getTag: p('SELECT * FROM tags WHERE name = ?'),
      listTags: p('SELECT * FROM tags ORDER BY name'),
      delTag: p('DELETE FROM tags WHERE name = ?'),
      insTemplate: p(`INSERT OR IGNORE INTO templates (name, subject, from_name, html, text, state, reject_reason, created_at, updated_at)
                      VALUES (@name, @subject, @fromName, @html, @text, @state, @rejectReason, @createdAt, @updatedAt)`),
      getTemplate: p('SELECT * FROM templates WHERE name = ?'),
      listTemplates: p('SELECT * FROM templates ORDER BY name'),
      updTemplate: p(`UPDATE templates SET subject = @subject, from_name = @fromName, html = @html, text = @text, state = @state,
                      reject_reason = @rejectReason, updated_at = @updatedAt WHERE name = @name`),
      delTemplate: p('DELETE FROM templates WHERE name = ?'),
    };
  }

  addTag(t: TagRecord): boolean { return this.st['insTag']!.run(t).changes > 0; }
  getTag(name: string): TagRecord | undefined {
    const r = this.st['getTag']!.get(name) as Record<string, unknown> | undefined;
    return r ? rowToTag(r) : undefined;
  }
  listTags(): TagRecord[] { return (this.st['listTags']!.all() as Record<string, unknown>[]).map(rowToTag); }
  removeTag(name: string): boolean { return this.st['delTag']!.run(name).changes > 0; }

  addTemplate(t: TemplateRecord): boolean { return this.st['insTemplate']!.run(t).changes > 0; }
  getTemplate(name: string): TemplateRecord | undefined {
    const r = this.st['getTemplate']!.get(name) as Record<string, unknown> | undefined;
    return r ? rowToTemplate(r) : undefined;
  }
  listTemplates(): TemplateRecord[] { return (this.st['listTemplates']!.all() as Record<string, unknown>[]).map(rowToTemplate); }
  updateTemplate(t: TemplateRecord): boolean {
    const { createdAt: _c, ...rest } = t;
    return this.st['updTemplate']!.run(rest).changes > 0;
  }
  removeTemplate(name: string): boolean { return this.st['delTemplate']!.run(name).changes > 0; }
}

function rowToTag(r: Record<string, unknown>): TagRecord {
  return { name: r['name'] as string, description: r['description'] as string, createdAt: r['created_at'] as number };
}

function rowToTemplate(r: Record<string, unknown>): TemplateRecord {
  return {
    name: r['name'] as string, subject: r['subject'] as string, fromName: r['from_name'] as string | null,
    html: r['html'] as string, text: r['text'] as string | null, state: r['state'] as TemplateRecord['state'],
    rejectReason: r['reject_reason'] as string | null, createdAt: r['created_at'] as number, updatedAt: r['updated_at'] as number,
  };
}
