/**
 * spool/sqlite-tlsrpt — the SQLite side of `TlsRptStore`: tls_rpt_counts (summed by key)
 * and tls_rpt_reports (one claim row per domain and day). Must never: decide what a report
 * says or when it is sent (delivery/tls-rpt*.ts does).
 */
import type { Statement } from 'better-sqlite3';
import type { Db } from './db.js';
import type { TlsRptCount } from './types-tlsrpt.js';

export class SqliteTlsRpt {
  private readonly st: Record<string, Statement>;

  constructor(private readonly db: Db) {
    this.st = {
      add: db.prepare(`INSERT INTO tls_rpt_counts (domain, day, policy, result, mx, ip, count) VALUES (@domain, @day, @policy, @result, @mx, @ip, @count)
                       ON CONFLICT (domain, day, policy, result, mx, ip) DO UPDATE SET count = count + excluded.count`),
      pending: db.prepare(`SELECT DISTINCT c.domain, c.day FROM tls_rpt_counts c
                           LEFT JOIN tls_rpt_reports r ON r.domain = c.domain AND r.day = c.day
                           WHERE c.day < ? AND r.sent_at IS NULL ORDER BY c.day, c.domain LIMIT ?`),
      counts: db.prepare('SELECT * FROM tls_rpt_counts WHERE domain = ? AND day = ? ORDER BY policy, result, mx, ip'),
      claim: db.prepare(`INSERT INTO tls_rpt_reports (domain, day, node, claimed_at) VALUES (@domain, @day, @node, @now)
                         ON CONFLICT (domain, day) DO UPDATE SET node = excluded.node, claimed_at = excluded.claimed_at, error = NULL
                         WHERE tls_rpt_reports.sent_at IS NULL AND tls_rpt_reports.claimed_at < @staleBefore`),
      sent: db.prepare('UPDATE tls_rpt_reports SET sent_at = ?, error = NULL WHERE domain = ? AND day = ?'),
      failed: db.prepare('UPDATE tls_rpt_reports SET error = ? WHERE domain = ? AND day = ?'),
      pruneCounts: db.prepare('DELETE FROM tls_rpt_counts WHERE day < ?'),
      pruneReports: db.prepare('DELETE FROM tls_rpt_reports WHERE day < ?'),
    };
  }

  add(rows: readonly TlsRptCount[]): void {
    this.db.transaction(() => { for (const r of rows) this.st['add']!.run(r); })();
  }

  pending(beforeDay: string, limit: number): { domain: string; day: string }[] {
    return this.st['pending']!.all(beforeDay, limit) as { domain: string; day: string }[];
  }

  counts(domain: string, day: string): TlsRptCount[] {
    return (this.st['counts']!.all(domain, day) as Record<string, unknown>[]).map((r) => ({
      domain: String(r['domain']), day: String(r['day']), policy: String(r['policy']), result: String(r['result']),
      mx: String(r['mx']), ip: String(r['ip']), count: Number(r['count']),
    }));
  }

  claim(domain: string, day: string, node: string, now: number, staleBefore: number): boolean {
    return this.st['claim']!.run({ domain, day, node, now, staleBefore }).changes === 1;
  }

  prune(beforeDay: string): number {
    return this.db.transaction(() => this.st['pruneCounts']!.run(beforeDay).changes + this.st['pruneReports']!.run(beforeDay).changes)();
  }

  finish(domain: string, day: string, outcome: { sentAt: number } | { error: string }): void {
    if ('sentAt' in outcome) this.st['sent']!.run(outcome.sentAt, domain, day); else this.st['failed']!.run(outcome.error.slice(0, 1000), domain, day);
  }
}
