/**
 * spool/sqlite-egress — the SQLite side of `EgressStore`: one row per UTC day, egress
 * source and destination provider, bumped by deltas the egress selector gathers in memory.
 * Must never: decide anything about caps (delivery/egress.ts does).
 */
import type { Statement } from 'better-sqlite3';
import type { Db } from './db.js';
import type { EgressCount } from './types-egress.js';

export class SqliteEgress {
  private readonly st: Record<string, Statement>;

  constructor(private readonly db: Db) {
    this.st = {
      day: db.prepare('SELECT day, source, provider, sent, deferred, blocked FROM egress_daily WHERE day = ? ORDER BY source, provider'),
      add: db.prepare(`INSERT INTO egress_daily (day, source, provider, sent, deferred, blocked) VALUES (@day, @source, @provider, @sent, @deferred, @blocked)
                       ON CONFLICT (day, source, provider) DO UPDATE SET sent = sent + excluded.sent,
                         deferred = deferred + excluded.deferred, blocked = blocked + excluded.blocked`),
    };
  }

  counts(day: string): EgressCount[] {
    return this.st['day']!.all(day) as EgressCount[];
  }

  add(deltas: readonly EgressCount[]): void {
    if (deltas.length === 0) return;
    this.db.transaction(() => { for (const d of deltas) this.st['add']!.run(d); }).immediate();
  }
}
