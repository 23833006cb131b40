/**
 * spool/pg-tracking — open and click hits on PostgreSQL (contract: types-tracking.ts),
 * answered as SQLite's (sqlite-tracking.ts). A hit, its `first` flag and the webhook event
 * the rules make of it (events/effects.ts `trackingHit`, written through the effects port,
 * spool/pg-facts.ts) are one transaction, and the transaction holds an advisory lock on the
 * recipient first, so two hits arriving together on two nodes cannot both be first. Without
 * an effects port, recording refuses before writing. Besides the contract it offers what
 * other ports read of the hits on SQLite: `purgeTrackingHits` (the statistics purge) and
 * `humanOpens` (the reputation's open rate).
 * Must never: classify hits or build event payloads (src/tracking and the rules).
 */
import type { QueueId, RecipientId } from '../util/ids.js';
import { dayStartIn, nextDayStartIn } from '../util/time.js';
import { effectsOf, num, PG_FACTS_SELECT, toPgFacts, type PgEffectsPort, type PgFactsRow } from './pg-facts.js';
import type { PgPool } from './pg-pool.js';
import { inTransaction } from './pg-tx.js';
import { tally, toHitRecord, type TallyRow } from './tracking-rows.js';
import { pgTrackingStats } from './pg-tracking-stats.js';
import type { HitClass, LinkClicks, TrackingCounts, TrackingHit, TrackingHitRecord, TrackingStatsQuery, TrackingStatsRows, TrackingStore } from './types-tracking.js';

/** The advisory lock class of a recipient's hits ("trkh"); the recipient id is the second key. */
const HIT_LOCK = 0x74726b68;

/** Hits deleted per statement by the purge, so it never holds a huge transaction. */
const PURGE_BATCH = 5000;

const OF_TASK = 'FROM tracking_hits h JOIN messages m ON m.id = h.queue_id WHERE m.task_id = $1';

export class PgTracking implements TrackingStore {
  constructor(private readonly pool: PgPool, private readonly effects?: PgEffectsPort) {}

  async recordTrackingHit(h: TrackingHit): Promise<TrackingHitRecord> {
    const port = effectsOf(this.effects, 'recording a tracking hit');
    const rec = await inTransaction(this.pool, async (c) => {
      // Modulo: the lock's second key is an int4; two recipients sharing a key only take turns.
      await c.query('SELECT pg_advisory_xact_lock($1, ($2::bigint % 2147483647)::int)', [HIT_LOCK, h.recipientId]);
      const first = (await c.query('SELECT 1 FROM tracking_hits WHERE recipient_id = $1 AND kind = $2 LIMIT 1', [h.recipientId, h.kind])).rows.length === 0;
      const { notify: _notify, ...hit } = h;
      const { rows: [ins] } = await c.query<{ id: string }>(
        `INSERT INTO tracking_hits (at, kind, queue_id, recipient_id, link, url, ip, user_agent, method, class, reason, first)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) RETURNING id`,
        [h.at, h.kind, h.queueId, h.recipientId, h.link ?? null, h.url ?? null, h.ip, h.userAgent, h.method, h.class, h.reason, first],
      );
      const { rows: [m] } = await c.query<PgFactsRow>(`${PG_FACTS_SELECT} WHERE r.id = $1`, [h.recipientId]);
      await port.apply(c, port.rules.trackingHit(h, m && toPgFacts(m), first, await port.directory(c)));
      return { ...hit, id: num(ins!.id), first };
    });
    if (h.notify) port.signal();
    return rec;
  }

  async trackingStats(q: TrackingStatsQuery): Promise<TrackingStatsRows> { return pgTrackingStats(this.pool, q); }

  async reclassifyTrackingHits(ids: readonly number[], cls: HitClass, reason: string): Promise<void> {
    await this.pool.query('UPDATE tracking_hits SET class = $1, reason = $2 WHERE id = ANY($3::bigint[])', [cls, reason, ids]);
  }

  async trackingHitsOf(recipientId: RecipientId): Promise<TrackingHitRecord[]> {
    return (await this.pool.query('SELECT * FROM tracking_hits WHERE recipient_id = $1 ORDER BY at, id', [recipientId])).rows.map(toHitRecord);
  }

  async trackingHitsOfRecipients(ids: readonly RecipientId[]): Promise<TrackingHitRecord[]> {
    return (await this.pool.query('SELECT * FROM tracking_hits WHERE recipient_id = ANY($1::bigint[]) ORDER BY at, id', [ids])).rows.map(toHitRecord);
  }

  async trackingCountsOf(queueId: QueueId): Promise<Record<HitClass, TrackingCounts>> {
    const { rows } = await this.pool.query<TallyRow>(
      `SELECT class, kind, count(*)::int AS n, count(DISTINCT recipient_id)::int AS u FROM tracking_hits WHERE queue_id = $1 GROUP BY class, kind`, [queueId]);
    return tally(rows);
  }

  async trackingCountsBetween(from: number, to: number): Promise<Record<HitClass, TrackingCounts>> {
    const { rows } = await this.pool.query<TallyRow>(
      `SELECT class, kind, count(*)::int AS n, count(DISTINCT recipient_id)::int AS u FROM tracking_hits WHERE at >= $1 AND at < $2 GROUP BY class, kind`, [from, to]);
    return tally(rows);
  }

  async trackingCountsOfTask(taskId: string): Promise<{ counts: Record<HitClass, TrackingCounts>; links: LinkClicks[] }> {
    const counts = await this.pool.query<TallyRow>(
      `SELECT h.class, h.kind, count(*)::int AS n, count(DISTINCT h.recipient_id)::int AS u ${OF_TASK} GROUP BY h.class, h.kind`, [taskId]);
    const links = await this.pool.query<{ link: number; url: string; class: HitClass; n: number; u: number }>(
      `SELECT h.link, h.url, h.class, count(*)::int AS n, count(DISTINCT h.recipient_id)::int AS u ${OF_TASK}
       AND h.kind = 'click' AND h.link >= 0 GROUP BY h.link, h.url, h.class ORDER BY h.link, h.class COLLATE "C"`, [taskId]);
    return { counts: tally(counts.rows), links: links.rows.map((r) => ({ link: r.link, url: r.url, class: r.class, clicks: r.n, uniqueClicks: r.u })) };
  }

  /** Deletes hits older than `before`, PURGE_BATCH per statement (each its own transaction); how many. */
  async purgeTrackingHits(before: number): Promise<number> {
    let total = 0;
    for (;;) {
      const n = (await this.pool.query(`DELETE FROM tracking_hits WHERE id IN (SELECT id FROM tracking_hits WHERE at < $1 LIMIT ${PURGE_BATCH})`, [before])).rowCount ?? 0;
      total += n;
      if (n < PURGE_BATCH) return total;
    }
  }

  /** Recipients of `domain`'s mail received on `day` (in `timeZone`) with a human open: the reputation's open rate. */
  async humanOpens(domain: string, day: string, timeZone = 'UTC'): Promise<number> {
    const from = dayStartIn(day, timeZone);
    const { rows: [r] } = await this.pool.query<{ n: number }>(
      `SELECT count(DISTINCT h.recipient_id)::int AS n FROM messages m JOIN tracking_hits h ON h.queue_id = m.id
       WHERE m.received_at >= $1 AND m.received_at < $2 AND lower(substr(m.sender, strpos(m.sender, '@') + 1)) = $3
         AND h.kind = 'open' AND h.class = 'human'`, [from, nextDayStartIn(from, timeZone), domain.toLowerCase()]);
    return r!.n;
  }
}
