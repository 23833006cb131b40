/**
 * tracking/timeline — opens and clicks as events of a recipient's history, so send details
 * (`mta log --events`, GET /api/v1/messages?events=true) and one message's view
 * (`mta queue show`, GET /api/v1/queue/{id}) show each hit beside the attempts: type
 * `open` or `click`, with class, reason, who asked and whether it was the recipient's first.
 * A hit's `id` is its row in tracking_hits, not in events.
 */
import type { SpoolEvent } from '../spool/types-events.js';
import type { TrackingHitRecord } from '../spool/types-tracking.js';

export function hitEvents(hits: readonly TrackingHitRecord[]): SpoolEvent[] {
  return hits.map((h) => ({
    id: h.id, at: h.at, recipientId: h.recipientId, type: h.kind,
    detail: { class: h.class, reason: h.reason, ...(h.kind === 'click' ? { link: h.link ?? null, url: h.url ?? null } : {}), ip: h.ip, user_agent: h.userAgent, method: h.method, first: h.first },
  }));
}

/** The history with the hits put in, in time order (a stable sort keeps the store's order within one instant). */
export function withHits(events: readonly SpoolEvent[], hits: readonly TrackingHitRecord[]): SpoolEvent[] {
  return [...events, ...hitEvents(hits)].sort((a, b) => a.at - b.at);
}
