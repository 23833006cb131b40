/**
 * spool/pg-tracking-stats — the grouped reads behind tracking statistics on PostgreSQL,
 * answering as sqlite-tracking.ts `stats` does: per day of receipt, the hits per group key,
 * kind and human or not; the delivered recipients per key (the rates' base); the clicks per
 * URL. All days are read in one REPEATABLE READ transaction, so hits and deliveries are of
 * the same moment. The sums and rates are src/stats/tracking-stats.ts's, never done here.
 */
import type { PgPool } from './pg-pool.js';
import { num } from './pg-facts.js';
import { inTransaction } from './pg-tx.js';
import type { TrackingGroup, TrackingKind, TrackingStatsQuery, TrackingStatsRows } from './types-tracking.js';

/** The sending domain: what follows the sender's last '@', as statsKey takes it. */
const DOMAIN_OF_SENDER = "lower(substring(m.sender from '[^@]*$'))";
/** Each group's key; a day's key is its label, filled in below. */
const GROUP_KEY: Record<TrackingGroup, string> = {
  day: "''", domain: DOMAIN_OF_SENDER, sender: 'lower(m.sender)', tag: "COALESCE(m.tag, '')", task: "COALESCE(m.task_id, '')",
};

export async function pgTrackingStats(pool: PgPool, q: TrackingStatsQuery): Promise<TrackingStatsRows> {
  // $1 and $2 are the day's bounds; the filters follow.
  const where = ['m.received_at >= $1', 'm.received_at < $2'];
  const args: string[] = [];
  const bind = (v: string): string => { args.push(v); return `$${args.length + 2}`; };
  if (q.domain !== undefined) where.push(`${DOMAIN_OF_SENDER} = ${bind(q.domain.toLowerCase())}`);
  if (q.sender !== undefined) where.push(`lower(m.sender) = ${bind(q.sender.toLowerCase())}`);
  if (q.tag !== undefined) where.push(q.tag === '' ? 'm.tag IS NULL' : `m.tag = ${bind(q.tag)}`);
  if (q.task !== undefined) where.push(`m.task_id = ${bind(q.task)}`);
  const key = GROUP_KEY[q.by];
  const cond = where.join(' AND ');
  const out: TrackingStatsRows = { hits: [], delivered: [], urls: [] };
  // One snapshot for every day read: pg-tx's transaction (which also survives a lost connection), made read-only first.
  return inTransaction(pool, async (client) => {
    await client.query('SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY');
    for (const d of q.days) {
      const params = [d.from, d.to, ...args];
      const label = (k: string): string => (q.by === 'day' ? d.day : k);
      const hits = await client.query<{ key: string; kind: TrackingKind; human: boolean; hits: string; recipients: string }>(
        `SELECT ${key} AS key, h.kind, h.class = 'human' AS human, COUNT(*) AS hits, COUNT(DISTINCT h.recipient_id) AS recipients
         FROM messages m JOIN tracking_hits h ON h.queue_id = m.id WHERE ${cond} GROUP BY 1, 2, 3`, params);
      for (const r of hits.rows) out.hits.push({ day: d.day, key: label(r.key), kind: r.kind, human: r.human, hits: num(r.hits), recipients: num(r.recipients) });
      const delivered = await client.query<{ key: string; delivered: string }>(
        `SELECT ${key} AS key, COUNT(*) AS delivered
         FROM messages m JOIN recipients r ON r.message_id = m.id WHERE ${cond} AND r.state = 'delivered' GROUP BY 1`, params);
      for (const r of delivered.rows) out.delivered.push({ day: d.day, key: label(r.key), delivered: num(r.delivered) });
      const urls = await client.query<{ url: string; human: boolean; clicks: string; recipients: string }>(
        `SELECT h.url, h.class = 'human' AS human, COUNT(*) AS clicks, COUNT(DISTINCT h.recipient_id) AS recipients
         FROM messages m JOIN tracking_hits h ON h.queue_id = m.id WHERE ${cond} AND h.kind = 'click' AND h.link >= 0 GROUP BY 1, 2`, params);
      for (const r of urls.rows) out.urls.push({ day: d.day, url: r.url, human: r.human, clicks: num(r.clicks), recipients: num(r.recipients) });
    }
    return out;
  });
}
