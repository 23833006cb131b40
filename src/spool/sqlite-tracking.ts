/**
 * spool/sqlite-tracking — the SQLite side of `TrackingStore`: the tracking_hits table.
 * A hit and its `first` flag are written in one transaction, so two hits arriving together
 * cannot both be first, with the webhook event the rules make of it (events/effects.ts
 * `trackingHit`). Must never: classify hits or build event payloads (src/tracking and the rules).
 */
import type { Statement } from 'better-sqlite3';
import type { Db } from './db.js';
import type { QueueId, RecipientId } from '../util/ids.js';
import { FACTS_SELECT, toFacts, type FactsRow, type SqliteNotify } from './sqlite-notify.js';
import { dayStartIn, nextDayStartIn } from '../util/time.js';
import type { HitClass, LinkClicks, TrackingCounts, TrackingHit, TrackingHitRecord, TrackingKind } from './types-tracking.js';

const CLASSES: readonly HitClass[] = ['human', 'machine', 'scanner'];

export class SqliteTracking {
  private readonly ins: Statement;
  private readonly seen: Statement;
  private readonly ofRcpt: Statement;
  private readonly counts: Statement;
  private readonly setClass: Statement;
  private readonly delBefore: Statement;
  private readonly record: (h: TrackingHit) => TrackingHitRecord;

  private readonly message: Statement;
  private readonly opensOfDomain: Statement;
  private readonly taskCounts: Statement;
  private readonly between: Statement;
  private readonly taskLinks: Statement;

  constructor(private readonly db: Db, private readonly notify: SqliteNotify, private readonly timeZone = 'UTC') {
    this.opensOfDomain = db.prepare(`SELECT COUNT(DISTINCT h.recipient_id) AS n FROM messages m JOIN tracking_hits h ON h.queue_id = m.id
                                     WHERE m.received_at >= ? AND m.received_at < ? AND lower(substr(m.sender, instr(m.sender, '@') + 1)) = ?
                                       AND h.kind = 'open' AND h.class = 'human'`);
    this.message = db.prepare(`${FACTS_SELECT} WHERE r.id = ?`);
    this.ins = db.prepare(`INSERT INTO tracking_hits (at, kind, queue_id, recipient_id, link, url, ip, user_agent, method, class, reason, first)
                           VALUES (@at, @kind, @queueId, @recipientId, @link, @url, @ip, @userAgent, @method, @class, @reason, @first)`);
    this.seen = db.prepare('SELECT 1 FROM tracking_hits WHERE recipient_id = ? AND kind = ? LIMIT 1');
    this.ofRcpt = db.prepare('SELECT * FROM tracking_hits WHERE recipient_id = ? ORDER BY at, id');
    this.counts = db.prepare(`SELECT class, kind, COUNT(*) AS n, COUNT(DISTINCT recipient_id) AS u
                              FROM tracking_hits WHERE queue_id = ? GROUP BY class, kind`);
    const ofTask = 'FROM tracking_hits h JOIN messages m ON m.id = h.queue_id WHERE m.task_id = ?';
    this.between = db.prepare(`SELECT class, kind, COUNT(*) AS n, COUNT(DISTINCT recipient_id) AS u
                                FROM tracking_hits WHERE at >= ? AND at < ? GROUP BY class, kind`);
    this.taskCounts = db.prepare(`SELECT h.class, h.kind, COUNT(*) AS n, COUNT(DISTINCT h.recipient_id) AS u ${ofTask} GROUP BY h.class, h.kind`);
    this.taskLinks = db.prepare(`SELECT h.link, h.url, h.class, COUNT(*) AS n, COUNT(DISTINCT h.recipient_id) AS u ${ofTask}
                                 AND h.kind = 'click' AND h.link >= 0 GROUP BY h.link, h.url, h.class ORDER BY h.link, h.class`);
    this.delBefore = db.prepare('DELETE FROM tracking_hits WHERE id IN (SELECT id FROM tracking_hits WHERE at < ? LIMIT 5000)');
    this.setClass = db.prepare('UPDATE tracking_hits SET class = ?, reason = ? WHERE id = ?');
    this.record = db.transaction((h: TrackingHit): TrackingHitRecord => {
      const first = this.seen.get(h.recipientId, h.kind) === undefined;
      const { notify, ...hit } = h;
      const r = this.ins.run({ ...hit, link: h.link ?? null, url: h.url ?? null, first: first ? 1 : 0 });
      const m = this.message.get(h.recipientId) as FactsRow | undefined;
      this.notify.effects.apply(this.notify.rules.trackingHit(h, m && toFacts(m), first, this.notify.directory));
      return { ...hit, id: Number(r.lastInsertRowid), first };
    });
  }

