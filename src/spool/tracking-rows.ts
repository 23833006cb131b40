/**
 * spool/tracking-rows — what both backends make of tracking_hits rows (sqlite-tracking.ts,
 * pg-tracking.ts): a stored hit as a record, and grouped counts as per-class tallies. Pure;
 * it must never touch storage.
 */
import type { QueueId, RecipientId } from '../util/ids.js';
import type { HitClass, TrackingCounts, TrackingHitRecord, TrackingKind } from './types-tracking.js';

const CLASSES: readonly HitClass[] = ['human', 'machine', 'scanner'];

/** One group of hits: class, kind, raw count and distinct recipients. */
export interface TallyRow { class: HitClass; kind: TrackingKind; n: number; u: number }

/** Per-class counts from grouped rows; every class is present, zero when it has no hits. */
export function tally(rows: readonly TallyRow[]): Record<HitClass, TrackingCounts> {
  const out = Object.fromEntries(CLASSES.map((c) => [c, { opens: 0, uniqueOpens: 0, clicks: 0, uniqueClicks: 0 }])) as Record<HitClass, TrackingCounts>;
  for (const r of rows) {
    const c = out[r.class];
    if (!c) continue;
    if (r.kind === 'open') { c.opens = r.n; c.uniqueOpens = r.u; } else { c.clicks = r.n; c.uniqueClicks = r.u; }
  }
  return out;
}

/** A tracking_hits row as a record (ids and times may arrive as strings; `first` as 1 or true). */
export function toHitRecord(r: Record<string, unknown>): TrackingHitRecord {
  return {
    id: Number(r['id']), at: Number(r['at']), kind: r['kind'] as TrackingKind, queueId: r['queue_id'] as QueueId,
    recipientId: Number(r['recipient_id']) as RecipientId, link: r['link'] === null ? undefined : Number(r['link']),
    url: (r['url'] as string | null) ?? undefined, ip: r['ip'] as string | null, userAgent: r['user_agent'] as string | null,
    method: String(r['method']), class: r['class'] as HitClass, reason: r['reason'] as string | null, first: r['first'] === 1 || r['first'] === true,
  };
}
