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
import type {
  HitClass, LinkClicks, TrackingCounts, TrackingGroup, TrackingHit, TrackingHitRecord, TrackingKind, TrackingStatsQuery, TrackingStatsRows,
} from './types-tracking.js';
import { tally, toHitRecord, type TallyRow } from './tracking-rows.js';

/** The sending domain: after the sender's last '@' (rtrim strips every character but '@' from the right), as statsKey takes it. */
const DOMAIN_OF_SENDER = "lower(substr(m.sender, length(rtrim(m.sender, replace(m.sender, '@', ''))) + 1))";
/** Each group's key; a day's key is its label, filled in by the caller. */
const GROUP_KEY: Record<TrackingGroup, string> = {
  day: "''", domain: DOMAIN_OF_SENDER, sender: 'lower(m.sender)', tag: "COALESCE(m.tag, '')", task: "COALESCE(m.task_id, '')",
};

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
    return (this.ofRcpt.all(recipientId) as Record<string, unknown>[]).map(toHitRecord);
  }

  ofMany(ids: readonly RecipientId[]): TrackingHitRecord[] {
    const out: TrackingHitRecord[] = [];
    // In slices: SQLite caps the number of bound parameters.
    for (let i = 0; i < ids.length; i += 500) {
      const part = ids.slice(i, i + 500);
      const rows = this.db.prepare(`SELECT * FROM tracking_hits WHERE recipient_id IN (${part.map(() => '?').join(',')}) ORDER BY at, id`).all(...part) as Record<string, unknown>[];
      out.push(...rows.map(toHitRecord));
    }
    return out.sort((a, b) => a.at - b.at || a.id - b.id);
  }

  /** Recipients of `domain`'s mail received on `day` (configured time zone) with a human open: the reputation's open rate. */
  humanOpens(domain: string, day: string): number {
    const from = dayStartIn(day, this.timeZone);
    return (this.opensOfDomain.get(from, nextDayStartIn(from, this.timeZone), domain.toLowerCase()) as { n: number }).n;
  }

  /**
   * Tracking statistics: per day of receipt, three grouped reads over that day's messages
   * (found by messages_received, their hits by tracking_hits_queue), all in one read
   * transaction so hits and deliveries are of the same moment.
   */
  stats(q: TrackingStatsQuery): TrackingStatsRows {
    const where = ['m.received_at >= ?', 'm.received_at < ?'];
    const args: string[] = [];
    if (q.domain !== undefined) { where.push(`${DOMAIN_OF_SENDER} = ?`); args.push(q.domain.toLowerCase()); }
    if (q.sender !== undefined) { where.push('lower(m.sender) = ?'); args.push(q.sender.toLowerCase()); }
    if (q.tag !== undefined) { if (q.tag === '') where.push('m.tag IS NULL'); else { where.push('m.tag = ?'); args.push(q.tag); } }
    if (q.task !== undefined) { where.push('m.task_id = ?'); args.push(q.task); }
    const key = GROUP_KEY[q.by];
    const cond = where.join(' AND ');
    const hits = this.db.prepare(`SELECT ${key} AS key, h.kind, h.class = 'human' AS human, COUNT(*) AS hits, COUNT(DISTINCT h.recipient_id) AS recipients
                                  FROM messages m JOIN tracking_hits h ON h.queue_id = m.id WHERE ${cond} GROUP BY 1, 2, 3`);
    const delivered = this.db.prepare(`SELECT ${key} AS key, COUNT(*) AS delivered
                                       FROM messages m JOIN recipients r ON r.message_id = m.id WHERE ${cond} AND r.state = 'delivered' GROUP BY 1`);
    const urls = this.db.prepare(`SELECT h.url, h.class = 'human' AS human, COUNT(*) AS clicks, COUNT(DISTINCT h.recipient_id) AS recipients
                                  FROM messages m JOIN tracking_hits h ON h.queue_id = m.id WHERE ${cond} AND h.kind = 'click' AND h.link >= 0 GROUP BY 1, 2`);
    const out: TrackingStatsRows = { hits: [], delivered: [], urls: [] };
    this.db.transaction(() => {
      for (const d of q.days) {
        const dayKey = <T extends { key: string }>(r: T): T => (q.by === 'day' ? { ...r, key: d.day } : r);
        for (const r of hits.all(d.from, d.to, ...args) as { key: string; kind: TrackingKind; human: number; hits: number; recipients: number }[]) {
          out.hits.push(dayKey({ day: d.day, key: r.key, kind: r.kind, human: r.human === 1, hits: r.hits, recipients: r.recipients }));
        }
        for (const r of delivered.all(d.from, d.to, ...args) as { key: string; delivered: number }[]) out.delivered.push(dayKey({ day: d.day, key: r.key, delivered: r.delivered }));
        for (const r of urls.all(d.from, d.to, ...args) as { url: string; human: number; clicks: number; recipients: number }[]) {
          out.urls.push({ day: d.day, url: r.url, human: r.human === 1, clicks: r.clicks, recipients: r.recipients });
        }
      }
    })();
    return out;
  }

  countsOf(queueId: QueueId): Record<HitClass, TrackingCounts> { return tally(this.counts.all(queueId) as TallyRow[]); }

  countsBetween(from: number, to: number): Record<HitClass, TrackingCounts> { return tally(this.between.all(from, to) as TallyRow[]); }

  ofTask(taskId: string): { counts: Record<HitClass, TrackingCounts>; links: LinkClicks[] } {
    const links = (this.taskLinks.all(taskId) as { link: number; url: string; class: HitClass; n: number; u: number }[])
      .map((r) => ({ link: r.link, url: r.url, class: r.class, clicks: r.n, uniqueClicks: r.u }));
    return { counts: tally(this.taskCounts.all(taskId) as TallyRow[]), links };
  }
}