  add(h: TrackingHit): TrackingHitRecord {
    const rec = this.record(h);
    if (h.notify) this.notify.signal();
    return rec;
  }


  /** Deletes hits older than `before`, a few thousand per transaction, yielding between them. */
  async purge(before: number): Promise<number> {
    let total = 0;
    for (;;) {
      const n = this.delBefore.run(before).changes;
      total += n;
      if (n < 5000) return total;
      await new Promise((r) => setImmediate(r));
    }
  }

  reclassify(ids: readonly number[], cls: HitClass, reason: string): void {
    this.db.transaction(() => { for (const id of ids) this.setClass.run(cls, reason, id); })();
  }

  of(recipientId: RecipientId): TrackingHitRecord[] {
    return (this.ofRcpt.all(recipientId) as Record<string, unknown>[]).map(rowToHit);
  }

  ofMany(ids: readonly RecipientId[]): TrackingHitRecord[] {
    const out: TrackingHitRecord[] = [];
    // In slices: SQLite caps the number of bound parameters.
    for (let i = 0; i < ids.length; i += 500) {
      const part = ids.slice(i, i + 500);
      const rows = this.db.prepare(`SELECT * FROM tracking_hits WHERE recipient_id IN (${part.map(() => '?').join(',')}) ORDER BY at, id`).all(...part) as Record<string, unknown>[];
      out.push(...rows.map(rowToHit));
    }
    return out.sort((a, b) => a.at - b.at || a.id - b.id);
  }

  /** Recipients of `domain`'s mail received on `day` (configured time zone) with a human open: the reputation's open rate. */
  humanOpens(domain: string, day: string): number {
    const from = dayStartIn(day, this.timeZone);
    return (this.opensOfDomain.get(from, nextDayStartIn(from, this.timeZone), domain.toLowerCase()) as { n: number }).n;
  }

  countsOf(queueId: QueueId): Record<HitClass, TrackingCounts> { return tally(this.counts.all(queueId)); }

  countsBetween(from: number, to: number): Record<HitClass, TrackingCounts> { return tally(this.between.all(from, to)); }

  ofTask(taskId: string): { counts: Record<HitClass, TrackingCounts>; links: LinkClicks[] } {
    const links = (this.taskLinks.all(taskId) as { link: number; url: string; class: HitClass; n: number; u: number }[])
      .map((r) => ({ link: r.link, url: r.url, class: r.class, clicks: r.n, uniqueClicks: r.u }));
    return { counts: tally(this.taskCounts.all(taskId)), links };
  }
}

function tally(rows: unknown[]): Record<HitClass, TrackingCounts> {
  const out = Object.fromEntries(CLASSES.map((c) => [c, { opens: 0, uniqueOpens: 0, clicks: 0, uniqueClicks: 0 }])) as Record<HitClass, TrackingCounts>;
  for (const r of rows as { class: HitClass; kind: TrackingKind; n: number; u: number }[]) {
    const c = out[r.class];
    if (!c) continue;
    if (r.kind === 'open') { c.opens = r.n; c.uniqueOpens = r.u; } else { c.clicks = r.n; c.uniqueClicks = r.u; }
  }
  return out;
}

function rowToHit(r: Record<string, unknown>): TrackingHitRecord {
  return {
    id: Number(r['id']), at: Number(r['at']), kind: r['kind'] as TrackingKind, queueId: r['queue_id'] as QueueId,
    recipientId: Number(r['recipient_id']) as RecipientId, link: r['link'] === null ? undefined : Number(r['link']),
    url: (r['url'] as string | null) ?? undefined, ip: r['ip'] as string | null, userAgent: r['user_agent'] as string | null,
    method: String(r['method']), class: r['class'] as HitClass, reason: r['reason'] as string | null, first: r['first'] === 1,
  };
}
